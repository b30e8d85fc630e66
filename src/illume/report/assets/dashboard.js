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
    // Responses per step (the reward band's N): optim.batch_size of the run's config.
    const settings = run.settings && typeof run.settings === 'object' ? run.settings : {};
    const responses = isNum(settings['optim.batch_size']) && settings['optim.batch_size'] > 0 ? settings['optim.batch_size'] : NaN;
    const resumes = Array.isArray(run.resumes) ? run.resumes.filter(isNum) : [];
    return { run, i, name: String(run.name), label: run.label, color: runColor(i), cols, step, sorted, n: step.length,
      trained, present, curve, responses, resumes, visible: true };
  });
  const has = (r, key) => !!r.present[key];
  // The band of a series: its standard error, band column (a standard deviation) / sqrt(N); NaN when N is unknown.
  const bandAt = (r, s, i) => (s.band && has(r, s.band) && isFinite(r.responses) ? r.cols[s.band][i] / Math.sqrt(r.responses) : NaN);
  const anyHas = (key) => R.some((r) => has(r, key));
  function meanOf(a, from) {
    let s = 0, n = 0;
    for (let j = from || 0; j < a.length; j++) if (isFinite(a[j])) { s += a[j]; n++; }
    return n ? s / n : NaN;
  }
  const tailMean = (r, key) => (has(r, key) ? meanOf(r.cols[key], Math.floor(r.n * 0.9)) : NaN);

  // ---------- panels ----------
  // Metric names: docs/metrics.md (TRL's where one exists; old runs' names are mapped on load).
  const MAIN = [
    { id: 'reward', title: 'Reward', note: 'mean over the step\u2019s responses; band: \u00b1 standard error (reward/std / \u221aN, ' +
      'N = optim.batch_size)', ylabel: 'reward', series: [{ key: 'reward/mean', band: 'reward/std' }] },
    { id: 'accuracy', title: 'Accuracy', note: 'share of correct responses', ylabel: 'accuracy', series: [{ key: 'accuracy' }] },
    { id: 'length', title: 'Completion length', note: 'tokens; mean' + dashSample([]) + 'max' + dashSample([2, 3]), ylabel: 'tokens',
      series: [{ key: 'completions/mean_length', name: 'mean' }, { key: 'completions/max_length', dash: [2, 3], width: 1.1, name: 'max' }] },
    { id: 'entropy', title: 'Entropy', note: 'mean token entropy of the responses', ylabel: 'entropy', series: [{ key: 'entropy' }] },
    { id: 'gamma_mean', title: 'Mean \u03b3', note: 'credit multiplier over response tokens', ylabel: '\u03b3',
      series: [{ key: 'gamma_mean' }] },
    { id: 'gamma_amplified', title: 'Amplified tokens', note: 'share of response tokens with \u03b3 > 1', ylabel: 'fraction',
      series: [{ key: 'gamma_amplified_fraction' }] },
    { id: 'clip', title: 'Clip ratio', note: 'share of tokens clipped; low (\u03c1 < 1\u2212\u03b5, A < 0)' + dashSample([]) +
      'high (\u03c1 > 1+\u03b5, A > 0)' + dashSample([7, 4]) + 'both' + dashSample([2, 3]), ylabel: 'fraction',
      series: [{ key: 'clip_ratio/low_mean', name: 'low' }, { key: 'clip_ratio/high_mean', dash: [7, 4], name: 'high' },
        { key: 'clip_ratio/region_mean', dash: [2, 3], width: 1.1, name: 'both' }] },
    { id: 'time', title: 'Time per phase', note: 'seconds per step; generate' + dashSample([]) + 'attention' + dashSample([7, 4]) +
      'update' + dashSample([2, 3]), ylabel: 'seconds', foot: shareFoot,
      series: [{ key: 'timing/generate', name: 'generate' }, { key: 'timing/attention', dash: [7, 4], name: 'attention' },
        { key: 'timing/update', dash: [2, 3], name: 'update' }] },
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
  const MORE_ORDER = ['loss', 'approx_kl_old', 'kl', 'grad_norm', 'completions/clipped_ratio', 'frac_reward_zero_std',
    'reward/std', 'timing/step', 'timing/score', 'timing/old_logprobs', 'timing/eval', 'share_generate', 'share_attention',
    'share_train', 'learning_rate'];
  // A panel whose every series is constant over every run that has it: no curve, one entry of the
  // "constant:" line instead (values per run when they differ).
  function constantValues(p) {
    const out = [];
    for (const s of p.series) {
      const values = [];
      for (const r of R) {
        if (!has(r, s.key)) continue;
        let v = NaN;
        for (const y of r.cols[s.key]) {
          if (!isFinite(y)) continue;
          if (isNaN(v)) v = y; else if (y !== v) return null;
        }
        values.push([r, v]);
      }
      if (values.length) out.push({ key: s.key, values });
    }
    return out.length ? out : null;
  }
  const constants = [];
  function keepVarying(list) {
    return list.filter((p) => { const c = constantValues(p); if (c) constants.push(...c); return !c; });
  }
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
    // A key logged on fewer than half of the rows (e.g. timing/eval) is drawn as joined points.
    const sparse = (k) => {
      let values = 0, rows = 0;
      for (const r of R) if (has(r, k)) { rows += r.n; for (const v of r.cols[k]) if (isFinite(v)) values++; }
      return 2 * values < rows;
    };
    for (const k of [...keys].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1)))
      more.push({ id: 'm-' + k, title: k, note: '', ylabel: k.replace(/_/g, ' '), sparse: sparse(k), series: [{ key: k }] });
  }
  panels.splice(0, panels.length, ...keepVarying(panels));
  evalPanels.splice(0, evalPanels.length, ...keepVarying(evalPanels));
  more.splice(0, more.length, ...keepVarying(more));

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
      if (it.s.band && has(it.r, it.s.band) && isFinite(it.r.responses)) {
        const n = it.ys.length, a = new Float64Array(n), b = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const se = bandAt(it.r, it.s, i), ok = isFinite(it.ys[i]) && isFinite(se);
          a[i] = ok ? it.ys[i] - se : NaN;
          b[i] = ok ? it.ys[i] + se : NaN;
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
    // Resume points: a dashed vertical line at each step a run resumed from (after the ink count: not data).
    ctx.save();
    ctx.beginPath();
    ctx.rect(P.x, P.y, P.w, P.h);
    ctx.clip();
    ctx.setLineDash([3, 3]);
    ctx.lineWidth = 1;
    for (const r of R) {
      if (!r.visible || !items.some((it) => it.r === r)) continue;
      ctx.strokeStyle = r.color;
      for (const step of r.resumes) {
        if (step < x0 || step > x1) continue;
        const x = Math.round(X(step)) + 0.5;
        ctx.beginPath();
        ctx.moveTo(x, P.y);
        ctx.lineTo(x, P.y + P.h);
        ctx.stroke();
      }
    }
    ctx.restore();
    canvas.dataset.resumeLines = String(R.reduce((n, r) => n + (r.visible && items.some((it) => it.r === r) ?
      r.resumes.filter((step) => step >= x0 && step <= x1).length : 0), 0));

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
      const se = p.sparse ? NaN : bandAt(it.r, it.s, i);
      rows.push('<tr><td><span class="sw" style="background:' + it.r.color + '"></span>' + esc(it.r.name) +
        (p.series.length > 1 ? ' \u00b7 ' + esc(it.s.name || it.s.key) : '') + '</td><td>' + fmt(it.ys[i]) +
        (isFinite(se) ? ' \u00b1 ' + fmt(se) + ' (s.e.)' : '') + '</td><td>step ' + fmt(it.xs[i]) + '</td></tr>');
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

  const SETTINGS = [['optim.lr', 'lr'], ['rollout.group_size', 'group size'], ['optim.batch_size', 'batch size'],
    ['run.steps', 'steps'], ['run.seed', 'seed']];
  const swatch = (r) => '<span class="sw" style="background:' + r.color + '"></span>';
  const tag = (r) => (typeof r.label === 'string' ? '<span class="tag">' + esc(r.label) + '</span>' : '<span class="muted">\u2013</span>');

  // The change of reward/mean over training: the mean over the last 10% of the steps (at least 3)
  // minus the mean over the first 10%, with its standard error: each window's SE is the standard
  // deviation of its step means / sqrt(steps), the two combined as sqrt(SE1^2 + SE2^2). null when the
  // run has fewer than 6 steps with a value.
  function windowChange(r, key) {
    if (!has(r, key)) return null;
    const ys = [];
    for (let j = 0; j < r.n; j++) if (r.step[j] > 0 && isFinite(r.cols[key][j])) ys.push(r.cols[key][j]);
    const m = Math.max(3, Math.ceil(0.1 * ys.length));
    if (ys.length < 2 * m) return null;
    const stats = (a) => {
      const mean = a.reduce((x, y) => x + y, 0) / a.length;
      const variance = a.reduce((x, y) => x + (y - mean) * (y - mean), 0) / (a.length - 1);
      return { mean, se: Math.sqrt(variance / a.length) };
    };
    const first = stats(ys.slice(0, m)), last = stats(ys.slice(ys.length - m));
    return { d: last.mean - first.mean, se: Math.sqrt(first.se * first.se + last.se * last.se), m };
  }
  // Green or red only for a change larger than twice its standard error; grey inside the noise.
  const changeClass = (d, se) => (!(isFinite(d) && isFinite(se)) || Math.abs(d) <= 2 * se ? 'flat' : d > 0 ? 'up' : 'down');

  function renderRuns() {
    if (!R.length) { $('runs').innerHTML = '<div class="empty">No runs.</div>'; return; }
    const settingsOf = (r) => (r.run.settings && typeof r.run.settings === 'object' ? r.run.settings : {});
    const named = new Set(SETTINGS.map(([k]) => k).concat(['model.dir']));
    const known = SETTINGS.filter(([k]) => R.some((r) => settingsOf(r)[k] !== undefined && settingsOf(r)[k] !== null));
    const extra = [];
    for (const r of R) for (const k in settingsOf(r)) if (!named.has(k) && !extra.includes(k)) extra.push(k);
    const settingParts = known.concat(extra.map((k) => [k, k]));
    const models = R.some((r) => settingsOf(r)['model.dir'] !== undefined);
    const curves = R.some((r) => r.curve), alpha = curves ? R.find((r) => r.curve).curve.ema_alpha : null;
    const changes = R.map((r) => windowChange(r, 'reward/mean'));
    let h = '<table class="runs"><thead><tr><th class="l">run</th><th class="l">strategy</th>';
    if (models) h += '<th class="l">model</th>';
    if (settingParts.length) h += '<th class="l">settings</th>';
    h += '<th>steps logged</th><th>reward (last 10%)</th>';
    if (changes.some((c) => c)) h += '<th title="mean reward/mean of the last 10% of the steps minus that of the first 10% ' +
      '(at least 3 steps each), \u00b1 its standard error">\u0394 reward (last \u2212 first)</th>';
    h += '<th>accuracy (last 10%)</th><th>attention share</th>';
    if (curves) h += '<th class="sep" title="in-training evaluation accuracy @ step: at the last evaluation; the highest ' +
      '(the model in checkpoints/best); the peak of the exponential moving average over the evaluations (alpha ' +
      esc(value(alpha)) + ')">eval last / peak / peak-EMA</th>';
    h += '</tr></thead><tbody>';
    R.forEach((r, index) => {
      const st = settingsOf(r);
      const last = r.n ? r.step[r.n - 1] : NaN;
      h += '<tr><td class="l"' + (typeof r.run.dir === 'string' ? ' title="' + esc(r.run.dir) + '"' : '') + '>' + swatch(r) +
        '<b>' + esc(r.name) + '</b></td><td class="l">' + tag(r) + '</td>';
      // The model folder's name; the whole path on hover.
      const model = value(st['model.dir']), folder = model.replace(/\/+$/, '').split('/').pop() || model;
      if (models) h += '<td class="l path" title="' + esc(model) + '">' + esc(folder) + '</td>';
      if (settingParts.length) h += '<td class="l settings">' + settingParts.filter(([k]) => st[k] !== undefined && st[k] !== null)
        .map(([k, name]) => '<span class="kv">' + esc(name) + ' <b>' + esc(value(st[k])) + '</b></span>').join(' ') + '</td>';
      h += '<td>' + r.trained + (isFinite(last) && last !== r.trained ? ' <span class="muted">(last step ' + fmt(last) + ')</span>' : '') +
        (r.resumes.length ? '<br><span class="muted">resumed from ' + r.resumes.map(fmt).join(', ') + '</span>' : '') + '</td>';
      h += '<td>' + fmt(tailMean(r, 'reward/mean')) + '</td>';
      if (changes.some((c) => c)) {
        const c = changes[index];
        h += c ? '<td class="change ' + changeClass(c.d, c.se) + '">' + signed(c.d) + ' <span class="muted">\u00b1 ' + fmt(c.se) + '</span></td>'
          : '<td class="muted">\u2013</td>';
      }
      h += '<td>' + fmt(tailMean(r, 'accuracy')) + '</td>';
      h += '<td>' + (has(r, 'share_attention') ? pct(meanOf(r.cols.share_attention)) : '\u2013') + '</td>';
      if (curves) h += '<td class="sep eval-curve">' + ['last', 'peak', 'peak_ema'].map((k) => atStep(curvePoint(r.curve, k)))
        .join(' <span class="muted">/</span> ') + '</td>';
      h += '</tr>';
    });
    $('runs').innerHTML = h + '</tbody></table>';
    $('runs-note').innerHTML = changes.some((c) => c) ? '\u0394 reward: the mean of reward/mean over the last 10% of the steps ' +
      '(at least 3) minus that over the first 10%, \u00b1 its standard error (each window\u2019s: the standard deviation of its ' +
      'step means / \u221asteps; combined as \u221a(SE\u2081\u00b2 + SE\u2082\u00b2)). Green or red only when |\u0394| exceeds twice ' +
      'its standard error; a change inside the noise stays grey.' : '';
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
          // Standard error of a difference of two accuracies over n problems each: sqrt(p1(1-p1)/n1 + p2(1-p2)/n2).
          const se = ok && isNum(a.problems) && isNum(b.problems) && a.problems > 0 && b.problems > 0 ?
            Math.sqrt(a[k] * (1 - a[k]) / a.problems + b[k] * (1 - b[k]) / b.problems) : NaN;
          h += '<td class="' + (k === 'pass@1' ? 'sep ' : '') + 'change ' + changeClass(d, se) + '"' +
            (isFinite(se) ? ' title="standard error ' + esc(fmt(se)) + '"' : '') + '>' + (ok ? signed(d) : '\u2013') + '</td>';
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
    if (delta) notes.push('\u0394: green or red only when it exceeds twice its standard error, \u221a(p\u2081(1\u2212p\u2081)/n\u2081 + ' +
      'p\u2082(1\u2212p\u2082)/n\u2082) with n the problems (hover a \u0394 for it); a change inside the noise stays grey');
    $('evals-note').innerHTML = notes.join('&emsp;');
  }

  // Analysis reports, at the top: links per run and, where the summary.json beside a report holds
  // them, the coupling statistics (paper Table 2) of each analysis, before training first.
  const COUPLING = [
    ['entropy_at_preplan', 'entropy at preplan tokens', 'mean entropy at WAAD peaks (observed) vs at all response tokens; paper: 0.3608 vs 0.2386'],
    ['receiver_global_cooccurrence', 'receiver peaks that are anchors', 'share of receiver-head FAI peaks that are global-head FAI peaks vs the share of tokens that are; paper: 60.84% vs 22.41%'],
    ['fai_after_waad', 'anchors at or after a preplan', 'share of FAI peaks at or one after a WAAD peak vs with FAI peaks shuffled; paper: 52.53% vs 36.87%'],
  ];
  function renderAnalysis() {
    const safe = (href) => !/^[a-z][a-z0-9+.-]*:/i.test(href) || /^(file|https?):/i.test(href);
    const items = [];
    const analyses = new Map();  // href -> {report, runs}: a report linked from several runs is one row
    for (const r of R) {
      const list = Array.isArray(r.run.reports) ? r.run.reports.filter((x) => x && typeof x.href === 'string' && safe(x.href)) : [];
      if (!list.length) continue;
      items.push('<li>' + swatch(r) + '<b>' + esc(r.name) + '</b>: ' + list.map((x) => '<a href="' + esc(x.href) + '" title="' +
        esc(x.path || x.href) + '">' + esc(x.label || x.path || x.href) + '</a>').join(' &middot; ') + '</li>');
      for (const x of list) {
        if (!x.coupling || typeof x.coupling !== 'object') continue;
        if (!analyses.has(x.href)) analyses.set(x.href, { report: x, runs: [] });
        analyses.get(x.href).runs.push(r);
      }
    }
    $('analysis-card').hidden = !items.length;
    if (!items.length) return;
    $('reports').innerHTML = '<ul class="links">' + items.join('') + '</ul>';
    const rows = [...analyses.values()];
    const before = (a) => (/before|base|default/i.test(String(a.report.label || a.report.href)) ? 0 : 1);
    rows.sort((a, b) => before(a) - before(b));
    if (!rows.length) { $('coupling').innerHTML = ''; return; }
    let h = '<table class="coupling"><thead><tr><th class="l">analysis</th>';
    for (const [, name, what] of COUPLING) h += '<th class="sep" title="' + esc(what) + '">' + esc(name) + '</th>';
    h += '</tr></thead><tbody>';
    for (const a of rows) {
      const c = a.report.coupling;
      const who = a.runs.length === R.length && R.length > 1 ? 'all runs' : a.runs.map((r) => r.name).join(', ');
      h += '<tr><td class="l"><a href="' + esc(a.report.href) + '">' + esc(a.report.label || a.report.href) + '</a> <span class="muted">(' +
        esc(who) + (isNum(c.responses) ? ', ' + c.responses + ' responses' : '') + ')</span></td>';
      for (const [key] of COUPLING) {
        const e = c[key];
        if (!e || typeof e !== 'object' || !isNum(e.observed)) { h += '<td class="sep muted">\u2013</td>'; continue; }
        const ci = Array.isArray(e.lift_ci) && e.lift_ci.length === 2 && e.lift_ci.every(isNum) ? e.lift_ci : null;
        // A lift is coloured only when its bootstrap interval excludes 0 (no interval: not judged).
        const cls = ci ? (ci[0] > 0 ? 'up' : ci[1] < 0 ? 'down' : 'flat') : 'flat';
        h += '<td class="sep">' + fmt(e.observed) + ' <span class="muted">vs</span> ' + fmt(e.random) +
          (isNum(e.lift) ? ' <span class="change ' + cls + '">(' + (e.lift >= 0 ? '+' : '\u2212') + Math.round(Math.abs(100 * e.lift)) + '%' +
            (ci ? ' [' + Math.round(100 * ci[0]) + ', ' + Math.round(100 * ci[1]) + ']' : '') + ')</span>' : '') + '</td>';
      }
      h += '</tr>';
    }
    $('coupling').innerHTML = h + '</tbody></table><div class="sub">Coupling statistics (paper Table 2) of each analysis: ' +
      'observed vs random, and the lift (observed / random \u2212 1, with its bootstrap interval when analyze ran one). A lift ' +
      'is green or red only when that interval excludes 0; without an interval it is not judged.</div>';
  }

  // Sample completions (samples.jsonl): per run, the last steps' responses, latest step first, each
  // token shaded by its credit weight gamma; anchors and preplan tokens marked.
  function renderSamples() {
    const runs = R.filter((r) => Array.isArray(r.run.samples) && r.run.samples.length);
    $('samples-card').hidden = !runs.length;
    if (!runs.length) return;
    let top = 1;
    for (const r of runs) for (const x of r.run.samples) if (Array.isArray(x.gamma)) for (const g of x.gamma) if (isNum(g) && g > top) top = g;
    $('samples-top').textContent = fmt(top);
    const shade = (g) => {
      if (!isNum(g) || g === 1) return '';
      const f = g > 1 ? Math.min(1, (g - 1) / Math.max(1e-9, top - 1)) : Math.min(1, 1 - g);
      return g > 1 ? 'background:rgba(232,89,12,' + (0.12 + 0.5 * f).toFixed(3) + ')' : 'background:rgba(37,99,235,' + (0.12 + 0.4 * f).toFixed(3) + ')';
    };
    const piece = (t) => esc(String(t)).replace(/\n/g, '\u21b5\n');
    let h = '';
    for (const r of runs) {
      h += '<h3>' + swatch(r) + esc(r.name) + ' ' + tag(r) + '</h3><table class="samples"><thead><tr><th>step</th><th>reward</th>' +
        '<th>advantage</th><th class="l">response <span class="note">(click \u201cprompt\u201d for the prompt)</span></th></tr></thead><tbody>';
      for (const x of r.run.samples) {
        const tokens = Array.isArray(x.tokens) ? x.tokens : [], gamma = Array.isArray(x.gamma) ? x.gamma : [];
        const anchors = new Set(Array.isArray(x.anchors) ? x.anchors : []), preplans = new Set(Array.isArray(x.preplans) ? x.preplans : []);
        let text = '';
        tokens.forEach((t, j) => {
          const cls = (anchors.has(j) ? ' anc' : '') + (preplans.has(j) ? ' pre' : '');
          const info = '\u03b3 ' + fmt(gamma[j]) + (anchors.has(j) ? ' \u00b7 anchor' : '') + (preplans.has(j) ? ' \u00b7 preplan' : '');
          text += '<span class="tok' + cls + '" style="' + shade(gamma[j]) + '" title="' + esc(info) + '">' + piece(t) + '</span>';
        });
        if (!tokens.length && typeof x.response === 'string') text = esc(x.response);
        if (isNum(x.token_count) && x.token_count > tokens.length) text += ' <span class="muted">\u2026 (' + (x.token_count - tokens.length) + ' more tokens)</span>';
        h += '<tr><td>' + fmt(x.step) + '</td><td>' + fmt(x.reward) + '</td><td>' + fmt(x.advantage) + '</td><td class="l sample">' +
          (typeof x.prompt === 'string' ? '<details><summary>prompt' + (x.problem !== undefined ? ' ' + esc(value(x.problem)) : '') +
            '</summary><div class="prompt">' + esc(x.prompt) + '</div></details>' : '') + '<div class="response">' + text + '</div></td></tr>';
      }
      h += '</tbody></table>';
    }
    $('samples').innerHTML = h;
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
  function renderConstants() {
    const items = constants.map((c) => {
      const vs = c.values.map(([, v]) => v);
      const same = vs.every((v) => v === vs[0]);
      return esc(c.key) + '=' + (same ? fmt(vs[0]) : c.values.map(([r, v]) => fmt(v) + ' (' + esc(r.name) + ')').join(', '));
    });
    $('constants').hidden = !items.length;
    $('constants').innerHTML = items.length ? '<b>constant</b> over the run' + (R.length > 1 ? 's' : '') + ', not drawn: ' +
      items.join(' &middot; ') : '';
  }

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
    // How far the page, or a table in its scroll box, is wider than its room (the tests require 0:
    // nothing scrolls sideways).
    const sideways = (el) => Math.max(0, el.scrollWidth - el.clientWidth);
    let overflow = sideways(document.documentElement);
    for (const el of document.querySelectorAll('.scroll')) overflow = Math.max(overflow, sideways(el));
    document.body.dataset.overflowX = String(overflow);
  }

  function init() {
    renderHeader();
    renderRuns();
    renderEvals();
    renderAnalysis();
    renderSamples();
    renderConstants();
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
