// Server-Timing → k6 Trends.
//
// Every response that touched Postgres carries e.g.
//   server-timing: conn;dur=0.412, query;dur=1.203, verify;dur=2.001, ser;dur=0.020, total;dur=3.801, gw;dur=4.250
// and /compute carries `compute;dur=x`. Recording each entry as its own Trend splits the
// client-side latency into where the time went (pool/connection, SQL, the inter-service check,
// JSON, the handler as a whole, the gateway hop) — the figures that make a Spin vs Axum
// comparison explainable rather than just "A is slower".
import { Trend, Counter } from 'k6/metrics';

// Entry name in the header → Trend. `isTime = true` so k6 prints them as durations (ms).
export const ST_ENTRIES = ['conn', 'query', 'verify', 'ser', 'total', 'gw', 'compute'];
const trends = {};
for (const name of ST_ENTRIES) trends[name] = new Trend(`st_${name}`, true);

// Entries we did not expect (a typo in a service, a renamed entry) are counted rather than
// silently dropped, so a broken header shows up in the summary.
const unknownEntries = new Counter('st_unknown_entries');

// Parse a Server-Timing header value into { name: durationMs }. Tolerates spaces, entries
// without `dur`, quoted `desc` parameters and repeated headers (k6 joins those with ", ").
export function parseServerTiming(value) {
  const out = {};
  if (!value) return out;
  for (const part of value.split(',')) {
    const params = part.split(';').map((s) => s.trim());
    const name = params.shift();
    if (!name) continue;
    for (const p of params) {
      const eq = p.indexOf('=');
      if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'dur') continue;
      const dur = Number(p.slice(eq + 1).trim().replace(/^"|"$/g, ''));
      if (Number.isFinite(dur)) out[name] = dur;
    }
  }
  return out;
}

// Record every entry of one response. k6 adds the `scenario` tag by itself, so the per-scenario
// sub-metrics below pick these samples up without extra tagging here.
export function recordServerTiming(res, tags) {
  const header = headerValue(res, 'server-timing');
  const entries = parseServerTiming(header);
  for (const name of Object.keys(entries)) {
    if (trends[name]) trends[name].add(entries[name], tags);
    else unknownEntries.add(1, tags);
  }
  return entries;
}

// Headers in k6 responses are canonicalised by Go ("Server-Timing"); look them up without
// caring about case so a proxy in between cannot break us.
export function headerValue(res, name) {
  if (!res || !res.headers) return undefined;
  const want = name.toLowerCase();
  for (const k of Object.keys(res.headers)) {
    if (k.toLowerCase() === want) return res.headers[k];
  }
  return undefined;
}

// Sub-metric thresholds that always pass (`max>=0`). They exist so the summary — k6's and
// ours — carries one line per (entry, scenario): k6 only reports sub-metrics that have a
// threshold. `entriesByScenario` maps a scenario name to the entries its requests produce.
export function serverTimingThresholds(entriesByScenario) {
  const th = {};
  for (const scenario of Object.keys(entriesByScenario)) {
    for (const entry of entriesByScenario[scenario]) {
      th[`st_${entry}{scenario:${scenario}}`] = ['max>=0'];
    }
  }
  return th;
}

// The entries a database-backed answer through the gateway carries.
export const DB_ENTRIES = ['conn', 'query', 'ser', 'total', 'gw'];
// …plus the customer check on order create.
export const ORDER_CREATE_ENTRIES = ['conn', 'query', 'verify', 'ser', 'total', 'gw'];
