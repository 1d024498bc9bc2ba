// Floor test: the one read every runtime floor serves, `GET /customers/{id}`, and the bare hop
// `GET /hello`, each a constant-VU scenario of its own.
//
// The main job (crm-bench run) points it at three kinds of target with the same settings: a
// runtime floor (axum-crm/floor, spin-crm/floor: the least each runtime can do for this read),
// the stack's customer-service directly, and the stack's gateway. Each stack's figure is then
// read as a fraction of its floor, and gateway minus direct is the gateway hop. The script asks
// nothing of the target but these two routes: no /readyz, no x-crm-* headers, no POST (a floor
// has none), so it reads rows that already exist, found in setup among ids 1..FLOOR_IDS.
//
// (api.get records any Server-Timing the target sends as st_* Trends, as in every script.)
//
// Env: BASE_URL, VUS, DURATION, SCENARIO_GAP, FLOOR_SCENARIOS (default "read,hello"; the real
//      services have no /hello, so "read" there), FLOOR_IDS (default 100), REQUEST_TIMEOUT,
//      SUMMARY_JSON.
import { check, fail } from 'k6';
import { baseOptions, sequential, listEnv, intEnv, VUS, DURATION, BASE_URL } from './lib/config.js';
import { api } from './lib/crm.js';
import { headerValue } from './lib/server-timing.js';
import { makeHandleSummary } from './lib/summary.js';

const SCENARIOS = listEnv('FLOOR_SCENARIOS', 'read,hello');
for (const s of SCENARIOS) {
  if (!['read', 'hello'].includes(s)) throw new Error(`FLOOR_SCENARIOS: "${s}" is not read or hello`);
}
const IDS = intEnv('FLOOR_IDS', 100);
if (IDS < 1) throw new Error(`FLOOR_IDS must be at least 1, got ${IDS}`);

const thresholds = {};
for (const s of SCENARIOS) {
  thresholds[`http_req_duration{scenario:${s}}`] = ['max>=0'];
  thresholds[`http_reqs{scenario:${s}}`] = ['count>=0'];
  thresholds[`http_req_failed{scenario:${s}}`] = ['rate<0.01'];
  // Present only where the target reports Server-Timing (the real services, not the floors).
  for (const entry of ['conn', 'query', 'ser', 'total', 'gw']) {
    if (s === 'read') thresholds[`st_${entry}{scenario:${s}}`] = ['max>=0'];
  }
}

export const options = baseOptions(
  sequential(
    SCENARIOS.map((s) => [s, { executor: 'constant-vus', vus: VUS, duration: DURATION, exec: s }, DURATION]),
  ),
  thresholds,
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
  console.log(`target ${BASE_URL}: ${ids.length} of ${IDS} ids readable, runtime=${runtime}`);
  return {
    runtime,
    base_url: BASE_URL,
    ids,
    settings: { vus: VUS, duration: DURATION, scenarios: SCENARIOS, ids: IDS },
  };
}

export function read(data) {
  const id = data.ids[Math.floor(Math.random() * data.ids.length)];
  const res = api.get(`/customers/${id}`, { name: 'GET /customers/{id}' });
  check(res, {
    'read: status 200': (r) => r.status === 200,
    'read: the id asked for': (r) => {
      try {
        return JSON.parse(r.body).id === id;
      } catch (_) {
        return false;
      }
    },
  });
}

export function hello() {
  const res = api.get('/hello', { name: 'GET /hello' });
  check(res, { 'hello: status 200': (r) => r.status === 200 });
}

export const handleSummary = makeHandleSummary('floor-test');
