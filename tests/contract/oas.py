"""oas.py - load docs/openapi.yaml, resolve its $refs, and check answers against it (shared by the checks)."""
import json
import os
import re

import yaml
from jsonschema import Draft202012Validator

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC_PATH = os.path.join(TOP, "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def load(path=SPEC_PATH):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def pointer(spec, ref):
    """The object a local $ref ('#/a/b') names; KeyError when it names nothing."""
    if not ref.startswith("#/"):
        raise KeyError(f"not a local reference: {ref}")
    node = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


def deref(spec, node):
    """Follows $ref chains of OpenAPI objects (responses, headers, parameters)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        node = pointer(spec, node["$ref"])
        seen += 1
        if seen > 20:
            raise ValueError("a $ref loop")
    return node


def schema_validator(spec, schema):
    """A 2020-12 validator for a schema of the document, its '#/components/...' refs resolvable."""
    root = dict(schema)
    root["components"] = spec.get("components", {})
    root.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
    return Draft202012Validator(root)


def match_path(spec, path):
    """(template, path item) of the documented path a concrete path is, or (None, None)."""
    for tmpl, item in spec["paths"].items():
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tmpl)) + "$"
        if re.match(rx, path):
            return tmpl, item
    return None, None


def response_for(spec, method, path, status):
    """The documented response object for (method, path, status), the route's name, and why not.

    A method the path does not take answers components.responses.MethodNotAllowed; a path that
    is no route answers components.responses.NotFound (docs/openapi.yaml says so).
    """
    tmpl, item = match_path(spec, path)
    if tmpl is None:
        name = f"{method} (no route) {path}"
        if status == 404:
            return deref(spec, spec["components"]["responses"]["NotFound"]), name, None
        return None, name, f"status {status} for a path that is no route (only 404 is documented)"
    name = f"{method} {tmpl}"
    op = item.get(method.lower())
    if op is None:
        if status == 405:
            return deref(spec, spec["components"]["responses"]["MethodNotAllowed"]), name, None
        return None, name, f"status {status} for a method the path does not take (only 405 is documented)"
    resp = op["responses"].get(str(status))
    if resp is None:
        return None, name, f"status {status} is not documented (documented: {', '.join(sorted(op['responses']))})"
    return deref(spec, resp), name, None


def check_response(spec, method, path, status, headers, body):
    """Problems (a list of strings) of one live answer against the document.

    headers: a dict with lower-case names; body: bytes.
    """
    resp, name, why = response_for(spec, method, path, status)
    if why:
        return name, [why]
    problems = []
    for hname, h in (resp.get("headers") or {}).items():
        h = deref(spec, h)
        value = headers.get(hname.lower())
        if value is None:
            if h.get("required"):
                problems.append(f"header {hname} is missing")
            continue
        schema = h.get("schema", {})
        inst = value
        if schema.get("type") == "integer":
            try:
                inst = int(value)
            except ValueError:
                problems.append(f"header {hname}: {value!r} is not an integer")
                continue
        for e in schema_validator(spec, schema).iter_errors(inst):
            problems.append(f"header {hname}: {e.message}")
    content = resp.get("content")
    ctype = headers.get("content-type", "").split(";")[0].strip()
    if not content:
        if body:
            problems.append(f"a body ({len(body)} bytes) where none is documented")
        return name, problems
    if method == "HEAD":
        return name, problems
    media = content.get(ctype)
    if media is None:
        problems.append(f"Content-Type {ctype!r} is not documented ({', '.join(content)})")
        return name, problems
    if ctype == "application/json":
        try:
            doc = json.loads(body)
        except ValueError as e:
            return name, problems + [f"the body is not JSON: {e}"]
        for e in schema_validator(spec, media.get("schema", {})).iter_errors(doc):
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            problems.append(f"body at {where}: {e.message}")
        rid = headers.get("x-request-id")
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict) and rid is not None:
            if doc["error"].get("request_id") != rid:
                problems.append("error.request_id differs from the X-Request-Id header")
    return name, problems
