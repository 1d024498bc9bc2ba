// Ping-DB test: GET /customers/ping — get a connection, `SELECT 1`, answer.
//
// The smallest database round trip either stack can make, so it isolates the cost of reaching
// Postgres: a pooled connection for Axum vs `Connection::open` per request for Spin. The body's
// own conn_ms and query_ms are recorded as Trends (ping_conn_ms, ping_query_ms) next to the
// Server-Timing entries (st_*) and the client-side latency.
//
// Env: BASE_URL, VUS, DURATION, REQUEST_TIMEOUT, SUMMARY_JSON.
import { Trend } from 'k6/metrics';
import { baseOptions, sequential, VUS, DURATION } from './lib/config.js';
import { api, expectOk, fromService, hasTiming, detectStack, makeRunId } from './lib/crm.js';
import { serverTimingThresholds } from './lib/server-timing.js';
import { makeHandleSummary } from './lib/summary.js';

const pingConnMs = new Trend('ping_conn_ms', true);
const pingQueryMs = new Trend('ping_query_ms', true);

export const options = baseOptions(
  sequential([['ping', { executor: 'constant-vus', vus: VUS, duration: DURATION, exec: 'ping' }, DURATION]]),
  Object.assign(
    {
      'http_req_duration{scenario:ping}': ['max>=0'],
      'http_reqs{scenario:ping}': ['count>=0'],
      'ping_conn_ms{scenario:ping}': ['max>=0'],
      'ping_query_ms{scenario:ping}': ['max>=0'],
    },
    serverTimingThresholds({ ping: ['conn', 'query', 'total', 'gw'] }),
  ),
);

export function setup() {
  return Object.assign(detectStack(), { run_id: makeRunId(), settings: { vus: VUS, duration: DURATION } });
}

export function ping(data) {
  const res = api.get('/customers/ping', { name: 'GET /customers/ping' });
  const { body } = expectOk(res, 'GET /customers/ping', 200, data.runtime, {
    'status ok': (r, b) => b.status === 'ok',
    'conn_ms and query_ms are numbers': (r, b) => typeof b.conn_ms === 'number' && typeof b.query_ms === 'number',
    'x-crm-service customer-service': fromService('customer-service'),
    // Ping touches Postgres, so the contract's Server-Timing applies (ser is optional here).
    'server-timing conn,query,total,gw': hasTiming('conn', 'query', 'total', 'gw'),
  });
  if (body && typeof body.conn_ms === 'number') pingConnMs.add(body.conn_ms);
  if (body && typeof body.query_ms === 'number') pingQueryMs.add(body.query_ms);
}

export const handleSummary = makeHandleSummary('ping-db-test');
