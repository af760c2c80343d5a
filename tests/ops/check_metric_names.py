#!/usr/bin/python3
"""check_metric_names.py - every metric name in the Grafana dashboard and the alert rules exists on
the live stack: scraped from every service's /_ops/<svc>/metrics and the sim proxy's /metrics
(clean under promtool check metrics where promtool is installed). Names that only the
exporters (nginx, mysqld) or Prometheus itself (up) produce are listed here and must say so.

Needs the stack's env (SHOPLAB_GATEWAY_INTERNAL, SHOPLAB_SERVICES, SHOPLAB_PROXY_API for the proxy).
"""
import os
import re
import shutil
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promnames  # noqa: E402

# Produced by something the test stack does not run: Prometheus itself, Debian's exporters.
NOT_SCRAPED = {
    "up": "Prometheus",
    "nginx_up": "prometheus-nginx-exporter", "nginx_connections_active": "prometheus-nginx-exporter",
    "nginx_connections_waiting": "prometheus-nginx-exporter",
    "nginx_http_requests_total": "prometheus-nginx-exporter",
    "mysql_up": "prometheus-mysqld-exporter",
    "mysql_global_status_threads_connected": "prometheus-mysqld-exporter",
}


def families(text):
    """Every sample name of a scrape, plus _bucket/_sum/_count of its histograms."""
    out = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            out.add(m.group(1))
            if m.group(2) in ("histogram", "summary"):
                out.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
        elif line and not line.startswith("#"):
            out.add(re.split(r"[{ ]", line, 1)[0])
    return out


def main():
    internal = os.environ.get("SHOPLAB_GATEWAY_INTERNAL")
    if not internal:
        print("check_metric_names: SHOPLAB_GATEWAY_INTERNAL is not set (source $SHOPLAB_RUN/shoplab.env)")
        return 2
    services = os.environ.get("SHOPLAB_SERVICES", "users catalog inventory orders payments").split()
    urls = [f"{internal}/_ops/{s}/metrics" for s in services]
    if os.environ.get("SHOPLAB_PROXY_API") and os.environ.get("SHOPLAB_PROXY") == "1":
        urls.append(f"{os.environ['SHOPLAB_PROXY_API']}/metrics")
    promtool = shutil.which("promtool")
    problems, have = [], set()
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                text = r.read().decode()
        except OSError as e:
            problems.append(f"{url}: {e}")
            continue
        have |= families(text)
        if promtool:
            p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
            if p.returncode != 0:
                problems.append(f"{url}: promtool check metrics: {(p.stdout + p.stderr).strip()}")
    used = {}
    for where, expr in list(promnames.dashboard_exprs()) + list(promnames.rule_exprs()):
        found = promnames.names(expr)
        if not found:
            problems.append(f"{where}: no metric name in {expr!r}")
        for n in found:
            used.setdefault(n, []).append(where)
    for n, wheres in sorted(used.items()):
        if n not in have and n not in NOT_SCRAPED:
            problems.append(f"{n} (used by {', '.join(sorted(set(wheres)))}) is in no /metrics of the stack")
    for p in problems:
        print(f"check_metric_names: FAIL {p}")
    print(f"check_metric_names: {len(urls)} scrapes{' (promtool-checked)' if promtool else ''}, "
          f"{len(used)} metric names used, {len([n for n in used if n in NOT_SCRAPED])} from exporters/"
          f"Prometheus, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
