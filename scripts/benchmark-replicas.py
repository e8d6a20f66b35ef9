#!/usr/bin/env python3
"""Webhooks per second on SQLite (one process) and on one PostgreSQL database with 1 and 3 replicas.

  python3 scripts/benchmark-replicas.py --database-url postgres://... [--binary .build/release/cloudthread-bridge]

Each run starts the bridges in dry run (nothing is sent) on loopback, PostgreSQL runs on a fresh schema, and sends
--count signed GitHub webhooks from --concurrency keep-alive connections spread over the replicas. Bounded; it stops
by itself. The numbers depend on the machine: compare them with each other, not with another machine's.
"""
import argparse, hashlib, hmac, http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, threading
import time, uuid

SECRET = b"benchmark-secret"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def body(i):
    """A GitHub deployment_status webhook of this hour (older hours' metrics are refused)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return json.dumps({
        "action": "created",
        "deployment_status": {"state": "success", "updated_at": now, "target_url": "https://ci.example.com/%d" % i,
                              "creator": {"login": "bench"}},
        "deployment": {"ref": "main", "environment": "env%d" % (i % 7)},
        "repository": {"name": "svc%d" % (i % 13), "full_name": "org/svc%d" % (i % 13),
                       "html_url": "https://git.example.com/svc"},
        "sender": {"login": "bench"},
    }).encode()


def send(port, bodies, results, timeout):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    ok = 0
    for b in bodies:
        sig = "sha256=" + hmac.new(SECRET, b, hashlib.sha256).hexdigest()
        conn.request("POST", "/hooks/github", body=b, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "deployment_status",
            "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": sig})
        r = conn.getresponse()
        r.read()
        ok += r.status == 202
    conn.close()
    results.append(ok)


def load(ports, count, concurrency, offset, timeout):
    per = count // concurrency
    threads, results = [], []
    t0 = time.monotonic()
    for t in range(concurrency):
        bodies = [body(offset + t * per + i) for i in range(per)]
        th = threading.Thread(target=send, args=(ports[t % len(ports)], bodies, results, timeout))
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    return sum(results), per * concurrency, time.monotonic() - t0


def start(binary, database_url, data):
    port = free_port()
    env = dict(os.environ, GITHUB_WEBHOOK_SECRET=SECRET.decode(), BRIDGE_HOST="127.0.0.1",
               BRIDGE_PORT=str(port), BRIDGE_DATA_DIR=data, BRIDGE_MAPPINGS="mappings", LOG_LEVEL="warning",
               LOG_FORMAT="text", BRIDGE_MAX_CONCURRENT="0", BRIDGE_REFUSAL_LIMIT="0")
    env.pop("CLOUDTHREAD_API_KEY", None)
    env.pop("BRIDGE_DATABASE_URL", None)
    if database_url:
        env["BRIDGE_DATABASE_URL"] = database_url
    log = open(os.path.join(data, f"bridge-{port}.log"), "w")
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=log)
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"bridge on {port} did not become ready")


def run(binary, database_url, replicas, count, concurrency, timeout):
    data = tempfile.mkdtemp(prefix="ctb-bench-replicas-")
    procs = []
    try:
        if database_url:
            schema = "bench_" + uuid.uuid4().hex[:8]
            database_url += ("&" if "?" in database_url else "?") + "schema=" + schema
            subprocess.run([binary, "migrate", "--database-url", database_url], check=True, capture_output=True)
        for _ in range(replicas):
            procs.append(start(binary, database_url, data))
        ports = [p for _, p in procs]
        load(ports, 200, 4, 50_000_000, timeout)  # warm-up
        return load(ports, count, concurrency, 0, timeout)
    finally:
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in procs:
            proc.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=".build/release/cloudthread-bridge")
    ap.add_argument("--database-url", default=os.environ.get("BRIDGE_TEST_DATABASE_URL"))
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()
    runs = [("SQLite, 1 process", None, 1)]
    if args.database_url:
        runs += [("PostgreSQL, 1 replica", args.database_url, 1), ("PostgreSQL, 3 replicas", args.database_url, 3)]
    failed = False
    for name, url, n in runs:
        ok, sent, elapsed = run(args.binary, url, n, args.count, args.concurrency, args.timeout)
        print(f"{name}: {ok / elapsed:,.0f} webhooks/s ({ok}/{sent} accepted in {elapsed:.1f} s, "
              f"concurrency {args.concurrency})")
        failed = failed or ok != sent
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
