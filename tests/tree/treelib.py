"""treelib.py - what the tree checks (check_links.py, check_one_list.py) share: the tree's files
and the command line `CHECK [TOP]` / `CHECK --self-test`."""
import os
import subprocess
import sys


def files(top, walk_skip):
    """The tree's files relative to top: git's list (tracked and untracked, not ignored) when top
    is a checkout, else a walk that leaves out the folders starting with one of walk_skip."""
    try:
        out = subprocess.run(["git", "-C", top, "ls-files", "-co", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        found = [f for f in out if f and os.path.isfile(os.path.join(top, f))]
        if found:
            return found
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for d, dirs, names in os.walk(top):
        dirs[:] = [x for x in dirs if not x.startswith(walk_skip)]
        found += [os.path.relpath(os.path.join(d, n), top) for n in names]
    return found


def main(self_test, run):
    """`--self-test` runs self_test(); else run(top), top the first argument or this checkout.
    Returns the exit status."""
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        return self_test()
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    return run(top)
