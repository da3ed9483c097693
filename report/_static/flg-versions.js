/* Version switcher: lists the versions of the article present in the site.
 *
 * The list comes from <site>/versions.js (rewritten by every build, so older versions
 * see newer ones) and falls back to the list embedded when this page was built.
 * Plain script tags, no fetch: works from file:// as well as from a web server.
 *
 * A label is a directory name of the site: only labels of the characters the build gives
 * them (LABEL, report/meta.py's LABEL_RE) are offered, and the page goes to
 * <site>/<encoded label>/index.html only, never to a URL a label spells out (a folder named
 * "javascript:..." is neither listed nor followed).
 */
(function () {
  "use strict";
  var me = document.currentScript;
  var versionRoot = new URL("../", me.src);          // <site>/<version>/
  var siteRoot = new URL("../", versionRoot);         // <site>/
  var LABEL = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/;   // as report/meta.py LABEL_RE

  // The page of version `label`, or null for a label the build would never give.
  function target(label) {
    if (typeof label !== "string" || !LABEL.test(label)) return null;
    var url = new URL(encodeURIComponent(label) + "/index.html", siteRoot);
    if (url.protocol !== siteRoot.protocol || url.href.indexOf(siteRoot.href) !== 0) return null;
    return url.href;
  }
  window.flgVersionTarget = target;  // (for tests)

  function fill() {
    var sel = document.getElementById("flg-version-select");
    if (!sel) return;
    var embedded = [];
    try { embedded = JSON.parse(sel.getAttribute("data-versions") || "[]"); } catch (e) { embedded = []; }
    var site = window.FLG_SITE_VERSIONS && window.FLG_SITE_VERSIONS.versions;
    var list = (site && site.length ? site : embedded).filter(function (v) { return target(v) !== null; });
    var current = sel.getAttribute("data-current");
    if (list.indexOf(current) < 0 && target(current) !== null) list.push(current);
    var newest = window.FLG_SITE_VERSIONS && window.FLG_SITE_VERSIONS.newest;
    sel.innerHTML = "";
    list.slice().reverse().forEach(function (v) {
      var o = document.createElement("option");
      o.value = v;
      o.textContent = v + (v === newest ? " (newest)" : "");
      if (v === current) o.selected = true;
      sel.appendChild(o);
    });
    if (sel.getAttribute("data-wired")) return;
    sel.setAttribute("data-wired", "1");
    function go() {
      var href = target(sel.value);
      if (sel.value !== current && href !== null) window.location.href = href;
    }
    // A choice made with the pointer opens that version at once. From the keyboard, the arrow
    // keys only move through the list (WCAG 3.2.2: no change of page on input); Enter or the
    // "Open" button opens the chosen version.
    var keyed = false;
    sel.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); go(); } else if (e.key !== "Tab") keyed = true;
    });
    sel.addEventListener("mousedown", function () { keyed = false; });
    sel.addEventListener("change", function () { if (!keyed) go(); });
    var button = document.getElementById("flg-version-go");
    if (button) button.addEventListener("click", go);
  }

  var s = document.createElement("script");
  s.src = new URL("versions.js", siteRoot).href;
  s.onload = fill;
  s.onerror = fill;
  document.head.appendChild(s);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fill); else fill();
})();
