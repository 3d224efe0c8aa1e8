// hotfunc: this page follows the saves of the server that served it.
(function () {
  var me = document.currentScript, d = me.dataset, stamp = +d.stamp, box;
  function show(f) {
    if (!box) {
      box = document.createElement("pre");
      box.id = "hotfunc-overlay";
      var s = box.style;
      s.position = "fixed"; s.inset = "0"; s.margin = "0"; s.padding = "2em";
      s.zIndex = "2147483647"; s.overflow = "auto"; s.whiteSpace = "pre-wrap";
      s.background = "rgba(24,24,24,.94)"; s.color = "#f88"; s.font = "14px/1.5 monospace";
      document.documentElement.appendChild(box);
    }
    box.textContent = "hotfunc: the last save failed; the server runs its last good code\n\n" +
      f.file + ":" + f.line + "\n    " + f.code + "\n\n" + f.message;
  }
  function styles(t) {
    document.querySelectorAll('link[rel="stylesheet"]').forEach(function (l) {
      var u = new URL(l.href);
      u.searchParams.set("hotfunc", t);
      var n = l.cloneNode();
      n.href = u.href;
      n.onload = function () { l.remove(); };
      l.after(n);
    });
  }
  var events = new EventSource(d.events);
  events.onmessage = function (e) {
    var m = JSON.parse(e.data);
    if (m.failure) return show(m.failure);
    if (box) { box.remove(); box = null; }
    if (m.reload > stamp) {
      // Once per change: a page served from a cache, older than the change, stays.
      if (sessionStorage.hotfunc == m.reload) return;
      sessionStorage.hotfunc = m.reload;
      return location.reload();
    }
    if (m.stamp > stamp) styles(stamp = m.stamp);
  };
})();
