#!/usr/bin/env python3
"""Webhooks per second on SQLite (one process) and on one PostgreSQL database with 1 and 3 replicas.

  python3 scripts/benchmark-replicas.py --database-url postgres://... [--binary .build/release/cloudthread-bridge]

Each run starts the bridges in dry run (nothing is sent) on loopback, PostgreSQL runs on a fresh schema, and sends
--count signed GitHub webhooks from --concurrency keep-alive connections spread over the replicas. Bounded; it stops
by itself. The numbers depend on the machine: compare them with each other, not with another machine's.
"""
import argparse, http.client, os, shutil, signal, subprocess, sys, tempfile, threading, time, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchmark  # noqa: E402  (body(), send(), free_port(): the same webhooks as scripts/benchmark.py)


def start(binary, database_url, data):
    port = benchmark.free_port()
    env = dict(os.environ, GITHUB_WEBHOOK_SECRET=benchmark.SECRET.decode(), BRIDGE_HOST="127.0.0.1",
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
        benchmark.run_load(ports[0], 200, 4, 50_000_000, timeout)  # warm-up
        per = count // concurrency
        threads, results = [], []
        t0 = time.monotonic()
        for t in range(concurrency):
            bodies = [benchmark.body(t * per + i) for i in range(per)]
            th = threading.Thread(target=benchmark.send, args=(ports[t % len(ports)], bodies, results, timeout))
            th.start()
            threads.append(th)
        for th in threads:
            th.join()
        elapsed = time.monotonic() - t0
        return sum(results), per * concurrency, elapsed
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
