// Small progressive enhancements: HTMX errors become readable toasts.
(function () {
  function toast(message, kind) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast " + (kind || "");
    el.textContent = message;
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 6000);
  }
  window.mirageToast = toast;
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var text = (xhr && xhr.responseText) || "";
    if (text.length > 300 || text.indexOf("<") !== -1) text = "Erro " + xhr.status;
    toast(text, "error");
  });
  document.addEventListener("htmx:sendError", function () {
    toast(document.documentElement.lang.indexOf("pt") === 0 ? "Sem conexão com o servidor." : "Cannot reach the server.", "error");
  });
})();
