/* Version switcher: lists the versions of the article present in the site.
 *
 * The list comes from <site>/versions.js (rewritten by every build, so older versions
 * see newer ones) and falls back to the list embedded when this page was built.
 * Plain script tags, no fetch: works from file:// as well as from a web server.
 */
(function () {
  "use strict";
  var me = document.currentScript;
  var versionRoot = new URL("../", me.src);          // <site>/<version>/
  var siteRoot = new URL("../", versionRoot);         // <site>/

  function fill() {
    var sel = document.getElementById("flg-version-select");
    if (!sel) return;
    var embedded = [];
    try { embedded = JSON.parse(sel.getAttribute("data-versions") || "[]"); } catch (e) { embedded = []; }
    var site = window.FLG_SITE_VERSIONS && window.FLG_SITE_VERSIONS.versions;
    var list = (site && site.length ? site : embedded).slice();
    var current = sel.getAttribute("data-current");
    if (list.indexOf(current) < 0) list.push(current);
    var newest = window.FLG_SITE_VERSIONS && window.FLG_SITE_VERSIONS.newest;
    sel.innerHTML = "";
    list.slice().reverse().forEach(function (v) {
      var o = document.createElement("option");
      o.value = v;
      o.textContent = v + (v === newest ? " (newest)" : "");
      if (v === current) o.selected = true;
      sel.appendChild(o);
    });
    sel.addEventListener("change", function () {
      if (sel.value !== current) window.location.href = new URL(sel.value + "/index.html", siteRoot).href;
    });
  }

  var s = document.createElement("script");
  s.src = new URL("versions.js", siteRoot).href;
  s.onload = fill;
  s.onerror = fill;
  document.head.appendChild(s);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fill); else fill();
})();
