// The first script of both report pages (page_assets.cpp puts it in each page's <head>): the error
// banner, then window.illume, the helpers both page scripts share. A page script takes the ones it
// uses at its top: const { $, esc, fmt } = illume;
// Rules for every script of the pages: no network; no closing script tag and no HTML comment opener,
// not even in a comment or string (the script would end there; page_assets.cpp refuses such a file);
// no console output (the headless tests treat any console message as an error).

// Script errors are counted in body.dataset.jsErrors and shown in a banner.
window.illumeErrors = [];
(function () {
  function show() {
    if (!document.body) return;
    document.body.dataset.jsErrors = String(window.illumeErrors.length);
    var b = document.getElementById('errors');
    if (b && window.illumeErrors.length) { b.hidden = false; b.textContent = 'Script error: ' + window.illumeErrors.join(' | '); }
  }
  window.addEventListener('error', function (e) { window.illumeErrors.push(String(e.message)); show(); });
  window.addEventListener('unhandledrejection', function (e) { window.illumeErrors.push(String(e.reason)); show(); });
  document.addEventListener('DOMContentLoaded', show);
})();

window.illume = (function () {
  const COLOR = { axis: '#98a1b0', text: '#505868' };
  const $ = (id) => document.getElementById(id);
  // The page's data: the JSON in the script element #illume-data (report_detail::fill_template puts it there).
  const readData = () => JSON.parse($('illume-data').textContent);

  // ---------- text ----------
  const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);
  const isNum = (v) => typeof v === 'number' && isFinite(v);
  function fmt(v) {
    if (v === null || v === undefined) return '\u2013';
    if (typeof v !== 'number') return String(v);
    if (!isFinite(v)) return '\u2013';
    const a = Math.abs(v);
    if (Number.isInteger(v) && a < 1e7) return String(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2).replace(/\.?0+e/, 'e');
    return String(+v.toPrecision(4));
  }
  // A JSON array as numbers; null and non-numbers become NaN (drawn as gaps). null for a non-array.
  function toNumbers(a) {
    if (!Array.isArray(a)) return null;
    const out = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = isNum(a[i]) ? a[i] : NaN;
    return out;
  }
  // About `count` round tick values (steps of 1, 2, 5 x 10^k) from lo to hi.
  function niceTicks(lo, hi, count) {
    const span = hi - lo;
    if (!(span > 0)) return [lo];
    const raw = span / Math.max(1, count), mag = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / mag;
    const step = (r >= 7.5 ? 10 : r >= 3.5 ? 5 : r >= 1.5 ? 2 : 1) * mag;
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }

  // ---------- canvas plumbing ----------
  // Sizes the canvas to w x h CSS pixels at the screen's pixel ratio and clears it.
  function setup(canvas, w, h) {
    const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    canvas.style.width = w + 'px';
    canvas.style.height = h + 'px';
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = '11px system-ui, sans-serif';
    return { ctx, dpr, w, h };
  }
  // Pixels the data painted inside the plot rectangle P (called before grid, axes and labels are
  // drawn): the canvases' data-ink, which the headless tests read.
  function countInk(c, P) {
    const x = Math.floor(P.x * c.dpr), y = Math.floor(P.y * c.dpr);
    const w = Math.max(1, Math.ceil(P.w * c.dpr)), h = Math.max(1, Math.ceil(P.h * c.dpr));
    const d = c.ctx.getImageData(x, y, w, h).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
    return n;
  }
  // The left and bottom axis lines of the plot rectangle P.
  function axesFrame(ctx, P) {
    ctx.strokeStyle = COLOR.axis;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(P.x - 0.5, P.y);
    ctx.lineTo(P.x - 0.5, P.y + P.h + 0.5);
    ctx.lineTo(P.x + P.w, P.y + P.h + 0.5);
    ctx.stroke();
  }
  // A y-axis title, rotated, its top at x.
  function yLabel(ctx, text, x, yMid) {
    ctx.save();
    ctx.translate(x, yMid);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    ctx.fillStyle = COLOR.text;
    ctx.fillText(text, 0, 0);
    ctx.restore();
  }
  // Calls draw once the window has stopped resizing for 150 ms.
  function redrawOnResize(draw) {
    let pending = 0;
    window.addEventListener('resize', () => { clearTimeout(pending); pending = setTimeout(draw, 150); });
  }

  // ---------- tooltip (the page's <div class="tip" id="tip">) ----------
  function showTip(html, x, y) {
    const tip = $('tip');
    tip.innerHTML = html;
    tip.hidden = false;
    const r = tip.getBoundingClientRect();
    tip.style.left = Math.max(4, Math.min(window.innerWidth - r.width - 8, x + 14)) + 'px';
    tip.style.top = (y + 16 + r.height > window.innerHeight ? y - r.height - 10 : y + 16) + 'px';
  }
  const hideTip = () => { $('tip').hidden = true; };

  // Mouse event options at the point (fx, fy) of el's box, as fractions of its size (the pages' "#selftest").
  const pointAt = (el, fx, fy) => {
    const r = el.getBoundingClientRect();
    return { bubbles: true, clientX: r.left + fx * r.width, clientY: r.top + fy * r.height };
  };

  return { COLOR, $, readData, esc, isNum, fmt, toNumbers, niceTicks, setup, countInk, axesFrame, yLabel, redrawOnResize,
    showTip, hideTip, pointAt };
})();
