#!/usr/bin/env python3
"""An outage drill: the real bridge binary against a fake Cloudthread that goes down while webhooks arrive.

    python3 scripts/outage-drill.py --binary .build/release/cloudthread-bridge \
        [--webhooks 100] [--outage 45] [--endpoints events|ingest|all] [--kill]

The fake Cloudthread (in this process, on loopback) answers 503 to the chosen endpoints (`all`: every path, GET
/teams included) for `--outage` seconds, starting right after a few webhooks have been delivered. Signed GitHub
`deployment_status` webhooks (the shipped rule file and its example payload) are posted throughout the outage. With
`--kill`, the bridge is killed with SIGKILL in the middle of the outage and started again on the same data. At the
end the drill waits for the outbox to drain and prints what Cloudthread received and how many dead letters the
store holds. Exit 0 when every acknowledged webhook's event arrived, the hourly count equals the webhooks
acknowledged, and there is no dead letter.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "drill-secret"


class Fake:
    def __init__(self):
        self.lock = threading.Lock()
        self.down = set()
        self.events = []
        self.points = {}
        self.answers = {"accepted": 0, "unavailable": 0}


def handler(fake):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body=b""):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def unavailable(self, name):
            with fake.lock:
                down = "all" in fake.down or name in fake.down
                fake.answers["unavailable" if down else "accepted"] += 1
            if down:
                self.answer(503, b'{"message":"service unavailable"}')
            return down

        def do_GET(self):
            if self.unavailable("teams"):
                return
            self.answer(200, b'{"data":[]}')

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            name = "events" if self.path.startswith("/events") else "ingest"
            if self.unavailable(name):
                return
            doc = json.loads(body)
            with fake.lock:
                if name == "events":
                    fake.events += doc["data"]
                else:
                    for p in doc["data"]:
                        key = (p["metric_name"], p["timestamp"], json.dumps(p.get("custom_dimensions"), sort_keys=True))
                        fake.points[key] = p["metric_value"]
            self.answer(201, b"{}")

    return H


def start_bridge(binary, data, api):
    env = dict(os.environ)
    env.update(
        GITHUB_WEBHOOK_SECRET=SECRET, CLOUDTHREAD_API_URL=api, CLOUDTHREAD_API_KEY="drill-key",
        CLOUDTHREAD_STREAM_TOKEN="drill-stream", BRIDGE_RETENTION_DAYS="36500", LOG_FORMAT="text", LOG_LEVEL="info")
    p = subprocess.Popen(
        [binary, "serve", "--host", "127.0.0.1", "--port", "0", "--mappings", os.path.join(ROOT, "mappings"),
         "--data-dir", data],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    text = ""
    deadline = time.time() + 30
    while time.time() < deadline:
        line = p.stdout.readline()
        text += line
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
        if m:
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
            return p, int(m.group(1))
    sys.exit("the bridge did not start:\n" + text)


def fresh(body, n):
    """The example payload as webhook number `n`: its own deployment status id, so that neither the shipped rules'
    body de-duplication nor their item key (the deployment status id) takes it for one seen before."""
    payload = json.loads(body)
    payload["deployment_status"]["id"] = payload["deployment_status"]["id"] * 1000 + n
    return json.dumps(payload).encode()


def post(port, body):
    delivery = str(uuid.uuid4())
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/github", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-GitHub-Event": "deployment_status",
                 "X-Hub-Signature-256": sig, "X-GitHub-Delivery": delivery})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--webhooks", type=int, default=100)
    ap.add_argument("--outage", type=float, default=45)
    ap.add_argument("--endpoints", choices=["events", "ingest", "all"], default="events")
    ap.add_argument("--kill", action="store_true")
    ap.add_argument("--drain-timeout", type=float, default=600)
    a = ap.parse_args()

    fake = Fake()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(fake))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_port}"
    data = tempfile.mkdtemp(prefix="outage-drill-")
    body = open(os.path.join(ROOT, "mappings/examples/github/deployment_status.json"), "rb").read()
    bridge, port = start_bridge(a.binary, data, api)
    started = time.time()
    acknowledged = 0
    try:
        for n in range(3):
            acknowledged += post(port, fresh(body, n)) == 202
        while len(fake.events) < 3 and time.time() - started < 30:
            time.sleep(0.05)
        with fake.lock:
            fake.down = {a.endpoints}
        outage_start = time.time()
        killed = False
        interval = a.outage / max(1, a.webhooks)
        for i in range(a.webhooks):
            if a.kill and not killed and i >= a.webhooks // 2:
                bridge.send_signal(signal.SIGKILL)
                bridge.wait()
                bridge, port = start_bridge(a.binary, data, api)
                killed = True
            webhook = fresh(body, 3 + i)
            status = post(port, webhook)
            # The same webhook again until it is acknowledged: 200 (a duplicate) means an earlier try was stored
            # although its answer was lost.
            while status not in (200, 202):
                time.sleep(0.1)
                status = post(port, webhook)
            acknowledged += 1
            time.sleep(max(0, outage_start + (i + 1) * interval - time.time()))
        time.sleep(max(0, outage_start + a.outage - time.time()))
        with fake.lock:
            fake.down = set()
        outage_end = time.time()
        expected = acknowledged
        while time.time() - outage_end < a.drain_timeout:
            with fake.lock:
                counted = sum(v for (name, _, _), v in fake.points.items() if name == "deployments")
                events = len(fake.events)
            if events >= expected and counted >= expected:
                break
            time.sleep(0.2)
        drained = time.time() - outage_end
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(timeout=30)
        dead = subprocess.run(
            [a.binary, "dead-letters", "--data-dir", data, "--limit", "100000"], capture_output=True, text=True)
        m = re.search(r"(\d+) dead letters?\s*$", dead.stdout)
        dead_count = int(m.group(1)) if m else -1
        with fake.lock:
            counted = sum(v for (name, _, _), v in fake.points.items() if name == "deployments")
            events = len(fake.events)
            answers = dict(fake.answers)
        ok = events >= expected and counted == expected and dead_count == 0
        print(json.dumps({
            "endpoints down": a.endpoints, "outage seconds": a.outage, "killed": a.kill,
            "webhooks acknowledged": expected, "events received": events, "deploys counted": counted,
            "dead letters": dead_count, "503 answers": answers["unavailable"],
            "seconds from the outage's end to everything delivered": round(drained, 1), "result": "pass" if ok else "FAIL",
        }, indent=2))
        return 0 if ok else 1
    finally:
        if bridge.poll() is None:
            bridge.kill()
        server.shutdown()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
