#!/usr/bin/env python3
"""Allocations per webhook of one or several release binaries of cloudthread-bridge, side by side, in one run.

Each binary is started with the benchmark's set-up (scripts/benchmark.py: the shipped rule files and copies, 40 in
all, every secret set, LOG_LEVEL=warning, a temporary data directory), in dry run with a stream token (no
Cloudthread API key: nothing leaves the machine, and the hourly aggregate is stored as in the benchmark). After a
warm-up, wrk (one thread, 4 connections, the benchmark's Lua script) sends N signed valid GitHub
`deployment_status` webhooks (the 3 KB test fixture, or --body, e.g. a 9 KB one; its times moved to now, a fresh X-GitHub-Delivery each), then N
forged ones (BRIDGE_REFUSAL_LIMIT=0, so that every forgery is verified). While each load runs,
`perf stat -e probe_libc:malloc -p <pid>` counts the bridge's calls to libc's malloc (every thread); the count is
divided by the webhooks the bridge answered in that window (its own bridge_webhooks_total counter, read before and
after). What the bridge allocates with no webhook at all (its timers) is counted over --idle seconds first, and the
"idle taken out" rows subtract that rate over each window; the raw rows do not. Valgrind cannot run the Swift binary here; a uprobe on malloc can.

The probe must exist (as root, once):  perf probe -x /lib/x86_64-linux-gnu/libc.so.6 -a malloc
Other allocation functions are counted too when probes for them exist (probe_libc:calloc, realloc,
posix_memalign, aligned_alloc); `perf probe -l` lists them.

A probe costs about a microsecond per call, so CPU is measured in a separate pass without perf: the bridge's
utime + stime per webhook for the same load (noisy on a shared machine; the malloc counts are not).

    scripts/allocations.py --binary /tmp/bridge-before --binary .build/release/cloudthread-bridge
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import hashlib
import hmac

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark import (  # noqa: E402  (the benchmark's own set-up, shared)
    ROOT, SECRET, BenchmarkError, Bridge, Wrk, log, make_rule_dir, proc_cpu_seconds, recent_body, write_lua,
)

ALLOCATORS = ("malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign")


def probes():
    """The libc allocation probes perf knows (probe_libc:malloc at least)."""
    out = subprocess.run(["perf", "probe", "-l"], capture_output=True, text=True, timeout=60)
    found = set(re.findall(r"probe_libc:(\w+)", out.stdout + out.stderr))
    return [f"probe_libc:{name}" for name in ALLOCATORS if name in found]


def answered(bridge):
    """Webhooks the bridge has answered, all outcomes (its bridge_webhooks_total counter)."""
    return sum(v for k, v in bridge.metrics().items() if k.startswith("bridge_webhooks_total:"))


class PerfCount:
    """`perf stat` on one process until stopped: the number of events of each probe."""

    def __init__(self, pid, events, workdir, label):
        self.started = time.monotonic()
        self.path = os.path.join(workdir, f"perf-{label}.txt")
        self.proc = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-o", self.path] + sum((["-e", e] for e in events), []) + ["-p", str(pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # perf attaches to every thread (and the uprobes are installed) before the load starts
        if self.proc.poll() is not None:
            raise BenchmarkError(f"perf stat exited: {self.proc.stderr.read().decode()[-500:]}")

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        self.seconds = time.monotonic() - self.started
        counts = {}
        with open(self.path) as f:
            for line in f:
                fields = line.strip().split(",")
                if len(fields) >= 3 and fields[2].startswith("probe_libc:"):
                    if not fields[0].isdigit():
                        raise BenchmarkError(f"perf could not count {fields[2]}: {line.strip()}")
                    counts[fields[2]] = int(fields[0])
        if not counts:
            raise BenchmarkError(f"perf stat counted nothing: {open(self.path).read()[-500:]}")
        return counts


def measure(index, binary, args, workdir, mappings, secrets_env, scripts, events):
    """Allocations (and, in a second pass, CPU) per webhook of one binary, for the valid and the forged load."""
    name = f"{index + 1}-{os.path.basename(binary)}"
    extra = {"BRIDGE_REFUSAL_LIMIT": "0", "LOG_LEVEL": "warning"}
    bridge = Bridge(binary, workdir, name, mappings, secrets_env, "http://127.0.0.1:9", extra_env=extra)
    del bridge.env["CLOUDTHREAD_API_KEY"]  # dry run: forwarding is logged, nothing is sent
    bridge.start()
    results = {}
    try:
        bridge.wait_ready(timeout=60)
        wrk = Wrk(1, args.connections, workdir)
        for kind, script, status in (("valid", scripts["valid"], 202), ("forged", scripts["forged"], 401)):
            log(f"{name}: {kind} warm-up ({args.warmup:,} webhooks)")
            wrk.run(bridge.port, script, 300, per_thread_limit=args.warmup, label=f"{name}-{kind}-warmup")
            if kind == "valid":
                # What the bridge allocates with no webhook at all (timers: the rule files' fingerprint, the
                # forwarder's polls), per second, so that it can be taken out of the loads' counts.
                time.sleep(0.5)
                idle = PerfCount(bridge.pid, events, workdir, f"{name}-idle")
                time.sleep(args.idle)
                idle_counts = idle.stop()
                idle_rate = idle_counts["probe_libc:malloc"] / idle.seconds
                results["idle mallocs"] = idle_rate
            for probe in (True, False):
                time.sleep(0.5)  # whatever the last load left (the forwarder's next pass) settles
                before = answered(bridge)
                counter = PerfCount(bridge.pid, events, workdir, f"{name}-{kind}") if probe else None
                cpu0 = proc_cpu_seconds(bridge.pid)
                r = wrk.run(bridge.port, script, 600, per_thread_limit=args.count,
                            label=f"{name}-{kind}-{'probe' if probe else 'cpu'}")
                cpu1 = proc_cpu_seconds(bridge.pid)
                counts = counter.stop() if counter else None
                n = answered(bridge) - before
                if r["statuses"].get(status, 0) < args.count or n < args.count:
                    raise BenchmarkError(f"{name}: the {kind} load was answered {r['statuses']} "
                                         f"(expected {args.count:,} answers {status})")
                if probe:
                    results[f"{kind} mallocs"] = counts["probe_libc:malloc"] / n
                    results[f"{kind} mallocs net"] = (counts["probe_libc:malloc"] - idle_rate * counter.seconds) / n
                    others = sum(v for k, v in counts.items() if k != "probe_libc:malloc")
                    if len(counts) > 1:
                        results[f"{kind} other allocations"] = others / n
                    log(f"{name}: {kind}: {counts} over {n:,} webhooks")
                else:
                    results[f"{kind} cpu"] = (cpu1 - cpu0) / n * 1e6
    finally:
        code = bridge.stop()
        if code not in (0, None):
            log(f"{name} exited with {code}: {bridge.tail_log()}")
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", action="append", required=True,
                    help="a release binary of cloudthread-bridge (repeat to compare several side by side)")
    ap.add_argument("--count", type=int, default=5000, help="webhooks of each measured load (default 5,000)")
    ap.add_argument("--warmup", type=int, default=2000, help="webhooks sent before each measured load (2,000)")
    ap.add_argument("--connections", type=int, default=4, help="wrk connections, one thread (default 4)")
    ap.add_argument("--idle", type=float, default=5, help="seconds of the idle count (default 5)")
    ap.add_argument("--rule-files", type=int, default=40)
    ap.add_argument("--body", default=os.path.join(ROOT, "Tests/BridgeServerTests/Fixtures/payloads/deployment_status.json"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, wrk and perf output)")
    args = ap.parse_args()
    binaries = [os.path.abspath(b) for b in args.binary]
    for b in binaries:
        if not os.access(b, os.X_OK):
            sys.exit(f"no executable at {b}")
    for tool in ("wrk", "perf"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    events = probes()
    if "probe_libc:malloc" not in events:
        sys.exit("no malloc probe: perf probe -x /lib/x86_64-linux-gnu/libc.so.6 -a malloc (as root)")

    workdir = tempfile.mkdtemp(prefix="bridge-allocations-")
    os.chmod(workdir, 0o755)
    try:
        body_file, body, _ = recent_body(os.path.abspath(args.body), workdir)
        good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        bad = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
        scripts = {"valid": write_lua(workdir, "valid", body_file, good),
                   "forged": write_lua(workdir, "forged", body_file, bad)}
        mappings, secrets_env = make_rule_dir(workdir, args.rule_files)
        columns = [(b, measure(i, b, args, workdir, mappings, secrets_env, scripts, events))
                   for i, b in enumerate(binaries)]
    except BenchmarkError as e:
        print(f"run broken: {e} (files in {workdir})", file=sys.stderr)
        sys.exit(2)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"body: {os.path.relpath(os.path.abspath(args.body), ROOT)} ({len(body):,} bytes); "
          f"wrk -t1 -c{args.connections}; {args.count:,} webhooks per load after {args.warmup:,}; "
          f"{args.rule_files} rule files; dry run; LOG_LEVEL=warning; BRIDGE_REFUSAL_LIMIT=0; probes: {', '.join(events)}")
    rows = [("valid mallocs net", "mallocs per accepted webhook, idle taken out"),
            ("forged mallocs net", "mallocs per forged webhook, idle taken out"),
            ("valid mallocs", "mallocs per accepted webhook"), ("valid other allocations", "other allocations per accepted webhook"),
            ("forged mallocs", "mallocs per forged webhook"), ("forged other allocations", "other allocations per forged webhook"),
            ("idle mallocs", "mallocs per second, idle"),
            ("valid cpu", "CPU µs per accepted webhook (no probe)"), ("forged cpu", "CPU µs per forged webhook (no probe)")]
    heads = [os.path.relpath(b) if not b.startswith("/tmp") else b for b, _ in columns]
    width = max(len(label) for _, label in rows)
    print("| " + " | ".join([""] + heads) + " |")
    print("|" + "---|" * (len(heads) + 1))
    for key, label in rows:
        if not any(key in r for _, r in columns):
            continue
        cells = [f"{r[key]:,.1f}" if key in r else "-" for _, r in columns]
        print(f"| {label:<{width}} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
