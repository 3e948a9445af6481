"""The 4-step checkout journey for Locust (https://docs.locust.io).

bench/run starts it headless: `locust -f locustfile.py --headless -u USERS -r USERS -t 20s --host URL --csv P`
with SHOP_PASSWORD set. FastHttpUser is Locust's faster client; no wait time, so users loop back to back
like the other generators. A completed journey is a checkout answered 201 (the `checkout` row of the stats).
"""

import itertools
import os

from locust import FastHttpUser, constant, task

PASSWORD = os.environ.get("SHOP_PASSWORD", "demo-password")
# customer01..customer32@shop.test, handed out round robin as users start (journeys/accounts.csv).
ACCOUNTS = itertools.cycle([f"customer{i:02}@shop.test" for i in range(1, 33)])


class Customer(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.email = next(ACCOUNTS)

    @task
    def checkout(self):
        with self.client.post(
            "/api/login", json={"email": self.email, "password": PASSWORD}, name="login", catch_response=True
        ) as r:
            if r.status_code != 200 or not r.json().get("token"):
                r.failure(f"login: status {r.status_code}")
                return
            token = r.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        with self.client.get("/api/products/SKU-1001", headers=auth, name="view-price", catch_response=True) as r:
            if r.status_code != 200 or not r.json().get("price", 0) > 0:
                r.failure(f"view-price: status {r.status_code}")
                return
        with self.client.post(
            "/api/cart/items", json={"sku": "SKU-1001", "qty": 1}, headers=auth, name="add-to-cart",
            catch_response=True,
        ) as r:
            if r.status_code != 200 or not r.json().get("items"):
                r.failure(f"add-to-cart: status {r.status_code}")
                return
            cart = r.json()["cart_id"]
        with self.client.post(
            "/api/checkout", json={"cart_id": cart}, headers=auth, name="checkout", catch_response=True
        ) as r:
            if r.status_code != 201 or not r.json().get("order_id"):
                r.failure(f"checkout: status {r.status_code}")
