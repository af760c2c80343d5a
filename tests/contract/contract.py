#!/usr/bin/python3
"""contract.py - drives a running stack through every public route, good and bad input, and checks
every answer against docs/openapi.yaml: the status is documented for that route, the headers it
requires are there, the body matches the schema for that status, errors are application/json
with the request id of the X-Request-Id header. Each case also states the status it expects.

Needs the stack's env ($SHOPLAB_RUN/shoplab.env: SHOPLAB_GATEWAY_URL, SHOPLAB_ADMIN_EMAIL,
SHOPLAB_ADMIN_PASSWORD). Exit 0 when every answer conforms, 1 otherwise.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oas  # noqa: E402

SPEC = oas.load()
URL = urllib.parse.urlsplit(os.environ.get("SHOPLAB_GATEWAY_URL", ""))
NONCE = f"{os.getpid()}{int(time.time()) % 100000}"
GOOD_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
DECLINED_CARD = dict(GOOD_CARD, number="4000000000000002")

failures = []
seen = {}      # route name -> set of statuses seen


def call(method, path, body=None, headers=None, expect=None, raw=None):
    """One request; checks the answer against the document; returns (status, headers, parsed body)."""
    h = {"Host": "shoplab.test"}
    if body is not None:
        raw = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    expected = expect if isinstance(expect, tuple) else (expect,)
    for attempt in range(4):
        conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=20)
        try:
            conn.request(method, path, body=raw, headers=h)
            r = conn.getresponse()
            data = r.read()
            status, rh = r.status, {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()
        name, problems = oas.check_response(SPEC, method, urllib.parse.urlsplit(path).path, status, rh, data)
        seen.setdefault(name, set()).add(status)
        # The stack's login limit (LOGIN_RATE) may be lower than this test's pace: a 429 not
        # asked for is checked like any answer, then the request is sent again after Retry-After.
        if status != 429 or 429 in expected or problems or attempt == 3:
            break
        time.sleep(min(float(rh.get("retry-after", "1")), 5.0))
    if expect is not None and status not in expected:
        problems.append(f"expected {expect}, got {status}")
    if "x-request-id" not in rh:
        problems.append("no X-Request-Id header")
    if problems:
        failures.append(f"{name} -> {status}: " + "; ".join(problems) + f"  [{data[:200]!r}]")
    try:
        parsed = json.loads(data) if rh.get("content-type", "").startswith("application/json") else data
    except ValueError:
        parsed = None
    return status, rh, parsed


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def login(email, password):
    s, _, b = call("POST", "/api/v1/auth/login", {"email": email, "password": password}, expect=200)
    return b["token"] if s == 200 else ""


def main():
    if not URL.hostname:
        print("contract: SHOPLAB_GATEWAY_URL is not set (source $SHOPLAB_RUN/shoplab.env)")
        return 2
    t0 = time.monotonic()

    # The gateway itself.
    call("GET", "/", expect=200)
    s, h, body = call("GET", "/api/v1/openapi.yaml", expect=200)
    with open(oas.SPEC_PATH, "rb") as f:
        if body != f.read():
            failures.append("GET /api/v1/openapi.yaml: the body is not docs/openapi.yaml")
    if "etag" in h:
        call("GET", "/api/v1/openapi.yaml", headers={"If-None-Match": h["etag"]}, expect=304)
    call("POST", "/api/v1/openapi.yaml", raw=b"x", expect=405)
    call("GET", "/api/v1/no-such-thing", expect=404)
    call("GET", "/nothing/here", expect=404)
    _, h, _ = call("GET", "/", headers={"X-Request-Id": "contract-rid.1"}, expect=200)
    if h.get("x-request-id") != "contract-rid.1":
        failures.append(f"a sane X-Request-Id is not echoed: {h.get('x-request-id')!r}")
    _, h, _ = call("GET", "/api/v1/products/0", headers={"X-Request-Id": "not sane!"}, expect=404)
    if h.get("x-request-id") in (None, "not sane!"):
        failures.append("an insane X-Request-Id is echoed")

    # Accounts.
    email, pw = f"contract-{NONCE}@example.com", "correct horse battery"
    call("POST", "/api/v1/users", {"email": f"  Contract-{NONCE}@Example.com ", "password": pw, "name": "Cleo"},
         expect=201)
    call("POST", "/api/v1/users", {"email": email, "password": pw, "name": "Cleo"}, expect=409)
    call("POST", "/api/v1/users", {"email": "not-an-email", "password": pw, "name": "X"}, expect=400)
    call("POST", "/api/v1/users", {"email": f"b{NONCE}@example.com", "password": "short", "name": "X"},
         expect=400)
    call("POST", "/api/v1/users", {"email": f"c{NONCE}@example.com", "password": pw}, expect=400)
    call("POST", "/api/v1/users", raw=b'{"email":', headers={"Content-Type": "application/json"}, expect=400)
    call("POST", "/api/v1/users", raw=b"email=a", headers={"Content-Type": "text/plain"}, expect=415)
    call("POST", "/api/v1/users", raw=b"x" * 70000, headers={"Content-Type": "application/json"}, expect=413)
    call("DELETE", "/api/v1/users", expect=405)
    token = login(email, pw)
    call("POST", "/api/v1/auth/login", {"email": email, "password": "wrong password"}, expect=401)
    call("POST", "/api/v1/auth/login", {"email": f"nobody-{NONCE}@example.com", "password": pw}, expect=401)
    call("POST", "/api/v1/auth/login", {"email": email}, expect=400)
    call("GET", "/api/v1/auth/login", expect=405)
    s, _, me = call("GET", "/api/v1/users/me", headers=bearer(token), expect=200)
    if s == 200 and me.get("email") != email:
        failures.append(f"users/me: email {me.get('email')!r}, registered {email!r}")
    call("GET", "/api/v1/users/me", expect=401)
    call("GET", "/api/v1/users/me", headers=bearer("a.b.c"), expect=401)
    call("GET", "/api/v1/users/me", headers=bearer(token[:-2] + "xx"), expect=401)
    admin = login(os.environ.get("SHOPLAB_ADMIN_EMAIL", ""), os.environ.get("SHOPLAB_ADMIN_PASSWORD", ""))

    # Catalog.
    s, _, page = call("GET", "/api/v1/products?limit=2", expect=200)
    if s == 200 and page.get("next") is not None:
        call("GET", f"/api/v1/products?limit=2&after={page['next']}", expect=200)
    call("GET", "/api/v1/products?q=teapot&limit=100", expect=200)
    call("GET", f"/api/v1/products?q=no-such-{NONCE}", expect=200)
    call("GET", "/api/v1/products?limit=0", expect=400)
    call("GET", "/api/v1/products?limit=abc", expect=400)
    call("GET", "/api/v1/products?after=-1", expect=400)
    call("GET", "/api/v1/products?q=" + "q" * 101, expect=400)
    s, h, prod = call("GET", "/api/v1/products/1", expect=200)
    if "etag" in h:
        call("GET", "/api/v1/products/1", headers={"If-None-Match": h["etag"]}, expect=304)
    call("GET", "/api/v1/products/1", headers={"If-None-Match": '"not-it"'}, expect=200)
    for bad in ("abc", "0", "-1", "99999999999999999999999", "999999999"):
        call("GET", f"/api/v1/products/{bad}", expect=404)
    sku = f"CT-{NONCE}"
    newp = {"sku": sku, "name": "Contract teapot", "description": "made by contract.py",
            "price_cents": 1234, "currency": "EUR"}
    call("POST", "/api/v1/products", newp, expect=401)
    call("POST", "/api/v1/products", newp, headers=bearer(token), expect=403)
    s, _, created = call("POST", "/api/v1/products", newp, headers=bearer(admin), expect=201)
    call("POST", "/api/v1/products", newp, headers=bearer(admin), expect=409)
    call("POST", "/api/v1/products", {"sku": sku + "x", "price_cents": 1}, headers=bearer(admin), expect=400)
    call("POST", "/api/v1/products", dict(newp, sku=sku + "y", currency="euro"), headers=bearer(admin),
         expect=400)
    call("PUT", "/api/v1/products/1", newp, headers=bearer(admin), expect=405)
    if isinstance(created, dict) and "id" in created:
        ppath = f"/api/v1/products/{created['id']}"
        call("PATCH", ppath, {"price_cents": 5}, expect=401)
        call("PATCH", ppath, {"price_cents": 5}, headers=bearer(token), expect=403)
        call("PATCH", ppath, {"price_cents": -5}, headers=bearer(admin), expect=400)
        call("PATCH", ppath, {"price_cents": 5, "name": "x"}, headers=bearer(admin), expect=400)
        call("PATCH", ppath, raw=b"price=5", headers={**bearer(admin), "Content-Type": "text/plain"},
             expect=415)
        call("PATCH", "/api/v1/products/999999999", {"price_cents": 5}, headers=bearer(admin), expect=404)
        call("PATCH", ppath, {"price_cents": newp["price_cents"]}, headers=bearer(admin), expect=200)

    # Inventory.
    call("GET", "/api/v1/inventory/1", expect=200)
    call("GET", "/api/v1/inventory/abc", expect=404)
    call("GET", "/api/v1/inventory/999999999", expect=404)
    call("PUT", "/api/v1/inventory/2", {"available": 50}, expect=401)
    call("PUT", "/api/v1/inventory/2", {"available": 50}, headers=bearer(token), expect=403)
    call("PUT", "/api/v1/inventory/2", {"available": -1}, headers=bearer(admin), expect=400)
    call("PUT", "/api/v1/inventory/2", {}, headers=bearer(admin), expect=400)
    call("PUT", "/api/v1/inventory/2", {"available": 50}, headers=bearer(admin), expect=200)
    call("DELETE", "/api/v1/inventory/2", headers=bearer(admin), expect=405)

    # Orders.
    pid = created["id"] if isinstance(created, dict) and "id" in created else 3
    call("PUT", f"/api/v1/inventory/{pid}", {"available": 5}, headers=bearer(admin), expect=200)
    order = {"items": [{"product_id": pid, "quantity": 1}], "card": GOOD_CARD}
    key = {"Idempotency-Key": f"contract-{NONCE}-1"}
    call("POST", "/api/v1/orders", order, headers=key, expect=401)
    call("POST", "/api/v1/orders", order, headers=bearer(token), expect=400)
    call("POST", "/api/v1/orders", order, headers={**bearer(token), "Idempotency-Key": "bad key!"}, expect=400)
    call("POST", "/api/v1/orders", dict(order, card=dict(GOOD_CARD, number="4242424242424241")),
         headers={**bearer(token), "Idempotency-Key": f"contract-{NONCE}-v1"}, expect=400)
    call("POST", "/api/v1/orders", dict(order, items=[]),
         headers={**bearer(token), "Idempotency-Key": f"contract-{NONCE}-v2"}, expect=400)
    call("POST", "/api/v1/orders", dict(order, items=[{"product_id": 999999999, "quantity": 1}]),
         headers={**bearer(token), "Idempotency-Key": f"contract-{NONCE}-v3"}, expect=400)
    s, h, o = call("POST", "/api/v1/orders", order, headers={**bearer(token), **key}, expect=(201, 202))
    if s in (201, 202) and not h.get("location", "").startswith("/api/v1/orders/"):
        failures.append(f"a new order's {s} has no Location: {h.get('location')!r}")
    s2, h2, o2 = call("POST", "/api/v1/orders", order, headers={**bearer(token), **key}, expect=s)
    if h2.get("idempotent-replayed") != "true" or o2 != o:
        failures.append("a replayed Idempotency-Key did not answer the stored body with Idempotent-Replayed")
    call("POST", "/api/v1/orders", dict(order, items=[{"product_id": pid, "quantity": 2}]),
         headers={**bearer(token), **key}, expect=409)
    call("POST", "/api/v1/orders", dict(order, card=DECLINED_CARD),
         headers={**bearer(token), "Idempotency-Key": f"contract-{NONCE}-2"}, expect=402)
    call("POST", "/api/v1/orders", dict(order, items=[{"product_id": pid, "quantity": 50}]),
         headers={**bearer(token), "Idempotency-Key": f"contract-{NONCE}-3"}, expect=409)
    call("GET", "/api/v1/orders", headers=bearer(token), expect=200)
    call("GET", "/api/v1/orders?limit=1", headers=bearer(token), expect=200)
    call("GET", "/api/v1/orders?limit=101", headers=bearer(token), expect=400)
    call("GET", "/api/v1/orders", expect=401)
    if isinstance(o, dict) and "id" in o:
        call("GET", f"/api/v1/orders/{o['id']}", headers=bearer(token), expect=200)
        call("GET", f"/api/v1/orders/{o['id']}", headers=bearer(admin), expect=404)
        call("GET", f"/api/v1/orders/{o['id']}", expect=401)
    call("GET", "/api/v1/orders/abc", headers=bearer(token), expect=404)

    # Shipping: the confirmed order's shipment arrives by events, a moment after the checkout.
    call("GET", "/api/v1/shipments?order_id=abc", headers=bearer(token), expect=400)
    call("GET", "/api/v1/shipments", headers=bearer(token), expect=400)
    call("GET", "/api/v1/shipments?order_id=1", expect=401)
    call("GET", "/api/v1/shipments?order_id=999999999", headers=bearer(token), expect=404)
    if isinstance(o, dict) and o.get("status") == "confirmed":
        for _ in range(100):
            s, _, _ = call("GET", f"/api/v1/shipments?order_id={o['id']}", headers=bearer(token),
                           expect=(200, 404))
            if s == 200:
                break
            time.sleep(0.1)
        call("GET", f"/api/v1/shipments?order_id={o['id']}", headers=bearer(admin), expect=200)
    call("DELETE", "/api/v1/orders/1", headers=bearer(token), expect=405)

    # Limits: too many failed logins for one account (users), too many logins from one address
    # (the gateway); both 429 with Retry-After. Last, so that they slow nothing above.
    victim = f"victim-{NONCE}@example.com"
    statuses = [call("POST", "/api/v1/auth/login", {"email": victim, "password": "wrong password"},
                     expect=(401, 429))[0] for _ in range(12)]
    if 429 not in statuses:
        failures.append(f"12 failed logins for one account were never limited: {statuses}")
    statuses = [call("POST", "/api/v1/users", {"email": "x"}, expect=(400, 429))[0] for _ in range(80)]
    if 429 not in statuses:
        failures.append("80 registrations at once from one address were never limited")

    # Every operation of the document was driven to a success at least once.
    for tmpl, item in SPEC["paths"].items():
        for m in oas.METHODS:
            if m in item and not any(200 <= st < 300 for st in seen.get(f"{m.upper()} {tmpl}", ())):
                failures.append(f"{m.upper()} {tmpl}: never answered 2xx in this run")

    n = sum(len(v) for v in seen.values())
    for f in failures:
        print(f"contract: FAIL {f}")
    print(f"contract: {len(seen)} routes, {n} (route, status) pairs checked against docs/openapi.yaml "
          f"in {time.monotonic() - t0:.1f} s: {len(failures)} failure(s)")
    for name in sorted(seen):
        print(f"contract:   {name}: {' '.join(str(s) for s in sorted(seen[name]))}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
