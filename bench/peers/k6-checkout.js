// The 4-step checkout journey for k6 (https://grafana.com/docs/k6/), at a fixed arrival rate.
// bench/run runs it as `k6 run --summary-export OUT.json -e SHOP_URL=… -e SHOP_PASSWORD=… -e RATE=800
// -e DURATION=20s -e VUS=… k6-checkout.js`, beside `journeyd verify --rate 800/s` on the same journey.
//
// Open model: the constant-arrival-rate executor starts RATE iterations per second whether or not earlier
// ones have finished, taking an idle VU from a pool of VUS made before the start (none are added during the
// run: making a VU mid-run costs a JavaScript runtime). An arrival that finds no idle VU is counted in
// `dropped_iterations` and not run, as journeyd counts an arrival that finds every --max-users slot busy.
//
// The same requests and success conditions as bench/journeys/checkout.yml; an iteration stops at its first
// failed step. A completed journey is a checkout answered 201 with an order_id: the `journeys_completed`
// counter (and the `checkout` check).
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import exec from 'k6/execution';

const BASE = __ENV.SHOP_URL || 'http://127.0.0.1:8080';
const PASSWORD = __ENV.SHOP_PASSWORD || 'demo-password';
const VUS = Number(__ENV.VUS || '200');

const completed = new Counter('journeys_completed');
const failed = new Counter('journeys_failed');

export const options = {
  scenarios: {
    checkout: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || '800'),
      timeUnit: '1s',
      duration: __ENV.DURATION || '20s',
      preAllocatedVUs: VUS,
      maxVUs: VUS,
      // Iterations still running at the end get this long to finish (journeyd's --for also lets the
      // iterations in flight finish); the default is 30 s.
      gracefulStop: '20s',
    },
  },
  // p(99) is not among k6's default summary statistics.
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(99)'],
};

// customer01..customer32@shop.test round robin, as journeyd's `pick: sequential` over journeys/accounts.csv.
function account() {
  const n = (exec.scenario.iterationInTest % 32) + 1;
  return `customer${n < 10 ? '0' : ''}${n}@shop.test`;
}

function json(res, path) {
  try {
    return res.json(path);
  } catch (e) {
    return undefined;
  }
}

function step(ok) {
  if (!ok) failed.add(1);
  return ok;
}

export default function () {
  const jsonHeaders = { 'Content-Type': 'application/json' };
  let res = http.post(`${BASE}/api/login`, JSON.stringify({ email: account(), password: PASSWORD }), {
    headers: jsonHeaders,
    tags: { name: 'login' },
  });
  const token = json(res, 'token');
  if (!step(check(res, { login: (r) => r.status === 200 && token !== undefined && token !== null }))) return;

  const auth = { ...jsonHeaders, Authorization: `Bearer ${token}` };
  res = http.get(`${BASE}/api/products/SKU-1001`, { headers: auth, tags: { name: 'view-price' } });
  if (!step(check(res, { 'view-price': (r) => r.status === 200 && json(r, 'price') > 0 }))) return;

  res = http.post(`${BASE}/api/cart/items`, JSON.stringify({ sku: 'SKU-1001', qty: 1 }), {
    headers: auth,
    tags: { name: 'add-to-cart' },
  });
  const items = json(res, 'items');
  if (!step(check(res, { 'add-to-cart': (r) => r.status === 200 && Array.isArray(items) && items.length >= 1 }))) {
    return;
  }
  const cart = json(res, 'cart_id');

  res = http.post(`${BASE}/api/checkout`, JSON.stringify({ cart_id: cart }), {
    headers: auth,
    tags: { name: 'checkout' },
  });
  const order = json(res, 'order_id');
  if (!step(check(res, { checkout: (r) => r.status === 201 && order !== undefined && order !== null }))) return;
  completed.add(1);
}
