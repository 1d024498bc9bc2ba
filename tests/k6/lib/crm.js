// HTTP helpers for the CRM API as seen through the gateway.
//
// Every request goes through `request()` so that, in one place:
//  - it has a bounded timeout (a hang is a failure, not a wait);
//  - it carries a stable `name` tag ("GET /customers/{id}"), so k6 groups /customers/1 and
//    /customers/2 as one URL instead of one time series per id;
//  - its Server-Timing entries are recorded as st_* Trends.
import http from 'k6/http';
import { check, fail, sleep } from 'k6';
import { BASE_URL, REQUEST_TIMEOUT, intEnv, strEnv } from './config.js';
import { recordServerTiming, headerValue, parseServerTiming } from './server-timing.js';

export { headerValue };

export function request(method, path, body, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  let payload = null;
  if (body !== undefined && body !== null) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    // Explicit content-type, unless the caller set one (error-test sends wrong ones on purpose).
    const hasType = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
    if (!hasType) headers['Content-Type'] = 'application/json';
  }
  const params = {
    timeout: REQUEST_TIMEOUT,
    headers,
    tags: Object.assign({ name: opts.name || `${method} ${path}` }, opts.tags || {}),
  };
  if (opts.responseCallback) params.responseCallback = opts.responseCallback;
  const res = http.request(method, BASE_URL + path, payload, params);
  recordServerTiming(res);
  return res;
}

export const api = {
  get: (path, opts) => request('GET', path, null, opts),
  post: (path, body, opts) => request('POST', path, body, opts),
  put: (path, body, opts) => request('PUT', path, body, opts),
  del: (path, opts) => request('DELETE', path, null, opts),
};

// Parse a JSON body without throwing: a broken body must fail a check, not abort the iteration
// (an exception would skip the remaining checks and hide what else was wrong).
export function json(res) {
  try {
    return res.json();
  } catch (_) {
    return undefined;
  }
}

function isJson(res) {
  const ct = headerValue(res, 'content-type') || '';
  return ct.toLowerCase().startsWith('application/json');
}

// Success checks: status, JSON content type, and that the runtime we detected in setup() is
// the one that answered (so a result can never be labelled with the wrong stack).
// `extra` maps a short check name to a predicate on (res, body).
export function expectOk(res, label, status, runtime, extra = {}) {
  const body = json(res);
  const checks = {
    [`${label}: status ${status}`]: (r) => r.status === status,
    [`${label}: x-crm-runtime ${runtime}`]: (r) => headerValue(r, 'x-crm-runtime') === runtime,
  };
  if (status !== 204) checks[`${label}: json body`] = (r) => isJson(r) && body !== undefined;
  for (const name of Object.keys(extra)) {
    checks[`${label}: ${name}`] = (r) => {
      try {
        return Boolean(extra[name](r, body));
      } catch (_) {
        return false;
      }
    };
  }
  const ok = check(res, checks);
  return { ok, body };
}

// Error checks: status AND the contract's error code, in the one error shape.
export function expectError(res, label, status, code, runtime, extra = {}) {
  return expectOk(
    res,
    label,
    status,
    runtime,
    Object.assign(
      {
        [`error.code ${code}`]: (r, b) => b && b.error && b.error.code === code,
        'error.message': (r, b) => b && b.error && typeof b.error.message === 'string',
      },
      extra,
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// setup() helpers

// A label for this run, unique enough to keep concurrent or repeated runs' rows apart. Made in
// setup() (init code runs once per VU, so a random id there would differ between VUs).
export function makeRunId() {
  return strEnv('RUN_ID', `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`);
}

// Wait (bounded) for the gateway to be ready, then ask it who it is. The runtime comes from the
// `x-crm-runtime` header — what actually answered — with /healthz's body as a cross-check.
export function detectStack() {
  const waitMs = intEnv('READY_TIMEOUT_MS', 15000);
  const deadline = Date.now() + waitMs;
  let ready;
  for (;;) {
    ready = api.get('/readyz', { name: 'GET /readyz' });
    if (ready.status === 200 || Date.now() > deadline) break;
    sleep(0.25);
  }
  if (ready.status !== 200) {
    fail(`gateway at ${BASE_URL} not ready after ${waitMs} ms: /readyz answered ` +
      `${ready.status} ${ready.error || ready.body || ''}`);
  }
  const res = api.get('/healthz', { name: 'GET /healthz' });
  const body = json(res) || {};
  const runtime = headerValue(res, 'x-crm-runtime') || body.runtime || 'unknown';
  check(res, {
    'healthz: status 200': (r) => r.status === 200,
    'healthz: body.runtime matches x-crm-runtime': () => body.runtime === runtime,
    'healthz: service gateway': () => body.service === 'gateway',
  });
  console.log(`target ${BASE_URL}: runtime=${runtime} service=${body.service}`);
  return {
    runtime,
    service: headerValue(res, 'x-crm-service') || body.service,
    healthz: body,
    base_url: BASE_URL,
  };
}

export function customerBody(tag, i) {
  return {
    name: `Bench ${tag} ${i}`,
    email: `${tag}-${i}@bench.example`.toLowerCase(),
    phone: `+1 555 ${String(i % 10000).padStart(4, '0')}`,
  };
}

// Seed `n` customers through the API (not SQL: the benchmark must not need database access,
// and this also proves the write path before measuring it). Batched to keep setup short.
export function seedCustomers(n, runId, runtime) {
  const ids = [];
  const batchSize = 10;
  for (let start = 0; start < n; start += batchSize) {
    const reqs = [];
    for (let i = start; i < Math.min(n, start + batchSize); i++) {
      reqs.push({
        method: 'POST',
        url: `${BASE_URL}/customers`,
        body: JSON.stringify(customerBody(`seed-${runId}`, i)),
        params: {
          timeout: REQUEST_TIMEOUT,
          headers: { 'Content-Type': 'application/json' },
          tags: { name: 'POST /customers (seed)' },
        },
      });
    }
    for (const res of http.batch(reqs)) {
      recordServerTiming(res);
      const { ok, body } = expectOk(res, 'seed customer', 201, runtime);
      if (!ok || !body || !body.id) {
        fail(`seeding customers failed: ${res.status} ${res.error || res.body}`);
      }
      ids.push(body.id);
    }
  }
  return ids;
}

// Check predicates for expectOk's `extra`.
// The service that produced the answer (the gateway passes the upstream's x-crm-service on).
export function fromService(name) {
  return (r) => headerValue(r, 'x-crm-service') === name;
}

// The Server-Timing entries the contract promises on this response, so the st_* figures in a
// summary are never silently missing for one runtime.
export function hasTiming(...names) {
  return (r) => {
    const st = parseServerTiming(headerValue(r, 'server-timing'));
    return names.every((n) => typeof st[n] === 'number');
  };
}

export function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

// One request of the scale and step-load workloads: `read` — GET /customers/{id} of a seeded
// customer (the database path through gateway and customer-service); `compute` — GET /compute
// iterative with n = computeN (the CPU path, no database). Checked against the contract.
export function workloadRequest(workload, data, computeN) {
  if (workload === 'read') {
    const id = pick(data.customers);
    const res = api.get(`/customers/${id}`, { name: 'GET /customers/{id}' });
    expectOk(res, 'GET /customers/{id}', 200, data.runtime, { 'same id': (r, b) => b.id === id });
  } else {
    const res = api.get(`/compute?algo=iterative&n=${computeN}`, { name: 'GET /compute iterative' });
    expectOk(res, 'GET /compute iterative', 200, data.runtime, { 'n echoed': (r, b) => b.n === computeN });
  }
}
