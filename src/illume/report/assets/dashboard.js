'use strict';
// The dashboard's script (see dashboard.h for the data it reads and the attributes it sets).
(function () {
  const t0 = performance.now();
  const { $, readData, esc, isNum, fmt, toNumbers, niceTicks, setup, countInk, axesFrame, yLabel, redrawOnResize,
    showTip, hideTip, pointAt } = illume;
  const DATA = readData();
  const RUNS = Array.isArray(DATA.runs) ? DATA.runs : [];
  const COLOR = { ...illume.COLOR, grid: '#eef0f3' };
  const PALETTE = ['#2563eb', '#e8590c', '#16a34a', '#9333ea', '#dc2626', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];
  const runColor = (i) => (i < PALETTE.length ? PALETTE[i] : 'hsl(' + Math.round((i * 137.5) % 360) + ',62%,44%)');

  // ---------- small helpers ----------
  const signed = (v) => (v > 0 ? '+' : v < 0 ? '\u2212' : '') + fmt(Math.abs(v));
  const pct = (v) => (isNum(v) ? (100 * v).toFixed(1) + '%' : '\u2013');
  const value = (v) => (v === null || v === undefined ? '\u2013' : typeof v === 'number' ? fmt(v) :
    typeof v === 'object' ? JSON.stringify(v) : String(v));
  function dashSample(dash) {
    return '<svg class="dash" width="22" height="8" aria-hidden="true"><line x1="0" y1="4" x2="22" y2="4" stroke="#505868" stroke-width="1.6"' +
      (dash && dash.length ? ' stroke-dasharray="' + dash.join(',') + '"' : '') + '/></svg>';
  }

  // ---------- runs ----------
  const R = RUNS.map((run, i) => {
    const cols = {};
    const m = run.metrics && typeof run.metrics === 'object' ? run.metrics : {};
    for (const k in m) { const a = toNumbers(m[k]); if (a) cols[k] = a; }
    let step = cols.step;
    if (!step) { step = new Float64Array(0); }
    let sorted = true;
    for (let j = 1; j < step.length; j++) if (!(step[j] >= step[j - 1])) { sorted = false; break; }
    const present = {};
    for (const k in cols) { const a = cols[k]; for (let j = 0; j < a.length; j++) if (isFinite(a[j])) { present[k] = true; break; } }
    let trained = 0;
    for (let j = 0; j < step.length; j++) if (step[j] > 0) trained++;
    const curve = run.eval_curve && typeof run.eval_curve === 'object' ? run.eval_curve : null;
    return { run, i, name: String(run.name), label: run.label, color: runColor(i), cols, step, sorted, n: step.length,
      trained, present, curve, visible: true };
  });
  const has = (r, key) => !!r.present[key];
  const anyHas = (key) => R.some((r) => has(r, key));
  function meanOf(a, from) {
    let s = 0, n = 0;
    for (let j = from || 0; j < a.length; j++) if (isFinite(a[j])) { s += a[j]; n++; }
    return n ? s / n : NaN;
  }
  const tailMean = (r, key) => (has(r, key) ? meanOf(r.cols[key], Math.floor(r.n * 0.9)) : NaN);

  // ---------- panels ----------
  const MAIN = [
    { id: 'reward', title: 'Reward', note: 'mean over the step\u2019s responses; band: \u00b1 std', ylabel: 'reward',
      series: [{ key: 'reward_mean', band: 'reward_std' }] },
    { id: 'accuracy', title: 'Accuracy', note: 'share of correct responses', ylabel: 'accuracy', series: [{ key: 'accuracy' }] },
    { id: 'length', title: 'Response length', note: 'tokens; mean' + dashSample([]) + 'max' + dashSample([2, 3]), ylabel: 'tokens',
      series: [{ key: 'response_length_mean' }, { key: 'response_length_max', dash: [2, 3], width: 1.1 }] },
    { id: 'entropy', title: 'Entropy', note: 'mean token entropy of the responses', ylabel: 'entropy', series: [{ key: 'entropy' }] },
    { id: 'gamma_mean', title: 'Mean \u03b3', note: 'credit multiplier over response tokens', ylabel: '\u03b3',
      series: [{ key: 'gamma_mean' }] },
    { id: 'gamma_amplified', title: 'Amplified tokens', note: 'share of response tokens with \u03b3 > 1', ylabel: 'fraction',
      series: [{ key: 'gamma_amplified_fraction' }] },
    { id: 'clip', title: 'Clip fraction', note: 'share of tokens whose ratio was clipped', ylabel: 'fraction',
      series: [{ key: 'clip_fraction' }] },
    { id: 'time', title: 'Time per phase', note: 'seconds per step; generate' + dashSample([]) + 'attention' + dashSample([7, 4]) +
      'train' + dashSample([2, 3]), ylabel: 'seconds', foot: shareFoot,
      series: [{ key: 'time_generate_seconds', name: 'generate' }, { key: 'time_attention_seconds', dash: [7, 4], name: 'attention' },
        { key: 'time_train_seconds', dash: [2, 3], name: 'train' }] },
  ];
  // The in-training evaluation: sparse rows (only the evaluated steps carry eval/... keys), drawn as
  // points joined across the steps between them, without smoothing.
  const EVAL = [
    { id: 'eval', title: 'Eval accuracy', note: 'pass@1 on the held-out problems' + dashSample([]) + 'pass@k' + dashSample([7, 4]),
      ylabel: 'accuracy', sparse: true, foot: evalFoot,
      series: [{ key: 'eval/accuracy', name: 'accuracy' }, { key: 'eval/pass@k', dash: [7, 4], name: 'pass@k' }] },
    { id: 'eval-length', title: 'Eval response length', note: 'mean tokens', ylabel: 'tokens', sparse: true,
      series: [{ key: 'eval/mean_length' }] },
    { id: 'eval-format', title: 'Eval format rate', note: 'share of responses with a well-formed answer', ylabel: 'fraction',
      sparse: true, series: [{ key: 'eval/format_rate' }] },
  ];
  const MORE_ORDER = ['loss', 'approx_kl_old', 'kl_ref', 'grad_norm_mean', 'truncated_fraction', 'reward_std',
    'time_step_seconds', 'time_score_seconds', 'time_old_logprobs_seconds', 'share_generate', 'share_attention', 'share_train'];
  const panels = [], more = [], evalPanels = [];
  for (const p of MAIN) if (p.series.some((s) => anyHas(s.key))) panels.push(p);
  for (const p of EVAL) if (p.series.some((s) => anyHas(s.key))) evalPanels.push(p);
  {
    const used = new Set(['step']);
    for (const r of R) for (const k in r.present) if (k.startsWith('eval/')) used.add(k);
    for (const p of panels) for (const s of p.series) { used.add(s.key); if (s.band && anyHas(s.band)) used.add(s.band); }
    const keys = new Set();
    for (const r of R) for (const k in r.present) if (!used.has(k)) keys.add(k);
    const rank = (k) => { const i = MORE_ORDER.indexOf(k); return i < 0 ? MORE_ORDER.length : i; };
    // A key logged on fewer than half of the rows (e.g. time_eval_seconds) is drawn as joined points.
    const sparse = (k) => {
      let values = 0, rows = 0;
      for (const r of R) if (has(r, k)) { rows += r.n; for (const v of r.cols[k]) if (isFinite(v)) values++; }
      return 2 * values < rows;
    };
    for (const k of [...keys].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1)))
      more.push({ id: 'm-' + k, title: k, note: '', ylabel: k.replace(/_/g, ' '), sparse: sparse(k), series: [{ key: k }] });
  }

  // The last, peak and peak-EMA accuracy of each run (eval_curve: the numbers of its eval_summary.json).
  const curvePoint = (c, k) => (c && c[k] && isNum(c[k].value) ? c[k] : null);
  const atStep = (q) => (q ? fmt(q.value) + ' <span class="muted">@ ' + fmt(q.step) + '</span>' : '\u2013');
  function evalFoot() {
    const rows = R.filter((r) => r.curve);
    if (!rows.length) return '';
    return rows.map((r) => '<span class="sw" style="background:' + r.color + '"></span>' + esc(r.name) +
      ' last <b>' + atStep(curvePoint(r.curve, 'last')) + '</b> &middot; peak <b>' + atStep(curvePoint(r.curve, 'peak')) +
      '</b> &middot; peak-EMA <b>' + atStep(curvePoint(r.curve, 'peak_ema')) + '</b>').join('&emsp;');
  }

  function shareFoot() {
    const rows = R.filter((r) => has(r, 'share_attention') || has(r, 'share_generate') || has(r, 'share_train'));
    if (!rows.length) return '';
    return 'Mean share of step time: ' + rows.map((r) => '<span class="sw" style="background:' + r.color + '"></span>' + esc(r.name) +
      ' attention <b>' + pct(meanOf(r.cols.share_attention || [])) + '</b>' +
      (has(r, 'share_generate') ? ' &middot; generate <b>' + pct(meanOf(r.cols.share_generate)) + '</b>' : '') +
      (has(r, 'share_train') ? ' &middot; train <b>' + pct(meanOf(r.cols.share_train)) + '</b>' : '')).join('&emsp;');
  }

  // ---------- curves ----------
  // Debiased exponential moving average (TensorBoard's smoothing); NaN stays NaN and is skipped.
  function ema(ys, w) {
    if (!(w > 0)) return ys;
    const out = new Float64Array(ys.length);
    let acc = 0, k = 0;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (!isFinite(y)) { out[i] = NaN; continue; }
      acc = acc * w + (1 - w) * y;
      k++;
      out[i] = acc / (1 - Math.pow(w, k));
    }
    return out;
  }
  // Points to draw: [pixel x, value] per step, or null for a gap. A run longer than the plot is wide is
  // reduced to one mean per pixel column (steps in order), so 10,000 steps draw as fast as 600.
  function reduce(xs, ys, X, P) {
    const n = Math.min(xs.length, ys.length), cols = Math.max(1, Math.floor(P.w)), out = [];
    if (n <= cols) {
      for (let i = 0; i < n; i++) out.push(isFinite(xs[i]) && isFinite(ys[i]) ? [X(xs[i]), ys[i]] : null);
      return out;
    }
    let col = -1, sum = 0, cnt = 0;
    const flush = () => { if (cnt) out.push([P.x + col + 0.5, sum / cnt]); sum = 0; cnt = 0; };
    for (let i = 0; i < n; i++) {
      const x = xs[i], y = ys[i];
      if (!isFinite(x) || !isFinite(y)) {
        flush();
        if (out.length && out[out.length - 1] !== null) out.push(null);
        col = -1;
        continue;
      }
      const k = Math.max(0, Math.min(cols - 1, Math.floor(X(x) - P.x)));
      if (k !== col) { flush(); col = k; }
      sum += y;
      cnt++;
    }
    flush();
    return out;
  }
  function strokePath(ctx, pts, Y, color, width, dash, alpha) {
    ctx.save();
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.globalAlpha = alpha;
    ctx.lineWidth = width;
    ctx.lineJoin = 'round';
    ctx.setLineDash(dash || []);
    ctx.beginPath();
    const lone = [];
    let open = 0, last = null;
    for (const p of pts) {
      if (!p) { if (open === 1) lone.push(last); open = 0; continue; }
      const y = Y(p[1]);
      if (!open) ctx.moveTo(p[0], y); else ctx.lineTo(p[0], y);
      open++;
      last = [p[0], y];
    }
    if (open === 1) lone.push(last);
    ctx.stroke();
    for (const [x, y] of lone) { ctx.beginPath(); ctx.arc(x, y, Math.max(1.8, width), 0, 2 * Math.PI); ctx.fill(); }
    ctx.restore();
  }
  // A sparse series' points ([pixel x, value] from reduce) as dots.
  function markPoints(ctx, pts, Y, color, radius) {
    ctx.save();
    ctx.fillStyle = color;
    for (const p of pts) if (p) { ctx.beginPath(); ctx.arc(p[0], Y(p[1]), radius, 0, 2 * Math.PI); ctx.fill(); }
    ctx.restore();
  }
  // The steps where a sparse column has a value, and those values.
  function compact(xs, ys) {
    const a = [], b = [];
    for (let i = 0; i < Math.min(xs.length, ys.length); i++) if (isFinite(xs[i]) && isFinite(ys[i])) { a.push(xs[i]); b.push(ys[i]); }
    return [Float64Array.from(a), Float64Array.from(b)];
  }
  function fillBand(ctx, lo, hi, Y, color, alpha) {
    if (lo.length !== hi.length) return;
    ctx.save();
    ctx.fillStyle = color;
    ctx.globalAlpha = alpha;
    let seg = [];
    const flush = () => {
      if (seg.length > 1) {
        ctx.beginPath();
        seg.forEach((k, j) => (j ? ctx.lineTo(hi[k][0], Y(hi[k][1])) : ctx.moveTo(hi[k][0], Y(hi[k][1]))));
        for (let j = seg.length - 1; j >= 0; j--) ctx.lineTo(lo[seg[j]][0], Y(lo[seg[j]][1]));
        ctx.closePath();
        ctx.fill();
      }
      seg = [];
    };
    for (let k = 0; k < lo.length; k++) { if (lo[k] && hi[k]) seg.push(k); else flush(); }
    flush();
    ctx.restore();
  }

  // ---------- smoothing ----------
  const maxSteps = R.reduce((m, r) => Math.max(m, r.trained), 0);
  const autoSmooth = () => Math.min(0.99, Math.max(0, +(1 - 100 / Math.max(100, maxSteps)).toFixed(3)));
  let smoothChoice = 'auto';
  const smoothing = () => (smoothChoice === 'auto' ? autoSmooth() : Math.max(0, Math.min(0.999, +smoothChoice || 0)));

  // ---------- one panel ----------
  function drawPanel(p) {
    const canvas = p.canvas;
    const W = Math.max(320, Math.floor(canvas.parentElement.clientWidth || 600)), H = 220;
    const c = setup(canvas, W, H), ctx = c.ctx;
    const P = { x: 62, y: 10, w: W - 62 - 24, h: H - 10 - 38 };
    const w = p.sparse ? 0 : smoothing();
    const items = [];
    let x0 = Infinity, x1 = -Infinity;
    for (const r of R) {
      if (!r.visible) continue;
      for (const s of p.series) {
        if (!has(r, s.key)) continue;
        let xs = r.step, ys = r.cols[s.key];
        if (p.sparse) [xs, ys] = compact(r.step, ys);
        for (let i = 0; i < xs.length; i++) if (isFinite(ys[i]) && isFinite(xs[i])) { if (xs[i] < x0) x0 = xs[i]; if (xs[i] > x1) x1 = xs[i]; }
        items.push({ r, s, xs, ys });
      }
    }
    if (!(x0 <= x1)) { x0 = 0; x1 = 1; }
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    const X = (v) => P.x + ((v - x0) / (x1 - x0)) * P.w;
    let lo = Infinity, hi = -Infinity;
    const extend = (pts) => { for (const q of pts) if (q) { if (q[1] < lo) lo = q[1]; if (q[1] > hi) hi = q[1]; } };
    for (const it of items) {
      it.raw = reduce(it.xs, it.ys, X, P);
      it.smooth = w > 0 ? reduce(it.xs, ema(it.ys, w), X, P) : null;
      extend(it.raw);
      if (it.s.band && has(it.r, it.s.band)) {
        const sd = it.r.cols[it.s.band], n = it.ys.length, a = new Float64Array(n), b = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const ok = isFinite(it.ys[i]) && isFinite(sd[i]);
          a[i] = ok ? it.ys[i] - sd[i] : NaN;
          b[i] = ok ? it.ys[i] + sd[i] : NaN;
        }
        it.lo = reduce(it.xs, ema(a, w), X, P);
        it.hi = reduce(it.xs, ema(b, w), X, P);
        extend(it.lo);
        extend(it.hi);
      }
    }
    if (!(lo <= hi)) { lo = 0; hi = 1; }
    if (lo === hi) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
    const pad = (hi - lo) * 0.06;
    if (lo >= 0 && lo < 0.3 * hi) lo = 0; else lo -= pad;
    hi += pad;
    const Y = (v) => P.y + P.h - ((v - lo) / (hi - lo)) * P.h;

    ctx.save();
    ctx.beginPath();
    ctx.rect(P.x, P.y, P.w, P.h);
    ctx.clip();
    for (const it of items) if (it.lo) fillBand(ctx, it.lo, it.hi, Y, it.r.color, 0.13);
    for (const it of items) strokePath(ctx, it.raw, Y, it.r.color, it.smooth ? 1 : it.s.width || 1.6, it.s.dash, it.smooth ? 0.3 : 1);
    for (const it of items) if (it.smooth) strokePath(ctx, it.smooth, Y, it.r.color, it.s.width || 1.7, it.s.dash, 1);
    if (p.sparse) for (const it of items) markPoints(ctx, it.raw, Y, it.r.color, it.s.dash && it.s.dash.length ? 2 : 3);
    ctx.restore();
    canvas.dataset.ink = String(countInk(c, P));

    // grid (behind the data), frame, ticks, labels
    const yt = niceTicks(lo, hi, 4).filter((v) => v >= lo && v <= hi);
    const xt = niceTicks(x0, x1, Math.max(3, Math.floor(P.w / 95))).filter((v) => v >= x0 && v <= x1);
    ctx.save();
    ctx.globalCompositeOperation = 'destination-over';
    ctx.fillStyle = COLOR.grid;
    for (const v of yt) ctx.fillRect(P.x, Math.round(Y(v)), P.w, 1);
    ctx.restore();
    axesFrame(ctx, P);
    ctx.fillStyle = COLOR.text;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of yt) { const y = Y(v); ctx.fillText(fmt(v), P.x - 6, y); ctx.fillRect(P.x - 4, Math.round(y), 3, 1); }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const v of xt) { const x = X(v); ctx.fillRect(Math.round(x), P.y + P.h + 1, 1, 3); ctx.fillText(fmt(v), x, P.y + P.h + 5); }
    ctx.fillText('step', P.x + P.w / 2, P.y + P.h + 20);
    yLabel(ctx, p.ylabel, 4, P.y + P.h / 2);
    if (!items.length) {
      ctx.fillStyle = COLOR.text;
      ctx.textBaseline = 'middle';
      ctx.fillText('every run with this metric is hidden', P.x + P.w / 2, P.y + P.h / 2);
    }
    canvas.geo = { P, x0, x1, items };
  }

  // ---------- tooltip ----------
  function nearest(s, sorted, sx) {
    const n = s.length;
    if (!n) return -1;
    if (sorted) {
      let a = 0, b = n - 1;
      while (a < b) { const m = (a + b) >> 1; if (s[m] < sx) a = m + 1; else b = m; }
      return a > 0 && Math.abs(s[a - 1] - sx) <= Math.abs(s[a] - sx) ? a - 1 : a;
    }
    let best = 0;
    for (let i = 1; i < n; i++) if (Math.abs(s[i] - sx) < Math.abs(s[best] - sx)) best = i;
    return best;
  }
  function hover(p, e) {
    const cv = p.canvas, g = cv.geo, cur = p.cursor;
    if (!g) return;
    const x = e.clientX - cv.getBoundingClientRect().left;
    if (x < g.P.x - 2 || x > g.P.x + g.P.w + 2 || !g.items.length) { cur.style.display = 'none'; hideTip(); return; }
    const sx = g.x0 + ((x - g.P.x) / g.P.w) * (g.x1 - g.x0);
    let head = null;
    const rows = [];
    for (const it of g.items) {
      const i = nearest(it.xs, it.r.sorted, sx);
      if (i < 0) continue;
      if (head === null) head = it.xs[i];
      const sd = it.s.band && has(it.r, it.s.band) ? it.r.cols[it.s.band][i] : NaN;
      rows.push('<tr><td><span class="sw" style="background:' + it.r.color + '"></span>' + esc(it.r.name) +
        (p.series.length > 1 ? ' \u00b7 ' + esc(it.s.name || it.s.key) : '') + '</td><td>' + fmt(it.ys[i]) +
        (isFinite(sd) ? ' \u00b1 ' + fmt(sd) : '') + '</td><td>step ' + fmt(it.xs[i]) + '</td></tr>');
    }
    cur.style.display = 'block';
    cur.style.left = cv.offsetLeft + Math.max(g.P.x, Math.min(g.P.x + g.P.w, x)) + 'px';
    cur.style.top = cv.offsetTop + g.P.y + 'px';
    cur.style.height = g.P.h + 'px';
    showTip('<b>' + esc(p.title) + '</b> near step ' + fmt(head === null ? Math.round(sx) : head) + '<table>' + rows.join('') + '</table>',
      e.clientX, e.clientY);
  }

  // ---------- page ----------
  function renderHeader() {
    const title = typeof DATA.title === 'string' && DATA.title ? DATA.title : 'Training runs';
    document.title = title + ' \u2013 illume training dashboard';
    $('title').textContent = title;
    const chips = ['<span class="chip">runs <b>' + R.length + '</b></span>'];
    if (maxSteps) chips.push('<span class="chip">longest run <b>' + maxSteps + '</b> steps</span>');
    const labels = [...new Set(R.map((r) => r.label).filter((l) => typeof l === 'string'))];
    if (labels.length) chips.push('<span class="chip">credit strategies <b>' + esc(labels.join(', ')) + '</b></span>');
    $('meta').innerHTML = chips.join('');
  }

  const SETTINGS = [['model.dir', 'model'], ['optim.lr', 'lr'], ['rollout.group_size', 'group size'],
    ['optim.batch_size', 'batch size'], ['run.steps', 'steps (config)'], ['run.seed', 'seed']];
  const swatch = (r) => '<span class="sw" style="background:' + r.color + '"></span>';
  function renderRuns() {
    if (!R.length) { $('runs').innerHTML = '<div class="empty">No runs.</div>'; return; }
    const settingsOf = (r) => (r.run.settings && typeof r.run.settings === 'object' ? r.run.settings : {});
    const shown = SETTINGS.filter(([k]) => R.some((r) => settingsOf(r)[k] !== undefined && settingsOf(r)[k] !== null));
    const extra = [];
    for (const r of R) for (const k in settingsOf(r)) if (!SETTINGS.some(([s]) => s === k) && !extra.includes(k)) extra.push(k);
    const cols = shown.concat(extra.map((k) => [k, k]));
    let h = '<table><thead><tr><th class="l">run</th><th class="l">strategy</th>';
    for (const [k, name] of cols) h += '<th' + (k === 'model.dir' ? ' class="l"' : '') + '>' + esc(name) + '</th>';
    const curves = R.some((r) => r.curve), alpha = curves ? R.find((r) => r.curve).curve.ema_alpha : null;
    h += '<th>steps logged</th><th>reward (last 10%)</th><th>accuracy (last 10%)</th><th>attention share</th>';
    if (curves) h += '<th class="sep" title="in-training evaluation accuracy @ step: at the last evaluation; the highest ' +
      '(the model in checkpoints/best); the peak of the exponential moving average over the evaluations (alpha ' +
      esc(value(alpha)) + ')">eval last / peak / peak-EMA</th>';
    h += '</tr></thead><tbody>';
    for (const r of R) {
      const st = settingsOf(r);
      const last = r.n ? r.step[r.n - 1] : NaN;
      h += '<tr><td class="l"' + (typeof r.run.dir === 'string' ? ' title="' + esc(r.run.dir) + '"' : '') + '>' + swatch(r) +
        '<b>' + esc(r.name) + '</b></td>';
      h += '<td class="l">' + (typeof r.label === 'string' ? '<span class="tag">' + esc(r.label) + '</span>' : '<span class="muted">\u2013</span>') + '</td>';
      for (const [k] of cols) h += '<td' + (k === 'model.dir' ? ' class="l path" title="' + esc(value(st[k])) + '"' : '') + '>' + esc(value(st[k])) + '</td>';
      h += '<td>' + r.trained + (isFinite(last) && last !== r.trained ? ' <span class="muted">(last step ' + fmt(last) + ')</span>' : '') + '</td>';
      h += '<td>' + fmt(tailMean(r, 'reward_mean')) + '</td><td>' + fmt(tailMean(r, 'accuracy')) + '</td>';
      h += '<td>' + (has(r, 'share_attention') ? pct(meanOf(r.cols.share_attention)) : '\u2013') + '</td>';
      if (curves) h += '<td class="sep eval-curve">' + ['last', 'peak', 'peak_ema'].map((k) => atStep(curvePoint(r.curve, k)))
        .join(' <span class="muted">/</span> ') + '</td>';
      h += '</tr>';
    }
    $('runs').innerHTML = h + '</tbody></table>';
  }

  function renderEvals() {
    const evalsOf = (r) => (r.run.evals && typeof r.run.evals === 'object' ? r.run.evals : {});
    const labels = [];
    for (const r of R) for (const l in evalsOf(r)) if (!labels.includes(l)) labels.push(l);
    const rank = (l) => (l === 'before' ? 0 : l === 'after' ? 2 : 1);
    labels.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    if (!labels.length) {
      $('evals').innerHTML = '<div class="empty">No evaluations: a run folder\u2019s eval-LABEL/summary.json ' +
        '(illume eval --out RUN/eval-before, RUN/eval-after) is shown here.</div>';
      return;
    }
    const delta = labels.includes('before') && labels.includes('after');
    const kOf = (l) => { const ks = new Set(); for (const r of R) { const e = evalsOf(r)[l]; if (e && isNum(e.k)) ks.add(e.k); } return ks.size === 1 ? [...ks][0] : 'k'; };
    let h = '<table><thead><tr><th class="l" rowspan="2">run</th><th class="l" rowspan="2">strategy</th>';
    for (const l of labels) h += '<th class="group sep" colspan="2">' + esc(l) + '</th>';
    if (delta) h += '<th class="group sep" colspan="2">after \u2212 before</th>';
    h += '</tr><tr>';
    for (const l of labels) h += '<th class="sep">pass@1</th><th>avg@' + esc(kOf(l)) + '</th>';
    if (delta) h += '<th class="sep">\u0394 pass@1</th><th>\u0394 avg@k</th>';
    h += '</tr></thead><tbody>';
    for (const r of R) {
      const E = evalsOf(r);
      h += '<tr><td class="l">' + swatch(r) + '<b>' + esc(r.name) + '</b></td><td class="l">' +
        (typeof r.label === 'string' ? '<span class="tag">' + esc(r.label) + '</span>' : '<span class="muted">\u2013</span>') + '</td>';
      for (const l of labels) {
        const e = E[l];
        if (!e || typeof e !== 'object') { h += '<td class="sep muted">\u2013</td><td class="muted">\u2013</td>'; continue; }
        const info = ['task', 'problems', 'k', 'temperature', 'pass@k', 'response_length_mean'].filter((k) => e[k] !== undefined && e[k] !== null)
          .map((k) => k.replace(/_/g, ' ') + ' ' + value(e[k])).join(' \u00b7 ');
        h += '<td class="sep" title="' + esc(info) + '">' + fmt(e['pass@1']) + '</td><td title="' + esc(info) + '">' + fmt(e['avg@k']) + '</td>';
      }
      if (delta) {
        const b = E.before || {}, a = E.after || {};
        for (const k of ['pass@1', 'avg@k']) {
          const ok = isNum(a[k]) && isNum(b[k]), d = ok ? a[k] - b[k] : NaN;
          h += '<td class="' + (k === 'pass@1' ? 'sep ' : '') + (ok && d > 0 ? 'up' : ok && d < 0 ? 'down' : '') + '">' + (ok ? signed(d) : '\u2013') + '</td>';
        }
      }
      h += '</tr>';
    }
    $('evals').innerHTML = h + '</tbody></table>';
    // One line per label with the settings shared by all runs.
    const notes = [];
    for (const l of labels) {
      const parts = [];
      for (const k of ['task', 'problems', 'k', 'temperature']) {
        const vs = new Set(R.map((r) => evalsOf(r)[l]).filter((e) => e && e[k] !== undefined).map((e) => value(e[k])));
        if (vs.size === 1) parts.push((k === 'task' ? '' : k + ' ') + [...vs][0]);
      }
      if (parts.length) notes.push('<b>' + esc(l) + '</b>: ' + esc(parts.join(' \u00b7 ')));
    }
    $('evals-note').innerHTML = notes.join('&emsp;');
  }

  function renderReports() {
    const safe = (href) => !/^[a-z][a-z0-9+.-]*:/i.test(href) || /^(file|https?):/i.test(href);
    const items = [];
    for (const r of R) {
      const list = Array.isArray(r.run.reports) ? r.run.reports.filter((x) => x && typeof x.href === 'string' && safe(x.href)) : [];
      if (!list.length) continue;
      items.push('<li>' + swatch(r) + '<b>' + esc(r.name) + '</b>: ' + list.map((x) => '<a href="' + esc(x.href) + '" title="' +
        esc(x.path || x.href) + '">' + esc(x.label || x.path || x.href) + '</a>').join(' &middot; ') + '</li>');
    }
    $('reports').innerHTML = items.length ? '<ul class="links">' + items.join('') + '</ul>'
      : '<div class="empty">No analysis reports (report.html inside a run folder, e.g. from illume analyze --out RUN/analysis).</div>';
  }

  function renderLegend() {
    $('legend').innerHTML = R.map((r) => '<span class="lg' + (r.visible ? '' : ' off') + '" data-i="' + r.i + '">' + swatch(r) + esc(r.name) +
      (typeof r.label === 'string' && r.label !== r.name ? ' <span class="muted">' + esc(r.label) + '</span>' : '') + '</span>').join('');
  }

  function buildPanels(list, container) {
    container.innerHTML = list.map((p) => '<div class="panel"><div class="ptitle">' + esc(p.title) +
      (p.note ? ' <span class="note">&middot; ' + p.note + '</span>' : '') + '</div><div class="plot"><canvas class="curve" id="cv-' +
      esc(p.id) + '"></canvas><div class="cursor"></div></div><div class="pfoot"></div></div>').join('');
    const nodes = container.querySelectorAll('.panel');
    list.forEach((p, k) => {
      p.canvas = nodes[k].querySelector('canvas');
      p.cursor = nodes[k].querySelector('.cursor');
      p.footEl = nodes[k].querySelector('.pfoot');
      p.canvas.addEventListener('mousemove', (e) => hover(p, e));
      p.canvas.addEventListener('mouseleave', () => { p.cursor.style.display = 'none'; hideTip(); });
    });
  }

  const ALL = () => panels.concat(evalPanels, more);
  function drawAll() {
    let drawn = 0;
    for (const p of ALL()) {
      drawPanel(p);
      drawn++;
      const foot = p.foot ? p.foot() : '';
      p.footEl.innerHTML = foot;
      p.footEl.hidden = !foot;
    }
    const w = smoothing();
    $('smooth-note').textContent = w > 0 ? 'faint: the raw values' + (smoothChoice === 'auto' ? ' \u00b7 auto = ' + w : '') : '';
    document.body.dataset.plotsDrawn = String(drawn);
  }

  function init() {
    renderHeader();
    renderRuns();
    renderEvals();
    renderReports();
    renderLegend();
    buildPanels(panels, $('panels'));
    buildPanels(more, $('more'));
    buildPanels(evalPanels, $('eval-panels'));
    $('eval-card').hidden = !evalPanels.length;
    $('panels-empty').hidden = panels.length + more.length + evalPanels.length > 0;
    $('more-card').hidden = !more.length;
    const m = /(?:^|[#&])smooth=([0-9.]+|auto)/.exec(location.hash);
    if (m) smoothChoice = m[1];
    const sel = $('smooth');
    if ([...sel.options].some((o) => o.value === smoothChoice)) sel.value = smoothChoice;
    sel.addEventListener('change', () => { smoothChoice = sel.value; drawAll(); });
    $('legend').addEventListener('click', (e) => {
      const el = e.target.closest && e.target.closest('.lg');
      if (!el) return;
      const r = R[+el.dataset.i];
      r.visible = !r.visible;
      el.classList.toggle('off', !r.visible);
      drawAll();
    });
    redrawOnResize(drawAll);
    drawAll();
    if (/selftest/.test(location.hash)) selfTest();
    document.body.dataset.renderMs = String(Math.round(performance.now() - t0));
  }

  // "#selftest" in the URL: drive every interactive path once (tooltips, the smoothing control, the legend
  // toggles) so a headless run catches errors in them; sets body.dataset.selftest = "ok".
  function selfTest() {
    const sel = $('smooth'), keep = sel.value;
    for (const v of ['0', '0.9', keep]) { sel.value = v; sel.dispatchEvent(new Event('change', { bubbles: true })); }
    for (const p of ALL()) {
      p.canvas.dispatchEvent(new MouseEvent('mousemove', pointAt(p.canvas, 0.5, 0.5)));
      p.canvas.dispatchEvent(new MouseEvent('mouseleave', {}));
    }
    for (const el of [...$('legend').querySelectorAll('.lg')]) { el.click(); el.click(); }
    document.body.dataset.selftest = 'ok';
  }

  init();
})();
