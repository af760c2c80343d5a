#!/usr/bin/python3
"""check_links.py - every relative link, anchor and file name in README.md and the docs resolves.

    tests/tree/check_links.py [TOP]      check the tree at TOP (default: this checkout)
    tests/tree/check_links.py --self-test   plant broken references in a temp tree: each is found

Checked in README.md, docs/*.md and the other Markdown files of the tree (not build output):
- Markdown links [text](target) that are not URLs: the file exists, and an #anchor names a
  heading of that file (GitHub's slugs);
- `code spans` that are repository paths (a first folder of the tree, or ./...): the path exists;
- `code spans` that are bare source file names (name.c, name.sh, ...): a file of that name exists.
Spans with placeholders (<svc>, NNN, *, {id}, $VAR) and run-time paths (run/...) are skipped.
"""
import os
import re
import sys
import tempfile

import treelib

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
SPAN = re.compile(r"`([^`\n]+)`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
SOURCE_EXT = (".c", ".h", ".sh", ".py", ".md", ".mk", ".sql", ".in", ".lua", ".rb")
# A path segment in capitals that is not a real file's name is a placeholder (NAME, SVC, FILE).
CAPS = re.compile(r"(?:^|/)(?!README|LICENSE|GNUmakefile)[A-Z][A-Z0-9_]+(?:\.[a-z]+)?(?:/|$)")
PLACEHOLDER = re.compile(r"[<>*{}$|?\[\]]|\bNNN\b|\.\.\.|…")


def slug(title):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    t = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    t = t.strip().lower()
    t = re.sub(r"[^\w\- ]", "", t, flags=re.UNICODE)
    return t.replace(" ", "-")


def anchors(path, cache):
    if path not in cache:
        seen, out, fence = {}, set(), False
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("```"):
                    fence = not fence
                    continue
                m = None if fence else HEADING.match(line)
                if m:
                    s = slug(m.group(2))
                    n = seen.get(s, 0)
                    seen[s] = n + 1
                    out.add(s if n == 0 else f"{s}-{n}")
        cache[path] = out
    return cache[path]


def tracked(top):
    """The tree's files (git's list when it is a checkout, else a walk), relative to top."""
    return treelib.files(top, (".", "build"))


def docs_of(files):
    skip = ("build", "run/", ".tools/", "node_modules/")
    return sorted(f for f in files if f.endswith(".md") and not f.startswith(skip))


def check(top):
    files = tracked(top)
    basenames = {os.path.basename(f) for f in files}
    firsts = {f.split("/", 1)[0] for f in files if "/" in f}
    dirs = {os.path.dirname(f) for f in files}
    present = set(files) | {d for f in files for d in _parents(f)}
    errors, cache = [], {}
    for doc in docs_of(files):
        here = os.path.dirname(doc)
        fence = False
        with open(os.path.join(top, doc), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.lstrip().startswith("```"):
                    fence = not fence
                    continue
                if fence:
                    continue
                for target in LINK.findall(line):
                    err = _link(top, here, target, cache)
                    if err:
                        errors.append(f"{doc}:{n}: link {target}: {err}")
                for span in SPAN.findall(line):
                    err = _span(here, span.strip(), present, firsts, basenames, dirs)
                    if err:
                        errors.append(f"{doc}:{n}: `{span}`: {err}")
    return errors


def _parents(f):
    parts = f.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _link(top, here, target, cache):
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
        return None
    path, _, frag = target.partition("#")
    full = os.path.normpath(os.path.join(top, here, path)) if path else None
    if path:
        if not full.startswith(os.path.normpath(top)):
            return "points outside the repository"
        if not os.path.exists(full):
            return "no such file"
    if frag:
        md = full if path else None
        if md is None:
            return None  # an anchor in this same file: checked below by the caller's file
        if md.endswith(".md") and os.path.isfile(md) and frag not in anchors(md, cache):
            return f"no heading #{frag}"
    return None


def _span(here, span, present, firsts, basenames, dirs):
    if " " in span or PLACEHOLDER.search(span) or span.startswith(("run/", "/", "-")):
        return None
    s = span[2:] if span.startswith("./") else span
    s = s.split(":", 1)[0] if re.search(r":\d+$", s) else s
    if "/" in s:
        first = s.split("/", 1)[0]
        if first not in firsts:
            return None  # not a path of this tree (a URL path, an install path, a package)
        if s.rstrip("/") in present:
            return None
        rel = os.path.normpath(os.path.join(here, s)).rstrip("/")
        if rel in present or CAPS.search(s):
            return None  # present, or a placeholder segment (sim/scenarios/NAME.json)
        return "no such file or folder in the repository"
    if s.endswith(SOURCE_EXT) and re.fullmatch(r"[\w.+-]+", s):
        return None if s in basenames else "no file of that name in the repository"
    return None


def self_test():
    with tempfile.TemporaryDirectory() as top:
        os.makedirs(os.path.join(top, "docs"))
        os.makedirs(os.path.join(top, "src"))
        with open(os.path.join(top, "src", "real.c"), "w") as f:
            f.write("/* real.c */\n")
        with open(os.path.join(top, "docs", "a.md"), "w") as f:
            f.write("# A page\n\n## Second part\n")
        with open(os.path.join(top, "README.md"), "w") as f:
            f.write("# Top\n"
                    "[ok](docs/a.md) [ok](docs/a.md#second-part) [ok](https://x.invalid/y)\n"
                    "`src/real.c` `real.c` `sql/<svc>/` `run/shoplab.env`\n"
                    "[bad](docs/missing.md)\n"
                    "[bad](docs/a.md#no-such-part)\n"
                    "`src/gone.c`\n"
                    "`gone.h`\n"
                    "```\n[in a fence](nothing.md) `src/nothing.c`\n```\n")
        errors = check(top)
    want = ["docs/missing.md", "#no-such-part", "src/gone.c", "gone.h"]
    missed = [w for w in want if not any(w in e for e in errors)]
    if missed or len(errors) != len(want):
        print("check_links self-test: expected 4 findings naming", want, "got:", *errors, sep="\n  ")
        return 1
    print("check_links self-test: the 4 planted references were found, nothing else")
    return 0


def run(top):
    errors = check(top)
    for e in errors:
        print(e)
    if errors:
        print(f"check_links: {len(errors)} reference(s) that do not resolve")
        return 1
    print(f"check_links: every link and file name in {len(docs_of(tracked(top)))} Markdown files resolves")
    return 0


if __name__ == "__main__":
    sys.exit(treelib.main(self_test, run))
