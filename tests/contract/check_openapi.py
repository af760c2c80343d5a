#!/usr/bin/python3
"""check_openapi.py - docs/openapi.yaml is sound and describes every public route the services have.

Checks what a generic linter cannot: every $ref resolves, every schema is valid JSON Schema
2020-12, every answer documents X-Request-Id and every error answer the error shape, and the
document's operations are exactly the /api/v1 routes of fcgi-services/*/main.c (plus what the
gateway serves itself). Exit 0 when all hold, 1 with one line per problem otherwise.
"""
import glob
import os
import re
import sys

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oas  # noqa: E402

# Operations the gateway answers itself, with no service route behind them.
GATEWAY_OWN = {("GET", "/"), ("GET", "/api/v1/openapi.yaml")}


def walk(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}/{i}")


def service_routes(top):
    """{(METHOD, /api/v1/...)} from every service's route table."""
    routes = set()
    rx = re.compile(r'\{\s*"([A-Z*]+)"\s*,\s*"(/api/v1/[^"]*)"')
    for f in glob.glob(os.path.join(top, "fcgi-services", "*", "main.c")):
        with open(f, encoding="utf-8") as fh:
            for m in rx.finditer(fh.read()):
                routes.add((m.group(1), m.group(2)))
    return routes


def main():
    spec_path = sys.argv[1] if len(sys.argv) > 1 else oas.SPEC_PATH
    spec = oas.load(spec_path)
    problems = []
    if not str(spec.get("openapi", "")).startswith("3.1."):
        problems.append(f"openapi is {spec.get('openapi')!r}, not 3.1.x")

    for where, node in walk(spec):
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                oas.pointer(spec, ref)
            except (KeyError, IndexError, TypeError):
                problems.append(f"{where}: $ref {ref} names nothing")

    schemas = [(f"/components/schemas/{k}", v) for k, v in spec.get("components", {}).get("schemas", {}).items()]
    schemas += [(w + "/schema", n["schema"]) for w, n in walk(spec)
                if isinstance(n.get("schema"), dict) and not w.startswith("/components/schemas")]
    for where, s in schemas:
        try:
            Draft202012Validator.check_schema(s)
        except SchemaError as e:
            problems.append(f"{where}: not a valid 2020-12 schema: {e.message}")

    documented, op_ids = set(), set()
    for tmpl, item in spec["paths"].items():
        for method in oas.METHODS:
            op = item.get(method)
            if op is None:
                continue
            name = f"{method.upper()} {tmpl}"
            documented.add((method.upper(), tmpl))
            oid = op.get("operationId")
            if not oid or oid in op_ids:
                problems.append(f"{name}: operationId missing or not unique")
            op_ids.add(oid)
            for status, resp in op.get("responses", {}).items():
                resp = oas.deref(spec, resp)
                if "X-Request-Id" not in (resp.get("headers") or {}):
                    problems.append(f"{name} {status}: X-Request-Id is not documented")
                if status[0] in "45":
                    media = (resp.get("content") or {}).get("application/json")
                    if not media or media.get("schema", {}).get("$ref") != "#/components/schemas/Error":
                        problems.append(f"{name} {status}: an error answer without the Error schema")
                if status == "429" and "Retry-After" not in (resp.get("headers") or {}):
                    problems.append(f"{name} 429: Retry-After is not documented")
            if op.get("security") and "401" not in op["responses"]:
                problems.append(f"{name}: needs a token but documents no 401")
    for r in ("NotFound", "MethodNotAllowed"):
        if r not in spec.get("components", {}).get("responses", {}):
            problems.append(f"components.responses.{r} is missing (the contract test uses it)")

    routes = service_routes(oas.TOP)
    if not routes:
        problems.append("no /api/v1 routes found in fcgi-services/*/main.c")
    for m, p in sorted(routes - documented):
        problems.append(f"{m} {p}: a service route that docs/openapi.yaml does not document")
    for m, p in sorted(documented - routes - GATEWAY_OWN):
        problems.append(f"{m} {p}: documented, but no service has this route")

    for p in problems:
        print(f"check_openapi: {p}")
    print(f"check_openapi: {spec_path}: {len(documented)} operations, {len(routes)} service routes, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
