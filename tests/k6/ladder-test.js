// Ladder test: one rung of latency at a fixed offered load, open-loop. The
// `constant-arrival-rate` executor starts RATE iterations per second whatever the target's
// speed, so a slower stack is offered the same load as a faster one (closed-loop VUs would
// offer it less: coordinated omission) and its queueing shows in the percentiles. When k6 runs
// out of VUs to start an iteration on time it counts a `dropped_iterations`: the rung was not
// offered in full, and the report marks it rather than plotting it.
//
// The main job (crm-bench run) runs it once per rate of the ladder, against each stack's
// gateway, up to that stack's capacity as wrk measured it (tools/harness/src/wrk.rs).
//
// Env: BASE_URL, RATE (requests/s, default 100), DURATION (default 10s), LADDER_IDS (read ids
//      1..N, default 100), MAX_VUS (default: enough for RATE at 200 ms each, at least 20),
//      REQUEST_TIMEOUT, SUMMARY_JSON.
import { check, fail } from 'k6';
import { baseOptions, intEnv, DURATION, BASE_URL } from './lib/config.js';
import { api } from './lib/crm.js';
import { headerValue } from './lib/server-timing.js';
import { makeHandleSummary } from './lib/summary.js';

const RATE = intEnv('RATE', 100);
if (RATE < 1) throw new Error(`RATE must be at least 1, got ${RATE}`);
const IDS = intEnv('LADDER_IDS', 100);
if (IDS < 1) throw new Error(`LADDER_IDS must be at least 1, got ${IDS}`);
// Enough VUs for every request to take 200 ms before k6 has to drop an iteration.
const MAX_VUS = intEnv('MAX_VUS', Math.max(20, Math.ceil(RATE / 5)));
// Enough started VUs that the first second does not drop iterations while k6 adds more.
const PRE_VUS = Math.min(MAX_VUS, Math.max(10, Math.ceil(RATE / 20)));

export const options = baseOptions(
  {
    read: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: PRE_VUS,
      maxVUs: MAX_VUS,
      exec: 'read',
    },
  },
  {
    'http_req_duration{scenario:read}': ['max>=0'],
    'http_reqs{scenario:read}': ['count>=0'],
    'http_req_failed{scenario:read}': ['rate<0.01'],
    // Present in the summary at 0 too, so a rung without drops says so.
    dropped_iterations: ['count>=0'],
  },
);

export function setup() {
  const ids = [];
  let runtime = 'unknown';
  for (let id = 1; id <= IDS; id++) {
    const res = api.get(`/customers/${id}`, { name: 'setup GET /customers/{id}' });
    if (res.status === 200) ids.push(id);
    runtime = headerValue(res, 'x-crm-runtime') || runtime;
  }
  if (ids.length === 0) fail(`no customer among ids 1..${IDS} at ${BASE_URL}: nothing to read`);
  return {
    runtime,
    base_url: BASE_URL,
    ids,
    settings: { rate: RATE, duration: DURATION, max_vus: MAX_VUS, ids: IDS },
  };
}

export function read(data) {
  const id = data.ids[Math.floor(Math.random() * data.ids.length)];
  const res = api.get(`/customers/${id}`, { name: 'GET /customers/{id}' });
  check(res, { 'read: status 200': (r) => r.status === 200 });
}

export const handleSummary = makeHandleSummary('ladder-test');
