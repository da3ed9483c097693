/* The live decoder of the article: the trained decoder, run in the page.
 *
 *   window.flgDecode(z)       z: a Float32Array (or array) of N numbers, a latent point.
 *                             Returns a Float32Array of C*S*S values in [0, 1], the decoded
 *                             image, row-major (C, H, W). Throws if the page has no decoder
 *                             or z has the wrong length or non-finite values.
 *   window.flgDecode.info()   {latentDim, channels, imageSize, parameters}
 *
 * Try it from the browser console on a page with a live decoder (the decoder chapter):
 *   flgDecode(new Float32Array(flgDecode.info().latentDim))   // the image of the origin
 *
 * The weights come from _static/flg-decoder-weights.js (a plain <script>, so that the site
 * works from file://, where fetch() is refused), which assigns window.FLG_DECODER_WEIGHTS;
 * analysis/science/export.py writes it and documents its layout: batch normalisation is folded into
 * the transposed convolutions, activations are kept as (height, width, channels) arrays.
 * The forward pass is our decoder's (analysis/pipeline/model.py): Linear, then ConvTranspose2d layers
 * with ReLU, the last with a sigmoid. It is hand-written rather than onnxruntime-web because
 * that runtime's WebAssembly backend needs a 14.2 MB .wasm file fetched at run time
 * (impossible from file://; about 19 MB when inlined as base64), while this pass is a few kB
 * and decodes the default decoder's vector in a few milliseconds (measured by `make bench`;
 * see analysis/science/export.py). Sums are accumulated in float64; tests/test_webdecoder.py checks
 * the result against PyTorch, and the Chromium tests check the page.
 *
 * FLG.attachDecoder(id, view, options) (called by FLG.embed for charts with a `decoder`
 * option) adds a panel below a chart that shows the decoded image live:
 *   {mode: "plane", anchors: NAME}  the point under the pointer in the (j1, j2) plane of a
 *                                   projection or slice explorer, the other components taken
 *                                   from an anchor (the centre, the origin or a real point)
 *                                   chosen in the panel; NAME is a data set of kind "anchors";
 *   {mode: "path", paths: NAME}     the point at position t (signal "t", 0..1) on the path
 *                                   chosen by signal "path"; dragging on the chart moves t.
 */
(function (root) {
  "use strict";
  var FLG = root.FLG = root.FLG || {};
  var model = null;

  function binary(b64) {
    return typeof atob === "function" ? atob(b64) : Buffer.from(b64, "base64").toString("binary");
  }

  function floats(b64) {
    var bin = binary(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);  // little-endian, as written
  }

  function load() {
    if (model) return model;
    var W = root.FLG_DECODER_WEIGHTS;
    if (!W) throw new Error("flgDecode: this page has no live decoder (_static/flg-decoder-weights.js is not loaded)");
    if (W.format !== "flg-decoder-v1") throw new Error("flgDecode: unknown weights format " + W.format);
    var data = floats(W.data);
    var layers = W.layers.map(function (L) {
      var o = {};
      for (var k in L) o[k] = L[k];
      o.W = data.subarray(L.w[0], L.w[0] + L.w[1]);
      o.B = data.subarray(L.b[0], L.b[0] + L.b[1]);
      return o;
    });
    model = {N: W.latent_dim, C: W.channels, S: W.image_size, parameters: W.parameters, layers: layers};
    return model;
  }

  function activate(a, kind) {
    var i;
    if (kind === "relu") for (i = 0; i < a.length; i++) { if (a[i] < 0) a[i] = 0; }
    else if (kind === "sigmoid") for (i = 0; i < a.length; i++) a[i] = 1 / (1 + Math.exp(-a[i]));
    return a;
  }

  function linear(L, x) {
    var out = new Float64Array(L.out), n = L["in"], W = L.W;
    for (var m = 0; m < L.out; m++) {
      var s = L.B[m], row = m * n;
      for (var j = 0; j < n; j++) s += W[row + j] * x[j];
      out[m] = s;
    }
    return out;
  }

  // out[y, x, o] = b[o] + sum over i, ky, kx with y = iy*stride - pad + ky, x = ix*stride - pad + kx
  // of in[iy, ix, i] * w[ky, kx, i, o]  (PyTorch's ConvTranspose2d; HWC activations)
  function convT(L, x) {
    var I = L["in"], O = L.out, k = L.k, st = L.stride, p = L.pad, H = L.in_side, Ho = L.out_side;
    var W = L.W, out = new Float64Array(Ho * Ho * O);
    for (var q = 0; q < Ho * Ho; q++) for (var o0 = 0; o0 < O; o0++) out[q * O + o0] = L.B[o0];
    for (var iy = 0; iy < H; iy++) {
      for (var ix = 0; ix < H; ix++) {
        var inBase = (iy * H + ix) * I;
        for (var ky = 0; ky < k; ky++) {
          var y = iy * st - p + ky;
          if (y < 0 || y >= Ho) continue;
          for (var kx = 0; kx < k; kx++) {
            var xx = ix * st - p + kx;
            if (xx < 0 || xx >= Ho) continue;
            var outBase = (y * Ho + xx) * O, wk = (ky * k + kx) * I * O;
            for (var i = 0; i < I; i++) {
              var v = x[inBase + i];
              if (v === 0) continue;  // ReLU zeros: nothing to add
              var wb = wk + i * O;
              for (var o = 0; o < O; o++) out[outBase + o] += v * W[wb + o];
            }
          }
        }
      }
    }
    return out;
  }

  function flgDecode(z) {
    var m = load();
    if (!z || z.length !== m.N) {
      throw new Error("flgDecode: expected a latent point of " + m.N + " numbers, got " + (z ? z.length : z));
    }
    var h = new Float64Array(m.N);
    for (var j = 0; j < m.N; j++) {
      h[j] = +z[j];
      if (!isFinite(h[j])) throw new Error("flgDecode: component " + j + " is not a finite number");
    }
    for (var l = 0; l < m.layers.length; l++) {
      var L = m.layers[l];
      h = activate(L.kind === "linear" ? linear(L, h) : convT(L, h), L.act);
    }
    var C = m.C, S = m.S, out = new Float32Array(C * S * S);
    for (var yy = 0; yy < S; yy++) {
      for (var x2 = 0; x2 < S; x2++) {
        for (var c = 0; c < C; c++) out[(c * S + yy) * S + x2] = h[(yy * S + x2) * C + c];
      }
    }
    return out;
  }
  flgDecode.info = function () {
    var m = load();
    return {latentDim: m.N, channels: m.C, imageSize: m.S, parameters: m.parameters};
  };
  root.flgDecode = flgDecode;
  FLG.decode = flgDecode;

  if (typeof document === "undefined") return;  // below: the page's panels

  // ------------------------------------------------------------------ drawing

  FLG.drawDecoded = function (canvas, img) {
    var m = load(), S = m.S, C = m.C, ctx = canvas.getContext("2d");
    var small = document.createElement("canvas");
    small.width = S; small.height = S;
    var sctx = small.getContext("2d"), data = sctx.createImageData(S, S);
    for (var p = 0; p < S * S; p++) {
      for (var c = 0; c < 3; c++) {
        var v = img[(C === 1 ? 0 : c) * S * S + p];
        data.data[4 * p + c] = Math.max(0, Math.min(255, Math.round(v * 255)));
      }
      data.data[4 * p + 3] = 255;
    }
    sctx.putImageData(data, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  };

  function decodeRows(name) {
    var p = FLG.raw[name];
    if (!p) throw new Error("FLG: data set '" + name + "' was not written to this page");
    if (!p._rows) {
      var f = floats(p.z || p.start), rows = [], g = p.end ? floats(p.end) : null;
      for (var r = 0; r < p.labels.length; r++) {
        rows.push({label: p.labels[r], z: f.subarray(r * p.N, (r + 1) * p.N),
                   end: g ? g.subarray(r * p.N, (r + 1) * p.N) : null});
      }
      p._rows = rows;
    }
    return p._rows;
  }

  function panel(id, title) {
    var chart = document.getElementById(id), m = load(), scale = Math.max(4, Math.round(168 / m.S));
    var box = document.createElement("div");
    box.className = "flg-decoder-panel";
    box.setAttribute("data-decoder-for", id);
    var canvas = document.createElement("canvas");
    canvas.width = canvas.height = m.S * scale;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", title);
    var side = document.createElement("div");
    side.className = "flg-decoder-side";
    var head = document.createElement("p");
    head.className = "flg-decoder-title";
    head.textContent = title;
    var readout = document.createElement("p");
    readout.className = "flg-decoder-readout";
    readout.setAttribute("aria-live", "polite");
    side.appendChild(head);
    box.appendChild(canvas);
    box.appendChild(side);
    var after = chart.nextElementSibling && chart.nextElementSibling.classList.contains("flg-live") ?
      chart.nextElementSibling : chart;
    after.parentNode.insertBefore(box, after.nextSibling);
    return {box: box, canvas: canvas, side: side, readout: readout};
  }

  function fmt(v) { return Math.abs(v) >= 100 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : v.toFixed(3); }

  // the pointer's position in the data coordinates of a (layered) chart, or null outside its plot
  function dataXY(view, event) {
    if (!event || !event.vega) return null;
    var xy = event.vega.xy(), w = view.width(), h = view.height();
    if (!(xy[0] >= 0 && xy[0] <= w && xy[1] >= 0 && xy[1] <= h)) return null;
    return [view.scale("x").invert(xy[0]), view.scale("y").invert(xy[1])];
  }

  // Two sliders that move the decoded point from the keyboard (the pointer's twin): z[j1] and
  // z[j2] over the chart's axes, in 200 steps.
  function planeKeys(id, parent) {
    var box = document.createElement("div"), inputs = [];
    box.className = "flg-decoder-keys";
    ["x", "y"].forEach(function (axis, k) {
      var input = document.createElement("input"), label = document.createElement("label");
      input.type = "range";
      input.id = id + "-decoder-" + axis;
      input.setAttribute("data-axis", axis);
      label.htmlFor = input.id;
      box.appendChild(label);
      box.appendChild(input);
      inputs.push({input: input, label: label});
    });
    parent.appendChild(box);
    var listeners = [];
    inputs.forEach(function (e) {
      e.input.addEventListener("input", function () {
        var xy = [+inputs[0].input.value, +inputs[1].input.value];
        listeners.forEach(function (f) { f(xy); });
      });
    });
    return {
      onInput: function (f) { listeners.push(f); },
      show: function (view, j1, j2, xy) {
        ["x", "y"].forEach(function (axis, k) {
          var d = view.scale(axis).domain(), e = inputs[k], j = k ? j2 : j1;
          e.label.textContent = "z[" + j + "] (" + (k ? "y" : "x") + ")";
          e.input.min = String(d[0]);
          e.input.max = String(d[1]);
          e.input.step = String((d[1] - d[0]) / 200 || 0.01);
          if (xy) e.input.value = String(xy[k]);
          else if (!e.input.getAttribute("data-set")) { e.input.value = String((d[0] + d[1]) / 2); }
          e.input.setAttribute("data-set", "1");
          e.input.setAttribute("aria-valuetext", "z[" + j + "] = " + fmt(+e.input.value));
        });
      }
    };
  }

  function planePanel(id, view, opts) {
    var anchors = decodeRows(opts.anchors), ui = panel(id, "The decoder at the pointer");
    var label = document.createElement("label");
    label.textContent = "other components from ";
    var select = document.createElement("select");
    select.className = "flg-decoder-anchor";
    anchors.forEach(function (a, i) {
      var o = document.createElement("option");
      o.value = String(i);
      o.textContent = a.label;
      select.appendChild(o);
    });
    label.appendChild(select);
    ui.side.appendChild(label);
    var keys = planeKeys(id, ui.side);
    ui.side.appendChild(ui.readout);
    var state = {xy: null};

    function draw() {
      var a = anchors[+select.value], z = Float32Array.from(a.z);
      var j1 = +view.signal("j1"), j2 = +view.signal("j2"), text;
      if (state.xy) {
        z[j1] = state.xy[0];
        z[j2] = state.xy[1];
        text = "z[" + j1 + "] = " + fmt(state.xy[0]) + ", z[" + j2 + "] = " + fmt(state.xy[1]) +
          "; the other components from " + a.label + ".";
      } else {
        text = "Move the pointer over the chart (or the sliders z[j1], z[j2]): the image is decoded from the plane point under it. " +
          "Now: " + a.label + ".";
      }
      FLG.drawDecoded(ui.canvas, flgDecode(z));
      ui.readout.textContent = text;
      keys.show(view, j1, j2, state.xy);
      ui.box.setAttribute("data-j", j1 + "," + j2);
      ui.box.setAttribute("data-xy", state.xy ? state.xy[0] + "," + state.xy[1] : "");
      ui.box.setAttribute("data-anchor", select.value);
      ui.box.setAttribute("data-draws", String(+(ui.box.getAttribute("data-draws") || 0) + 1));
    }
    var pending = false;
    function schedule() {
      if (pending) return;
      pending = true;
      (root.requestAnimationFrame || setTimeout)(function () { pending = false; draw(); });
    }
    view.addEventListener("pointermove", function (event) {
      var xy = dataXY(view, event);
      if (xy) { state.xy = xy; schedule(); }
    });
    select.addEventListener("change", schedule);
    keys.onInput(function (xy) { state.xy = xy; schedule(); });
    ["j1", "j2"].forEach(function (s) { view.addSignalListener(s, schedule); });
    draw();
  }

  function pathPanel(id, view, opts) {
    var paths = decodeRows(opts.paths), ui = panel(id, "The decoder at position t");
    ui.side.appendChild(ui.readout);
    function draw() {
      var q = +view.signal("path"), t = +view.signal("t"), p = paths[q], N = p.z.length;
      var z = new Float32Array(N);
      for (var j = 0; j < N; j++) z[j] = p.z[j] + t * (p.end[j] - p.z[j]);
      FLG.drawDecoded(ui.canvas, flgDecode(z));
      ui.readout.textContent = p.label + ": t = " + t.toFixed(3) + " (0: start, 1: end).";
      ui.box.setAttribute("data-path", String(q));
      ui.box.setAttribute("data-t", String(t));
      ui.box.setAttribute("data-draws", String(+(ui.box.getAttribute("data-draws") || 0) + 1));
    }
    var dragging = false;
    function move(event) {
      var xy = dataXY(view, event);
      if (!xy) return;
      view.signal("t", Math.max(0, Math.min(1, xy[0]))).runAsync();
    }
    view.addEventListener("pointerdown", function (event) { dragging = true; move(event); });
    view.addEventListener("pointermove", function (event) { if (dragging && event.buttons) move(event); });
    root.addEventListener("pointerup", function () { dragging = false; });
    ["path", "t"].forEach(function (s) { view.addSignalListener(s, draw); });
    draw();
  }

  FLG.attachDecoder = function (id, view, opts) {
    try {
      if (opts.mode === "plane") planePanel(id, view, opts);
      else if (opts.mode === "path") pathPanel(id, view, opts);
      else throw new Error("unknown decoder panel mode " + opts.mode);
    } catch (err) {
      console.error(err);
      var el = document.getElementById(id);
      if (el) el.setAttribute("data-decoder", "error: " + err.message);
      return;
    }
    var el2 = document.getElementById(id);
    if (el2) el2.setAttribute("data-decoder", "1");
  };
})(typeof window !== "undefined" ? window : globalThis);
