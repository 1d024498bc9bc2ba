// Scale test: the same workload at increasing concurrency, one level after another.
//
// Each level is its own constant-VU scenario (vus_1, vus_5, …) started after the previous one
// ended plus a gap, so a level's throughput and latency are measured alone — not blended with
// the ramp from the level before, as a single ramping scenario would. The summary prints one
// row per level (requests/s over the level's duration, latency percentiles, failure rate) and
// the JSON carries the same table as data.crm.levels.
//
// Workload (SCALE_WORKLOAD): `read` (default) — GET /customers/{id} of seeded customers, the
// database path through gateway and customer-service; `compute` — GET /compute iterative with
// n = SCALE_COMPUTE_N (default 100000), the CPU path with no database.
//
// Env: BASE_URL, SCALE_LEVELS (default "1,5,10,20,50,100"), LEVEL_DURATION (default 30s),
//      LEVEL_GAP (default 3s), SCALE_WORKLOAD, SCALE_COMPUTE_N, SEED_CUSTOMERS,
//      REQUEST_TIMEOUT, SUMMARY_JSON. (VUS/DURATION do not apply: the levels are the VUs.)
import { baseOptions, sequential, listEnv, strEnv, intEnv, durationMs } from './lib/config.js';
import { detectStack, makeRunId, seedCustomers, workloadRequest } from './lib/crm.js';
import { serverTimingThresholds, DB_ENTRIES } from './lib/server-timing.js';
import { makeHandleSummary } from './lib/summary.js';

const LEVELS = listEnv('SCALE_LEVELS', '1,5,10,20,50,100').map((v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`SCALE_LEVELS: "${v}" is not a positive integer`);
  return n;
});
const LEVEL_DURATION = strEnv('LEVEL_DURATION', '30s');
// Larger than the load test's default: 100 VUs' in-flight requests need a moment to drain.
const LEVEL_GAP = strEnv('LEVEL_GAP', '3s');
const WORKLOAD = strEnv('SCALE_WORKLOAD', 'read');
if (!['read', 'compute'].includes(WORKLOAD)) throw new Error(`SCALE_WORKLOAD must be read or compute, got "${WORKLOAD}"`);
const COMPUTE_N = intEnv('SCALE_COMPUTE_N', 100000);
const SEED_CUSTOMERS = intEnv('SEED_CUSTOMERS', 200);

const levelName = (vus) => `vus_${vus}`;
const NAMES = LEVELS.map(levelName);

const thresholds = {};
const stEntries = {};
for (const s of NAMES) {
  thresholds[`http_req_duration{scenario:${s}}`] = ['max>=0'];
  thresholds[`http_reqs{scenario:${s}}`] = ['count>=0'];
  thresholds[`http_req_failed{scenario:${s}}`] = ['rate<0.01'];
  thresholds[`checks{scenario:${s}}`] = ['rate>0.99'];
  stEntries[s] = WORKLOAD === 'read' ? DB_ENTRIES : ['compute'];
}
Object.assign(thresholds, serverTimingThresholds(stEntries));

export const options = baseOptions(
  sequential(
    LEVELS.map((vus) => [
      levelName(vus),
      { executor: 'constant-vus', vus, duration: LEVEL_DURATION, exec: 'level' },
      LEVEL_DURATION,
    ]),
    LEVEL_GAP,
  ),
  thresholds,
);

export function setup() {
  const stack = detectStack();
  const runId = makeRunId();
  const customers = WORKLOAD === 'read' ? seedCustomers(SEED_CUSTOMERS, runId, stack.runtime) : [];
  return Object.assign(stack, {
    run_id: runId,
    settings: { levels: LEVELS, level_duration: LEVEL_DURATION, level_gap: LEVEL_GAP, workload: WORKLOAD, compute_n: COMPUTE_N },
    customers,
  });
}

export function level(data) {
  workloadRequest(WORKLOAD, data, COMPUTE_N);
}

// One row per level. Requests/s divides by the level's configured duration; requests finishing
// in the gap after it (at most one per VU) make it very slightly optimistic.
function levelsTable(data) {
  const secs = durationMs(LEVEL_DURATION) / 1000;
  const m = data.metrics;
  const levels = LEVELS.map((vus) => {
    const s = levelName(vus);
    const reqs = m[`http_reqs{scenario:${s}}`];
    const dur = m[`http_req_duration{scenario:${s}}`];
    const failed = m[`http_req_failed{scenario:${s}}`];
    const count = reqs ? reqs.values.count : 0;
    const d = dur ? dur.values : {};
    return {
      vus,
      requests: count,
      rps: count / secs,
      avg_ms: d.avg,
      p50_ms: d.med,
      p95_ms: d['p(95)'],
      p99_ms: d['p(99)'],
      max_ms: d.max,
      failed_rate: failed ? failed.values.rate : null,
    };
  });
  const f = (v) => (typeof v === 'number' ? v.toFixed(2) : '-');
  const lines = ['levels:', '     vus   requests      req/s     avg ms     p50 ms     p95 ms     p99 ms   failed'];
  for (const l of levels) {
    lines.push(
      [l.vus, l.requests, f(l.rps), f(l.avg_ms), f(l.p50_ms), f(l.p95_ms), f(l.p99_ms)]
        .map((v) => String(v).padStart(10))
        .join(' ') + `   ${l.failed_rate === null ? '-' : (100 * l.failed_rate).toFixed(2) + '%'}`,
    );
  }
  return { levels, extra_lines: lines };
}

export const handleSummary = makeHandleSummary('scale-test', levelsTable);
