#!/usr/bin/env python3
"""Console page render times with many deliveries in the store (docs/console.md).

Starts the real binary (`swift build` first; `-c release` and BRIDGE_BINARY=.build/release/cloudthread-bridge for
release figures) on loopback with BRIDGE_ADMIN_TOKEN, fills its SQLite store with N deliveries (default 100,000,
over the last 30 days, 3 sources, each with headers and a 1 KiB body, and for each one an event record in the outbox,
sent a second after it arrived) straight through sqlite3, signs in, and prints the median and worst time of each
page over 20 requests.

    scripts/console-benchmark.py [N]
"""
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("BRIDGE_BINARY", os.path.join(ROOT, ".build", "debug", "cloudthread-bridge"))
TOKEN = "benchmark-admin-token-" + "0123456789abcdef" * 2
RULES = """source: {name}
verify: {{unverified: true}}
rules:
  - name: deploy
    when: {{payload.state: success}}
    event: {{type: deploy, time: payload.at, description: "{{{{ payload.service }}}}"}}
"""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    work = tempfile.mkdtemp(prefix="console-bench-")
    os.makedirs(os.path.join(work, "mappings"))
    for name in ("github", "gitlab", "pagerduty"):
        with open(os.path.join(work, "mappings", f"{name}.yaml"), "w") as f:
            f.write(RULES.format(name=name))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, BRIDGE_HOST="127.0.0.1", BRIDGE_PORT=str(port), BRIDGE_ADMIN_TOKEN=TOKEN,
               BRIDGE_MAPPINGS=os.path.join(work, "mappings"), BRIDGE_DATA_DIR=os.path.join(work, "data"),
               LOG_LEVEL="warning")
    bridge = subprocess.Popen([BINARY, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen(base + "/readyz", timeout=1).status == 200:
                    break
            except Exception:
                time.sleep(0.1)
        db = sqlite3.connect(os.path.join(work, "data", "bridge.sqlite"), timeout=30)
        now = time.time()
        body = json.dumps({"service": "api", "state": "success", "padding": "x" * 1000}).encode()
        headers = json.dumps([["Content-Type", "application/json"], ["X-GitHub-Event", "deployment_status"],
                              ["X-Hub-Signature-256", "••••••"]])
        explanation = json.dumps({"source": "github", "rules": [{"rule": "deploy", "matched": True, "checks": [
            {"path": "payload.state", "expectation": "is success", "seen": "success", "passed": True}],
            "events": 1, "metrics": 0}], "rejected": [], "notes": []})
        rng = random.Random(1)
        started = time.time()
        with db:
            db.executemany(
                "INSERT INTO deliveries (source, delivery_key, received_at, status, http_status, events, metrics,"
                " explanation, client_address, headers, body, body_size) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                ((rng.choice(["github", "gitlab", "pagerduty"]), f"k{i}", now - (n - i) * (30 * 86400 / n),
                  rng.choice(["accepted", "accepted", "ignored", "rejected"]), 202, 1, 0, explanation,
                  "192.0.2.1", headers, body, len(body)) for i in range(n)))
            db.executemany(
                "INSERT INTO outbox (kind, delivery_id, record, state, due_at, created_at, updated_at)"
                " VALUES ('event', ?, ?, 'sent', ?, ?, ?)",
                ((i + 1, json.dumps({"timestamp": time.strftime("%Y-%m-%d %H:00:00", time.gmtime(t)),
                                     "type": "deploy", "rule": "deploy", "description": f"api {i}"}),
                  t, t, t + 1) for i, t in ((i, now - (n - i) * (30 * 86400 / n)) for i in range(n))))
        db.close()
        print(f"{n} deliveries inserted in {time.time() - started:.1f} s")

        opener = urllib.request.build_opener(NoRedirect)
        form = urllib.parse.urlencode({"token": TOKEN}).encode()
        try:
            opener.open(urllib.request.Request(base + "/ui/login", data=form, method="POST"), timeout=10)
        except urllib.error.HTTPError as e:
            cookie = e.headers["Set-Cookie"].split(";")[0]
        pages = ["/ui/", "/ui/deliveries", f"/ui/deliveries?before={n // 2}",
                 "/ui/deliveries?source=gitlab&status=rejected", f"/ui/deliveries/{n}", "/ui/dead-letters",
                 "/ui/rules", "/ui/timeline?range=24h", "/ui/timeline?range=7d", "/ui/timeline?range=30d", "/ui/try"]
        print(f"{'page':50} {'median ms':>10} {'worst ms':>10} {'bytes':>8}")
        for page in pages:
            times = []
            size = 0
            for _ in range(20):
                t = time.perf_counter()
                with opener.open(urllib.request.Request(base + page, headers={"Cookie": cookie}), timeout=30) as r:
                    size = len(r.read())
                    assert r.status == 200, (page, r.status)
                times.append((time.perf_counter() - t) * 1000)
            print(f"{page:50} {statistics.median(times):10.1f} {max(times):10.1f} {size:8}")
    finally:
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
