'use strict';
// The analysis report's script (see analysis_report.h for the data it reads and the attributes it sets).
(function () {
  const { $, readData, esc, isNum, fmt, toNumbers, niceTicks, setup, countInk, axesFrame, yLabel, redrawOnResize,
    showTip, hideTip, pointAt } = illume;
  const DATA = readData();
  const RESPONSES = Array.isArray(DATA.responses) ? DATA.responses : [];
  const SETTINGS = DATA.settings || {};
  const COLOR = { ...illume.COLOR, waad: '#2563eb', fai: '#e8590c', ent: '#7c3aed', other: '#a0a7b4' };
  // mapView: null (whole window) or { f0, flen }: the stretch of the diagonal both maps show, as fractions
  // of the window (the two panels may hold maps of different sizes). left / right: the heads each map
  // panel shows ('local', 'global', 'receiver' group means, or 'h:K', the K-th per-head map).
  const state = { r: 0, shade: 'waad', scale: 'log', mapView: null, left: 'local', right: 'global' };

  // ---------- small helpers ----------
  function quantile(sorted, q) {
    if (!sorted.length) return NaN;
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(q * (sorted.length - 1))))];
  }
  function finiteSorted(vals) {
    const out = [];
    for (let i = 0; i < vals.length; i++) if (isFinite(vals[i])) out.push(vals[i]);
    return out.sort((a, b) => a - b);
  }
  const visibleText = (s) => String(s).replace(/\n/g, '\u23ce\n').replace(/\t/g, '\u21e5').replace(/ /g, '\u00b7');

  // Perceptual colour scale (viridis, 11 stops), as a 256-entry lookup table.
  const VIRIDIS = ['#440154', '#482475', '#414487', '#355f8d', '#2a788e', '#21918c', '#22a884', '#44bf70',
    '#7ad151', '#bddf26', '#fde725'].map((h) => [1, 3, 5].map((i) => parseInt(h.substr(i, 2), 16)));
  const LUT = new Uint8Array(256 * 3);
  for (let k = 0; k < 256; k++) {
    const t = (k / 255) * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i;
    for (let ch = 0; ch < 3; ch++) LUT[k * 3 + ch] = Math.round(VIRIDIS[i][ch] * (1 - f) + VIRIDIS[i + 1][ch] * f);
  }
  const lutCss = (t) => {
    const k = Math.max(0, Math.min(255, Math.round(t * 255))) * 3;
    return 'rgb(' + LUT[k] + ',' + LUT[k + 1] + ',' + LUT[k + 2] + ')';
  };

  // ---------- curves ----------
  function drawCurve(canvas, vals, markers, color, ylabel, mapWindow) {
    const W = Math.max(360, Math.floor(canvas.parentElement.clientWidth)), H = 168;
    const c = setup(canvas, W, H), ctx = c.ctx;
    const P = { x: 58, y: 12, w: W - 58 - 14, h: H - 12 - 34 };
    const N = vals.length;
    let ymax = 0;
    for (let i = 0; i < N; i++) if (vals[i] > ymax) ymax = vals[i];
    if (!(ymax > 0)) ymax = 1;
    const top = ymax * 1.1;
    const X = (i) => P.x + (N <= 1 ? P.w / 2 : (i / (N - 1)) * P.w);
    const Y = (v) => P.y + P.h - (Math.max(0, v) / top) * P.h;
    // Downsample to the pixel columns: each column keeps the min and max of its positions (peaks survive).
    const cols = Math.max(1, Math.min(N, Math.floor(P.w)));
    const lo = new Float64Array(cols).fill(NaN), hi = new Float64Array(cols).fill(NaN), xs = new Float64Array(cols);
    for (let k = 0; k < cols; k++) {
      const a = Math.floor((k * N) / cols), b = Math.max(a + 1, Math.floor(((k + 1) * N) / cols));
      let mn = Infinity, mx = -Infinity;
      for (let i = a; i < b; i++) { const v = vals[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
      if (mx !== -Infinity) { lo[k] = mn; hi[k] = mx; }
      xs[k] = cols === N ? X(a) : P.x + ((k + 0.5) / cols) * P.w;
    }
    ctx.beginPath();
    let open = false, firstX = 0, lastX = 0;
    for (let k = 0; k < cols; k++) {
      if (isNaN(hi[k])) continue;
      if (!open) { ctx.moveTo(xs[k], P.y + P.h); firstX = xs[k]; open = true; }
      ctx.lineTo(xs[k], Y(hi[k]));
      lastX = xs[k];
    }
    if (open) {
      ctx.lineTo(lastX, P.y + P.h);
      ctx.lineTo(firstX, P.y + P.h);
      ctx.fillStyle = color + '24';
      ctx.fill();
    }
    ctx.beginPath();
    open = false;
    for (let k = 0; k < cols; k++) {
      if (isNaN(hi[k])) { open = false; continue; }
      if (!open) { ctx.moveTo(xs[k], Y(lo[k])); open = true; } else ctx.lineTo(xs[k], Y(lo[k]));
      if (hi[k] !== lo[k]) ctx.lineTo(xs[k], Y(hi[k]));
    }
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.1;
    ctx.lineJoin = 'round';
    ctx.stroke();
    // Peaks: a small triangle above each marked token.
    ctx.fillStyle = color;
    for (const i of markers) {
      if (!(i >= 0 && i < N) || !isFinite(vals[i])) continue;
      const x = Math.max(P.x + 3, Math.min(P.x + P.w - 3, X(i))), y = Math.max(P.y + 5, Y(vals[i]) - 3);
      ctx.beginPath();
      ctx.moveTo(x - 3.2, y - 5.5);
      ctx.lineTo(x + 3.2, y - 5.5);
      ctx.lineTo(x, y);
      ctx.closePath();
      ctx.fill();
    }
    canvas.dataset.ink = String(countInk(c, P));
    // The window the attention maps show, as a band behind the data.
    if (mapWindow && N > 1) {
      const x0 = X(mapWindow[0]), x1 = X(Math.min(N - 1, mapWindow[1]));
      ctx.save();
      ctx.globalCompositeOperation = 'destination-over';
      ctx.fillStyle = 'rgba(31,36,48,0.06)';
      ctx.fillRect(x0, P.y, Math.max(1, x1 - x0), P.h);
      ctx.restore();
      const label = 'map window', lw = ctx.measureText(label).width + 6;
      const lx = x1 > P.x + P.w - 90 ? x1 - lw - 2 : x0 + 2;
      ctx.fillStyle = 'rgba(255,255,255,0.85)';
      ctx.fillRect(lx, P.y + 1, lw, 13);
      ctx.fillStyle = COLOR.text;
      ctx.textAlign = 'left';
      ctx.textBaseline = 'top';
      ctx.fillText(label, lx + 3, P.y + 2);
    }
    axesFrame(ctx, P);
    ctx.fillStyle = COLOR.text;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of niceTicks(0, top, 3)) {
      if (v > top) continue;
      const y = Y(v);
      ctx.fillText(fmt(v), P.x - 6, y);
      ctx.fillRect(P.x - 4, Math.round(y), 3, 1);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const v of niceTicks(0, Math.max(1, N - 1), Math.max(3, Math.floor(P.w / 110)))) {
      if (v > N - 1) continue;
      const x = X(v);
      ctx.fillRect(Math.round(x), P.y + P.h + 1, 1, 3);
      ctx.fillText(String(v), x, P.y + P.h + 5);
    }
    ctx.fillText('response token position', P.x + P.w / 2, P.y + P.h + 19);
    yLabel(ctx, ylabel, 4, P.y + P.h / 2);
    canvas.geo = { P, N };
    return canvas;
  }

  // ---------- heatmaps ----------
  function mapView(n) {
    const v = state.mapView;
    if (!v) return { c0: 0, len: n };
    const len = Math.max(1, Math.min(n, Math.round(v.flen * n)));
    return { c0: Math.max(0, Math.min(n - len, Math.round(v.f0 * n))), len };
  }
  // marks: { preplan: [positions], anchor: [positions] } (response positions), drawn above the map
  // (columns) and at its right edge (rows) where they fall inside the shown window.
  function drawHeat(canvas, M, maps, marks) {
    const n = maps.size, begin = maps.window_begin, wsize = maps.window_size || n, per = wsize / n;
    const view = mapView(n), z0 = view.c0, zl = view.len;
    const avail = Math.floor(canvas.parentElement.clientWidth);
    const m = { l: 62, r: 84, t: 18, b: 44 };
    const S = Math.max(160, Math.min(560, avail - m.l - m.r));
    const c = setup(canvas, S + m.l + m.r, S + m.t + m.b), ctx = c.ctx;
    const P = { x: m.l, y: m.t, w: S, h: S };
    const flat = new Float32Array(n * n), pos = [];
    for (let r = 0; r < n; r++) {
      const row = M[r] || [];
      for (let k = 0; k < n; k++) {
        const v = isNum(row[k]) ? row[k] : 0;
        flat[r * n + k] = v;
        if (v > 0) pos.push(v);
      }
    }
    pos.sort((a, b) => a - b);
    const vmax = pos.length ? quantile(pos, 0.995) || pos[pos.length - 1] : 1;
    const vmin = pos.length ? Math.min(vmax / 10, Math.max(quantile(pos, 0.01), vmax * 1e-4)) : vmax * 1e-4;
    const gamma = 0.35, lmin = Math.log(vmin), lspan = Math.log(vmax) - lmin || 1;
    const norm = state.scale === 'log' ? (v) => (Math.log(v) - lmin) / lspan
      : state.scale === 'pow' ? (v) => Math.pow(v / vmax, gamma) : (v) => v / vmax;
    const off = document.createElement('canvas');
    off.width = n;
    off.height = n;
    const octx = off.getContext('2d');
    const img = octx.createImageData(n, n), px = img.data;
    for (let i = 0; i < n * n; i++) {
      const v = flat[i];
      if (!(v > 0)) continue;  // exact zeros (the causal upper triangle) stay transparent
      const t = Math.max(0, Math.min(1, norm(v)));
      const k = Math.round(t * 255) * 3;
      px[i * 4] = LUT[k]; px[i * 4 + 1] = LUT[k + 1]; px[i * 4 + 2] = LUT[k + 2]; px[i * 4 + 3] = 255;
    }
    octx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, z0, z0, zl, zl, P.x, P.y, S, S);
    canvas.dataset.ink = String(countInk(c, P));
    // frame, ticks in response positions
    ctx.strokeStyle = COLOR.axis;
    ctx.strokeRect(P.x - 0.5, P.y - 0.5, S + 1, S + 1);
    ctx.fillStyle = COLOR.text;
    const vb = begin + z0 * per, vw = zl * per;  // response positions shown
    const ticks = niceTicks(vb, vb + vw - 1, Math.max(3, Math.floor(S / 90)));
    for (const v of ticks) {
      if (v < vb || v > vb + vw - 1) continue;
      const f = ((v - vb + 0.5) / vw) * S;
      ctx.textAlign = 'center'; ctx.textBaseline = 'top';
      ctx.fillRect(Math.round(P.x + f), P.y + S + 1, 1, 3);
      ctx.fillText(String(v), P.x + f, P.y + S + 5);
      ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      ctx.fillRect(P.x - 4, Math.round(P.y + f), 3, 1);
      ctx.fillText(String(v), P.x - 6, P.y + f);
    }
    ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    ctx.fillText('key position s (attended to)', P.x + S / 2, P.y + S + 22);
    yLabel(ctx, 'query position t', 4, P.y + S / 2);
    // Preplan (upper row, blue) and anchor (lower row, orange) marks: triangles pointing at their
    // column above the map and at their row on the right edge.
    const markCounts = {};
    [['preplan', COLOR.waad, 0], ['anchor', COLOR.fai, 7]].forEach(([kind, color, offset]) => {
      let k = 0;
      ctx.fillStyle = color;
      for (const p of (marks && marks[kind]) || []) {
        if (p < vb || p >= vb + vw) continue;
        const f = ((p - vb + 0.5) / vw) * S;
        const tx = P.x + f, ty = P.y - 15 + offset;
        ctx.beginPath(); ctx.moveTo(tx - 2.6, ty); ctx.lineTo(tx + 2.6, ty); ctx.lineTo(tx, ty + 5.5); ctx.closePath(); ctx.fill();
        const rx = P.x + S + 3 + offset, ry = P.y + f;
        ctx.beginPath(); ctx.moveTo(rx + 5.5, ry - 2.6); ctx.lineTo(rx + 5.5, ry + 2.6); ctx.lineTo(rx, ry); ctx.closePath(); ctx.fill();
        k++;
      }
      markCounts[kind] = k;
    });
    canvas.dataset.preplanMarks = String(markCounts.preplan);
    canvas.dataset.anchorMarks = String(markCounts.anchor);
    // colour bar
    const bx = P.x + S + 20, bw = 12;
    for (let y = 0; y < S; y++) {
      ctx.fillStyle = lutCss(1 - y / (S - 1));
      ctx.fillRect(bx, P.y + y, bw, 1);
    }
    ctx.strokeStyle = COLOR.axis;
    ctx.strokeRect(bx - 0.5, P.y - 0.5, bw + 1, S + 1);
    const inv = state.scale === 'log' ? (t) => Math.exp(lmin + t * lspan)
      : state.scale === 'pow' ? (t) => vmax * Math.pow(t, 1 / gamma) : (t) => vmax * t;
    let labels = [];
    if (state.scale === 'log') {
      for (let e = Math.ceil(Math.log10(vmin)); e <= Math.floor(Math.log10(vmax)); e++) labels.push(Math.pow(10, e));
      if (labels.length < 2) labels = [vmin, vmax];
    } else {
      labels = [0, 0.25, 0.5, 0.75, 1].map(inv);
    }
    ctx.fillStyle = COLOR.text;
    ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
    for (const v of labels) {
      const t = v <= 0 ? 0 : Math.max(0, Math.min(1, norm(v)));
      const y = P.y + (1 - t) * (S - 1);
      ctx.fillRect(bx + bw + 1, Math.round(y), 3, 1);
      ctx.fillText(fmt(v), bx + bw + 6, y);
    }
    canvas.geo = { P, n, begin, wsize, flat, z0, zl };
    canvas.style.cursor = zl < n ? 'zoom-out' : 'zoom-in';
    return canvas;
  }

  // ---------- head spans ----------
  function drawHeads(canvas, R) {
    const spans = R.head_span, L = spans.length;
    const layers = Array.isArray(R.layers) && R.layers.length === L ? R.layers : spans.map((_, i) => i);
    const key = (l, h) => l + ':' + h;
    const local = new Set((R.local_heads || []).map((p) => key(p[0], p[1])));
    const global = new Set((R.global_heads || []).map((p) => key(p[0], p[1])));
    const W = Math.max(320, Math.floor(canvas.parentElement.clientWidth)), H = 236;
    const c = setup(canvas, W, H), ctx = c.ctx;
    const P = { x: 58, y: 10, w: W - 58 - 10, h: H - 10 - 40 };
    const all = [];
    spans.forEach((row) => row.forEach((v) => { if (isNum(v) && v > 0) all.push(v); }));
    all.sort((a, b) => a - b);
    const dmin = all.length ? all[0] : 1, dmax = all.length ? all[all.length - 1] : 10;
    const useLog = dmax / dmin > 8;
    const lo = useLog ? Math.log10(dmin / 1.3) : 0, hi = useLog ? Math.log10(dmax * 1.3) : dmax * 1.1;
    const Y = (v) => P.y + P.h - ((useLog ? Math.log10(Math.max(v, dmin / 1.3)) : v) - lo) / (hi - lo || 1) * P.h;
    const gw = P.w / Math.max(1, L);
    const pts = { other: [], local: [], global: [] };
    spans.forEach((row, li) => row.forEach((v, h) => {
      if (!isNum(v)) return;
      const x = P.x + li * gw + gw * (0.1 + 0.8 * (h + 0.5) / row.length);
      const k = key(layers[li], h);
      (local.has(k) ? pts.local : global.has(k) ? pts.global : pts.other).push([x, Y(v)]);
    }));
    const dots = (list, color, r) => {
      ctx.fillStyle = color;
      for (const [x, y] of list) { ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI); ctx.fill(); }
    };
    dots(pts.other, COLOR.other, 2.6);
    dots(pts.local, COLOR.waad, 3.4);
    dots(pts.global, COLOR.fai, 3.4);
    canvas.dataset.ink = String(countInk(c, P));
    axesFrame(ctx, P);
    ctx.fillStyle = COLOR.text;
    ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    layers.forEach((l, li) => {
      if (li > 0) { ctx.fillStyle = '#eceef2'; ctx.fillRect(Math.round(P.x + li * gw), P.y, 1, P.h); ctx.fillStyle = COLOR.text; }
      ctx.fillText('L' + l, P.x + (li + 0.5) * gw, P.y + P.h + 5);
    });
    ctx.fillText('layer (heads left to right)', P.x + P.w / 2, P.y + P.h + 21);
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
    const ticks = useLog ? [0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000, 10000].filter((v) => Math.log10(v) >= lo && Math.log10(v) <= hi)
      : niceTicks(0, hi, 4);
    for (const v of ticks) { const y = Y(v); ctx.fillRect(P.x - 4, Math.round(y), 3, 1); ctx.fillText(fmt(v), P.x - 6, y); }
    yLabel(ctx, 'span (tokens' + (useLog ? ', log)' : ')'), 4, P.y + P.h / 2);
    return canvas;
  }

  // ---------- text ----------
  const SHADE = { waad: [[37, 99, 235], 'w'], fai: [[232, 89, 12], 'f'], ent: [[124, 58, 237], 'e'] };
  (function shadeCss() {
    let css = '';
    for (const mode in SHADE) {
      const [rgb, p] = SHADE[mode];
      for (let k = 1; k <= 9; k++) css += '.shade-' + mode + ' .' + p + k + '{background:rgba(' + rgb + ',' + (0.07 * k).toFixed(2) + ')}';
    }
    const st = document.createElement('style');
    st.textContent = css;
    document.head.appendChild(st);
  })();
  function buckets(vals, power) {
    if (!vals) return null;
    const s = finiteSorted(vals);
    const top = Math.max(quantile(s, 0.99), 1e-30), lo = Math.min(0, s.length ? s[0] : 0);
    const b = new Uint8Array(vals.length);
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (!isFinite(v)) continue;
      b[i] = Math.max(0, Math.min(9, Math.round(9 * Math.pow(Math.max(0, (v - lo) / (top - lo)), power))));
    }
    return b;
  }
  function renderText(R, V) {
    const toks = R.tokens, N = toks.length;
    const wb = buckets(V.waad, 1), fb = buckets(V.fai, 0.5), eb = buckets(V.entropy, 1);
    const parts = new Array(N);
    for (let i = 0; i < N; i++) {
      let cls = 't';
      if (wb) cls += ' w' + wb[i];
      if (fb) cls += ' f' + fb[i];
      if (eb) cls += ' e' + eb[i];
      if (V.pp[i]) cls += ' pp';
      if (V.an[i]) cls += ' an';
      parts[i] = '<span class="' + cls + '" data-i="' + i + '">' + esc(toks[i]) + '</span>';
    }
    $('text').innerHTML = parts.join('');  // one parse, one layout
  }

  // ---------- tooltip ----------
  const tip = $('tip');
  // withContext: also the tokens around it (the curves' hover, where the text is not in view).
  function tokenTip(i, withContext) {
    const R = RESPONSES[state.r], V = current;
    let h = '<b>#' + i + '</b> <span class="tok">' + esc(visibleText(R.tokens[i])) + '</span>';
    if (withContext) {
      const a = Math.max(0, i - 6), b = Math.min(R.tokens.length, i + 7);
      const part = (x, y) => esc(visibleText(R.tokens.slice(x, y).join('')));
      h = '<div class="ctx">' + (a > 0 ? '\u2026' : '') + part(a, i) + '<b class="tok">' + part(i, i + 1) + '</b>' + part(i + 1, b) +
        (b < R.tokens.length ? '\u2026' : '') + '</div>' + h;
    }
    if (V.pp[i]) h += '<span class="tag pp">preplan</span>';
    if (V.an[i]) h += '<span class="tag an">anchor</span>';
    const row = (k, a) => (a ? '<tr><td>' + k + '</td><td>' + fmt(a[i]) + '</td></tr>' : '');
    return h + '<table>' + row('WAAD', V.waad) + row('FAI', V.fai) + row('\u0394 WAAD', V.delta) + row('entropy', V.entropy) + '</table>';
  }

  // ---------- page ----------
  let current = null;

  function renderHeader() {
    document.title = (DATA.title ? DATA.title + ' \u2013 ' : '') + 'illume analysis report';
    if (DATA.title) $('title').textContent = DATA.title;
    const chips = [];
    const chip = (k, v) => chips.push('<span class="chip">' + esc(k) + ' <b>' + esc(v) + '</b></span>');
    if (DATA.model) chip('model', DATA.model);
    chip('responses', RESPONSES.length);
    const shown = { layers: 1, window: 1, fai_horizon_lo: 1, fai_horizon_hi: 1, head_quantile: 1 };
    if (DATA.model && SETTINGS.model === DATA.model) shown.model = 1;  // one chip for the model
    if (Array.isArray(SETTINGS.layers)) chip('layers', SETTINGS.layers.join(', '));
    if (SETTINGS.window !== undefined) chip('WAAD window W', SETTINGS.window);
    const horizon = '[' + (SETTINGS.fai_horizon_lo ?? 1) + ', ' + (SETTINGS.fai_horizon_hi ?? 'end') + ']';
    if (SETTINGS.fai_horizon_lo !== undefined || SETTINGS.fai_horizon_hi !== undefined) chip('FAI horizon', horizon);
    if (SETTINGS.head_quantile !== undefined) chip('head quantile', SETTINGS.head_quantile);
    for (const k in SETTINGS) if (!shown[k]) chip(k.replace(/_/g, ' '), typeof SETTINGS[k] === 'object' ? JSON.stringify(SETTINGS[k]) : SETTINGS[k]);
    $('meta').innerHTML = chips.join('');
    document.querySelectorAll('.lw').forEach((e) => { e.textContent = SETTINGS.window ?? 10; });
    $('hz').textContent = horizon;
  }

  function renderSummary() {
    const S = DATA.summary;
    if (!S || typeof S !== 'object' || !Object.keys(S).length) {
      $('summary').innerHTML = '<div class="empty">No run-level statistics.</div>';
      return;
    }
    const rows = [];
    const walk = (obj, prefix) => {
      for (const k in obj) {
        const v = obj[k], label = prefix + k.replace(/_/g, ' ');
        if (v && typeof v === 'object' && !Array.isArray(v) && ('observed' in v || 'random' in v || 'lift' in v)) {
          // lift = (observed - random) / random, as the paper reads it (+51% = 1.51x chance); ratio = observed / random.
          // Green only when the lift's 95% interval lies above 0; a lift without an interval is not judged.
          const verdict = liftVerdict(v);
          const cls = { 'above chance': 'lift-up', 'not detected': 'lift-nd', 'below chance': 'lift-down' }[verdict];
          const lift = isNum(v.lift) ? pct(v.lift) : '';
          const ci = Array.isArray(v.lift_ci) && isNum(v.lift_ci[0]) && isNum(v.lift_ci[1])
            ? '[' + pct(v.lift_ci[0]) + ', ' + pct(v.lift_ci[1]) + ']' : (v.bootstrap ? 'undefined' : '');
          if (isNum(v.bootstrap)) resamples = v.bootstrap;
          const ratio = isNum(v.ratio) ? '\u00d7' + fmt(v.ratio) : '';
          rows.push('<tr><td>' + esc(label) + '</td><td>' + fmt(v.observed) + '</td><td>' + fmt(v.random) +
            '</td><td' + (cls ? ' class="' + cls + '"' : '') + '>' + lift +
            (verdict && verdict !== 'above chance' ? '<span class="verdict">' + verdict + '</span>' : '') +
            '</td><td class="ci">' + ci + '</td><td>' + ratio + '</td></tr>');
        } else if (v && typeof v === 'object' && !Array.isArray(v)) {
          walk(v, label + ' \u203a ');
        } else {
          rows.push('<tr><td>' + esc(label) + '</td><td colspan="4">' + esc(Array.isArray(v) ? JSON.stringify(v) : fmt(v)) + '</td></tr>');
        }
      }
    };
    let resamples = 0;
    walk(S, '');
    $('summary').innerHTML = '<table><thead><tr><th>statistic</th><th>observed</th><th>random / chance</th><th>lift</th>' +
      '<th>95% interval</th><th>ratio</th></tr></thead><tbody>' + rows.join('') + '</tbody></table>' +
      (resamples ? '<div class="sumnote">95% intervals of the lift: percentile bootstrap over the responses (' + resamples +
        ' resamples). Green: the interval lies above 0; "not detected": it includes 0.</div>'
        : '<div class="sumnote">No intervals in this data: no lift is marked as detected.</div>');
  }

  // A lift as a signed percentage with at most one decimal (an interval's ends have no more precision).
  const pct = (x) => (x > 0 ? '+' : '') + String(+(100 * x).toFixed(1)) + '%';
  // A coupling row's verdict: its own, or from its interval; '' when it has no interval.
  function liftVerdict(v) {
    if (typeof v.verdict === 'string') return v.verdict;
    if (!Array.isArray(v.lift_ci)) return v.bootstrap ? 'not detected' : '';
    const [lo, hi] = v.lift_ci;
    return isNum(lo) && lo > 0 ? 'above chance' : isNum(hi) && hi < 0 ? 'below chance' : 'not detected';
  }
  // The coupling rows (summary entries with a lift) whose interval does not lie above 0.
  function undetectedRows() {
    const out = [], S = DATA.summary;
    const walk = (obj, prefix) => {
      for (const k in obj) {
        const v = obj[k];
        if (!v || typeof v !== 'object' || Array.isArray(v)) continue;
        if ('lift' in v) {
          const verdict = liftVerdict(v);
          if (verdict && verdict !== 'above chance') {
            const ci = Array.isArray(v.lift_ci) && isNum(v.lift_ci[0]) ? ' (95% interval [' + pct(v.lift_ci[0]) + ', ' + pct(v.lift_ci[1]) + '])' : '';
            out.push(prefix + k.replace(/_/g, ' ') + ': lift ' + (isNum(v.lift) ? pct(v.lift) : '\u2013') + ci + ', ' + verdict);
          }
        } else walk(v, prefix + k.replace(/_/g, ' ') + ' \u203a ');
      }
    };
    if (S && typeof S === 'object') walk(S, '');
    return out;
  }
  function renderRhythmNote() {
    const rows = undetectedRows();
    const note = $('rhythm-note');
    note.hidden = !rows.length;
    note.innerHTML = rows.length ? '<b>This model\u2019s statistics do not show the whole rhythm.</b> ' + rows.map(esc).join('; ') +
      '. The sawtooth and stripes described above are the paper\u2019s findings; do not read them into these maps.' : '';
    document.body.dataset.rhythmRows = String(rows.length);
  }

  // Mean span of the response's locally focused heads (null without spans or groups).
  function localSpan(R) {
    if (!Array.isArray(R.head_span) || !Array.isArray(R.local_heads) || !R.local_heads.length) return null;
    const layers = Array.isArray(R.layers) && R.layers.length === R.head_span.length ? R.layers : R.head_span.map((_, i) => i);
    let sum = 0, n = 0;
    for (const [l, h] of R.local_heads) {
      const li = layers.indexOf(l), v = li >= 0 ? R.head_span[li][h] : undefined;
      if (isNum(v)) { sum += v; n++; }
    }
    return n ? sum / n : null;
  }
  // The maps card's note: the undetected coupling rows, and "local" heads that are not local here
  // (their mean look-back is at least half the response).
  function renderMapNote(R) {
    const parts = [], span = localSpan(R), N = R.tokens.length;
    const wide = span !== null && N > 0 && span >= N / 2;
    if (wide) parts.push('The \u201clocally focused\u201d heads of this response look back <b>' + fmt(span) + '</b> tokens on average, ' +
      fmt((100 * span) / N) + '% of its ' + N + ' tokens: they span most of the response, so a sawtooth is not expected here.');
    const rows = undetectedRows();
    if (rows.length) parts.push('Coupling statistics not detected for this model: ' + rows.map(esc).join('; ') + '.');
    const note = $('map-note');
    note.hidden = !parts.length;
    note.innerHTML = parts.length ? '<b>The paper\u2019s rhythm is not shown by this model\u2019s statistics.</b> ' + parts.join(' ') : '';
    document.body.dataset.localSpanWide = wide ? '1' : '0';
    document.body.dataset.rhythm = parts.length ? 'not-shown' : 'shown';
  }

  function prepare(R) {
    const N = R.tokens.length;
    const V = { waad: toNumbers(R.waad), fai: toNumbers(R.fai), delta: toNumbers(R.delta), entropy: toNumbers(R.entropy),
      pp: new Uint8Array(N), an: new Uint8Array(N), preplan: [], anchor: [] };
    for (const i of R.preplan || []) if (i >= 0 && i < N) { V.pp[i] = 1; V.preplan.push(i); }
    for (const i of R.anchor || []) if (i >= 0 && i < N) { V.an[i] = 1; V.anchor.push(i); }
    return V;
  }

  function renderStats(R, V) {
    const N = R.tokens.length, out = [];
    out.push('<div class="muted">This response</div>');
    out.push('<div><b>' + N + '</b> tokens &middot; <b class="mark-pp">' + V.preplan.length + '</b> preplan &middot; <b class="mark-an">' +
      V.anchor.length + '</b> anchor</div>');
    if (V.entropy && V.preplan.length) {
      let all = 0, na = 0, pp = 0, np = 0;
      for (let i = 0; i < N; i++) if (isFinite(V.entropy[i])) { all += V.entropy[i]; na++; if (V.pp[i]) { pp += V.entropy[i]; np++; } }
      if (na && np) out.push('<div>entropy at preplan tokens <b>' + fmt(pp / np) + '</b> vs <b>' + fmt(all / na) + '</b> over all tokens</div>');
    }
    if (V.anchor.length && V.preplan.length) {
      let k = 0;
      for (const i of V.anchor) if (V.pp[i] || (i > 0 && V.pp[i - 1])) k++;
      out.push('<div>anchors at or one after a preplan token: <b>' + k + '</b> of <b>' + V.anchor.length + '</b> (' +
        fmt((100 * k) / V.anchor.length) + '%)</div>');
    }
    $('rstats').innerHTML = out.join('');
  }

  // Hides a panel; a hidden canvas loses its data-ink (it was not drawn for this response).
  function show(el, on) {
    el.hidden = !on;
    if (on) return;
    if (el.tagName === 'CANVAS') delete el.dataset.ink;
    el.querySelectorAll('canvas').forEach((c) => delete c.dataset.ink);
  }

  // ---------- map panels: which heads ----------
  // The maps a panel can show for response R: key -> { M, maps (size / window), label, caption }.
  function mapSources(R) {
    const maps = R.maps, out = {};
    if (!maps || !isNum(maps.size)) return out;
    const count = (list) => (Array.isArray(list) ? list.length : 0);
    const spanOf = (l, h) => {
      const layers = Array.isArray(R.layers) ? R.layers : [], li = layers.indexOf(l);
      return Array.isArray(R.head_span) && li >= 0 && R.head_span[li] ? R.head_span[li][h] : undefined;
    };
    if (maps.local) out.local = { M: maps.local, maps, label: 'local heads (mean of ' + count(R.local_heads) + ')',
      caption: 'in the paper: a sawtooth along the diagonal' };
    if (maps.global) out.global = { M: maps.global, maps, label: 'global heads (mean of ' + count(R.global_heads) + ')',
      caption: 'in the paper: vertical stripes (anchor columns)' };
    if (maps.receiver) out.receiver = { M: maps.receiver, maps, label: 'receiver heads (mean of ' + count(R.receiver_heads) + ')',
      caption: 'heads whose received attention is most concentrated' };
    const H = maps.heads;
    if (H && Array.isArray(H.ids) && Array.isArray(H.maps) && isNum(H.size)) {
      const member = (list, l, h) => (list || []).some((p) => p[0] === l && p[1] === h);
      const hm = { ...maps, size: H.size };
      H.ids.forEach(([l, h], k) => {
        const group = [member(R.local_heads, l, h) ? 'local' : member(R.global_heads, l, h) ? 'global' : '',
          member(R.receiver_heads, l, h) ? 'receiver' : ''].filter((g) => g).join(', ');
        const span = spanOf(l, h);
        out['h:' + k] = { M: H.maps[k], maps: hm, label: 'layer ' + l + ', head ' + h + (group ? ' (' + group + ')' : ''),
          caption: 'one head' + (isNum(span) ? ', span ' + fmt(span) : '') + (group ? ', ' + group : '') };
      });
    }
    return out;
  }
  function mapSource(R, key) {
    const all = mapSources(R);
    return all[key] || null;
  }
  // Fills both head selectors for R; a choice R lacks falls back to the panel's group mean.
  function renderHeadSelectors(R) {
    const all = mapSources(R), keys = Object.keys(all);
    const perHead = keys.filter((k) => k.startsWith('h:')).length;
    [['left', 'local'], ['right', 'global']].forEach(([side, fallback]) => {
      if (!all[state[side]]) state[side] = all[fallback] ? fallback : keys[0] || fallback;
      const sel = $('sel-' + side);
      sel.innerHTML = keys.map((k) => '<option value="' + esc(k) + '">' + esc(all[k].label) + '</option>').join('');
      sel.value = state[side];
      sel.disabled = keys.length < 2;
    });
    const stored = SETTINGS.head_map_responses;
    $('headinfo').textContent = perHead
      ? 'Each panel can show any group mean or one of the ' + perHead + ' observed heads (layer, head).'
      : 'This response has group means only: per-head maps are stored for the first ' +
        (isNum(stored) ? stored : 'few') + ' responses of a run (they grow with layers \u00d7 heads).';
    document.body.dataset.headOptions = String(keys.length);
  }

  function drawPlots() {
    const R = RESPONSES[state.r], V = current;
    if (!R) return;
    let drawn = 0;
    const maps = R.maps && isNum(R.maps.size) ? R.maps : null;
    let win = null;
    if (maps) {
      const per = (maps.window_size || maps.size) / maps.size, v = mapView(maps.size);  // the group maps' cells
      win = [maps.window_begin + Math.floor(v.c0 * per), maps.window_begin + Math.ceil((v.c0 + v.len) * per) - 1];
    }
    const hasW = !!V.waad, hasF = !!V.fai;
    show($('plot-waad'), hasW); show($('plot-fai'), hasF); $('curves-empty').hidden = hasW || hasF;
    if (hasW) { drawCurve($('cv-waad'), V.waad, V.preplan, COLOR.waad, 'WAAD', win); drawn++; }
    if (hasF) { drawCurve($('cv-fai'), V.fai, V.anchor, COLOR.fai, 'FAI', win); drawn++; }
    const hasMaps = !!(maps && (maps.local || maps.global));
    show($('maps'), hasMaps); $('maps-empty').hidden = hasMaps;
    $('mapinfo').textContent = '';
    if (hasMaps) {
      const figs = $('maps').querySelectorAll('figure');
      const marks = { preplan: V.preplan, anchor: V.anchor };
      [['left', 'cv-local', 0], ['right', 'cv-global', 1]].forEach(([side, id, f]) => {
        const src = mapSource(R, state[side]);
        figs[f].hidden = !src;
        $('cap-' + side).textContent = src ? src.caption : '';
        if (src) { drawHeat($(id), src.M, src.maps, marks); drawn++; } else delete $(id).dataset.ink;
      });
      const w = maps.window_size || maps.size, per = w / maps.size, zoomed = mapView(maps.size).len < maps.size;
      $('mapinfo').textContent = 'Response positions ' + win[0] + '\u2013' + win[1] + ' (' + (win[1] - win[0] + 1) + ' tokens' +
        (per > 1 ? ', ' + fmt(per) + ' per cell' : '') + '). Rows: query t; columns: key s; mean attention over the ' +
        'locally / globally focused heads. Colour: ' + { log: 'log scale', pow: 'power scale (\u03b3 = 0.35)', lin: 'linear scale' }[state.scale] +
        ', clipped at the 99.5th percentile; blank = causal zero. ' +
        (zoomed ? 'Zoomed in: click a map to see the whole window.' : 'Click a map to zoom 4\u00d7 into that stretch of the diagonal.');
    }
    const hasHeads = Array.isArray(R.head_span) && R.head_span.length > 0;
    show($('cv-heads').parentElement, hasHeads); $('hlegend').hidden = !hasHeads; $('heads-empty').hidden = hasHeads;
    if (hasHeads) { drawHeads($('cv-heads'), R); drawn++; }
    document.body.dataset.plotsDrawn = String(drawn);
  }

  function renderResponse(r) {
    const t0 = performance.now();
    state.r = r;
    state.mapView = null;
    const R = RESPONSES[r];
    current = prepare(R);
    $('rinfo').textContent = R.tokens.length + ' tokens \u00b7 ' + current.preplan.length + ' preplan \u00b7 ' +
      current.anchor.length + ' anchor';
    $('prompt-box').hidden = !R.prompt;
    $('prompt').textContent = R.prompt || '';
    renderText(R, current);
    renderStats(R, current);
    renderHeadSelectors(R);
    renderMapNote(R);
    drawPlots();
    document.body.dataset.renderMs = String(Math.round(performance.now() - t0));
  }

  function init() {
    renderHeader();
    renderSummary();
    renderRhythmNote();
    const sel = $('sel');
    sel.innerHTML = RESPONSES.map((R, i) => '<option value="' + i + '">#' + i + ' \u00b7 ' + R.tokens.length + ' tokens' +
      (R.prompt ? ' \u00b7 ' + esc(String(R.prompt).replace(/\s+/g, ' ').slice(0, 70)) : '') + '</option>').join('');
    if (!RESPONSES.length) {
      $('text').innerHTML = '<div class="empty">This report holds no responses.</div>';
      document.body.dataset.plotsDrawn = '0';
      return;
    }
    const m = /(?:^|[#&])r=(\d+)/.exec(location.hash);
    const r0 = m && +m[1] < RESPONSES.length ? +m[1] : 0;
    sel.value = String(r0);
    sel.addEventListener('change', () => {
      history.replaceState(null, '', '#r=' + sel.value);
      renderResponse(+sel.value);
    });
    $('shade').addEventListener('change', (e) => {
      state.shade = e.target.value;
      $('text').className = 'text shade-' + state.shade;
    });
    $('scale').addEventListener('change', (e) => { state.scale = e.target.value; drawPlots(); });
    for (const side of ['left', 'right'])
      $('sel-' + side).addEventListener('change', (e) => { state[side] = e.target.value; drawPlots(); });

    const text = $('text');
    text.addEventListener('mouseover', (e) => {
      const s = e.target.closest && e.target.closest('.t');
      if (s) showTip(tokenTip(+s.dataset.i), e.clientX, e.clientY);
    });
    text.addEventListener('mousemove', (e) => { if (!tip.hidden) showTip(tip.innerHTML, e.clientX, e.clientY); });
    text.addEventListener('mouseleave', hideTip);

    const curveIndex = (cv, e) => {
      const g = cv.geo, x = e.clientX - cv.getBoundingClientRect().left;
      if (!g || x < g.P.x - 2 || x > g.P.x + g.P.w + 2) return -1;
      return Math.max(0, Math.min(g.N - 1, Math.round(((x - g.P.x) / g.P.w) * (g.N - 1))));
    };
    for (const id of ['cv-waad', 'cv-fai']) {
      const cv = $(id), cur = cv.parentElement.querySelector('.cursor');
      cv.addEventListener('mousemove', (e) => {
        const i = curveIndex(cv, e);
        if (i < 0) { cur.style.display = 'none'; hideTip(); return; }
        const g = cv.geo, x = g.P.x + (g.N <= 1 ? g.P.w / 2 : (i / (g.N - 1)) * g.P.w);
        cur.style.display = 'block';
        cur.style.left = cv.offsetLeft + x + 'px';
        cur.style.top = cv.offsetTop + g.P.y + 'px';
        cur.style.height = g.P.h + 'px';
        showTip(tokenTip(i, true) + '<div class="muted" style="color:#c9ced8">click: show in text</div>', e.clientX, e.clientY);
        cv.dataset.tipIndex = String(i);
      });
      cv.addEventListener('mouseleave', () => { cur.style.display = 'none'; hideTip(); });
      cv.addEventListener('click', (e) => {
        const i = curveIndex(cv, e);
        const s = i >= 0 && text.querySelector('[data-i="' + i + '"]');
        if (!s) return;
        text.scrollTop = s.offsetTop - text.clientHeight / 2;
        s.classList.remove('hit'); void s.offsetWidth; s.classList.add('hit');
        text.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
      });
    }
    for (const id of ['cv-local', 'cv-global']) {
      const cv = $(id);
      cv.addEventListener('mousemove', (e) => {
        const g = cv.geo;
        if (!g) return;
        const rect = cv.getBoundingClientRect(), x = e.clientX - rect.left - g.P.x, y = e.clientY - rect.top - g.P.y;
        if (x < 0 || y < 0 || x >= g.P.w || y >= g.P.h) { hideTip(); return; }
        const k = g.z0 + Math.floor((x / g.P.w) * g.zl), r = g.z0 + Math.floor((y / g.P.h) * g.zl), per = g.wsize / g.n;
        const span = (c) => { const a = g.begin + Math.floor(c * per), b = g.begin + Math.ceil((c + 1) * per) - 1; return b > a ? a + '\u2013' + b : String(a); };
        const R = RESPONSES[state.r], V = current;
        const tags = (p) => (V.pp[p] ? '<span class="tag pp">preplan</span>' : '') + (V.an[p] ? '<span class="tag an">anchor</span>' : '');
        const tokAt = (p) => (p < R.tokens.length ? ' <span class="tok">' + esc(visibleText(R.tokens[p])) + '</span>' + tags(p) : '');
        showTip('query t ' + span(r) + (per <= 1 ? tokAt(g.begin + r) : '') + '<br>key s ' + span(k) + (per <= 1 ? tokAt(g.begin + k) : '') +
          '<br>attention <b>' + fmt(g.flat[r * g.n + k]) + '</b>', e.clientX, e.clientY);
      });
      cv.addEventListener('mouseleave', hideTip);
      cv.addEventListener('click', (e) => {
        const g = cv.geo;
        if (!g) return;
        if (state.mapView) { state.mapView = null; drawPlots(); return; }
        const rect = cv.getBoundingClientRect();
        const fx = Math.max(0, Math.min(1, (e.clientX - rect.left - g.P.x) / g.P.w));
        const fy = Math.max(0, Math.min(1, (e.clientY - rect.top - g.P.y) / g.P.h));
        const len = Math.max(8, Math.round(g.n / 4));
        if (len >= g.n) return;
        const flen = len / g.n, centre = (fx + fy) / 2;
        state.mapView = { f0: Math.max(0, Math.min(1 - flen, centre - flen / 2)), flen };
        drawPlots();
      });
    }
    redrawOnResize(drawPlots);
    renderResponse(r0);
    // "#r=0&zoom=C": open the maps zoomed 4x at cell C of the diagonal.
    const z = /[#&]zoom=(\d+)/.exec(location.hash), M = RESPONSES[r0].maps;
    if (z && M && isNum(M.size)) {
      const len = Math.max(8, Math.round(M.size / 4));
      if (len < M.size) state.mapView = { f0: Math.min(+z[1], M.size - len) / M.size, flen: len / M.size };
      drawPlots();
    }
    if (/selftest/.test(location.hash)) selfTest();
  }

  // "#selftest" in the URL: drive every interactive path once (tooltips, curve click, shading and
  // colour-scale toggles) so a headless run catches errors in them; sets body.dataset.selftest = "ok".
  function selfTest() {
    const pick = (group, value) => { const i = document.querySelector('#' + group + ' input[value="' + value + '"]'); i.checked = true; i.dispatchEvent(new Event('change', { bubbles: true })); };
    for (const v of ['fai', 'ent', 'none', 'waad']) pick('shade', v);
    for (const v of ['pow', 'lin', 'log']) pick('scale', v);
    // Every head choice of the left panel once (ink recorded per choice), then back to the group mean.
    const sel = $('sel-left'), inks = [], before = state.left;
    for (const o of Array.from(sel.options)) {
      sel.value = o.value;
      sel.dispatchEvent(new Event('change', { bubbles: true }));
      inks.push(o.value + '=' + ($('cv-local').dataset.ink || ''));
    }
    if (sel.options.length) { sel.value = before; sel.dispatchEvent(new Event('change', { bubbles: true })); }
    document.body.dataset.headInks = inks.join(' ');
    for (const id of ['cv-waad', 'cv-fai', 'cv-local', 'cv-global']) {
      const cv = $(id);
      if (!cv.geo || !cv.dataset.ink) continue;
      cv.dispatchEvent(new MouseEvent('mousemove', pointAt(cv, 0.45, 0.6)));
      if (!$('tip').hidden) cv.dataset.tip = $('tip').textContent;  // what the hover showed (tests read it)
      cv.dispatchEvent(new MouseEvent('click', pointAt(cv, 0.45, 0.6)));
      cv.dispatchEvent(new MouseEvent('mouseleave', {}));
    }
    const s = $('text').querySelector('.t.an') || $('text').querySelector('.t');
    if (s) s.dispatchEvent(new MouseEvent('mouseover', pointAt(s, 0.5, 0.5)));
    document.body.dataset.selftest = 'ok';
  }

  init();
})();
