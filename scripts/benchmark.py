#!/usr/bin/env python3
"""Throughput and memory benchmark of a running cloudthread-bridge, on loopback only.

Starts the bridge binary (dry run, temporary data directory), sends signed GitHub deployment_status webhooks
with 1 and then C concurrent keep-alive connections, and reports ratios measured in the same run:
  - throughput at concurrency C / throughput at concurrency 1 (group commit amortises the fsync per commit);
  - webhooks per SQLite commit at concurrency C (the group-commit factor, from the bridge's shutdown log);
  - resident memory after all webhooks / resident memory after warm-up (bounded memory: the backlog is on disk);
  - a 4 MiB body (under the 5 MiB limit) does not grow memory beyond the same bound.
Bounded in count and time; it stops by itself.
"""
import argparse, hashlib, hmac, http.client, json, os, re, shutil, signal, subprocess, sys, tempfile, threading, time, uuid

SECRET = b"benchmark-secret"


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def body(i):
    return json.dumps({
        "action": "created",
        "deployment_status": {"state": "success", "updated_at": "2024-05-01T14:%02d:00Z" % (i % 60), "target_url": "https://ci.example.com/%d" % i,
                              "creator": {"login": "bench"}},
        "deployment": {"ref": "main", "environment": "env%d" % (i % 7)},
        "repository": {"name": "svc%d" % (i % 13), "full_name": "org/svc%d" % (i % 13), "html_url": "https://git.example.com/svc"},
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
        if r.status == 202:
            ok += 1
    conn.close()
    results.append(ok)


def run_load(port, count, concurrency, offset, timeout):
    per = count // concurrency
    threads, results = [], []
    start = time.monotonic()
    for t in range(concurrency):
        bodies = [body(offset + t * per + i) for i in range(per)]
        th = threading.Thread(target=send, args=(port, bodies, results, timeout))
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    elapsed = time.monotonic() - start
    return sum(results), elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=".build/release/cloudthread-bridge")
    ap.add_argument("--count", type=int, default=4000, help="webhooks per phase")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()

    data = tempfile.mkdtemp(prefix="ctb-bench-")
    port = free_port()
    env = dict(os.environ, GITHUB_WEBHOOK_SECRET=SECRET.decode(), BRIDGE_HOST="127.0.0.1", BRIDGE_PORT=str(port),
               BRIDGE_DATA_DIR=data, BRIDGE_MAPPINGS="mappings", LOG_LEVEL="notice", LOG_FORMAT="text")
    env.pop("CLOUDTHREAD_API_KEY", None)
    log = open(os.path.join(data, "bridge.log"), "w+")
    proc = subprocess.Popen([args.binary, "serve"], env=env, stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        warm_ok, _ = run_load(port, 200, 4, 10_000_000, args.timeout)
        rss_warm = rss_kib(proc.pid)
        ok1, t1 = run_load(port, args.count // 4, 1, 0, args.timeout)
        okc, tc = run_load(port, args.count, args.concurrency, 1_000_000, args.timeout)
        rss_after = rss_kib(proc.pid)
        big = b'{"deployment_status":{"state":"success"},"pad":"' + b"x" * (4 * 1024 * 1024) + b'"}'
        sig = "sha256=" + hmac.new(SECRET, big, hashlib.sha256).hexdigest()
        for _ in range(5):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=args.timeout)
            c.request("POST", "/hooks/github", body=big, headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": sig, "Content-Type": "application/json"})
            c.getresponse().read()
        rss_big = rss_kib(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    log.seek(0)
    text = log.read()
    m = re.search(r"store\.commits=(\d+).*?store\.largest_group=(\d+).*?store\.records=(\d+)", text)
    commits, largest, records = (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)
    r1 = ok1 / t1
    rc = okc / tc
    print(f"accepted: {ok1}/{args.count // 4} at concurrency 1, {okc}/{args.count} at concurrency {args.concurrency}; exit code {code}")
    print(f"throughput ratio, concurrency {args.concurrency} / concurrency 1: {rc / r1:.2f}x")
    print(f"webhooks per SQLite commit over the run: {records / max(commits, 1):.2f} (largest group {largest})")
    print(f"resident memory after {args.count + args.count // 4} webhooks / after warm-up: {rss_after / max(rss_warm, 1):.2f}x")
    print(f"resident memory after five 4 MiB bodies / after warm-up: {rss_big / max(rss_warm, 1):.2f}x")
    shutil.rmtree(data, ignore_errors=True)
    if ok1 != args.count // 4 or okc != args.count or code != 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
