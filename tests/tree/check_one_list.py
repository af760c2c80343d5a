#!/usr/bin/python3
"""check_one_list.py - the list of services is typed out in one place only: fcgi-services/*/service.conf.

    tests/tree/check_one_list.py [TOP]         check the tree at TOP (default: this checkout)
    tests/tree/check_one_list.py --self-test   a planted list is found, a planted allowed one is not

Everything that needs the list reads it from there (scripts/services.sh, build/services,
SHOPLAB_SERVICES in run/shoplab.env). This check reads every code and configuration file of the
tree (not the Markdown: prose may name services) and fails on any place that names four or more
services on one line, or in a run of list items, which is what a typed copy of the list looks
like. A file that must spell the list out (Prometheus' static targets) is named in EXACT and
then must hold the whole list; ALLOWED names files whose lists are not copies, with the reason.
"""
import os
import re
import sys
import tempfile

import treelib

GAP = 3             # lines without a service that a run of list items may hold
THRESHOLD = 4       # distinct service names in one line, or in a run of list items
# A line that is one list item or value: "- users", "service: users", "{service: users}", '"users",'.
ITEM = re.compile(r"""^\s*(?:-\s*)?(?:[\w.]+:\s*)?(?:[{\[]\s*[\w.]+:\s*)?['"]?[a-z]+['"]?\s*[,}\]]*\s*(?:#.*)?$""")
SKIP_EXT = (".md", ".png", ".svg", ".pem", ".lua")
# path -> why a list there is not a copy of the one list
ALLOWED = {
    "tests/tree/check_one_list.py": "this file's self-test plants lists",
}
# Files that must spell the list out (a static Prometheus config) may, if it is the whole list.
EXACT = {
    "lab/prometheus.yml": "Prometheus' static targets, one per service",
}


def services(top):
    names = []
    base = os.path.join(top, "fcgi-services")
    for d in sorted(os.listdir(base)):
        if os.path.isfile(os.path.join(base, d, "service.conf")):
            names.append(d)
    return names


def files_of(top):
    return treelib.files(top, (".", "build", "run", "node_modules"))


def check(top, allowed, exact=None):
    names = services(top)
    pats = {n: re.compile(r"(?<![A-Za-z0-9_])" + re.escape(n) + r"(?![A-Za-z0-9_])") for n in names}
    found = []
    for f in files_of(top):
        if f.endswith(SKIP_EXT) or f in allowed or f.startswith(("build", "run/", ".tools/")):
            continue
        try:
            with open(os.path.join(top, f), encoding="utf-8") as fh:
                lines = fh.read().split("\n")
        except (UnicodeDecodeError, OSError):
            continue
        # A line that names four services is a list; so are consecutive short lines that each
        # hold one service as an item or a value ("- users", "service: catalog", '"orders",').
        hits = [{n for n, p in pats.items() if p.search(line)} for line in lines]
        item = [len(h) == 1 and ITEM.match(line) is not None for h, line in zip(hits, lines)]
        i = 0
        while i < len(lines):
            seen, j = (hits[i], i + 1) if len(hits[i]) >= THRESHOLD else (set(), i + 1)
            if not seen and item[i]:
                # A run of items, with at most GAP lines without a service between two of them.
                j, gap = i, 0
                while j < len(lines) and gap <= GAP and (item[j] or not hits[j]):
                    if item[j]:
                        seen, gap = seen | hits[j], 0
                    else:
                        gap += 1
                    j += 1
                seen = seen if len(seen) >= THRESHOLD else set()
            if seen and f in (exact or {}):
                if seen != set(names):
                    found.append(f"{f}:{i + 1}: lists {' '.join(sorted(seen))}, the services are "
                                 f"{' '.join(names)}: it must list them all ({exact[f]})")
            elif seen:
                found.append(f"{f}:{i + 1}: names {len(seen)} services ({' '.join(sorted(seen))}) "
                             "as a list: read the one list instead (scripts/services.sh, "
                             "build/services, SHOPLAB_SERVICES)")
            i = j if seen else i + 1
    return found


def self_test():
    with tempfile.TemporaryDirectory() as top:
        for s in ("users", "catalog", "inventory", "orders"):
            os.makedirs(os.path.join(top, "fcgi-services", s))
            open(os.path.join(top, "fcgi-services", s, "service.conf"), "w").close()
        with open(os.path.join(top, "copy.sh"), "w") as f:
            f.write("for s in users catalog inventory orders; do :; done\n")
        with open(os.path.join(top, "copy.yml"), "w") as f:
            f.write("x:\n  - targets: [a]\n    labels: {service: users}\n  - targets: [a]\n"
                    "    labels: {service: catalog}\n  - name: inventory\n  - orders\n")
        with open(os.path.join(top, "fine.c"), "w") as f:
            f.write('deps[] = { "catalog", "inventory" };\n/* users_of() is not users */\n')
        with open(os.path.join(top, "allowed.yml"), "w") as f:
            f.write("users: 1\ncatalog: 2\ninventory: 3\norders: 4\n")
        with open(os.path.join(top, "notes.md"), "w") as f:
            f.write("users, catalog, inventory and orders\n")
        with open(os.path.join(top, "short.yml"), "w") as f:
            f.write("- targets: [a]\n  labels: {service: users}\n- targets: [a]\n"
                    "  labels: {service: catalog}\n- inventory\n- orders\n")
        got = sorted(check(top, {"allowed.yml": "planted"}, {"short.yml": "planted"}))
        # With one service more, short.yml misses it.
        os.makedirs(os.path.join(top, "fcgi-services", "payments"))
        open(os.path.join(top, "fcgi-services", "payments", "service.conf"), "w").close()
        got_more = check(top, {"allowed.yml": "planted", "copy.sh": "", "copy.yml": ""},
                         {"short.yml": "planted"})
    if (len(got) == 2 and got[0].startswith("copy.sh:1:") and got[1].startswith("copy.yml:3:")
            and len(got_more) == 1 and got_more[0].startswith("short.yml:2:")
            and "must list them all" in got_more[0]):
        print("check_one_list self-test: the planted copies were found, a complete list passes, "
              "an incomplete one is named")
        return 0
    print("check_one_list self-test: expected copy.sh:1 and copy.yml:3, then short.yml:2, got:",
          *got, "then:", *got_more, sep="\n  ")
    return 1


def run(top):
    found = check(top, ALLOWED, EXACT)
    for line in found:
        print(line)
    if found:
        print(f"check_one_list: {len(found)} typed copies of the list of services")
        return 1
    print(f"check_one_list: the services are listed only in fcgi-services/*/service.conf "
          f"({len(services(top))} services)")
    return 0


if __name__ == "__main__":
    sys.exit(treelib.main(self_test, run))
