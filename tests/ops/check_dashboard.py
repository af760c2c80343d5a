#!/usr/bin/python3
"""check_dashboard.py - lab/grafana/shoplab.json is a provisionable dashboard: a uid, unique panel
ids inside a 24-column grid, every query on the datasource variable with a well-formed expression."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promnames  # noqa: E402


def balanced(expr):
    depth = {"(": 0, "{": 0, "[": 0}
    close = {")": "(", "}": "{", "]": "["}
    for ch in expr:
        if ch in depth:
            depth[ch] += 1
        elif ch in close:
            depth[close[ch]] -= 1
            if depth[close[ch]] < 0:
                return False
    return not any(depth.values())


def main():
    with open(promnames.DASHBOARD, encoding="utf-8") as f:
        d = json.load(f)
    problems, ids = [], set()
    if not d.get("uid") or not d.get("title"):
        problems.append("no uid or title")
    if "datasource" not in [v.get("name") for v in d.get("templating", {}).get("list", [])]:
        problems.append("no datasource variable")
    for p in d.get("panels", []):
        name = f"panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids:
            problems.append(f"{name}: duplicate id")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(k in g for k in "xywh") or g["x"] + g["w"] > 24:
            problems.append(f"{name}: bad gridPos {g}")
        if p.get("type") == "row":
            continue
        if not p.get("targets"):
            problems.append(f"{name}: no queries")
        for t in p.get("targets", []):
            e = t.get("expr", "")
            if t.get("datasource", p.get("datasource", {})).get("uid") != "${datasource}":
                problems.append(f"{name}: a query not on the datasource variable")
            if not e or not balanced(e) or not promnames.names(e):
                problems.append(f"{name}: a malformed expression {e!r}")
    for p in problems:
        print(f"check_dashboard: {p}")
    print(f"check_dashboard: {len(ids)} panels, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
