#!/usr/bin/env python3
"""Where the bridge spends its CPU under the benchmark's valid-signature load, on loopback only.

Started by scripts/profile.sh. Runs the same set-up as scripts/benchmark.py (nginx as the fake Cloudthread, the
shipped rule files with every secret set, SQLite synchronous=FULL, LOG_LEVEL=warning, a temporary data directory),
then:
  perf:      `perf record -g` on the bridge process during `wrk -t2 -c32 -d<seconds>` with signed GitHub
             deployment_status webhooks, and prints `perf report --no-children` (self time): the top frames,
             Swift names demangled, and the split by shared object.
  syscalls:  with --syscalls, `strace -c -f` on the bridge during the same load: the system calls each thread made,
             per accepted webhook (strace slows every call, so the rate and CPU under it mean nothing).
  callgrind: with --callgrind N, the bridge under `valgrind --tool=callgrind` with collection switched on only
             around N webhooks (after start-up): instructions per webhook and the top functions.
Bounded in time and count; it stops everything it started.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark import (  # noqa: E402
    ROOT, SECRET, Bridge, BenchmarkError, Nginx, Wrk, make_rule_dir, machine_info, recent_body, write_lua)
import hashlib  # noqa: E402
import hmac  # noqa: E402


def demangle(text):
    tool = shutil.which("swift-demangle") or shutil.which("swift")
    if not tool:
        return text
    cmd = [tool] if tool.endswith("swift-demangle") else [tool, "demangle"]
    out = subprocess.run(cmd + ["--simplified"], input=text, capture_output=True, text=True, timeout=120)
    return out.stdout if out.returncode == 0 else text


def report_rows(text):
    """The rows of a perf report --stdio table (the lines that start with a percentage), padding squeezed."""
    rows = []
    for line in text.splitlines():
        if re.match(r"^\s+\d+\.\d+%", line):
            line = re.sub(r"(\s+-)+\s*$", "", line.rstrip())  # empty trailing columns
            rows.append(re.sub(r"\s{3,}", "   ", line))
    return rows


def shipped_count():
    return len([n for n in os.listdir(os.path.join(ROOT, "mappings")) if n.endswith(".yaml")])


def warm_bridge(args, workdir, name, nginx, mappings, env, wrk, lua):
    """A bridge started, ready, and past 2 s of the load (its outbox empty again); stopped on failure."""
    b = Bridge(args.binary, workdir, name, mappings, env, f"http://127.0.0.1:{nginx.fake_port}",
               extra_env={"BRIDGE_REFUSAL_LIMIT": "0"})
    b.start()
    try:
        b.wait_ready()
        wrk.run(b.port, lua, 2, label=f"{name}-warmup")
        b.wait_outbox_empty(120)
    except BaseException:
        b.stop()
        raise
    return b


def perf_profile(args, workdir, nginx, mappings, env, wrk, lua):
    b = warm_bridge(args, workdir, "perf", nginx, mappings, env, wrk, lua)
    try:
        data = os.path.join(workdir, "perf.data")
        perf = subprocess.Popen(["perf", "record", "--call-graph", args.call_graph, "-F", str(args.frequency), "-p", str(b.pid), "-o", data],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "perf.log"), "w"))
        time.sleep(0.5)
        try:
            load = wrk.run(b.port, lua, args.seconds, label="perf-load")
        finally:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=120)
        accepted = load["statuses"].get(401 if args.forged else 202, 0)
        print(f"perf: {accepted:,} webhooks {'refused' if args.forged else 'accepted'} in {load['seconds']:.1f} s "
              f"({accepted / load['seconds']:,.0f}/s, p99 {load['p99_us'] / 1000:.2f} ms) while sampling at "
              f"{args.frequency} Hz; answers {load['statuses']}")
        b.wait_outbox_empty(120)
    finally:
        b.stop()

    base = ["perf", "report", "-i", data, "--no-children", "--stdio", "-g", "none", "--percent-limit", "0.1"]
    frames = subprocess.run(base + ["--sort", "symbol,dso"], capture_output=True, text=True, timeout=600)
    dsos = subprocess.run(base + ["--sort", "dso"], capture_output=True, text=True, timeout=600)
    if frames.returncode != 0:
        raise BenchmarkError(f"perf report failed: {frames.stderr[-2000:]}")
    rows = report_rows(demangle(frames.stdout))
    print(f"\n=== perf report --no-children --sort symbol,dso: top {args.top} frames (self time, demangled) ===")
    print("\n".join(rows[:args.top]))
    print(f"\n=== the same, user-space frames only ([k] kernel frames left out; % of all samples) ===")
    print("\n".join([r for r in rows if "[k]" not in r][:args.top]))
    print("\n=== perf report --no-children --sort dso: self time by shared object ===")
    print("\n".join(report_rows(dsos.stdout)[:15]))
    chains = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio", "--percent-limit", "5",
                             "--sort", "symbol", "-g", "caller,5,callee,function,percent"],
                            capture_output=True, text=True, timeout=600)
    text = "\n".join(line.rstrip() for line in demangle(chains.stdout).splitlines()
                     if line.strip() and not line.startswith("#"))
    print("\n=== call paths into the frames above 5% (perf report --no-children -g caller, paths above 5%) ===")
    print(text)
    if args.keep_perf_data:
        kept = os.path.abspath(args.keep_perf_data)
        shutil.copy(data, kept)
        print(f"\nperf.data kept as {kept} (perf report -i {kept} --no-children)")


def syscall_profile(args, workdir, nginx, mappings, env, wrk, lua):
    out = os.path.join(workdir, "strace.txt")
    b = warm_bridge(args, workdir, "strace", nginx, mappings, env, wrk, lua)
    try:
        tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(b.pid), "-o", out],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            load = wrk.run(b.port, lua, args.seconds, label="strace-load")
            b.wait_outbox_empty(120)  # the forwarding of these webhooks is part of their cost
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=120)
        accepted = load["statuses"].get(202, 0)
    finally:
        b.stop()
    print(f"\n=== system calls (strace -c -f, all threads): {accepted:,} webhooks accepted and forwarded ===")
    if not accepted or not os.path.exists(out):
        print("no webhook accepted under strace")
        return
    print(f"{'calls':>10} {'per webhook':>12}  syscall")
    for line in open(out).read().splitlines():
        parts = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(parts) >= 5 and parts[3].isdigit() and parts[-1] != "total":
            calls = int(parts[3])
            if calls / accepted >= 0.01:
                print(f"{calls:>10,} {calls / accepted:>12.2f}  {parts[-1]}")


def callgrind_profile(args, workdir, nginx, mappings, env, lua):
    out = os.path.join(workdir, "callgrind.out")
    # Valgrind 3.19 cannot read the DWARF 5 that Swift 6 emits: profile a copy without debug info (the symbol
    # table stays, so functions keep their names; lines and files are lost).
    binary = os.path.join(workdir, "cloudthread-bridge.nodebug")
    subprocess.run(["objcopy", "--strip-debug", args.binary, binary], check=True, timeout=300)
    probe = subprocess.run(["valgrind", "--tool=none", binary, "--help"], capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        crash = re.search(r"VALGRIND INTERNAL ERROR.*|the 'impossible' happened", probe.stderr)
        version = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
        print(f"\n=== callgrind: skipped: {version} cannot run this binary (`valgrind --tool=none "
              f"cloudthread-bridge --help` exits {probe.returncode}: {crash.group(0) if crash else 'see valgrind'}) ===")
        return
    b = Bridge(binary, workdir, "callgrind", mappings, env, f"http://127.0.0.1:{nginx.fake_port}",
               extra_env={"BRIDGE_REFUSAL_LIMIT": "0"},
               prefix=["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"])
    b.start()
    try:
        b.wait_ready(timeout=300, interval=0.2)
        # A few webhooks outside the measurement: lazy initialisation is not what we want to count.
        small = Wrk(1, 4, workdir)
        small.run(b.port, lua, 120, per_thread_limit=50, label="callgrind-warmup")
        b.wait_outbox_empty(300)
        subprocess.run(["callgrind_control", "--instr=on", str(b.pid)], check=True, capture_output=True,
                       timeout=60)
        r = small.run(b.port, lua, 600, per_thread_limit=args.callgrind, label="callgrind-load")
        b.wait_outbox_empty(600)  # the forwarding of these webhooks is part of their cost
        subprocess.run(["callgrind_control", "--instr=off", str(b.pid)], check=True, capture_output=True,
                       timeout=60)
        accepted = r["statuses"].get(202, 0)
    finally:
        b.stop(timeout=300)
    if not os.path.exists(out):
        raise BenchmarkError("callgrind wrote no profile")
    ann = subprocess.run(["callgrind_annotate", "--inclusive=no", out], capture_output=True, text=True, timeout=600)
    text = demangle(ann.stdout)
    total = re.search(r"^([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", text, re.M) or \
        re.search(r"^([\d,]+)\s+PROGRAM TOTALS", text, re.M)
    ir = int(total.group(1).replace(",", "")) if total else 0
    print(f"\n=== callgrind: {accepted:,} webhooks (answers {r['statuses']}) incl. forwarding them ===")
    if accepted:
        print(f"instructions: {ir:,} in all, {ir / accepted:,.0f} per webhook")
    rows = [line for line in text.splitlines() if re.match(r"^\s*[\d,]+\s+\(\s*\d+\.\d+%\)\s+\S", line)]
    print(f"top {args.top} functions by own instructions (callgrind_annotate --inclusive=no):")
    print("\n".join(rows[:args.top + 1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/cloudthread-bridge"))
    ap.add_argument("--body", default=os.path.join(ROOT, "Benchmarks/payloads/deployment_status-9k.json"),
                    help="the body (default: the benchmark's 9 KB GitHub deployment_status; the 3 KB test fixture is "
                         "Tests/BridgeServerTests/Fixtures/payloads/deployment_status.json)")
    ap.add_argument("--seconds", type=int, default=10, help="seconds of load while perf samples (default 10)")
    ap.add_argument("--frequency", type=int, default=999, help="perf sampling frequency in Hz (default 999)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--call-graph", default="fp", help="perf record --call-graph mode: fp (= -g, default) or dwarf")
    ap.add_argument("--forged", action="store_true",
                    help="profile the forged-signature flood instead (every request refused with 401)")
    ap.add_argument("--no-perf", action="store_true", help="skip perf (with --syscalls or --callgrind)")
    ap.add_argument("--syscalls", action="store_true",
                    help="also count system calls per webhook under strace -c -f (needs strace)")
    ap.add_argument("--callgrind", type=int, default=0, metavar="N",
                    help="also count instructions for N webhooks under valgrind --tool=callgrind")
    ap.add_argument("--keep-perf-data", metavar="FILE", help="copy perf.data here")
    args = ap.parse_args()
    args.binary, args.body = os.path.abspath(args.binary), os.path.abspath(args.body)
    workdir = tempfile.mkdtemp(prefix="bridge-profile-")
    os.chmod(workdir, 0o755)
    for line in machine_info(args.binary):
        print(line)
    print(f"perf:    {subprocess.run(['perf', '--version'], capture_output=True, text=True).stdout.strip()}")
    body_file, body, _ = recent_body(args.body, workdir)  # as in benchmark.py: timestamps moved to now
    key = b"not-the-secret" if args.forged else SECRET.encode()
    lua = write_lua(workdir, "forged" if args.forged else "valid", body_file,
                    "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest())
    print(f"load:    {'FORGED (wrong signature)' if args.forged else 'valid'} signed GitHub deployment_status, "
          f"{len(body):,} bytes, fresh X-GitHub-Delivery per request; BRIDGE_REFUSAL_LIMIT=0")
    nginx = Nginx(workdir)
    broken = None
    try:
        nginx.start()
        mappings, env = make_rule_dir(workdir, shipped_count())
        if not args.no_perf:
            perf_profile(args, workdir, nginx, mappings, env, Wrk(2, 32, workdir), lua)
        if args.syscalls:
            syscall_profile(args, workdir, nginx, mappings, env, Wrk(2, 32, workdir), lua)
        if args.callgrind:
            callgrind_profile(args, workdir, nginx, mappings, env, lua)
    except BenchmarkError as e:
        broken = str(e)
    finally:
        nginx.stop()
    if broken:
        print(f"\nBROKEN RUN: {broken}\nlogs kept in {workdir}", file=sys.stderr)
        sys.exit(2)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
