#!/usr/bin/env python3
"""Webhooks per second on SQLite (one process) and on one PostgreSQL database with 1 and 3 replicas, in one run.

  python3 scripts/benchmark-replicas.py --database-url postgres://... [--binary .build/release/cloudthread-bridge]
      [--binary /tmp/bridge-before ...]

Each run starts the bridges in dry run (nothing is sent) on loopback, PostgreSQL on a fresh schema, with the shipped
rule files as scripts/benchmark.py loads them (no body de-duplication, no item keys: one body is replayed).
With --item-keys the rules keep their item keys (`dedupe_key`; GitHub's is the deployment status's id), and every
request is a different signed body with a fresh deployment status id (bodies signed beforehand, --bodies per wrk
process, read by wrk's threads from their own files), so that every webhook claims a new item key. With wrk
installed (the default driver), wrk POSTs one signed GitHub webhook with a fresh X-GitHub-Delivery per request for
--duration seconds after a 2 s warm-up, from --connections keep-alive connections split evenly over the replicas (one
wrk process per replica, all at once); webhooks/s is the 202 answers divided by the duration. Without wrk (or with
--driver python) Python threads send --count webhooks instead. Bounded; it stops by itself. It prints one line per
configuration and the ratios to SQLite. The numbers depend on the machine: compare them with each other.

CPU per webhook: the user and system time (/proc/PID/stat) of the bridge processes, and of every process of the
PostgreSQL cluster (the postmaster listening on the URL's port and its children: the backends, the WAL writer, the
checkpointer...), read before and after the measured load, divided by the 202 answers. Both are given and summed, so
SQLite (the bridge alone) and PostgreSQL (the bridge and the server) compare. Reading another user's /proc entries
needs root or the cluster's user; --pg-pid names the postmaster when it cannot be found from the port.
With several --binary (e.g. main's build and a branch's), every configuration is run for each, back to back, and
one table compares them.
"""
import argparse, hashlib, hmac, http.client, json, os, re, shutil, signal, socket, subprocess, sys, tempfile
import threading, time, uuid

SECRET = b"benchmark-secret"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def body(i, item=None):
    """A GitHub deployment_status webhook of this hour (older hours' metrics are refused); `item` is the deployment
    status's id (the GitHub rule's item key) when given."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"state": "success", "updated_at": now, "target_url": "https://ci.example.com/%d" % i,
              "creator": {"login": "bench"}}
    if item is not None:
        status["id"] = item
    return json.dumps({
        "action": "created",
        "deployment_status": status,
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


ITEMS_LUA = r"""
-- --item-keys: every request a different signed body (a fresh item key), read from this thread's own file.
local items, next_item = {}, 0
local plain_init = init
function init(args)
    plain_init(args)
    for line in io.lines("@BODIES@-" .. tid) do
        local tab = line:find("\t", 1, true)
        table.insert(items, {line:sub(1, tab - 1), line:sub(tab + 1)})
    end
end
function request()
    sent = sent + 1
    next_item = next_item % #items + 1
    local item = items[next_item]
    wrk.headers["X-GitHub-Delivery"] = string.format("%s-%d-%d", nonce, tid, sent)
    wrk.headers["X-Hub-Signature-256"] = item[1]
    return wrk.format(nil, nil, nil, item[2])
end
"""

ITEM_IDS = iter(range(1, 1 << 62))


def signed_bodies(path, count):
    """`count` signed bodies, each with a fresh item key (deployment status id), one per line: signature, tab, body."""
    with open(path, "w") as f:
        for _ in range(count):
            b = body(0, item=next(ITEM_IDS))
            f.write("sha256=" + hmac.new(SECRET, b, hashlib.sha256).hexdigest() + "\t" + b.decode() + "\n")


LUA = r"""
-- Generated by scripts/benchmark-replicas.py: one fixed signed body, a fresh delivery id per request, answers
-- counted by status and printed as one line at the end.
local f = assert(io.open("@BODY@", "rb"))
wrk.method = "POST"
wrk.path = "/hooks/github"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "deployment_status"
wrk.headers["X-Hub-Signature-256"] = "@SIGNATURE@"
local threads, next_id = {}, 1
function setup(thread)
    thread:set("tid", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end
function init(args)
    nonce = args[1] or "x"
    sent, statuses = 0, {}
end
function request()
    sent = sent + 1
    wrk.headers["X-GitHub-Delivery"] = string.format("%s-%d-%d", nonce, tid, sent)
    return wrk.format()
end
function response(status, headers, body)
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
end
@ITEMS@
function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for k, v in pairs(t:get("statuses") or {}) do total[k] = (total[k] or 0) + v end
    end
    local parts = {}
    for k, v in pairs(total) do table.insert(parts, string.format('"%s": %d', k, v)) end
    io.write(string.format('WRK-RESULT {"duration_us": %d, "p99_us": %d, "statuses": {%s}}\n',
        summary.duration, latency:percentile(99), table.concat(parts, ", ")))
end
"""


def wrk_load(ports, connections, duration, workdir, label, bodies=0):
    """One wrk process per replica, all at once, the connections split evenly; returns (202s, all answers,
    seconds, worst p99 in ms). With `bodies`, each wrk process sends that many different bodies (fresh item keys)."""
    b = body(0)
    body_file = os.path.join(workdir, "body.json")
    with open(body_file, "wb") as f:
        f.write(b)
    sig = "sha256=" + hmac.new(SECRET, b, hashlib.sha256).hexdigest()
    per = max(1, connections // len(ports))
    threads = 2 if len(ports) == 1 else 1
    scripts = []
    for port in ports:
        items = ""
        if bodies:
            prefix = os.path.join(workdir, f"bodies-{label}-{port}")
            for tid in range(1, threads + 1):
                signed_bodies(f"{prefix}-{tid}", bodies // threads)
            items = ITEMS_LUA.replace("@BODIES@", prefix)
        script = os.path.join(workdir, f"load-{port}.lua")
        with open(script, "w") as f:
            f.write(LUA.replace("@BODY@", body_file).replace("@SIGNATURE@", sig).replace("@ITEMS@", items))
        scripts.append(script)
    procs = [subprocess.Popen(["wrk", f"-t{threads}", f"-c{per}", f"-d{duration}s", "--latency", "-s", script,
                               f"http://127.0.0.1:{port}/hooks/github", "--", f"{label}-{port}-{uuid.uuid4().hex[:6]}"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for port, script in zip(ports, scripts)]
    accepted = answered = 0
    seconds, p99 = 0.0, 0.0
    for proc in procs:
        out, _ = proc.communicate(timeout=duration + 60)
        m = re.search(r"WRK-RESULT (\{.*\})", out)
        if proc.returncode != 0 or not m:
            raise SystemExit(f"wrk failed: {out[-1000:]}")
        r = json.loads(m.group(1))
        accepted += r["statuses"].get("202", 0)
        answered += sum(r["statuses"].values())
        seconds = max(seconds, r["duration_us"] / 1e6)
        p99 = max(p99, r["p99_us"] / 1000)
    return accepted, answered, seconds, p99


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User plus system time of a process so far, in seconds; None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime and stime: fields 14 and 15 of stat


def children(pid):
    """The pids of a process's children."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def listening_pid(port):
    """The pid of the process listening on 127.0.0.1 or any address at this TCP port (the postmaster), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def cluster_cpu(postmaster):
    """CPU seconds so far of each process of the cluster: the postmaster and its children, by pid."""
    if postmaster is None:
        return {}
    pids = [postmaster] + children(postmaster)
    return {p: t for p in pids if (t := cpu_seconds(p)) is not None}


def benchmark_mappings(workdir, item_keys=False):
    """The shipped rule files, as scripts/benchmark.py loads them: the load replays one body with a fresh delivery id
    per request, so the body de-duplication of the GitHub preset is turned off (`dedupe: { body: false }`) and the
    rules' item keys (`dedupe_key`, the provider's deploy id) are taken out; otherwise every request after the first
    would be a duplicate. With `item_keys` (every body has a fresh id) the item keys stay."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mappings")
    dst = os.path.join(workdir, "mappings")
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if not name.endswith(".yaml"):
            if not os.path.exists(os.path.join(dst, name)):
                os.symlink(os.path.abspath(os.path.join(src, name)), os.path.join(dst, name))  # examples/
            continue
        with open(os.path.join(src, name)) as f:
            text = f.read()
        if not item_keys:
            text = re.sub(r"^[ \t]*dedupe_key:.*\n", "", text, flags=re.M)
        if re.search(r"^\s*preset:\s*(github|gitlab|bitbucket|bitbucket-server|jira|pagerduty|sentry)\b", text, re.M) \
                and not re.search(r"^dedupe:", text, re.M):
            text += "\ndedupe: { body: false }\n"
        with open(os.path.join(dst, name), "w") as f:
            f.write(text)
    return dst


def start(binary, database_url, data, item_keys=False):
    port = free_port()
    env = dict(os.environ, GITHUB_WEBHOOK_SECRET=SECRET.decode(), BRIDGE_HOST="127.0.0.1",
               BRIDGE_PORT=str(port), BRIDGE_DATA_DIR=data, BRIDGE_MAPPINGS=benchmark_mappings(data, item_keys),
               LOG_LEVEL="warning", LOG_FORMAT="text", BRIDGE_MAX_CONCURRENT="0", BRIDGE_REFUSAL_LIMIT="0")
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


def psql_value(database_url, query):
    """One value of a query through psql, as a float; None without psql or on an error."""
    if not shutil.which("psql"):
        return None
    r = subprocess.run(["psql", "-Atc", query, database_url], capture_output=True, text=True, timeout=60)
    try:
        return float(r.stdout) if r.returncode == 0 else None
    except ValueError:
        return None


COMMITS = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"


def run(binary, database_url, replicas, args, postmaster):
    """Returns (202 answers, all answers, seconds, p99 in ms or None, bridge CPU s, PostgreSQL CPU s or None,
    webhooks stored per committed transaction or None).

    Webhooks per transaction (the mean group of group commit, warm-up and load): the deliveries stored in the schema
    divided by the transactions committed in the database from before the bridges start until they have stopped
    (their backends report their counts when they end); the bridges' few other transactions count too. A group is
    one statement, a transaction of its own; with --item-keys the look-up of its taken keys before it is another,
    so the figure is then about half the group's size."""
    data = tempfile.mkdtemp(prefix="ctb-bench-replicas-")
    procs = []
    schema = base_url = commits_before = None
    try:
        if database_url:
            schema = "bench_" + uuid.uuid4().hex[:8]
            base_url = database_url
            database_url += ("&" if "?" in database_url else "?") + "schema=" + schema
            subprocess.run([binary, "migrate", "--database-url", database_url], check=True, capture_output=True,
                           timeout=60)
            commits_before = psql_value(base_url, COMMITS)
        for _ in range(replicas):
            procs.append(start(binary, database_url, data, args.item_keys))
        ports = [p for _, p in procs]
        if args.driver == "wrk":
            wrk_load(ports, args.connections, 2, data, "warmup", args.bodies // 4 if args.item_keys else 0)
        else:
            load(ports, 200, 4, 50_000_000, args.timeout)  # warm-up
        bridge_before = sum(cpu_seconds(proc.pid) or 0 for proc, _ in procs)
        pg_before = cluster_cpu(postmaster) if database_url else {}
        if args.driver == "wrk":
            ok, sent, elapsed, p99 = wrk_load(ports, args.connections, args.duration, data, "load",
                                              args.bodies if args.item_keys else 0)
        else:
            ok, sent, elapsed = load(ports, args.count, args.concurrency, 0, args.timeout)
            p99 = None
        bridge_cpu = sum(cpu_seconds(proc.pid) or 0 for proc, _ in procs) - bridge_before
        pg_cpu = None
        if database_url and postmaster is not None:
            pg_after = cluster_cpu(postmaster)
            pg_cpu = sum(t - pg_before.get(p, 0) for p, t in pg_after.items())
    finally:
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in procs:
            proc.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)
    per_transaction = None
    if commits_before is not None:
        time.sleep(0.5)  # the backends' last counts
        stored = psql_value(base_url, f"SELECT count(*) FROM {schema}.deliveries")
        commits = psql_value(base_url, COMMITS)
        if stored is not None and commits is not None and commits > commits_before:
            per_transaction = stored / (commits - commits_before - 2)  # not the two queries of psql_value
    return ok, sent, elapsed, p99, bridge_cpu, pg_cpu, per_transaction


def postmaster_of(args):
    """The postmaster of the cluster behind --database-url: --pg-pid, or the process listening on the URL's port."""
    if args.pg_pid:
        return args.pg_pid
    if not args.database_url:
        return None
    m = re.match(r"postgres(?:ql)?://[^/]*?(?::(\d+))?(?:/|$)", re.sub(r"//[^@/]*@", "//", args.database_url))
    port = int(m.group(1)) if m and m.group(1) else 5432
    pid = listening_pid(port)
    if pid is None:
        print(f"note: no process found listening on port {port}: PostgreSQL's CPU is not reported (--pg-pid)",
              flush=True)
    return pid


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", action="append",
                    help="the bridge to measure; several to compare (default .build/release/cloudthread-bridge)")
    ap.add_argument("--database-url", default=os.environ.get("BRIDGE_TEST_DATABASE_URL"))
    ap.add_argument("--pg-pid", type=int, help="the postmaster's pid (default: the process listening on the port)")
    ap.add_argument("--driver", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    ap.add_argument("--duration", type=int, default=10, help="seconds of wrk load per configuration (default 10)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections in all (default 32)")
    ap.add_argument("--count", type=int, default=4000, help="webhooks per configuration (python driver)")
    ap.add_argument("--concurrency", type=int, default=32, help="sending threads (python driver)")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--item-keys", action="store_true",
                    help="keep the rules' item keys (dedupe_key), a fresh item per request (wrk driver only)")
    ap.add_argument("--bodies", type=int, default=100_000,
                    help="with --item-keys: different signed bodies per wrk process (default 100000; a thread that "
                         "runs out starts again, and its repeats are duplicates, which fail the run)")
    args = ap.parse_args()
    binaries = args.binary or [".build/release/cloudthread-bridge"]
    if args.item_keys and args.driver != "wrk":
        raise SystemExit("--item-keys needs the wrk driver")
    runs = [("SQLite, 1 process", None, 1)]
    if args.database_url:
        runs += [("PostgreSQL, 1 replica", args.database_url, 1), ("PostgreSQL, 3 replicas", args.database_url, 3)]
    postmaster = postmaster_of(args)
    print(f"driver: {args.driver}; {os.cpu_count()} CPUs; PostgreSQL postmaster pid {postmaster}", flush=True)
    failed = False
    table = []
    for binary in binaries:
        print(f"binary: {binary}", flush=True)
        base = None
        for name, url, n in runs:
            ok, sent, elapsed, p99, bridge_cpu, pg_cpu, per_transaction = run(binary, url, n, args, postmaster)
            rate = ok / elapsed
            base = base or rate
            extra = f", p99 {p99:.1f} ms" if p99 is not None else ""
            per = lambda cpu: cpu / ok * 1e6 if ok and cpu is not None else None
            bridge_us, pg_us = per(bridge_cpu), per(pg_cpu)
            cpu = f", CPU per webhook: bridge {bridge_us:.0f} µs" if bridge_us is not None else ""
            if pg_us is not None:
                cpu += f" + PostgreSQL {pg_us:.0f} µs = {bridge_us + pg_us:.0f} µs"
            if per_transaction is not None:
                cpu += f", {per_transaction:.1f} webhooks per transaction"
            print(f"{name}: {rate:,.0f} webhooks/s ({ok}/{sent} answered 202 in {elapsed:.1f} s{extra}{cpu})",
                  flush=True)
            table.append((binary, name, rate, rate / base, p99, bridge_us, pg_us))
            failed = failed or ok != sent
    fmt = lambda v, f: f.format(v) if v is not None else "-"
    print()
    print("| binary | configuration | webhooks/s | x SQLite | p99 | CPU/webhook bridge | CPU/webhook PostgreSQL "
          "| CPU/webhook total |")
    print("|---|---|---|---|---|---|---|---|")
    for binary, name, rate, ratio, p99, bridge_us, pg_us in table:
        total = (bridge_us or 0) + (pg_us or 0) if bridge_us is not None else None
        print(f"| {binary} | {name} | {rate:,.0f} | {ratio:.2f}x | {fmt(p99, '{:.1f} ms')} "
              f"| {fmt(bridge_us, '{:.0f} µs')} | {fmt(pg_us, '{:.0f} µs')} | {fmt(total, '{:.0f} µs')} |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
