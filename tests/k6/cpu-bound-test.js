// CPU-bound test: GET /compute, answered by the gateway itself (no database, no upstream), so
// it measures raw compute in each runtime — native code vs WebAssembly.
//
// Scenarios (one after another):
//   compute_iterative  /compute?algo=iterative&n=COMPUTE_ITER_N (default 1000000): a u64 loop
//   compute_recursive  /compute?algo=recursive&n=COMPUTE_REC_N (default 25): the naive
//                      doubly recursive Fibonacci — call overhead, ~fib(n) calls per request
//
// Results are checked, not just timed: a runtime that answers fast and wrong must not win.
// setup() computes the expected value (fib with wrapping u64 add, fib(0) = 0, fib(1) = 1) with
// BigInt when n is small enough to do so quickly (COMPUTE_VERIFY_MAX, default 5000000); every
// answer must also equal the first one seen.
//
// Env: BASE_URL, VUS, DURATION (per scenario), COMPUTE_ITER_N, COMPUTE_REC_N,
//      COMPUTE_VERIFY_MAX, SCENARIO_GAP, REQUEST_TIMEOUT, SUMMARY_JSON.
import { Trend } from 'k6/metrics';
import { baseOptions, sequential, intEnv, VUS, DURATION, GAP } from './lib/config.js';
import { api, expectOk, fromService, hasTiming, detectStack, makeRunId, json } from './lib/crm.js';
import { serverTimingThresholds } from './lib/server-timing.js';
import { makeHandleSummary } from './lib/summary.js';

const ITER_N = intEnv('COMPUTE_ITER_N', 1000000);
const REC_N = intEnv('COMPUTE_REC_N', 25);
const VERIFY_MAX = intEnv('COMPUTE_VERIFY_MAX', 5000000);

// compute_ms as the handler reported it in the body (the header's compute;dur goes to st_compute).
const computeMs = new Trend('compute_ms', true);

const SCENARIOS = {
  compute_iterative: { algo: 'iterative', n: ITER_N },
  compute_recursive: { algo: 'recursive', n: REC_N },
};
const NAMES = Object.keys(SCENARIOS);

const thresholds = {};
for (const s of NAMES) {
  thresholds[`http_req_duration{scenario:${s}}`] = ['max>=0'];
  thresholds[`http_reqs{scenario:${s}}`] = ['count>=0'];
  thresholds[`compute_ms{scenario:${s}}`] = ['max>=0'];
}
Object.assign(thresholds, serverTimingThresholds({ compute_iterative: ['compute'], compute_recursive: ['compute'] }));

export const options = baseOptions(
  sequential(NAMES.map((name) => [name, { executor: 'constant-vus', vus: VUS, duration: DURATION, exec: name }, DURATION])),
  thresholds,
);

// Fibonacci with wrapping u64 addition, as the contract defines the iterative algorithm; for
// n <= 93 it is the exact Fibonacci number, so it also gives the recursive answer.
function fibU64(n) {
  const mask = (1n << 64n) - 1n;
  let a = 0n;
  let b = 1n;
  for (let i = 0; i < n; i++) {
    const c = (a + b) & mask;
    a = b;
    b = c;
  }
  return a.toString();
}

function computePath(algo, n) {
  return `/compute?algo=${algo}&n=${n}`;
}

export function setup() {
  const stack = detectStack();
  const expected = {};
  for (const s of NAMES) {
    const { algo, n } = SCENARIOS[s];
    const local = n <= VERIFY_MAX ? fibU64(n) : null;
    // The first server answer is the reference when n is too large to verify locally.
    const res = api.get(computePath(algo, n), { name: `GET /compute ${algo}` });
    const body = json(res) || {};
    expected[s] = { algo, n, result: local !== null ? local : body.result, verified_locally: local !== null };
  }
  return Object.assign(stack, {
    run_id: makeRunId(),
    settings: { vus: VUS, duration: DURATION, gap: GAP, iterative_n: ITER_N, recursive_n: REC_N },
    expected,
  });
}

function compute(data, scenario) {
  const { algo, n, result } = data.expected[scenario];
  const res = api.get(computePath(algo, n), { name: `GET /compute ${algo}` });
  const { body } = expectOk(res, `GET /compute ${algo}`, 200, data.runtime, {
    'n and algo echoed': (r, b) => b.n === n && b.algo === algo,
    'result correct': (r, b) => b.result === result,
    'x-crm-service gateway': fromService('gateway'),
    'server-timing compute': hasTiming('compute'),
  });
  if (body && typeof body.compute_ms === 'number') computeMs.add(body.compute_ms);
}

export function compute_iterative(data) {
  compute(data, 'compute_iterative');
}

export function compute_recursive(data) {
  compute(data, 'compute_recursive');
}

export const handleSummary = makeHandleSummary('cpu-bound-test');
