// The table of bench/compare.sh: tokens/s of both engines, and illume's ratio to llama.cpp's best
// setting of the same dtype in each column. (Node, which npm brings along, so the benchmark needs
// nothing else.)
//   node bench/compare_table.js RESULTS.jsonl CPU_MODEL CPU_FLAGS LLAMA_VERSION_JSON MACHINE SETTINGS
// (MACHINE: illume info's cpu/isa/amx/blas lines, joined by '; ')
'use strict';
const fs = require('fs');
const [resultsPath, cpuModel, cpuFlags, llamaVersion, machine, settings] = process.argv.slice(2);
const rows = fs.readFileSync(resultsPath, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
const columns = ['prefill', 'decode1', 'decode_batch'];
const version = JSON.parse(llamaVersion || '{}');

const describe = (row) => {
  if (row.engine === 'illume')
    return row.result.compute && row.result.compute !== row.dtype
      ? `illume ${row.dtype} weights, ${row.result.compute} compute`
      : `illume ${row.dtype}`;
  const kv = row.result.kv.toUpperCase();
  const flash = row.result.flash;
  const what = `${kv} KV, FA ${flash}`;
  return `llama.cpp ${row.dtype} (${kv === 'F16' && flash === 'auto' ? 'defaults: ' + what : what})`;
};
const number = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

const lines = [];
lines.push(`CPU: ${cpuModel}; flags: ${cpuFlags.trim()}`);
if (machine) lines.push(`illume: ${machine}`);
lines.push(`llama.cpp: npm node-llama-cpp ${version.node_llama_cpp} (llama.cpp ${version.llama_cpp_release}, ` +
           `commit ${String(version.llama_cpp_commit || '').slice(0, 8)}), prebuilt CPU libraries`);
lines.push(`Settings: ${settings}`);
lines.push('');
lines.push('| engine, dtype | prefill (tok/s) | decode batch 1 (tok/s) | decode batch 8, sum (tok/s) |');
lines.push('|---|---|---|---|');
for (const dtype of [...new Set(rows.map((r) => r.dtype))]) {
  const llama = rows.filter((r) => r.engine === 'llama.cpp' && r.dtype === dtype);
  const best = Object.fromEntries(columns.map((c) => [c, Math.max(...llama.map((r) => r.result[c]))]));
  for (const row of llama)
    lines.push(`| ${describe(row)} | ${columns.map((c) => number(row.result[c]) + (row.result[c] === best[c] ? ' (best)' : '')).join(' | ')} |`);
  for (const row of rows.filter((r) => r.engine === 'illume' && r.dtype === dtype))
    lines.push(`| **${describe(row)}** | ${columns.map((c) => `${number(row.result[c])} (${(row.result[c] / best[c]).toFixed(2)}x)`).join(' | ')} |`);
}
lines.push('');
lines.push('Ratios: illume / the best llama.cpp row of the same dtype in that column.');
console.log(lines.join('\n'));
