"""promnames.py - the metric names a PromQL expression uses, and those of the dashboard and the alert rules."""
import json
import os
import re

import yaml

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join(TOP, "lab", "grafana", "shoplab.json")
RULES = os.path.join(TOP, "lab", "prometheus", "rules.yml")
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}


def names(expr):
    """Metric names in expr: identifiers that are not functions, keywords or label names."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)               # string literals
    e = re.sub(r"\{[^}]*\}", "", e)                             # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                            # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\$\w+", "", e)                                 # Grafana variables
    out = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        tok, rest = m.group(0), e[m.end():].lstrip()
        if rest.startswith("(") or tok.lower() in KEYWORDS:
            continue
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == "."):
            continue                                            # 1e6, 0.5s
        out.add(tok)
    return out


def dashboard_exprs(path=DASHBOARD):
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    for p in d.get("panels", []):
        for t in p.get("targets", []):
            yield f"panel {p.get('title')!r}", t.get("expr", "")
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict) and "label_values(" in q.get("query", ""):
            yield f"variable {v['name']}", re.sub(r"label_values\((\w+).*", r"\1", q["query"])


def rule_exprs(path=RULES):
    with open(path, encoding="utf-8") as f:
        r = yaml.safe_load(f)
    for g in r["groups"]:
        for rule in g["rules"]:
            yield f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]
