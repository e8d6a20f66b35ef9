#!/usr/bin/env python3
"""Two or more release binaries of the bridge compared under the same valid load, in alternating rounds.

On a shared machine the speed of the whole machine drifts by more than a small change is worth: two runs of
scripts/benchmark.py minutes apart can differ by 10-25% with the same binary. This script starts every binary once
(each with its own temporary data directory, the benchmark's set-up: nginx as the fake Cloudthread, the shipped rule
files with every secret set, SQLite synchronous=FULL, LOG_LEVEL=warning, a stream token), and then loads them in
turn, A B A B ..., with the same short wrk load (-t2 -c32, the signed 9 KB GitHub deployment_status of the
benchmark). For each load it measures the webhooks accepted and the bridge's CPU (utime + stime of every thread from
/proc, the forwarding of the load's webhooks included: it waits until the outbox is empty before reading it). Each
round therefore compares the binaries a few seconds apart, and the ratio reported is the median of the rounds'
ratios to the first binary.

    scripts/benchmark-ab.py --binary /tmp/before --binary .build/release/cloudthread-bridge [--rounds 6]
"""
import argparse
import hashlib
import hmac
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark import (  # noqa: E402
    ROOT, SECRET, Bridge, BenchmarkError, Nginx, Wrk, make_rule_dir, machine_info, proc_cpu_seconds, recent_body,
    write_lua)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", action="append", required=True, help="a release binary (twice or more)")
    ap.add_argument("--body", default=os.path.join(ROOT, "Benchmarks/payloads/deployment_status-9k.json"))
    ap.add_argument("--rounds", type=int, default=6, help="rounds of one load per binary (default 6)")
    ap.add_argument("--seconds", type=int, default=8, help="seconds of each load (default 8)")
    args = ap.parse_args()
    if len(args.binary) < 2:
        ap.error("give at least two binaries")
    binaries = [os.path.abspath(b) for b in args.binary]
    workdir = tempfile.mkdtemp(prefix="bridge-ab-")
    os.chmod(workdir, 0o755)
    for line in machine_info(binaries[0]):
        print(line)
    body_file, body, _ = recent_body(os.path.abspath(args.body), workdir)
    lua = write_lua(workdir, "valid", body_file, "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest())
    print(f"load:    wrk -t2 -c32 -d{args.seconds}s per binary and round, {args.rounds} rounds, binaries in turn; "
          f"signed GitHub deployment_status, {len(body):,} bytes")
    nginx = Nginx(workdir)
    bridges, broken = [], None
    results = [[] for _ in binaries]  # per binary: (webhooks/s, CPU µs per webhook, p99 ms)
    try:
        nginx.start()
        count = len([n for n in os.listdir(os.path.join(ROOT, "mappings")) if n.endswith(".yaml")])
        mappings, env = make_rule_dir(workdir, count)
        for i, binary in enumerate(binaries):
            b = Bridge(binary, workdir, f"b{i}", mappings, env, f"http://127.0.0.1:{nginx.fake_port}",
                       extra_env={"BRIDGE_REFUSAL_LIMIT": "0"})
            b.start()
            bridges.append(b)
            b.wait_ready()
        wrk = Wrk(2, 32, workdir)
        for b in bridges:
            wrk.run(b.port, lua, 2, label=f"warmup-{b.name}")
            b.wait_outbox_empty(120)
        for r in range(args.rounds):
            # The order within a round alternates too, so that neither binary always runs first.
            order = list(range(len(bridges))) if r % 2 == 0 else list(reversed(range(len(bridges))))
            for i in order:
                b = bridges[i]
                before = proc_cpu_seconds(b.pid)
                load = wrk.run(b.port, lua, args.seconds, label=f"r{r}-{b.name}")
                b.wait_outbox_empty(120)
                cpu = proc_cpu_seconds(b.pid) - before
                accepted = load["statuses"].get(202, 0)
                if not accepted:
                    raise BenchmarkError(f"{binaries[i]} accepted no webhook: {load['statuses']}")
                results[i].append((accepted / load["seconds"], cpu / accepted * 1e6, load["p99_us"] / 1000))
    except BenchmarkError as e:
        broken = str(e)
    finally:
        for b in bridges:
            b.stop()
        nginx.stop()
    if broken:
        print(f"\nBROKEN RUN: {broken}\nlogs kept in {workdir}", file=sys.stderr)
        sys.exit(2)
    shutil.rmtree(workdir, ignore_errors=True)

    print("\n| binary | webhooks/s, each round | CPU per webhook, each round (µs) | p99, each round (ms) |")
    print("|---|---|---|---|")
    for binary, rows in zip(binaries, results):
        print(f"| {binary} | {', '.join(f'{w:,.0f}' for w, _, _ in rows)} | "
              f"{', '.join(f'{c:.1f}' for _, c, _ in rows)} | {', '.join(f'{p:.1f}' for _, _, p in rows)} |")
    print("\nAgainst the first binary, the median of the rounds' ratios (each round's loads a few seconds apart):")
    for binary, rows in zip(binaries[1:], results[1:]):
        rate = statistics.median(w / w0 for (w, _, _), (w0, _, _) in zip(rows, results[0]))
        cpu = statistics.median(c / c0 for (_, c, _), (_, c0, _) in zip(rows, results[0]))
        lo = min(c / c0 for (_, c, _), (_, c0, _) in zip(rows, results[0]))
        hi = max(c / c0 for (_, c, _), (_, c0, _) in zip(rows, results[0]))
        print(f"  {binary}: webhooks/s {rate:.3f}x, CPU per webhook {cpu:.3f}x (rounds {lo:.3f}x to {hi:.3f}x)")


if __name__ == "__main__":
    main()
