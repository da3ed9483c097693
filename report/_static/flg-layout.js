/* Wide tables (report/conf.py marks tables of six or more columns "flg-wide"; report/_static/flg.css
 * lets them take the page's width beside the article, over the page's table of contents).
 * While one is in view the contents fold away, as the theme does for its own full-width
 * elements; pages without a table of contents (the index) have nothing to fold.
 */
(function () {
  "use strict";
  function init() {
    var toc = document.querySelector("div.bd-sidebar-secondary"), wide = document.querySelectorAll("table.flg-wide");
    if (!toc || !wide.length || typeof IntersectionObserver === "undefined") return;
    var shown = new Set();
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) shown.add(e.target); else shown.delete(e.target); });
      toc.classList.toggle("hide", shown.size > 0);
    }, {rootMargin: "0px 0px -33% 0px"});
    Array.prototype.forEach.call(wide, function (t) { io.observe(t); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
