#!/usr/bin/python3
"""check_metric_names.py - every metric name in the Grafana dashboard and the alert rules exists on
the live stack: scraped from every service's /_ops/<svc>/metrics, the sim proxy's /metrics
and the broker's rabbitmq_prometheus /metrics (the services' scrapes clean under promtool check
metrics where promtool is installed). Names that only the exporters (nginx, mysqld) or
Prometheus itself (up) produce are listed here and must say so.

Needs the stack's env (SHOPLAB_GATEWAY_INTERNAL, SHOPLAB_SERVICES, SHOPLAB_PROXY_API for the proxy,
SHOPLAB_AMQP_HOST and SHOPLAB_AMQP_PROMETHEUS_PORT for the broker).
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

# The event metrics that branch ev-retry adds (docs/observability.md). Until it is merged the
# stack has none of them and they are reported as awaited, not failed; once one of them is on
# the stack (merged), every one must be, like any other name.
AWAITED = {
    "shoplab_events_retries_total", "shoplab_events_retries_waiting", "shoplab_events_dead_letters",
    "shoplab_events_dead_queue_messages", "shoplab_events_consumer_paused",
    "shoplab_events_replays_total", "shoplab_events_heartbeat_timeouts_total",
}


def missing(used, have):
    """The used names that no scrape has, and the awaited ones tolerated because none is there."""
    absent = sorted(n for n in used if n not in have and n not in NOT_SCRAPED)
    if AWAITED & have:
        return absent, []
    return [n for n in absent if n not in AWAITED], [n for n in absent if n in AWAITED]


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
    services = os.environ.get("SHOPLAB_SERVICES", "").split()
    if not services:
        print("check_metric_names: SHOPLAB_SERVICES is not set (source $SHOPLAB_RUN/shoplab.env)")
        return 2
    urls = [f"{internal}/_ops/{s}/metrics" for s in services]
    if os.environ.get("SHOPLAB_PROXY_API") and os.environ.get("SHOPLAB_PROXY") == "1":
        urls.append(f"{os.environ['SHOPLAB_PROXY_API']}/metrics")
    # The broker's own metrics (rabbitmq_prometheus; not promtool-clean, so not checked by it).
    broker = None
    if os.environ.get("SHOPLAB_AMQP_PROMETHEUS_PORT"):
        broker = (f"http://{os.environ.get('SHOPLAB_AMQP_HOST', '127.0.0.1')}:"
                  f"{os.environ['SHOPLAB_AMQP_PROMETHEUS_PORT']}/metrics")
        urls.append(broker)
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
        if promtool and url != broker:
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
    absent, awaited = missing(used, have)
    for n in absent:
        problems.append(f"{n} (used by {', '.join(sorted(set(used[n])))}) is in no /metrics of the stack")
    for n in awaited:
        print(f"check_metric_names: awaited {n} (branch ev-retry adds it; used by "
              f"{', '.join(sorted(set(used[n])))})")
    for p in problems:
        print(f"check_metric_names: FAIL {p}")
    print(f"check_metric_names: {len(urls)} scrapes{' (promtool-checked)' if promtool else ''}, "
          f"{len(used)} metric names used, {len([n for n in used if n in NOT_SCRAPED])} from exporters/"
          f"Prometheus, {len(awaited)} awaited from ev-retry, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
