// End-of-test summary: a JSON file for machines and a compact text summary for people.
//
// k6 prints its own summary only when a script has no handleSummary, and its textSummary
// helper lives on jslib.k6.io, which k6 cannot fetch offline here (k6 1.1.0 bundles it
// internally but does not expose it as an importable module). So the text summary is ours.
//
// The JSON is k6's handleSummary data object unchanged, plus a `crm` field naming the script,
// the runtime that answered (from setup()) and the settings used — so a result file is
// self-describing. k6 also includes setup()'s return value as `setup_data`.
import { strEnv } from './config.js';

const DISPLAY_ONLY = new Set(['max>=0', 'count>=0']); // thresholds that exist to surface sub-metrics

function fmtNum(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return '-';
  if (Number.isInteger(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(1);
  return v.toFixed(3);
}

function fmtTime(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '-';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)}s`;
  if (ms >= 100) return `${ms.toFixed(1)}ms`;
  return `${ms.toFixed(3)}ms`;
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function metricLine(name, m) {
  const v = m.values || {};
  switch (m.type) {
    case 'trend': {
      if (v.count === 0) return `${pad(name, 52)} (no samples)`;
      const f = m.contains === 'time' ? fmtTime : fmtNum;
      const stats = ['avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max']
        .filter((k) => k in v)
        .map((k) => `${k}=${f(v[k])}`)
        .join(' ');
      return `${pad(name, 52)} n=${fmtNum(v.count)} ${stats}`;
    }
    case 'counter':
      return `${pad(name, 52)} count=${fmtNum(v.count)} rate=${fmtNum(v.rate)}/s`;
    case 'rate':
      return `${pad(name, 52)} ${(100 * (v.rate || 0)).toFixed(2)}% (${v.passes} of ${v.passes + v.fails})`;
    case 'gauge':
      return `${pad(name, 52)} value=${fmtNum(v.value)} min=${fmtNum(v.min)} max=${fmtNum(v.max)}`;
    default:
      return `${pad(name, 52)} ${JSON.stringify(v)}`;
  }
}

function collectChecks(group, out) {
  for (const c of group.checks || []) out.push(c);
  for (const g of group.groups || []) collectChecks(g, out);
  return out;
}

export function textSummary(data, script, extraLines = []) {
  const lines = [];
  const crm = data.crm || {};
  const secs = ((data.state && data.state.testRunDurationMs) || 0) / 1000;
  lines.push('');
  lines.push(`== ${script}: runtime=${crm.runtime} target=${crm.base_url} run=${crm.run_id} ` +
    `duration=${secs.toFixed(1)}s ==`);

  // Thresholds that judge the run (display-only ones are shown as metrics below).
  const metrics = data.metrics || {};
  const names = Object.keys(metrics).sort();
  let failed = 0;
  const thLines = [];
  for (const name of names) {
    const th = metrics[name].thresholds || {};
    for (const expr of Object.keys(th)) {
      if (!th[expr].ok) failed++;
      if (DISPLAY_ONLY.has(expr) && th[expr].ok) continue;
      thLines.push(`  ${th[expr].ok ? 'ok  ' : 'FAIL'} ${name} ${expr}`);
    }
  }
  lines.push(`thresholds: ${failed === 0 ? 'all passed' : `${failed} FAILED`}`);
  lines.push(...thLines);

  const checks = collectChecks(data.root_group || {}, []);
  const bad = checks.filter((c) => c.fails > 0);
  const passes = checks.reduce((a, c) => a + c.passes, 0);
  const fails = checks.reduce((a, c) => a + c.fails, 0);
  lines.push(`checks: ${passes} passed, ${fails} failed (${checks.length} distinct)`);
  for (const c of bad) lines.push(`  FAIL ${c.name}: ${c.fails} of ${c.passes + c.fails} failed`);

  lines.push(...extraLines);

  lines.push('metrics:');
  for (const name of names) {
    // Skip k6's bookkeeping; keep the request, server-timing and custom figures.
    // (The connection-phase timings stay in the JSON; with keep-alive they are ~0 anyway.)
    if (/^(vus|vus_max|data_sent|data_received|iteration_duration)$/.test(name)) continue;
    if (/^http_req_(blocked|connecting|tls_handshaking|sending|receiving)/.test(name)) continue;
    lines.push(`  ${metricLine(name, metrics[name])}`);
  }
  lines.push('');
  return lines.join('\n');
}

// Build a handleSummary for `script`. `extra(data)` may return an object merged into
// data.crm; its `extra_lines` (if any) are printed in the text summary, not stored.
export function makeHandleSummary(script, extra) {
  return function handleSummary(data) {
    const setup = data.setup_data || {};
    const more = extra ? extra(data) : {};
    const extraLines = more.extra_lines || [];
    delete more.extra_lines;
    data.crm = Object.assign(
      {
        script,
        runtime: setup.runtime || 'unknown',
        service: setup.service,
        base_url: setup.base_url,
        run_id: setup.run_id,
        settings: setup.settings,
        finished_at: new Date().toISOString(),
      },
      more,
    );
    const out = { stdout: textSummary(data, script, extraLines) };
    const path = strEnv('SUMMARY_JSON', '');
    if (path) out[path] = JSON.stringify(data, null, 2);
    return out;
  };
}
