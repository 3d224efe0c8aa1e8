// hotfunc: the page follows the server's saves
(function () {
  var d = document.currentScript.dataset, seen = +d.stamp, box, events = new EventSource(d.events);
  events.onopen = function () { d.state = "open"; };
  events.onerror = function () { d.state = "closed"; };
  events.onmessage = function (e) {
    var m = JSON.parse(e.data), f = m.failure;
    if (f && (f.kind == "save" || "error" in d)) {
      if (!box) {
        box = document.createElement("pre");
        box.id = "hotfunc-overlay";
        box.style.cssText = "position:fixed;inset:0;margin:0;padding:2em;z-index:2147483647;" +
          "overflow:auto;white-space:pre-wrap;background:#181818f0;color:#f88;font:14px monospace";
        document.documentElement.appendChild(box);
      }
      box.textContent = (f.kind == "save" ? "hotfunc: the save failed; the server runs its " +
        "last good code\n\n" : "hotfunc: this request failed after the last save\n\n") +
        f.file + ":" + f.line + "\n    " + f.code + "\n\n" + f.message;
      return;
    }
    if (box) box = box.remove();
    if (m.reload > seen && sessionStorage.hotfunc != m.reload) {
      sessionStorage.hotfunc = m.reload;  // once per change: a cached page stays
      location.reload();
    } else if (m.stamp > seen) {
      seen = m.stamp;
      document.querySelectorAll("link[rel=stylesheet]").forEach(function (l) {
        var n = l.cloneNode(), u = new URL(l.href);
        u.searchParams.set("hotfunc", seen);
        n.href = u;
        n.onload = function () { l.remove(); };
        l.after(n);
      });
    }
  };
})();
