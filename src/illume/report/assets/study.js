// The study page (study.html): the verdict, the per-strategy table, the curves with bands over seeds,
// timing, Table 2 statistics and the runs, all from study.json (study/study_report.h).
// After drawing: <body data-plots-drawn="K"> (curve canvases with ink), each canvas data-ink, and
// <body data-overflow-x="N"> (how far anything is wider than its room; 0 when nothing scrolls sideways).
(function () {
  const { $, esc, fmt, isNum, niceTicks, setup, countInk, axesFrame, yLabel, redrawOnResize, COLOR } = illume;
  const data = illume.readData();
  const PALETTE = { none: '#4b5563', random: '#ca8a04', entropy: '#0891b2', local: '#16a34a', global: '#9333ea',
    coupled: '#e8590c' };
  const EXTRA = ['#2563eb', '#dc2626', '#db2777', '#65a30d'];
  const strategies = (data.strategies || []).map((s) => s.name);
  const color = (name) => PALETTE[name] || EXTRA[strategies.indexOf(name) % EXTRA.length];
  const pct = (v) => (isNum(v) ? (100 * v).toFixed(1) : '\u2013');
  const signed = (v) => (isNum(v) ? (v >= 0 ? '+' : '') + (100 * v).toFixed(1) : '\u2013');
  const interval = (m) => (m && isNum(m.lo) && isNum(m.hi) ? ' <span class="ci">[' + pct(m.lo) + ', ' + pct(m.hi) + ']</span>'
    : m && m.n === 1 ? ' <span class="ci">(n=1)</span>' : '');
  const swatch = (name) => '<span class="sw" style="background:' + color(name) + '"></span>' + esc(name);

  // ---------- header and verdict ----------
  $('title').textContent = data.title || 'illume study';
  const s = data.settings || {};
  const chips = [['state', data.state + ' (' + (data.done_runs || 0) + '/' + (data.runs || []).length + ' runs)'],
    ['model', String(s.model || '').split('/').pop()], ['steps', s.steps], ['G', s.group_size],
    ['prompts/step', s.prompts_per_step], ['lr', s.lr], ['held-out puzzles', s.eval_problems || 'all'],
    ['eval every', s.eval_every], ['reward', s.reward], ['seeds', ((data.config || {}).study || {}).seeds]];
  if (s.quick) chips.push(['grid', 'quick']);
  $('meta').innerHTML = chips.map(([k, v]) => '<span class="chip">' + esc(k) + ' <b>' + esc(fmt(v)) + '</b></span>').join('');
  const verdict = data.verdict || {};
  $('verdict').textContent = verdict.text || '';
  $('verdict-card').classList.add((verdict.beats_none || []).length ? 'yes' : 'no');

  // ---------- the per-strategy table ----------
  function strategyTable() {
    let h = '<table><thead><tr><th class="l">strategy</th><th>seeds</th><th>final accuracy %</th><th>peak accuracy %</th>' +
      '<th>paper %</th><th>final &minus; none (points)</th><th>p (paired t)</th><th>signs +/&minus;/=</th>' +
      '<th>peak &minus; none</th><th class="l">verdict (final)</th></tr></thead><tbody>';
    for (const st of data.strategies || []) {
      const v = st.vs_none && st.vs_none.final, vp = st.vs_none && st.vs_none.peak;
      const cls = v && v.n > 1 && isNum(v.lo) && v.lo > 0 ? 'up' : v && v.n > 1 && isNum(v.hi) && v.hi < 0 ? 'down' : '';
      h += '<tr><td class="l">' + swatch(st.name) + '</td><td>' + (st.seeds || []).length + '</td>' +
        '<td>' + (st.final ? pct(st.final.mean) + interval(st.final) : '\u2013') + '</td>' +
        '<td>' + (st.peak ? pct(st.peak.mean) + interval(st.peak) : '\u2013') + '</td>' +
        '<td>' + fmt(st.paper) + '</td>';
      if (v) {
        h += '<td class="' + cls + '">' + signed(v.mean) + (v.n > 1 ? ' <span class="ci">[' + signed(v.lo) + ', ' + signed(v.hi) + ']</span>'
          : ' <span class="ci">(n=1)</span>') + '</td><td>' + fmt(v.p) + '</td><td>' + v.positive + '/' + v.negative + '/' + v.ties +
          ' <span class="ci">p=' + fmt(v.sign_p) + '</span></td><td>' + signed(vp.mean) + (vp.n > 1 ? ' <span class="ci">[' +
          signed(vp.lo) + ', ' + signed(vp.hi) + ']</span>' : '') + '</td><td class="l wr">' + esc(v.verdict) + '</td>';
      } else {
        h += '<td colspan="5" class="l muted">' + (st.name === 'none' ? 'the baseline' : 'no paired none run') + '</td>';
      }
      h += '</tr>';
    }
    $('strategies').innerHTML = h + '</tbody></table>';
  }

  // ---------- curves ----------
  const PANELS = [['eval/accuracy', 'held-out accuracy (eval/accuracy)'], ['reward/mean', 'training reward (reward/mean)'],
    ['accuracy', 'training batch accuracy'], ['completions/mean_length', 'response length (tokens)'],
    ['entropy', 'token entropy (nats)']];
  const panels = [];
  function buildPanels() {
    $('legend').innerHTML = strategies.map((n) => '<span class="lg">' + swatch(n) + '</span>').join('');
    const curves = data.curves || {};
    for (const [metric, title] of PANELS) {
      const per = curves[metric] || {};
      if (!Object.keys(per).length) continue;
      const div = document.createElement('div');
      div.className = 'panel';
      div.innerHTML = '<div class="ptitle">' + esc(title) + '</div><div class="plot"><canvas></canvas></div>';
      $('panels').appendChild(div);
      panels.push({ metric, per, canvas: div.querySelector('canvas'), box: div });
    }
    $('panels-empty').hidden = panels.length > 0;
  }
  function drawPanel(p) {
    const width = Math.max(260, Math.floor(p.box.clientWidth));
    const c = setup(p.canvas, width, 220);
    const P = { x: 58, y: 8, w: width - 70, h: 220 - 40 };
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const name of Object.keys(p.per)) {
      const k = p.per[name];
      for (let i = 0; i < k.step.length; i++) {
        const m = k.mean[i], e = isNum(k.se[i]) ? k.se[i] : 0;
        if (!isNum(m)) continue;
        x0 = Math.min(x0, k.step[i]); x1 = Math.max(x1, k.step[i]);
        y0 = Math.min(y0, m - e); y1 = Math.max(y1, m + e);
      }
    }
    if (!isFinite(x0)) return false;
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) { y0 -= 0.5 * (Math.abs(y0) || 1); y1 += 0.5 * (Math.abs(y1) || 1); }
    const pad = 0.05 * (y1 - y0); y0 -= pad; y1 += pad;
    const X = (v) => P.x + ((v - x0) / (x1 - x0)) * P.w, Y = (v) => P.y + P.h - ((v - y0) / (y1 - y0)) * P.h;
    const ctx = c.ctx;
    // none last and dashed, so that a strategy whose curve equals none's leaves it visible
    for (const name of strategies.slice().reverse()) {
      const k = p.per[name];
      if (!k) continue;
      const col = color(name);
      // the band: mean +- se where two or more seeds have the step
      ctx.beginPath();
      let open = false;
      const upper = [], lower = [];
      for (let i = 0; i < k.step.length; i++)
        if (isNum(k.mean[i]) && isNum(k.se[i])) { upper.push([X(k.step[i]), Y(k.mean[i] + k.se[i])]); lower.push([X(k.step[i]), Y(k.mean[i] - k.se[i])]); }
      if (upper.length > 1) {
        ctx.moveTo(upper[0][0], upper[0][1]);
        for (const q of upper) ctx.lineTo(q[0], q[1]);
        for (let i = lower.length - 1; i >= 0; i--) ctx.lineTo(lower[i][0], lower[i][1]);
        ctx.closePath();
        ctx.globalAlpha = 0.16; ctx.fillStyle = col; ctx.fill(); ctx.globalAlpha = 1;
      }
      ctx.beginPath();
      for (let i = 0; i < k.step.length; i++) {
        if (!isNum(k.mean[i])) { open = false; continue; }
        if (open) ctx.lineTo(X(k.step[i]), Y(k.mean[i])); else ctx.moveTo(X(k.step[i]), Y(k.mean[i]));
        open = true;
      }
      ctx.strokeStyle = col; ctx.lineWidth = 1.8; ctx.setLineDash(name === 'none' ? [6, 4] : []); ctx.stroke(); ctx.setLineDash([]);
      if (k.step.length <= 40)
        for (let i = 0; i < k.step.length; i++)
          if (isNum(k.mean[i])) { ctx.beginPath(); ctx.arc(X(k.step[i]), Y(k.mean[i]), 2.4, 0, 2 * Math.PI); ctx.fillStyle = col; ctx.fill(); }
    }
    p.canvas.dataset.ink = String(countInk(c, P));
    // grid, axes and labels after the ink count
    ctx.fillStyle = COLOR.text; ctx.strokeStyle = '#eef0f3'; ctx.lineWidth = 1;
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
    for (const t of niceTicks(y0, y1, 4)) {
      ctx.beginPath(); ctx.moveTo(P.x, Math.round(Y(t)) + 0.5); ctx.lineTo(P.x + P.w, Math.round(Y(t)) + 0.5); ctx.stroke();
      ctx.fillText(fmt(t), P.x - 6, Y(t));
    }
    ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    for (const t of niceTicks(x0, x1, 6)) if (Number.isInteger(t)) ctx.fillText(String(t), X(t), P.y + P.h + 5);
    axesFrame(ctx, P);
    yLabel(ctx, p.metric, 2, P.y + P.h / 2);
    ctx.textAlign = 'right'; ctx.fillText('step', P.x + P.w, P.y + P.h + 18);
    return true;
  }

  // ---------- time, Table 2, runs ----------
  function timingTable() {
    let h = '<table><thead><tr><th class="l">strategy</th><th>step (s)</th><th>attention pass (s)</th>' +
      '<th>attention share of the step</th></tr></thead><tbody>';
    for (const st of data.strategies || [])
      h += '<tr><td class="l">' + swatch(st.name) + '</td><td>' + fmt(st.step_seconds) + '</td><td>' + fmt(st.attention_seconds) +
        '</td><td>' + (isNum(st.share_attention) ? (100 * st.share_attention).toFixed(1) + '%' : '\u2013') + '</td></tr>';
    $('timing').innerHTML = h + '</tbody></table>';
  }
  const ROWS = [['entropy_at_preplan', 'entropy at WAAD peaks'], ['receiver_global_cooccurrence', 'receiver / global heads co-occur'],
    ['fai_after_waad', 'FAI after WAAD']];
  function analysisTable() {
    const rows = data.analysis || [];
    if (!rows.length) return;
    $('analysis-card').hidden = false;
    let h = '<table><thead><tr><th class="l">policy</th>' + ROWS.map(([, t]) => '<th>' + esc(t) + '<br><span class="ci">observed vs random; lift [95%]</span></th>').join('') +
      '<th>responses</th><th class="l">report</th></tr></thead><tbody>';
    for (const a of rows) {
      const c = a.coupling || {};
      h += '<tr><td class="l">' + (a.strategy ? swatch(a.strategy) + ' ' : '') + esc(a.label) + '</td>';
      for (const [key] of ROWS) {
        const r = c[key];
        if (!r) { h += '<td>\u2013</td>'; continue; }
        const has = Array.isArray(r.lift_ci) && isNum(r.lift_ci[0]) && isNum(r.lift_ci[1]);
        const ci = has ? ' <span class="ci">[' + signed(r.lift_ci[0]) + ', ' + signed(r.lift_ci[1]) + ']</span>' : '';
        const cls = has ? (r.lift_ci[0] > 0 ? 'up' : r.lift_ci[1] < 0 ? 'down' : '') : '';
        const three = (v) => (isNum(v) ? v.toFixed(3) : '\u2013');
        h += '<td class="wr">' + three(r.observed) + ' vs ' + three(r.random) + '<br><span class="' + cls + '">lift ' +
          signed(r.lift) + '%</span>' + ci + '</td>';
      }
      h += '<td>' + fmt(c.responses) + '</td><td class="l"><a href="' + esc(a.href) + '">report</a></td></tr>';
    }
    $('analysis').innerHTML = h + '</tbody></table>';
  }
  function runsTable() {
    let h = '<table><thead><tr><th class="l">run</th><th>seed</th><th class="l">status</th><th>final %</th><th>peak % (step)</th>' +
      '<th>evaluations</th><th>step (s)</th><th>attention share</th><th>training time</th><th class="l">metrics</th></tr></thead><tbody>';
    for (const r of data.runs || [])
      h += '<tr><td class="l">' + swatch(r.strategy) + ' <span class="muted">' + esc(r.name) + '</span></td><td>' + r.seed + '</td><td class="l">' +
        esc(r.status) + '</td><td>' + (r.final ? pct(r.final.value) : '\u2013') + '</td><td>' +
        (r.peak ? pct(r.peak.value) + ' <span class="ci">(' + r.peak.step + ')</span>' : '\u2013') + '</td><td>' + fmt(r.evaluations) +
        '</td><td>' + fmt(r.step_seconds) + '</td><td>' + (isNum(r.share_attention) ? (100 * r.share_attention).toFixed(1) + '%' : '\u2013') +
        '</td><td>' + (isNum(r.seconds) && r.seconds > 0 ? Math.round(r.seconds) + ' s' : '\u2013') + '</td><td class="l">' +
        (r.status === 'done' ? '<a href="' + esc(r.href) + '">metrics.jsonl</a>' : '') + '</td></tr>';
    $('runs').innerHTML = h + '</tbody></table>';
  }

  function drawAll() {
    let drawn = 0;
    for (const p of panels) if (drawPanel(p)) drawn++;
    document.body.dataset.plotsDrawn = String(drawn);
    const sideways = (el) => Math.max(0, el.scrollWidth - el.clientWidth);
    let overflow = sideways(document.documentElement);
    for (const el of document.querySelectorAll('.scroll')) overflow = Math.max(overflow, sideways(el));
    document.body.dataset.overflowX = String(overflow);
  }

  strategyTable();
  timingTable();
  analysisTable();
  runsTable();
  buildPanels();
  drawAll();
  redrawOnResize(drawAll);
})();
