#!/usr/bin/python3
"""check_scenarios.py - every sim/scenarios/*.json (or the files named) is valid against docs/scenario.schema.json."""
import glob
import json
import os
import sys

from jsonschema import Draft202012Validator

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    with open(os.path.join(TOP, "docs", "scenario.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    v = Draft202012Validator(schema)
    files = sys.argv[1:] or sorted(glob.glob(os.path.join(TOP, "sim", "scenarios", "*.json")))
    bad = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            try:
                doc = json.load(f)
            except ValueError as e:
                print(f"check_scenarios: {path}: not JSON: {e}")
                bad += 1
                continue
        errs = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errs:
            where = ".".join(str(p) for p in e.absolute_path) or "(root)"
            print(f"check_scenarios: {path}: {where}: {e.message}")
        bad += bool(errs)
    print(f"check_scenarios: {len(files)} scenario(s), {bad} invalid")
    return 1 if bad or not files else 0


if __name__ == "__main__":
    sys.exit(main())
