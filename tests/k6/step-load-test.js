// Step load: a request rate held for a while, then a higher one, and so on — the load the
// step-load scenario (tests/cluster/step-load-test.sh) puts on a stack whose Deployments have
// HPAs, while the replicas are recorded. Arrival rates, not VUs: the offered load must not
// drop when the stack slows down, or the autoscaler would see less of what it should react to.
//
// Each step is its own constant-arrival-rate scenario (step_1, step_2, …) started the moment
// the previous one ends (no gap: the load is continuous), so each step's achieved rate and
// latency are k6 sub-metrics. The JSON carries data.crm.steps (one row per step, with its
// offset from the load's start) and data.crm.load_start_ms (the wall clock, in ms, when the
// first step began: the replica samples are placed on the same axis).
//
// Workload (STEP_WORKLOAD): `read` (default) — GET /customers/{id} of seeded customers, through
// gateway, customer-service and Postgres; `compute` — GET /compute iterative, gateway CPU only.
//
// Env: BASE_URL, STEP_RATES (requests/s per step, default "5,20,50,100,200"), STEP_DURATION
//      (default 60s), STEP_MAX_VUS (default 200), STEP_WORKLOAD, STEP_COMPUTE_N (100000),
//      SEED_CUSTOMERS, REQUEST_TIMEOUT, SUMMARY_JSON.
import { baseOptions, sequential, listEnv, strEnv, intEnv, durationMs } from './lib/config.js';
import { detectStack, makeRunId, seedCustomers, workloadRequest } from './lib/crm.js';
import { makeHandleSummary } from './lib/summary.js';

const RATES = listEnv('STEP_RATES', '5,20,50,100,200').map((v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`STEP_RATES: "${v}" is not a positive integer`);
  return n;
});
const STEP_DURATION = strEnv('STEP_DURATION', '60s');
const MAX_VUS = intEnv('STEP_MAX_VUS', 200);
const WORKLOAD = strEnv('STEP_WORKLOAD', 'read');
if (!['read', 'compute'].includes(WORKLOAD)) throw new Error(`STEP_WORKLOAD must be read or compute, got "${WORKLOAD}"`);
const COMPUTE_N = intEnv('STEP_COMPUTE_N', 100000);
const SEED_CUSTOMERS = intEnv('SEED_CUSTOMERS', 200);

const stepName = (i) => `step_${i + 1}`;

// Sub-metrics per step. A step that could not keep its rate is a finding the report shows
// (dropped iterations), not a failed run; errors are judged as everywhere else.
const thresholds = {};
RATES.forEach((_, i) => {
  const s = stepName(i);
  thresholds[`http_req_duration{scenario:${s}}`] = ['max>=0'];
  thresholds[`http_reqs{scenario:${s}}`] = ['count>=0'];
  thresholds[`http_req_failed{scenario:${s}}`] = ['rate<0.01'];
});

export const options = baseOptions(
  sequential(
    RATES.map((rate, i) => [
      stepName(i),
      {
        executor: 'constant-arrival-rate',
        rate,
        timeUnit: '1s',
        duration: STEP_DURATION,
        preAllocatedVUs: Math.min(MAX_VUS, Math.max(2, Math.ceil(rate / 10))),
        maxVUs: MAX_VUS,
        // The next step starts on time regardless; a request in flight at a step's end is let
        // finish (and counted) rather than cut off, which would show as a failure.
        gracefulStop: '5s',
        exec: 'step',
      },
      STEP_DURATION,
    ]),
    '0s',
  ),
  thresholds,
);

export function setup() {
  const stack = detectStack();
  const runId = makeRunId();
  const customers = WORKLOAD === 'read' ? seedCustomers(SEED_CUSTOMERS, runId, stack.runtime) : [];
  return Object.assign(stack, {
    run_id: runId,
    settings: { rates: RATES, step_duration: STEP_DURATION, max_vus: MAX_VUS, workload: WORKLOAD, compute_n: COMPUTE_N },
    customers,
    // The scenarios start when setup() returns.
    load_start_ms: Date.now(),
  });
}

export function step(data) {
  workloadRequest(WORKLOAD, data, COMPUTE_N);
}

// One row per step: the offered rate, the achieved one (over the step's configured duration),
// latency and failures.
function stepsTable(data) {
  const secs = durationMs(STEP_DURATION) / 1000;
  const m = data.metrics;
  const steps = RATES.map((rate, i) => {
    const s = stepName(i);
    const reqs = m[`http_reqs{scenario:${s}}`];
    const dur = m[`http_req_duration{scenario:${s}}`];
    const failed = m[`http_req_failed{scenario:${s}}`];
    const count = reqs ? reqs.values.count : 0;
    const d = dur ? dur.values : {};
    return {
      step: i + 1,
      offered_rps: rate,
      start_s: i * secs,
      duration_s: secs,
      requests: count,
      rps: count / secs,
      p50_ms: d.med,
      p95_ms: d['p(95)'],
      failed_rate: failed ? failed.values.rate : null,
    };
  });
  const f = (v) => (typeof v === 'number' ? v.toFixed(2) : '-');
  const lines = ['steps:', '    step  offered/s   requests      req/s     p50 ms     p95 ms   failed'];
  for (const s of steps) {
    lines.push(
      [s.step, s.offered_rps, s.requests, f(s.rps), f(s.p50_ms), f(s.p95_ms)]
        .map((v) => String(v).padStart(10))
        .join(' ') + `   ${s.failed_rate === null ? '-' : (100 * s.failed_rate).toFixed(2) + '%'}`,
    );
  }
  const setup = data.setup_data || {};
  return { steps, load_start_ms: setup.load_start_ms, extra_lines: lines };
}

export const handleSummary = makeHandleSummary('step-load-test', stepsTable);
