// The Demo Shop storefront: one bundle for every /store page. It renders what the pages leave empty (the
// price, the cart, the checkout button, the order id) from the JSON API, so a broken bundle is something
// only a browser sees. The shop writes the active `ui:` fault, if any, into UI_FAULT below.
"use strict";

const UI_FAULT = "__UI_FAULT__";

function $(selector) {
  return document.querySelector(selector);
}

function show(selector, text) {
  const el = $(selector);
  el.textContent = text;
  el.hidden = false;
}

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let json = null;
  try {
    json = await resp.json();
  } catch (_) {
    // Not JSON (an injected fault's page, say): the status tells the story.
  }
  return { status: resp.status, ok: resp.ok, json };
}

function reason(r) {
  return (r.json && r.json.error) || "HTTP " + r.status;
}

function money(amount, currency) {
  const sign = currency === "USD" ? "$" : "€";
  return sign + Number(amount).toFixed(2);
}

function loginPage() {
  const button = $("#login");
  async function logIn() {
    button.disabled = true;
    const r = await api("POST", "/api/login", { email: $("#email").value, password: $("#password").value });
    button.disabled = false;
    if (!r.ok) {
      show("#login-error", r.status === 401 ? "Wrong email or password." : "Login failed: " + reason(r));
      return;
    }
    const next = new URLSearchParams(location.search).get("next");
    location.assign(next && next.startsWith("/store/") ? next : "/store/products/SKU-1001");
  }
  button.addEventListener("click", logIn);
  $("#password").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") logIn();
  });
  button.disabled = false;
}

async function productPage() {
  const sku = document.body.dataset.sku;
  const r = await api("GET", "/api/products/" + encodeURIComponent(sku));
  if (!r.ok) {
    show("#product-error", "Could not load the product: " + reason(r));
    return;
  }
  $("#name").textContent = r.json.name;
  $("#stock").textContent = r.json.stock + " in stock";
  if (UI_FAULT !== "empty-price") {
    $("#price").textContent = money(r.json.price, r.json.currency);
  }
  const add = $("#add-to-cart");
  add.addEventListener("click", async () => {
    add.disabled = true;
    const res = await api("POST", "/api/cart/items", { sku, qty: Number($("#qty").value || "1") });
    add.disabled = false;
    if (res.status === 401) {
      location.assign("/store/login?next=" + encodeURIComponent(location.pathname));
      return;
    }
    if (!res.ok) {
      show("#cart-status", "Could not add to cart: " + reason(res));
      return;
    }
    const count = res.json.items.reduce((n, item) => n + item.qty, 0);
    show("#cart-status", "Added to cart: " + count + (count === 1 ? " item" : " items"));
  });
  add.disabled = false;
}

async function cartPage() {
  const r = await api("GET", "/api/cart");
  if (r.status === 401) {
    location.assign("/store/login?next=/store/cart");
    return;
  }
  if (!r.ok) {
    show("#checkout-status", "Could not load the cart: " + reason(r));
    return;
  }
  const rows = $("#cart-items");
  for (const item of r.json.items) {
    const tr = document.createElement("tr");
    tr.className = "cart-item";
    tr.dataset.sku = item.sku;
    for (const text of [item.sku, String(item.qty), money(item.price * item.qty, "EUR")]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    rows.appendChild(tr);
  }
  if (r.json.items.length === 0) {
    show("#cart-empty", "Your cart is empty.");
    return;
  }
  show("#cart-total", money(r.json.total, "EUR"));
  if (UI_FAULT === "no-checkout") {
    return;
  }
  const button = document.createElement("button");
  button.id = "checkout";
  button.type = "button";
  button.textContent = "Check out";
  $("#checkout-area").appendChild(button);
  button.addEventListener("click", async () => {
    button.disabled = true;
    const res = await api("POST", "/api/checkout", { cart_id: r.json.cart_id });
    if (res.status !== 201) {
      button.disabled = false;
      show("#checkout-status", "Checkout failed: " + reason(res));
      return;
    }
    rows.textContent = "";
    button.remove();
    show("#checkout-status", "Thank you! Your order is placed.");
    show("#order-id", res.json.order_id);
  });
}

async function accountPage() {
  const r = await api("GET", "/api/account");
  if (r.status === 401) {
    location.assign("/store/login?next=/store/account");
    return;
  }
  if (!r.ok) {
    show("#account-error", "Could not load the account: " + reason(r));
    return;
  }
  $("#account-name").textContent = r.json.name;
  $("#account-email").textContent = r.json.email;
  const list = $("#orders");
  for (const order of r.json.orders) {
    const li = document.createElement("li");
    li.className = "order";
    li.textContent = order.order_id + ": " + money(order.total, "EUR");
    list.appendChild(li);
  }
  if (r.json.orders.length === 0) {
    show("#no-orders", "No orders yet.");
  }
}

const PAGES = { login: loginPage, product: productPage, cart: cartPage, account: accountPage };
const run = PAGES[document.body.dataset.page];
if (run) {
  run();
}
