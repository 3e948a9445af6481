// The 4-step browser checkout for k6's browser module (https://grafana.com/docs/k6/latest/using-k6-browser/),
// beside `journeyd verify` on journeys/browser-checkout.yml. bench/run runs it as
// `k6 run --summary-export OUT.json k6-browser-checkout.js` with SHOP_URL, SHOP_PASSWORD, DURATION and
// K6_BROWSER_EXECUTABLE_PATH (the same Chromium journeyd drives), K6_BROWSER_ARGS=no-sandbox.
//
// One VU, journeys back to back for DURATION (journeyd: `--users 1 --for DURATION`), each in a fresh browser
// context as journeyd's runs are. The same steps and success conditions as journeys/browser-checkout.yml:
//   login        /store/login, fill #email and #password, click #login, wait for /store/products/SKU-1001,
//                the session cookie is set;
//   view-price   #price filled by app.js with a € price;
//   add-to-cart  click #add-to-cart, wait for #cart-status, click #go-to-cart, wait for .cart-item rows,
//                #cart-total equals the price;
//   checkout     click #checkout, wait for #order-id (ORD-…), the #checkout button is gone.
// A journey stops at its first failed step. A completed journey is the `journeys_completed` counter.
import { browser } from 'k6/browser';
import { Counter } from 'k6/metrics';
import exec from 'k6/execution';

const BASE = __ENV.SHOP_URL || 'http://127.0.0.1:8080';
const PASSWORD = __ENV.SHOP_PASSWORD || 'demo-password';
// Each step's bound, as the journey's `defaults: { timeout: 10s }`.
const STEP_MS = 10000;

const completed = new Counter('journeys_completed');
const failed = new Counter('journeys_failed');

export const options = {
  scenarios: {
    checkout: {
      executor: 'constant-vus',
      vus: 1,
      duration: __ENV.DURATION || '60s',
      gracefulStop: '30s',
      options: { browser: { type: 'chromium' } },
    },
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(99)'],
};

// customer01..customer32@shop.test in turn (the journey's `pick: unique` over journeys/accounts.csv).
function account() {
  const n = (exec.scenario.iterationInTest % 32) + 1;
  return `customer${n < 10 ? '0' : ''}${n}@shop.test`;
}

function expect(ok, what) {
  if (!ok) throw new Error(what);
}

export default async function () {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  try {
    // login
    await page.goto(`${BASE}/store/login`, { waitUntil: 'load' });
    await page.locator('#email').fill(account());
    await page.locator('#password').fill(PASSWORD);
    // app.js posts the login, then navigates: wait for that navigation (k6 loses a waitForFunction across it).
    await Promise.all([page.waitForNavigation(), page.locator('#login').click()]);
    expect(page.url().includes('/store/products/SKU-1001'), `login: landed on ${page.url()}`);
    const cookies = await context.cookies();
    expect(cookies.some((c) => c.name === 'session'), 'login: no session cookie');

    // view-price
    await page.waitForSelector('#price:not(:empty)', { state: 'visible' });
    const price = (await page.locator('#price').innerText()).trim();
    expect(/^€[0-9]+\.[0-9]{2}$/.test(price), `view-price: price ${price}`);

    // add-to-cart
    await page.locator('#add-to-cart').click();
    await page.waitForSelector('#cart-status', { state: 'visible' });
    await Promise.all([page.waitForNavigation(), page.locator('#go-to-cart').click()]);
    await page.waitForSelector('.cart-item', { state: 'visible' });
    const total = (await page.locator('#cart-total').innerText()).trim();
    expect(total === price, `add-to-cart: total ${total} != ${price}`);

    // checkout
    await page.locator('#checkout').click();
    await page.waitForSelector('#order-id', { state: 'visible' });
    const order = (await page.locator('#order-id').innerText()).trim();
    expect(order.startsWith('ORD-'), `checkout: order id ${order}`);
    expect((await page.$$('#checkout')).length === 0, 'checkout: the button is still there');
    completed.add(1);
  } catch (e) {
    failed.add(1);
    console.error(`journey failed: ${e}`);
  } finally {
    await page.close();
    await context.close();
  }
}
