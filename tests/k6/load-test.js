// Load test: the CRM's everyday traffic through the gateway, one workload at a time.
//
// Scenarios (run one after another, so each one's figures are its own):
//   read          GET /customers/{id} of customers seeded in setup()
//   write         POST /customers, then PUT /customers/{id} of the one just created
//   inter_service POST /orders — order-service checks the customer with customer-service
//   mixed         a fixed 20-step rotation of all of the above plus lists and order updates
//
// Env: BASE_URL, VUS, DURATION (per scenario), LOAD_SCENARIOS (comma list, default all),
//      SEED_CUSTOMERS, SEED_ORDERS, SCENARIO_GAP, REQUEST_TIMEOUT, SUMMARY_JSON, RUN_ID.
import exec from 'k6/execution';
import { baseOptions, sequential, listEnv, intEnv, VUS, DURATION, GAP } from './lib/config.js';
import { api, expectOk, headerValue, fromService, hasTiming, detectStack, makeRunId, seedCustomers, customerBody, pick } from './lib/crm.js';
import { serverTimingThresholds, DB_ENTRIES, ORDER_CREATE_ENTRIES } from './lib/server-timing.js';
import { makeHandleSummary } from './lib/summary.js';

const ALL = ['read', 'write', 'inter_service', 'mixed'];
const SELECTED = listEnv('LOAD_SCENARIOS', ALL.join(','));
for (const s of SELECTED) {
  if (!ALL.includes(s)) throw new Error(`LOAD_SCENARIOS: unknown scenario "${s}" (know ${ALL})`);
}
const SEED_CUSTOMERS = intEnv('SEED_CUSTOMERS', 200);
const SEED_ORDERS = intEnv('SEED_ORDERS', 50);

// The Server-Timing entries each scenario's responses carry (for per-scenario summary lines).
const ST_BY_SCENARIO = {
  read: DB_ENTRIES,
  write: DB_ENTRIES,
  inter_service: ORDER_CREATE_ENTRIES,
  mixed: ORDER_CREATE_ENTRIES,
};

function perScenarioThresholds(names) {
  const th = {};
  for (const s of names) {
    th[`http_req_duration{scenario:${s}}`] = ['max>=0'];
    th[`http_reqs{scenario:${s}}`] = ['count>=0'];
    th[`http_req_failed{scenario:${s}}`] = ['rate<0.01'];
    th[`checks{scenario:${s}}`] = ['rate>0.99'];
  }
  const st = {};
  for (const s of names) st[s] = ST_BY_SCENARIO[s];
  return Object.assign(th, serverTimingThresholds(st));
}

export const options = baseOptions(
  sequential(
    SELECTED.map((name) => [
      name,
      { executor: 'constant-vus', vus: VUS, duration: DURATION, exec: name },
      DURATION,
    ]),
  ),
  perScenarioThresholds(SELECTED),
);

export function setup() {
  const stack = detectStack();
  const runId = makeRunId();
  const customers = seedCustomers(SEED_CUSTOMERS, runId, stack.runtime);
  const orders = [];
  for (let i = 0; i < SEED_ORDERS; i++) {
    const res = api.post(
      '/orders',
      { customer_id: customers[i % customers.length], product: `seed-${runId}-${i}`, quantity: 1 + (i % 3), unit_price_cents: 500 },
      { name: 'POST /orders (seed)' },
    );
    const { body } = expectOk(res, 'seed order', 201, stack.runtime);
    if (body && body.id) orders.push(body.id);
  }
  return Object.assign(stack, {
    run_id: runId,
    settings: { vus: VUS, duration: DURATION, gap: GAP, scenarios: SELECTED, seed_customers: SEED_CUSTOMERS, seed_orders: SEED_ORDERS },
    customers,
    orders,
  });
}

// Unique per run, scenario, VU and iteration: concurrent writers never collide and a rerun
// against the same database never trips over an earlier run's rows.
function uniq(data) {
  return `${data.run_id}-${exec.scenario.name}-${__VU}-${__ITER}`;
}

// --- single operations, shared by the focused scenarios and `mixed` ---------------------------

function getCustomer(data) {
  const id = pick(data.customers);
  const res = api.get(`/customers/${id}`, { name: 'GET /customers/{id}' });
  expectOk(res, 'GET /customers/{id}', 200, data.runtime, {
    'same id': (r, b) => b.id === id,
    'x-crm-service customer-service': fromService('customer-service'),
    'server-timing conn,query,ser,total,gw': hasTiming('conn', 'query', 'ser', 'total', 'gw'),
  });
}

function createCustomer(data) {
  const tag = `w-${uniq(data)}`;
  const sent = customerBody(tag, 0);
  // Sent upper-cased, with spaces around the name: stored trimmed and lower-cased.
  sent.email = sent.email.toUpperCase();
  sent.name = `  ${sent.name} `;
  const res = api.post('/customers', sent, { name: 'POST /customers' });
  const { body } = expectOk(res, 'POST /customers', 201, data.runtime, {
    location: (r, b) => headerValue(r, 'location') === `/customers/${b.id}`,
    'email lower-cased': (r, b) => b.email === sent.email.toLowerCase(),
    'name trimmed': (r, b) => b.name === sent.name.trim(),
  });
  return body && body.id;
}

function updateCustomer(data, id) {
  const tag = `u-${uniq(data)}`;
  // No phone: PUT replaces every field, so this also checks that phone is cleared.
  const res = api.put(`/customers/${id}`, { name: `Renamed ${tag}`, email: `${tag}@bench.example` }, { name: 'PUT /customers/{id}' });
  expectOk(res, 'PUT /customers/{id}', 200, data.runtime, {
    'name replaced': (r, b) => b.name === `Renamed ${tag}`,
    'phone cleared': (r, b) => b.phone === null,
  });
}

function listCustomers(data) {
  const offset = Math.floor(Math.random() * data.customers.length);
  const res = api.get(`/customers?limit=20&offset=${offset}`, { name: 'GET /customers?limit&offset' });
  expectOk(res, 'GET /customers?limit&offset', 200, data.runtime, {
    'items array': (r, b) => Array.isArray(b.items) && b.items.length <= 20 && b.limit === 20,
  });
}

function createOrder(data) {
  const customerId = pick(data.customers);
  const quantity = 1 + (__ITER % 5);
  const res = api.post(
    '/orders',
    { customer_id: customerId, product: `p-${uniq(data)}`, quantity, unit_price_cents: 1999 },
    { name: 'POST /orders' },
  );
  const { body } = expectOk(res, 'POST /orders', 201, data.runtime, {
    pending: (r, b) => b.status === 'pending' && b.customer_id === customerId,
    total_cents: (r, b) => b.total_cents === quantity * 1999,
    location: (r, b) => headerValue(r, 'location') === `/orders/${b.id}`,
    'x-crm-service order-service': fromService('order-service'),
    'server-timing with verify': hasTiming('conn', 'query', 'verify', 'ser', 'total', 'gw'),
  });
  return body;
}

function getOrder(data) {
  if (data.orders.length === 0) return;
  const id = pick(data.orders);
  const res = api.get(`/orders/${id}`, { name: 'GET /orders/{id}' });
  expectOk(res, 'GET /orders/{id}', 200, data.runtime, { 'same id': (r, b) => b.id === id });
}

function payOrder(data, order) {
  const res = api.put(
    `/orders/${order.id}`,
    { product: order.product, quantity: order.quantity, unit_price_cents: order.unit_price_cents, status: 'paid' },
    { name: 'PUT /orders/{id}' },
  );
  expectOk(res, 'PUT /orders/{id}', 200, data.runtime, { paid: (r, b) => b.status === 'paid' });
}

// --- scenarios ---------------------------------------------------------------------------------

export function read(data) {
  getCustomer(data);
}

export function write(data) {
  const id = createCustomer(data);
  if (id) updateCustomer(data, id);
}

export function inter_service(data) {
  createOrder(data);
}

// The last order this VU created in `mixed`, so the rotation can move it pending → paid.
let lastOrder = null;

// A fixed rotation rather than random weights: every run, on either runtime, sends the same
// mix in the same proportions (50 % customer reads, 10 % lists, 10 % order reads, 10 % customer
// creates, 5 % customer updates, 10 % order creates, 5 % order status changes).
export function mixed(data) {
  const step = __ITER % 20;
  if (step < 10) getCustomer(data);
  else if (step < 12) listCustomers(data);
  else if (step < 14) getOrder(data);
  else if (step < 16) createCustomer(data);
  else if (step < 17) updateCustomer(data, pick(data.customers));
  else if (step < 19) lastOrder = createOrder(data) || lastOrder;
  else if (lastOrder && lastOrder.status === 'pending') {
    payOrder(data, lastOrder);
    lastOrder = null;
  } else getCustomer(data);
}

export const handleSummary = makeHandleSummary('load-test');
