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

  // htmx "settles" class, style, width and height after a swap: it briefly gives a new element
  // the attributes of the one it replaced, then restores the new element's own ~20 ms later.
  // A chart drawn into a swapped-in canvas meanwhile (metrics.js draws as soon as the live
  // part changes) then lost the size Chart.js had set: the canvas was cleared, and stayed blank
  // when Chart.js's resize check had already run. Only classes settle here (CSS transitions).
  if (window.htmx) window.htmx.config.attributesToSettle = ["class"];

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
  // A live page can miss a change committed after it was read and before its stream listened
  // (or while the stream was down): the stream then opens with a "resync" event, and every
  // live region of it is read again — a region with its own hx-get through that, the others
  // from a fresh copy of this page. Only a region that differs is swapped (nothing moves under
  // the reader's eyes or focus for nothing), and one the stream updated meanwhile keeps that.
  // A stream that missed nothing says "ready"; either way the stream's element then carries
  // data-live="ready" (the page is current and listening).
  var touched = null;
  document.addEventListener("htmx:sseOpen", function (evt) {
    var source = evt.detail && evt.detail.source;
    var root = evt.target;
    if (!source || !root) return;
    root.removeAttribute("data-live");
    if (source.__mirageResync) return;
    source.__mirageResync = true;
    source.addEventListener("ready", function () { root.setAttribute("data-live", "ready"); });
    source.addEventListener("resync", function () { resync(root); });
  });
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    if (touched && evt.target && evt.target.id) touched[evt.target.id] = true;
  });
  function liveRegions(root) {
    var all = root.querySelectorAll("[id][sse-swap], [id][hx-trigger*='sse:']");
    return Array.prototype.filter.call(all, function (el) {
      return el.getAttribute("hx-swap") !== "none";
    });
  }
  function fetchText(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.text() : null;
    });
  }
  function swapIfChanged(el, content, seen) {
    if (content === null || seen[el.id] || !document.body.contains(el)) return;
    var style = el.getAttribute("hx-swap") || "innerHTML";
    var now = style === "outerHTML" ? el.outerHTML : el.innerHTML;
    if (now === content) return;
    window.htmx.swap(el, content, { swapStyle: style });
  }
  function resync(root) {
    if (!window.htmx || !document.body.contains(root)) return;
    var regions = liveRegions(root);
    if (!regions.length) { root.setAttribute("data-live", "ready"); return; }
    var seen = touched = {};
    var reads = regions.map(function (el) {
      var url = el.getAttribute("hx-get");
      if (!url) return null;
      return fetchText(url).then(function (html) {
        if (html === null) return;
        var t = document.createElement("template");
        t.innerHTML = html;  // serialized the way the region's own markup is
        swapIfChanged(el, t.innerHTML, seen);
      });
    });
    var fromPage = regions.filter(function (el) { return !el.getAttribute("hx-get"); });
    if (fromPage.length) {
      reads.push(fetchText(window.location.href).then(function (html) {
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        fromPage.forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (!fresh) return;
          var style = el.getAttribute("hx-swap") || "innerHTML";
          swapIfChanged(el, style === "outerHTML" ? fresh.outerHTML : fresh.innerHTML, seen);
        });
      }));
    }
    Promise.all(reads).catch(function () { /* a later event or reload brings it */ })
      .then(function () {
        if (touched === seen) touched = null;
        root.setAttribute("data-live", "ready");
      });
  }
  document.addEventListener("htmx:sendError", function () {
    toast(document.documentElement.lang.indexOf("pt") === 0 ? "Sem conexão com o servidor." : "Cannot reach the server.", "error");
  });
})();
