/* Charts of the article: decode the page's named data sets and embed Vega-Lite specs.
 *
 * Loaded by a plain <script> tag after _static/vega-bundle.js (Vega, Vega-Lite and
 * Vega-Embed, shipped with the site; nothing is fetched from the network).
 *
 *   FLG.data(name, payload)       register a compact data set (see report/flg.py)
 *   FLG.embed(id, spec, options)  render spec into #id; options.data lists the named
 *                                 data sets to insert; options.count adds a live count
 *                                 caption (slice explorer); options.atlas wires a click
 *                                 on a heatmap cell to FLG.setPair; options.decoder adds
 *                                 the live decoder's panel (flg-decoder.js, FLG.attachDecoder)
 *   FLG.setPair(j1, j2)           set the j1/j2 sliders of every chart on the page
 */
(function () {
  "use strict";
  var FLG = window.FLG = window.FLG || {};
  FLG.raw = FLG.raw || {};
  FLG.rows = FLG.rows || {};
  FLG.views = FLG.views || {};
  FLG.pending = 0;

  function bytes(b64) {
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function decodePoints(p) {
    var q = new Int8Array(bytes(p.q).buffer), n = p.n, N = p.N, rows = new Array(n);
    var cols = p.cols || {}, names = Object.keys(cols);
    for (var i = 0; i < n; i++) {
      var v = new Array(N), o = i * N;
      for (var j = 0; j < N; j++) v[j] = p.lo[j] + p.step[j] * (q[o + j] + 127);
      var row = {i: i, v: v};
      for (var c = 0; c < names.length; c++) row[names[c]] = cols[names[c]][i];
      rows[i] = row;
    }
    return rows;
  }

  function decodeAtlas(p) {
    var N = p.N, K = p.K, Arr = p.dtype === "u32" ? Uint32Array : Uint16Array;
    var c = new Arr(bytes(p.c).buffer), s = new Arr(bytes(p.s).buffer), rows = [], r = 0;
    for (var a = 0; a < N; a++) {
      for (var b = a + 1; b < N; b++, r++) {
        var ca = Array.prototype.slice.call(c.subarray(r * K, r * K + K));
        var sa = Array.prototype.slice.call(s.subarray(r * K, r * K + K));
        rows.push({j1: a, j2: b, c: ca, s: sa});
        rows.push({j1: b, j2: a, c: ca, s: sa});
      }
    }
    return rows;
  }

  FLG.data = function (name, payload) { FLG.raw[name] = payload; };

  FLG.getRows = function (name) {
    if (!FLG.rows[name]) {
      var p = FLG.raw[name];
      if (!p) throw new Error("FLG: data set '" + name + "' was not written to this page");
      FLG.rows[name] = p.kind === "atlas" ? decodeAtlas(p) : p.kind === "points" ? decodePoints(p) : p.values;
    }
    return FLG.rows[name];
  };

  function inSlice(d, j1, j2, b) {
    return d.a2 <= b && (d.a0 <= b || d.t0 === j1 || d.t0 === j2) && (d.a1 <= b || d.t1 === j1 || d.t1 === j2);
  }
  FLG.sliceCount = function (name, j1, j2, b) {
    var rows = FLG.getRows(name), k = 0;
    for (var i = 0; i < rows.length; i++) if (inSlice(rows[i], j1, j2, b)) k++;
    return k;
  };

  function hasSignal(view, name) {
    try { view.signal(name); return true; } catch (e) { return false; }
  }

  FLG.setPair = function (j1, j2) {
    Object.keys(FLG.views).forEach(function (id) {
      var view = FLG.views[id];
      if (hasSignal(view, "j1") && hasSignal(view, "j2")) {
        view.signal("j1", j1).signal("j2", j2).runAsync();
      }
    });
    var note = document.querySelectorAll(".flg-pair-note");
    for (var i = 0; i < note.length; i++) note[i].textContent = "Pair (" + j1 + ", " + j2 + ") loaded into the explorers.";
  };

  function liveCount(id, view, opts) {
    var el = document.getElementById(id + "-live");
    if (!el) return;
    var name = opts.count;
    function update() {
      var j1 = +view.signal("j1"), j2 = +view.signal("j2"), b = +view.signal("b");
      var k = FLG.sliceCount(name, j1, j2, b), n = FLG.getRows(name).length;
      el.textContent = "Slice (" + j1 + ", " + j2 + ") at b = " + b.toPrecision(3) + ": " + k + " of " + n +
        " sample points inside (" + (100 * k / Math.max(n, 1)).toFixed(1) + " %).";
      el.setAttribute("data-count", String(k));
      el.setAttribute("data-pair", j1 + "," + j2);
    }
    ["j1", "j2", "b"].forEach(function (s) { view.addSignalListener(s, update); });
    update();
  }

  // A chart wider than the column scrolls in its box; the box then takes the keyboard focus so
  // that it can be scrolled without a pointer (WCAG 2.1.1). The check runs again whenever the box
  // or the chart changes size (a ResizeObserver): the column settles after the window's resize
  // event (the theme's transitions), so checking at that event alone left a scrolling box
  // without focus.
  function focusableWhenScrolled(el) {
    function check() {
      if (el.scrollWidth > el.clientWidth + 1) el.setAttribute("tabindex", "0");
      else el.removeAttribute("tabindex");
    }
    if (typeof ResizeObserver !== "undefined") {
      var observer = new ResizeObserver(check);
      observer.observe(el);
      Array.prototype.forEach.call(el.children, function (child) { observer.observe(child); });
    } else {
      window.addEventListener("resize", check);
    }
    check();
  }

  FLG.embed = function (id, spec, opts) {
    opts = opts || {};
    var el = document.getElementById(id);
    if (!el) return;
    if (typeof vegaEmbed === "undefined") {
      el.textContent = "The interactive chart needs JavaScript and _static/vega-bundle.js.";
      return;
    }
    FLG.pending++;
    // Charts with named data start empty (the rows are inserted below), which makes Vega warn
    // about empty extents once; only errors are logged for them.
    var embedOpts = {actions: false, renderer: opts.renderer || "svg", tooltip: {theme: "light"}};
    if ((opts.data || []).length) embedOpts.logLevel = 1;
    vegaEmbed(el, spec, embedOpts)
      .then(function (res) {
        var view = res.view;
        FLG.views[id] = view;
        var names = opts.data || [];
        for (var i = 0; i < names.length; i++) {
          view.data(names[i], FLG.getRows(names[i]));
        }
        return view.runAsync().then(function () {
          if (opts.count) liveCount(id, view, opts);
          if (opts.decoder && FLG.attachDecoder) FLG.attachDecoder(id, view, opts.decoder);
          if (opts.atlas) {
            view.addEventListener("click", function (event, item) {
              if (item && item.datum && item.datum.j1 !== undefined) FLG.setPair(item.datum.j1, item.datum.j2);
            });
          }
          focusableWhenScrolled(el);
          el.setAttribute("data-rendered", "1");
        });
      })
      .catch(function (err) {
        el.setAttribute("data-rendered", "error");
        el.textContent = "Chart failed: " + err;
        console.error(err);
      })
      .finally(function () { FLG.pending--; });
  };
})();
