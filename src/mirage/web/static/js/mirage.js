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

  // The pairing modal: closes on its ✕, and by itself once the number is connected.
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest && evt.target.closest("[data-close-modal-now]");
    if (btn) { var m = btn.closest(".modal-backdrop"); if (m) m.remove(); }
  });
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.querySelector("[data-close-modal]")) {
      setTimeout(function () {
        var m = document.getElementById("connect-modal");
        if (m) m.remove();
      }, 1500);
    }
  });
  // ...and turns "Connected!" as soon as the live stream says its number is open, instead of
  // waiting for its next poll (the row's event carries the row, with its data-state).
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var m = document.getElementById("connect-modal");
    var d = evt.detail;
    if (!m || !d || d.type !== "instance-" + m.getAttribute("data-instance")) return;
    if (String(d.data).indexOf('data-state="open"') === -1) return;
    var box = m.querySelector("[data-qr-refresh]");
    if (box && window.htmx) window.htmx.trigger(box, "refresh");
  });
  // "Copy" buttons (an invitation link): copy the target's text, and say so on the button.
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest && evt.target.closest("[data-copy]");
    if (!btn) return;
    var target = document.querySelector(btn.getAttribute("data-copy"));
    if (!target) return;
    var text = target.textContent.trim();
    var done = function () { btn.textContent = btn.getAttribute("data-copied") || "OK"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(target); });
    } else {
      select(target);
      try { if (document.execCommand("copy")) done(); } catch (e) { /* selected: Ctrl-C */ }
    }
  });
  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape") { var m = document.getElementById("connect-modal"); if (m) m.remove(); }
  });
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var text = (xhr && xhr.responseText) || "";
    if (text.length > 300 || text.indexOf("<") !== -1) text = "Erro " + xhr.status;
    toast(text, "error");
  });
  // A live stream ends when its session does (sign-out, expiry, removal, role change):
  // reload, so the page (or the sign-in form) reflects what this user may see now.
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    if (evt.detail && evt.detail.type === "session-ended") {
      evt.preventDefault();
      window.location.reload();
    }
  });
  document.addEventListener("htmx:sendError", function () {
    toast(document.documentElement.lang.indexOf("pt") === 0 ? "Sem conexão com o servidor." : "Cannot reach the server.", "error");
  });
})();
