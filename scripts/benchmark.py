#!/usr/bin/env python3
"""Performance benchmark of cloudthread-bridge against nginx, on loopback only, in one run.

Started by scripts/benchmark.sh (which installs nginx-light, libnginx-mod-http-echo and wrk and builds the release
binary). Everything is measured in the same run on the same machine, so a shared, noisy machine skews the bridge
and its baseline alike. Prints the machine and versions, then ONE table: target, measured value, ratio or
threshold, result. Exits 1 when a target is missed by more than the noise margin (default 10%), 2 when the run
itself is broken (a webhook not answered as expected, a phase that does not finish, a bridge that does not exit 0).

Phases (docs/benchmark.md explains each row):
  1. nginx baseline: wrk POSTs the same signed body to an nginx location that reads the body and answers 204.
  1b. the floors (with --floors): the same load against a minimal SwiftNIO HTTP/1 handler and a minimal
     Hummingbird 2 route (Benchmarks/Floors), each reading the body and answering 204: what the HTTP stack costs.
  2. start-up: exec to the first /readyz 200 with 40 rule files, median of several starts on empty data dirs.
  3. one bridge (40 rule files, real forwarding to an nginx fake Cloudthread): idle RSS; wrk load with valid
     signatures (throughput, p99, CPU per accepted webhook including forwarding it, peak RSS); the same load with
     the small body (3 KB; nginx measured with it too); N more webhooks (memory flat); a flood of forged requests
     (data directory growth, CPU per forgery).
  4. drain: a bridge whose API key is refused (forwarding paused) stores a backlog; a new bridge pointed at the
     fake Cloudthread sends it; records per second until the outbox is empty.
Traffic goes to 127.0.0.1 only; every wait is bounded in time and every load in count or duration.
"""
import argparse
import base64
import calendar
import hashlib
import hmac
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SECRET = "benchmark-secret"
ADMIN_TOKEN = "benchmark-admin-" + uuid.uuid4().hex
SHIPPED_REFUSAL_LIMIT = 60  # BRIDGE_REFUSAL_LIMIT's default
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


class BenchmarkError(Exception):
    """The run itself is broken (not a missed target)."""


# ---------------------------------------------------------------- small helpers


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid):
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_io(pid):
    """/proc/<pid>/io: bytes and calls of read and write (files and sockets alike), all threads."""
    out = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            key, value = line.split(":")
            out[key.strip()] = int(value)
    return out


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchmarkError(f"no {key} in /proc/{pid}/status")


def dir_bytes(path):
    """Apparent size of every file under path (the SQLite database, its WAL and shared-memory files)."""
    total = 0
    for base, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(base, name)).st_size
            except FileNotFoundError:
                pass
    return total


def http_request(port, method, path, body=None, headers=None, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def wait_until(predicate, timeout, interval, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise BenchmarkError(f"timed out after {timeout:.0f} s waiting for {what}")


def fmt_int(n):
    return f"{n:,.0f}"


def run_text(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout + out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"


class MachineLoad:
    """CPU the machine spent during a phase on anything but the benchmark (other users of a shared machine, steal):
    busy time from /proc/stat minus the CPU of the bridge, nginx (master and workers) and wrk."""

    def __init__(self, pids):
        self.pids = pids
        self.busy0, self.total0 = self.system()
        self.ours0 = self.ours()

    @staticmethod
    def system():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
        return (sum(v) - v[3] - v[4]) / CLK_TCK, sum(v) / CLK_TCK

    def ours(self):
        total = 0.0
        for pid in self.pids():
            try:
                total += proc_cpu_seconds(pid)
            except (FileNotFoundError, ProcessLookupError):
                pass
        return total

    def end(self, wrk_cpu):
        """Share of the machine's CPUs used by others during the phase (0.25 = a quarter of all CPUs)."""
        busy, total = self.system()
        foreign = (busy - self.busy0) - (self.ours() - self.ours0) - wrk_cpu
        return max(0.0, foreign / max(total - self.total0, 1e-9))


# ---------------------------------------------------------------- nginx: baseline and fake Cloudthread


class Nginx:
    """One nginx master in the foreground (our child), three loopback servers: the baseline (reads the body,
    204), the fake Cloudthread (201 {} on /events and /streams/ingest, [] on /teams) and a Cloudthread that
    refuses the API key (401 everywhere, to pause the bridge's forwarding)."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.baseline_port, self.fake_port, self.refusing_port = free_port(), free_port(), free_port()
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = f"""
{user}
worker_processes auto;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
load_module {ECHO_MODULE};
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    client_max_body_size 8m;
    client_body_buffer_size 64k;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    default_type application/json;
    server {{
        listen 127.0.0.1:{self.baseline_port};
        location / {{ echo_read_request_body; echo_status 204; }}
    }}
    server {{
        listen 127.0.0.1:{self.fake_port};
        location /events {{ echo_read_request_body; echo_status 201; echo -n '{{}}'; }}
        location /streams/ingest {{ echo_read_request_body; echo_status 201; echo -n '{{}}'; }}
        location /teams {{ echo_read_request_body; echo_status 200; echo -n '[]'; }}
    }}
    server {{
        listen 127.0.0.1:{self.refusing_port};
        location / {{ echo_read_request_body; echo_status 401; echo -n '{{"message": "Unauthorized"}}'; }}
    }}
}}
"""
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"), "-c", self.conf, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "stderr.log"), "w"))

        def up():
            if self.proc.poll() is not None:
                raise BenchmarkError(f"nginx exited: {open(os.path.join(self.dir, 'stderr.log')).read()[-2000:]}")
            try:
                return http_request(self.fake_port, "GET", "/teams", timeout=1)[0] == 200
            except OSError:
                return False
        wait_until(up, 10, 0.05, "nginx to listen")

    def pids(self):
        """The master and its workers."""
        if not self.proc:
            return []
        out = [self.proc.pid]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                            out.append(int(entry))
                except (OSError, ValueError, IndexError):
                    pass
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, master exits
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# ---------------------------------------------------------------- wrk


LUA = r"""
-- Generated by scripts/benchmark.py: POSTs one fixed body with a fresh delivery id per request, counts the
-- answers by status, optionally stops each thread after a number of answers, and prints one JSON summary line.
local body_file, signature = "@BODY@", "@SIGNATURE@"
local f = assert(io.open(body_file, "rb"))
wrk.method = "POST"
wrk.path = "/hooks/github"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "deployment_status"
wrk.headers["X-Hub-Signature-256"] = signature

local threads, next_id = {}, 1
function setup(thread)
    thread:set("tid", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end

function init(args)
    limit = tonumber(args[1]) or 0   -- answers per thread, 0 = until the duration ends
    nonce = args[2] or "x"           -- unique per wrk run, so that delivery ids never repeat
    sent, answered, statuses = 0, 0, {}
end

function request()
    sent = sent + 1
    wrk.headers["X-GitHub-Delivery"] = string.format("%s-%d-%d", nonce, tid, sent)
    return wrk.format()
end

function response(status, headers, body)
    answered = answered + 1
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
    if limit > 0 and answered >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for k, v in pairs(t:get("statuses") or {}) do total[k] = (total[k] or 0) + v end
    end
    local parts = {}
    for k, v in pairs(total) do table.insert(parts, string.format('"%s": %d', k, v)) end
    local e = summary.errors
    io.write(string.format(
        'WRK-RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
        '"max_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
        '"statuses": {%s}}\n',
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
        table.concat(parts, ", ")))
end
"""


def recent_body(path, workdir):
    """The body with every RFC 3339 timestamp shifted by one delta so that the latest is now: the same bytes and
    length otherwise. A 2019 deploy would have its metric refused (older than the aggregates kept), which is not
    the path a live webhook takes."""
    with open(path, "rb") as f:
        body = f.read()
    pattern = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
    parse = lambda b: calendar.timegm(time.strptime(b.decode(), "%Y-%m-%dT%H:%M:%SZ"))
    stamps = [parse(m.group(0)) for m in pattern.finditer(body)]
    if stamps:
        delta = int(time.time()) - 5 - max(stamps)
        body = pattern.sub(lambda m: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(parse(m.group(0)) + delta))
                           .encode(), body)
    out = os.path.join(workdir, "body.json")
    with open(out, "wb") as f:
        f.write(body)
    return out, body, len(stamps)


def write_lua(workdir, name, body_file, signature):
    path = os.path.join(workdir, name + ".lua")
    text = LUA.replace("@BODY@", body_file).replace("@SIGNATURE@", signature)
    with open(path, "w") as f:
        f.write(text)
    return path


class Wrk:
    def __init__(self, threads, connections, workdir):
        self.threads, self.connections, self.workdir = threads, connections, workdir

    def run(self, port, script, duration, per_thread_limit=0, label="load"):
        """Runs wrk with --latency for `duration` seconds (an upper bound when a limit is given)."""
        cmd = ["wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{int(duration)}s", "--latency",
               "--timeout", "10s", "-s", script, f"http://127.0.0.1:{port}", "--", str(per_thread_limit),
               uuid.uuid4().hex[:16]]
        path = os.path.join(self.workdir, f"wrk-{label}.txt")
        with open(path, "w") as f:
            f.write(" ".join(cmd) + "\n")
            f.flush()
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
            try:
                if per_thread_limit:
                    # wrk's threads stop after their answers, but its main thread sleeps out -d: once only the
                    # main thread is left, SIGINT ends the sleep and wrk reports as usual.
                    deadline, threads_seen = time.monotonic() + duration, False
                    while time.monotonic() < deadline and proc.poll() is None:
                        try:
                            tasks = len(os.listdir(f"/proc/{proc.pid}/task"))
                        except FileNotFoundError:
                            break
                        if tasks > 1:
                            threads_seen = True
                        elif threads_seen:
                            proc.send_signal(signal.SIGINT)
                            break
                        time.sleep(0.02)
                # Reaped with wait4 for wrk's own CPU time (to tell the machine's other load from ours).
                deadline, usage = time.monotonic() + duration + 60, None
                while usage is None and time.monotonic() < deadline:
                    pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                    if pid == proc.pid:
                        proc.returncode, usage = os.waitstatus_to_exitcode(status), ru
                    else:
                        time.sleep(0.02)
                if usage is None:
                    raise subprocess.TimeoutExpired(cmd, duration + 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                raise BenchmarkError(f"wrk ({label}) did not end within {duration + 60} s")
        with open(path) as f:
            stdout = f.read()
        m = re.search(r"^WRK-RESULT (.*)$", stdout, re.M)
        if proc.returncode != 0 or not m:
            raise BenchmarkError(f"wrk ({label}) failed ({proc.returncode}): {stdout[-1500:]}")
        r = json.loads(m.group(1))
        r["cpu"] = usage.ru_utime + usage.ru_stime
        r["seconds"] = r["duration_us"] / 1e6
        r["statuses"] = {int(k): v for k, v in r["statuses"].items()}
        # The same p99 as wrk prints in its --latency distribution (cross-check, for the record).
        d = re.search(r"^\s*99%\s+(\S+)", stdout, re.M)
        r["p99_text"] = d.group(1) if d else "?"
        return r


# ---------------------------------------------------------------- the floors


class Floor:
    """One of the floors of Benchmarks/Floors (a minimal Hummingbird 2 route, a minimal SwiftNIO HTTP/1 handler):
    reads the body of POST /hooks/<source> and answers 204, nothing else. What the HTTP stack alone costs."""

    def __init__(self, binary, workdir, name):
        self.binary, self.name = binary, name
        self.port = free_port()
        self.log_path = os.path.join(workdir, f"floor-{name}.log")
        self.proc = None

    def start(self, body):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, str(self.port)], stdout=self.log_file, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise BenchmarkError(f"floor '{self.name}' exited with {self.proc.returncode}")
            try:
                return http_request(self.port, "POST", "/hooks/github", body=body, timeout=2)[0] == 204
            except OSError:
                return False
        wait_until(up, 30, 0.01, f"floor '{self.name}' to answer 204")
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.log_file.close()


def measure_floor(floor, wrk, script, args, body):
    """The same valid load as the bridge's (wrk, same script and connections): answers/s, p99, CPU per answer
    (utime + stime of the floor's process), peak RSS."""
    floor.start(body)
    try:
        wrk.run(floor.port, script, args.warmup, label=f"floor-{floor.name}-warmup")
        cpu0 = proc_cpu_seconds(floor.pid)
        r = wrk.run(floor.port, script, args.duration, label=f"floor-{floor.name}")
        cpu1 = proc_cpu_seconds(floor.pid)
        hwm = proc_status_kib(floor.pid, "VmHWM") * 1024
    finally:
        floor.stop()
    answered = r["statuses"].get(204, 0)
    if answered != r["requests"] or answered == 0 or sum(r["errors"].values()) > 0:
        raise BenchmarkError(f"floor '{floor.name}' answered {r['statuses']}, errors {r['errors']}")
    return {"rps": answered / r["seconds"], "p99_us": r["p99_us"], "hwm": hwm, "cpu": (cpu1 - cpu0) / answered}


# ---------------------------------------------------------------- the bridge


def make_rule_dir(workdir, count):
    """The shipped rule files plus copies under new source names, `count` files in all; returns (dir, env)."""
    src = os.path.join(ROOT, "mappings")
    dst = os.path.join(workdir, f"mappings-{count}")
    shutil.copytree(src, dst)
    shipped = sorted(n for n in os.listdir(src) if n.endswith(".yaml"))
    if count < len(shipped):
        raise BenchmarkError(f"--rule-files {count} is fewer than the {len(shipped)} shipped rule files")
    for i in range(count - len(shipped)):
        name = shipped[i % len(shipped)]
        with open(os.path.join(src, name)) as f:
            text = f.read()
        base = name[:-5]
        copy = f"{base}-copy{i + 1}"
        text, n = re.subn(r"^source:\s*\S+", f"source: {copy}", text, count=1, flags=re.M)
        if n != 1:
            raise BenchmarkError(f"mappings/{name} has no 'source:' line")
        with open(os.path.join(dst, copy + ".yaml"), "w") as f:
            f.write(text)
    # The load replays one body with a fresh delivery id per request: the presets that deduplicate by the body
    # (`dedupe: body`, on for GitHub, GitLab and the like) would take every request after the first as a replay,
    # so their sources get `dedupe: { body: false }` and every webhook is processed. The rules' item keys
    # (`dedupe_key`, the provider's deploy id) would do the same, so they are taken out too.
    for name in os.listdir(dst):
        path = os.path.join(dst, name)
        if not name.endswith(".yaml"):
            continue
        with open(path) as f:
            text = f.read()
        without_keys = re.sub(r"^[ \t]*dedupe_key:.*\n", "", text, flags=re.M)
        if without_keys != text:
            text = without_keys
            with open(path, "w") as f:
                f.write(text)
        if re.search(r"^\s*preset:\s*(github|gitlab|bitbucket|bitbucket-server|jira|pagerduty|sentry)\b", text, re.M) \
                and not re.search(r"^dedupe:", text, re.M):
            with open(path, "a") as f:
                f.write("\ndedupe: { body: false }\n")
    # Every source gets its secret (and user), so every file is loaded as an enabled source.
    env = {}
    whsec = "whsec_" + base64.b64encode(hashlib.sha256(b"benchmark").digest()).decode()
    for name in os.listdir(dst):
        if name.endswith(".yaml"):
            with open(os.path.join(dst, name)) as f:
                for var in re.findall(r"\$\{([A-Z0-9_]+)(?::-[^}]*)?\}", f.read()):
                    if var.endswith("_PREVIOUS"):
                        continue
                    if var.endswith("_USER"):
                        env[var] = "benchmark"
                    elif var.endswith("_SECRET") or var.endswith("_TOKEN"):
                        env[var] = whsec
    env["GITHUB_WEBHOOK_SECRET"] = SECRET
    return dst, env


class Bridge:
    def __init__(self, binary, workdir, name, mappings, secrets_env, api_url, data_dir=None, prefix=(), extra_env=None):
        self.binary, self.name, self.prefix = binary, name, list(prefix)
        self.port = free_port()
        self.data_dir = data_dir or os.path.join(workdir, f"data-{name}")
        os.makedirs(self.data_dir, exist_ok=True)
        self.log_path = os.path.join(workdir, f"bridge-{name}.log")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "BRIDGE_HOST": "127.0.0.1", "BRIDGE_PORT": str(self.port), "BRIDGE_MAPPINGS": mappings,
            "BRIDGE_DATA_DIR": self.data_dir, "CLOUDTHREAD_API_URL": api_url,
            "CLOUDTHREAD_API_KEY": "benchmark-dummy-key", "CLOUDTHREAD_STREAM_TOKEN": "benchmark-stream-token",
            "BRIDGE_ADMIN_TOKEN": ADMIN_TOKEN, "LOG_LEVEL": "warning", "LOG_FORMAT": "json",
        }
        self.env.update(secrets_env)
        self.env.update(extra_env or {})
        self.proc = None
        self.started_at = None

    def start(self):
        self.log_file = open(self.log_path, "ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.prefix + [self.binary, "serve"], env=self.env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, cwd=ROOT)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive_check(self):
        if self.proc.poll() is not None:
            raise BenchmarkError(f"bridge '{self.name}' exited with {self.proc.returncode}: {self.tail_log()}")

    def tail_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def status_of(self, path):
        self.alive_check()
        try:
            return http_request(self.port, "GET", path, timeout=2)[0]
        except OSError:
            return None

    def wait_ready(self, path="/readyz", timeout=30, interval=0.002):
        """Seconds from exec to the first 200 on `path`."""
        wait_until(lambda: self.status_of(path) == 200, timeout, interval, f"{self.name} {path} 200")
        return time.monotonic() - self.started_at

    def admin(self, path):
        self.alive_check()
        status, body = http_request(self.port, "GET", path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                                    timeout=30)
        if status != 200:
            raise BenchmarkError(f"GET {path} answered {status}: {body[:300]!r}")
        return json.loads(body)

    def outbox(self):
        return self.admin("/admin/outbox")

    def metrics(self):
        """Sum of each counter over its labels, keyed by name and (for webhooks) outcome."""
        self.alive_check()
        status, body = http_request(self.port, "GET", "/metrics", timeout=30)
        if status != 200:
            raise BenchmarkError(f"/metrics answered {status}")
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
            if not m:
                continue
            name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
            if name == "bridge_webhooks_total":
                o = re.search(r'outcome="([^"]*)"', labels)
                name = f"{name}:{o.group(1) if o else ''}"
            out[name] = out.get(name, 0) + value
        return out

    def wait_outbox_empty(self, timeout):
        def empty():
            s = self.outbox()
            return s if s["pending"] + s["inflight"] == 0 else None
        return wait_until(empty, timeout, 0.05, f"{self.name}'s outbox to empty")

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self.log_file.close()
                raise BenchmarkError(f"bridge '{self.name}' did not exit within {timeout} s of SIGTERM")
        self.log_file.close()
        return self.proc.returncode


# ---------------------------------------------------------------- the table


class Table:
    def __init__(self, margin):
        self.margin = margin
        self.rows = []

    def add(self, target, measured, value, limit, kind, shown=None):
        """kind: 'min' (value >= limit), 'max' (value <= limit) or 'below' (value < limit)."""
        if kind == "min":
            ok, near = value >= limit, value >= limit * (1 - self.margin)
            bound = f">= {shown or limit}"
        else:
            ok = value <= limit if kind == "max" else value < limit
            near = value <= limit * (1 + self.margin)
            bound = f"{'<=' if kind == 'max' else '<'} {shown or limit}"
        result = "pass" if ok else ("miss (in noise)" if near else "FAIL")
        self.rows.append((target, measured, bound, result))

    def add_ratio(self, target, measured, ratio, limit, kind):
        before = len(self.rows)
        self.add(target, measured, ratio, limit, kind, shown=f"{limit:g}x")
        t, m, bound, result = self.rows[before]
        self.rows[before] = (t, m, f"{ratio:.2f}x ({bound})", result)

    def info_ratio(self, target, measured, ratio, what):
        """A row without a target (the floors, for the record): the ratio says what it is relative to."""
        self.rows.append((target, measured, f"{ratio:.2f}x {what}", "info"))

    def failed(self):
        return [r for r in self.rows if r[3] == "FAIL"]

    def print(self):
        header = ("target", "measured", "ratio / threshold", "result")
        widths = [max(len(str(r[i])) for r in self.rows + [header]) for i in range(4)]
        line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"
        print(line)
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for r in self.rows:
            print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")


# ---------------------------------------------------------------- the run


def machine_info(binary):
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = run_text(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = run_text(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
    return [
        f"machine: {os.cpu_count()} CPUs (nproc {run_text(['nproc'])}), {model}, Linux {platform.release()}",
        f"commit:  {commit}{' (with uncommitted changes)' if dirty else ''}, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"swift:   {run_text(['swift', '--version']).splitlines()[0] if shutil.which('swift') else '?'}",
        f"nginx:   {run_text(['nginx', '-v']).replace('nginx version: ', '')}; "
        f"wrk: {run_text(['wrk', '-v']).split(' [')[0].replace('wrk ', '')}; python {platform.python_version()}",
        f"binary:  {binary}",
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/cloudthread-bridge"))
    ap.add_argument("--body", default=os.path.join(ROOT, "Benchmarks/payloads/deployment_status-9k.json"),
                    help="the deployment_status body of every phase (default: GitHub's full example payload, "
                         "9,030 bytes, Benchmarks/payloads)")
    ap.add_argument("--small-body",
                    default=os.path.join(ROOT, "Tests/BridgeServerTests/Fixtures/payloads/deployment_status.json"),
                    help="the body of the second valid load (default: the 3,129-byte test fixture); 'none' skips it")
    ap.add_argument("--original-timestamps", action="store_true",
                    help="send the body as it is (by default its timestamps are moved to now, see recent_body)")
    ap.add_argument("--duration", type=int, default=10, help="seconds of each wrk load (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of wrk warm-up before each load (default 2)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--count", type=int, default=200_000, help="webhooks of the memory-flat phase (default 200,000)")
    ap.add_argument("--long", action="store_true", help="memory-flat phase over 1,000,000 webhooks")
    ap.add_argument("--backlog", type=int, default=100_000, help="outbox records to drain (default 100,000)")
    ap.add_argument("--forgeries", type=int, default=100_000, help="forged requests of the flood (default 100,000)")
    ap.add_argument("--rule-files", type=int, default=40)
    ap.add_argument("--starts", type=int, default=5, help="start-ups measured, the median is reported (default 5)")
    ap.add_argument("--margin", type=float, default=0.10, help="noise margin before a miss fails the run (0.10)")
    ap.add_argument("--refusal-limit", type=int, default=0,
                    help="BRIDGE_REFUSAL_LIMIT for the bridge (default 0 = off, so that every forgery of the flood is "
                         "verified, as in a flood spread over many addresses; 60 = as shipped)")
    ap.add_argument("--log-level", default="warning", help="LOG_LEVEL of the bridge (default warning, as required)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, wrk output)")
    ap.add_argument("--floors", default=None,
                    help="directory with the floor-nio and floor-hummingbird release binaries of Benchmarks/Floors "
                         "(scripts/benchmark.sh builds them): adds their rows, measured in the same run")
    args = ap.parse_args()
    if args.long:
        args.count = 1_000_000
    args.binary = os.path.abspath(args.binary)
    args.body = os.path.abspath(args.body)
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (scripts/benchmark.sh installs it)")
    if not os.path.exists(ECHO_MODULE):
        sys.exit(f"{ECHO_MODULE} is missing: apt-get install libnginx-mod-http-echo")
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"no bridge binary at {args.binary}: swift build -c release")

    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="bridge-benchmark-")
    os.chmod(workdir, 0o755)
    for line in machine_info(args.binary):
        print(line)
    if args.original_timestamps:
        with open(args.body, "rb") as f:
            body, body_file, shifted = f.read(), args.body, 0
    else:
        body_file, body, shifted = recent_body(args.body, workdir)
    good_sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    bad_sig = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
    print(f"body:    {os.path.relpath(args.body, ROOT)} ({len(body):,} bytes"
          f"{f', its {shifted} timestamps moved to now' if shifted else ''}), X-GitHub-Event: deployment_status, "
          f"fresh X-GitHub-Delivery per request")
    print(f"load:    wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency (after {args.warmup} s "
          f"warm-up); N = {args.count:,}; backlog {args.backlog:,}; forgeries {args.forgeries:,} "
          f"(BRIDGE_REFUSAL_LIMIT={args.refusal_limit}); LOG_LEVEL={args.log_level}; "
          f"noise margin {args.margin:.0%}", flush=True)
    good_lua = write_lua(workdir, "valid", body_file, good_sig)
    bad_lua = write_lua(workdir, "forged", body_file, bad_sig)
    small = None
    if args.small_body != "none":
        small_dir = os.path.join(workdir, "small")
        os.makedirs(small_dir)
        if args.original_timestamps:
            with open(args.small_body, "rb") as f:
                small_body, small_file = f.read(), os.path.abspath(args.small_body)
        else:
            small_file, small_body, _ = recent_body(args.small_body, small_dir)
        small_sig = "sha256=" + hmac.new(SECRET.encode(), small_body, hashlib.sha256).hexdigest()
        small = {"lua": write_lua(workdir, "valid-small", small_file, small_sig), "bytes": len(small_body)}
        print(f"small:   {os.path.relpath(os.path.abspath(args.small_body), ROOT)} ({len(small_body):,} bytes), "
              "a second valid load of the same bridge, and of nginx")
    wrk = Wrk(args.threads, args.connections, workdir)
    per_thread = lambda n: max(1, -(-n // args.threads))  # answers per wrk thread so that the total reaches n

    extra = {"BRIDGE_REFUSAL_LIMIT": str(args.refusal_limit), "LOG_LEVEL": args.log_level}
    nginx = Nginx(workdir)
    table = Table(args.margin)
    bridges = []
    broken = None
    try:
        nginx.start()
        fake_url = f"http://127.0.0.1:{nginx.fake_port}"

        # 1. nginx baseline
        log("nginx baseline")
        wrk.run(nginx.baseline_port, good_lua, args.warmup, label="nginx-warmup")
        nginx_pids = nginx.pids()
        watch = MachineLoad(lambda: nginx_pids)
        base = wrk.run(nginx.baseline_port, good_lua, args.duration, label="nginx")
        others_nginx = watch.end(base["cpu"])
        if base["statuses"].get(204, 0) != base["requests"] or base["requests"] == 0:
            raise BenchmarkError(f"nginx answered {base['statuses']}")
        nginx_rps1 = base["statuses"][204] / base["seconds"]
        nginx_cpu = (sum(proc_cpu_seconds(p) for p in nginx_pids) - watch.ours0) / base["requests"]

        # 1b. the floors: the same load against a minimal SwiftNIO handler and a minimal Hummingbird route
        floors = {}
        if args.floors:
            for name, label in (("nio", "SwiftNIO HTTP/1 floor"), ("hummingbird", "Hummingbird 2 floor")):
                log(f"floor: {label}")
                floors[name] = (label, measure_floor(Floor(os.path.join(args.floors, f"floor-{name}"), workdir,
                                                           name), wrk, good_lua, args, body))

        # 2. start-up with 40 rule files
        mappings, secrets_env = make_rule_dir(workdir, args.rule_files)
        log(f"start-up with {args.rule_files} rule files, {args.starts} starts")
        startup = []
        for i in range(args.starts):
            b = Bridge(args.binary, workdir, f"start{i}", mappings, secrets_env, fake_url, extra_env=extra)
            bridges.append(b)
            b.start()
            startup.append(b.wait_ready(timeout=30))
            if i == 0:
                sources = b.admin("/admin/sources")
                enabled = sum(1 for s in sources if s["status"] == "enabled")
                if len(sources) != args.rule_files:
                    raise BenchmarkError(f"{len(sources)} sources loaded from {args.rule_files} rule files")
            code = b.stop()
            if code != 0:
                raise BenchmarkError(f"bridge exited {code} on SIGTERM after start-up: {b.tail_log()}")
        startup_ms = statistics.median(startup) * 1000

        # 3. one bridge under load
        log("bridge: idle, then valid-signature load")
        b = Bridge(args.binary, workdir, "main", mappings, secrets_env, fake_url, extra_env=extra)
        bridges.append(b)
        b.start()
        b.wait_ready()
        time.sleep(1.0)
        idle_rss = proc_status_kib(b.pid, "VmRSS") * 1024
        wrk.run(b.port, good_lua, args.warmup, label="bridge-warmup")
        b.wait_outbox_empty(120)
        m0, cpu0, io0 = b.metrics(), proc_cpu_seconds(b.pid), proc_io(b.pid)
        watch = MachineLoad(lambda: nginx_pids + [b.pid])
        load = wrk.run(b.port, good_lua, args.duration, label="bridge-valid")
        others_bridge = watch.end(load["cpu"])
        rss_warm = proc_status_kib(b.pid, "VmRSS") * 1024
        drained_at = time.monotonic()
        b.wait_outbox_empty(120)
        drain_lag = time.monotonic() - drained_at
        cpu1, m1, io1 = proc_cpu_seconds(b.pid), b.metrics(), proc_io(b.pid)
        hwm = proc_status_kib(b.pid, "VmHWM") * 1024
        accepted = m1.get("bridge_webhooks_total:accepted", 0) - m0.get("bridge_webhooks_total:accepted", 0)
        others = {k: v for k, v in load["statuses"].items() if k != 202}
        if others or accepted == 0 or sum(load["errors"].values()) > 0:
            raise BenchmarkError(f"valid load: answers {load['statuses']}, errors {load['errors']}")
        bridge_rps = load["statuses"][202] / load["seconds"]

        # nginx again, right after the bridge's load: the baseline brackets it in time (mean of the two).
        log("nginx baseline again")
        watch = MachineLoad(lambda: nginx_pids + [b.pid])
        base2 = wrk.run(nginx.baseline_port, good_lua, args.duration, label="nginx-after")
        others_nginx = max(others_nginx, watch.end(base2["cpu"]))
        if base2["statuses"].get(204, 0) != base2["requests"] or base2["requests"] == 0:
            raise BenchmarkError(f"nginx answered {base2['statuses']}")
        nginx_rps2 = base2["statuses"][204] / base2["seconds"]
        nginx_rps = (nginx_rps1 + nginx_rps2) / 2
        cpu_accepted = (cpu1 - cpu0) / accepted

        # The small body: the same load, so that both sizes stay honest (nginx with it too, right before).
        if small:
            log(f"small body ({small['bytes']:,} bytes): nginx, then the bridge")
            sn = wrk.run(nginx.baseline_port, small["lua"], args.duration, label="nginx-small")
            if sn["statuses"].get(204, 0) != sn["requests"] or sn["requests"] == 0:
                raise BenchmarkError(f"nginx answered {sn['statuses']} (small body)")
            small["nginx_rps"] = sn["statuses"][204] / sn["seconds"]
            b.wait_outbox_empty(120)
            ms0, cs0 = b.metrics(), proc_cpu_seconds(b.pid)
            sl = wrk.run(b.port, small["lua"], args.duration, label="bridge-valid-small")
            b.wait_outbox_empty(120)
            cs1, ms1 = proc_cpu_seconds(b.pid), b.metrics()
            small_accepted = (ms1.get("bridge_webhooks_total:accepted", 0)
                              - ms0.get("bridge_webhooks_total:accepted", 0))
            if set(sl["statuses"]) != {202} or small_accepted == 0 or sum(sl["errors"].values()) > 0:
                raise BenchmarkError(f"small-body load: answers {sl['statuses']}, errors {sl['errors']}")
            small.update(rps=sl["statuses"][202] / sl["seconds"], p99_us=sl["p99_us"],
                         cpu=(cs1 - cs0) / small_accepted, accepted=small_accepted)

        log(f"bridge: memory across {args.count:,} webhooks")
        mem = wrk.run(b.port, good_lua, max(60, args.count // 200), per_thread_limit=per_thread(args.count),
                      label="bridge-memory")
        rss_end = proc_status_kib(b.pid, "VmRSS") * 1024
        sent_mem = sum(mem["statuses"].values())
        if set(mem["statuses"]) != {202} or sent_mem < args.count:
            raise BenchmarkError(f"memory phase: {sent_mem:,} answers {mem['statuses']} of {args.count:,}")
        b.wait_outbox_empty(300)

        log(f"bridge: flood of {args.forgeries:,} forged requests")
        time.sleep(1.5)  # let the last commits and the forwarder's bookkeeping settle
        size0, m2, cpu2 = dir_bytes(b.data_dir), b.metrics(), proc_cpu_seconds(b.pid)
        flood = wrk.run(b.port, bad_lua, max(60, args.forgeries // 200), per_thread_limit=per_thread(args.forgeries),
                        label="bridge-forged")
        cpu3 = proc_cpu_seconds(b.pid)
        time.sleep(1.5)
        m3, size1 = b.metrics(), dir_bytes(b.data_dir)
        # Refused: 401 after verification, or 429 before it once an address is over BRIDGE_REFUSAL_LIMIT.
        refused = sum(m3.get(f"bridge_webhooks_total:{o}", 0) - m2.get(f"bridge_webhooks_total:{o}", 0)
                      for o in ("unauthorized", "rate_limited"))
        if not set(flood["statuses"]) <= {401, 429} or refused < args.forgeries:
            raise BenchmarkError(f"flood: answers {flood['statuses']}, {refused:,.0f} refusals counted")
        cpu_forged = (cpu3 - cpu2) / refused
        code = b.stop()
        if code != 0:
            raise BenchmarkError(f"bridge exited {code} on SIGTERM after the load: {b.tail_log()}")

        # 3b. the same flood with the refusal limit on, as shipped: after the first 60 forgeries of the minute every
        # request is answered 429 before any signature is computed. It must not cost more per request than verifying.
        log(f"bridge: flood of {args.forgeries:,} forged requests, BRIDGE_REFUSAL_LIMIT={SHIPPED_REFUSAL_LIMIT}")
        lb = Bridge(args.binary, workdir, "limited", mappings, secrets_env, fake_url,
                    extra_env=dict(extra, BRIDGE_REFUSAL_LIMIT=str(SHIPPED_REFUSAL_LIMIT)))
        bridges.append(lb)
        lb.start()
        lb.wait_ready()
        m4, cpu4 = lb.metrics(), proc_cpu_seconds(lb.pid)
        flood_on = wrk.run(lb.port, bad_lua, max(60, args.forgeries // 200),
                           per_thread_limit=per_thread(args.forgeries), label="bridge-forged-limited")
        cpu5 = proc_cpu_seconds(lb.pid)
        m5 = lb.metrics()
        refused_on = sum(m5.get(f"bridge_webhooks_total:{o}", 0) - m4.get(f"bridge_webhooks_total:{o}", 0)
                         for o in ("unauthorized", "rate_limited"))
        limited_on = m5.get("bridge_webhooks_total:rate_limited", 0) - m4.get("bridge_webhooks_total:rate_limited", 0)
        if not set(flood_on["statuses"]) <= {401, 429} or refused_on < args.forgeries:
            raise BenchmarkError(f"limited flood: answers {flood_on['statuses']}, {refused_on:,.0f} refusals counted")
        cpu_forged_on = (cpu5 - cpu4) / refused_on
        code = lb.stop()
        if code != 0:
            raise BenchmarkError(f"limited bridge exited {code} on SIGTERM: {lb.tail_log()}")

        # 4. drain a backlog
        log(f"drain: storing a backlog of {args.backlog:,} records with forwarding paused")
        data = os.path.join(workdir, "data-drain")
        p = Bridge(args.binary, workdir, "paused", mappings, secrets_env,
                   f"http://127.0.0.1:{nginx.refusing_port}", data_dir=data, extra_env=extra)
        bridges.append(p)
        p.start()
        p.wait_ready("/healthz")
        wait_until(lambda: p.metrics().get("bridge_forwarder_paused", 0) == 1, 30, 0.05, "forwarding to pause")
        # One webhook stores one event record; the metric records coalesce per hour key, so count what is stored.
        backlog = 0
        for _ in range(10):
            need = args.backlog - backlog
            if need <= 0:
                break
            r = wrk.run(p.port, good_lua, max(60, need // 200), per_thread_limit=per_thread(need), label="drain-fill")
            if set(r["statuses"]) != {202}:
                raise BenchmarkError(f"filling the backlog: answers {r['statuses']}")
            s = p.outbox()
            backlog = s["pending"] + s["inflight"]
        if backlog < args.backlog or p.outbox()["sent"] != 0:
            raise BenchmarkError(f"backlog {backlog:,} (sent {p.outbox()['sent']}) instead of {args.backlog:,}")
        code = p.stop()
        if code != 0:
            raise BenchmarkError(f"paused bridge exited {code}: {p.tail_log()}")
        log(f"drain: sending {backlog:,} records to the fake Cloudthread")
        d = Bridge(args.binary, workdir, "drain", mappings, secrets_env, fake_url, data_dir=data, extra_env=extra)
        bridges.append(d)
        d.start()
        d.wait_ready(timeout=30)
        # Each poll of /admin/outbox is a GROUP BY over the whole outbox that competes with the forwarder, so
        # poll sparingly: every half of the expected remaining time, between 0.05 s and 1 s.
        polls, last, deadline = [], (d.started_at, backlog), d.started_at + 300
        while True:
            t = time.monotonic()
            stats = d.outbox()
            now = time.monotonic()
            polls.append(now - t)
            left = stats["pending"] + stats["inflight"]
            if left == 0:
                break
            if now > deadline:
                raise BenchmarkError(f"the backlog did not drain within 300 s: {stats}")
            rate = (last[1] - left) / max(now - last[0], 1e-3)
            wait = 0.25 if rate <= 0 else min(1.0, max(0.05, left / rate / 2))
            last = (now, left)
            time.sleep(wait)
        drain_seconds = t - d.started_at  # the moment the poll that saw an empty outbox was sent
        if stats["dead"] != 0 or stats["sent"] < backlog:
            raise BenchmarkError(f"drain ended with {stats}")
        drain_rate = backlog / drain_seconds
        code = d.stop()
        if code != 0:
            raise BenchmarkError(f"drain bridge exited {code}: {d.tail_log()}")

        # The table
        us = lambda s: s * 1e6
        table.add_ratio("accepted webhooks/s vs nginx (204)",
                        f"{fmt_int(bridge_rps)}/s vs {fmt_int(nginx_rps)}/s (mean of 2; aim 0.25x)", bridge_rps / nginx_rps,
                        0.12, "min")
        table.add("CPU per accepted webhook (incl. forwarding)",
                  f"{us(cpu_accepted):.1f} us ({cpu1 - cpu0:.2f} s / {fmt_int(accepted)}; aim 60 us)",
                  us(cpu_accepted), 100, "max", "100 us")
        io = {k: (io1[k] - io0[k]) / accepted for k in ("wchar", "syscw", "rchar", "syscr")}
        table.info_ratio("I/O per accepted webhook (incl. forwarding; files and sockets)",
                         f"{io['wchar'] / 1024:.1f} KiB in {io['syscw']:.1f} write calls, {io['syscr']:.1f} read "
                         f"calls; body {len(body) / 1024:.1f} KiB", io["wchar"] / len(body),
                         "bytes written per byte of body")
        table.add("CPU per refused forgery", f"{us(cpu_forged):.1f} us ({cpu3 - cpu2:.2f} s / {fmt_int(refused)}; "
                  "aim 20 us)", us(cpu_forged), 60, "max", "60 us")
        table.add(f"CPU per refused forgery, limit on ({SHIPPED_REFUSAL_LIMIT}/min, as shipped)",
                  f"{us(cpu_forged_on):.1f} us ({cpu5 - cpu4:.2f} s / {fmt_int(refused_on)}, "
                  f"{fmt_int(limited_on)} answered 429)", us(cpu_forged_on), 60, "max", "60 us")
        table.add_ratio("forged flood: CPU per forgery, limit on / limit off",
                        f"{us(cpu_forged_on):.1f} us / {us(cpu_forged):.1f} us "
                        f"(main flood: BRIDGE_REFUSAL_LIMIT={args.refusal_limit})",
                        cpu_forged_on / cpu_forged, 1.0, "max")
        table.add(f"p99 latency, {args.connections} connections", f"{load['p99_us'] / 1000:.2f} ms "
                  f"(p50 {load['p50_us'] / 1000:.2f} ms)", load["p99_us"] / 1000, 10, "max", "10 ms")
        table.add("peak RSS under load (VmHWM)", f"{hwm / MIB:.1f} MiB", hwm / MIB, 64, "max", "64 MiB")
        table.add("idle RSS after start", f"{idle_rss / MIB:.1f} MiB", idle_rss / MIB, 30, "max", "30 MiB")
        table.add_ratio(f"memory flat across N = {args.count:,} webhooks",
                        f"RSS {rss_warm / MIB:.1f} -> {rss_end / MIB:.1f} MiB", rss_end / rss_warm, 1.2, "max")
        table.add(f"forwarder drain rate ({fmt_int(backlog)} records)",
                  f"{fmt_int(drain_rate)} records/s ({drain_seconds:.2f} s from exec)", drain_rate, 20000, "min",
                  "20,000/s")
        table.add(f"start-up to /readyz 200, {args.rule_files} rule files",
                  f"{startup_ms:.0f} ms (median of {args.starts}, max {max(startup) * 1000:.0f})", startup_ms, 300,
                  "max", "300 ms")
        growth = size1 - size0
        table.add(f"forged flood ({fmt_int(refused)}): data dir growth", f"{growth / MIB:.2f} MiB "
                  f"({fmt_int(growth)} bytes)", growth / MIB, 1, "below", "1 MiB")
        table.add_ratio("forged flood: CPU per forgery / per accepted",
                        f"{us(cpu_forged):.1f} us / {us(cpu_accepted):.1f} us", cpu_forged / cpu_accepted, 0.1, "max")
        if small:
            table.info_ratio(f"small body ({small['bytes']:,} bytes): accepted webhooks/s vs nginx",
                             f"{fmt_int(small['rps'])}/s vs {fmt_int(small['nginx_rps'])}/s, p99 "
                             f"{small['p99_us'] / 1000:.2f} ms, {us(small['cpu']):.1f} us CPU per accepted webhook "
                             f"(incl. forwarding)", small["rps"] / small["nginx_rps"], "of nginx's answers/s")
        for name, (label, f) in floors.items():
            table.info_ratio(f"{label}: reads the body, 204",
                             f"{fmt_int(f['rps'])}/s, p99 {f['p99_us'] / 1000:.2f} ms, peak RSS "
                             f"{f['hwm'] / MIB:.0f} MiB, {us(f['cpu']):.1f} us CPU per request",
                             f["rps"] / nginx_rps, "of nginx's answers/s")
        table.info_ratio("nginx: reads the body, 204", f"{fmt_int(nginx_rps)}/s, {us(nginx_cpu):.1f} us CPU per "
                         "request (workers and master)", 1.0, "the baseline")
        if "hummingbird" in floors:
            hb = floors["hummingbird"][1]
            table.info_ratio("bridge's own CPU above the Hummingbird floor",
                             f"{us(cpu_accepted - hb['cpu']):.1f} us of {us(cpu_accepted):.1f} us per accepted "
                             "webhook", (cpu_accepted - hb["cpu"]) / cpu_accepted, "of the bridge's CPU")
        busy = max(others_nginx, others_bridge)
        print(f"machine: other processes used up to {others_nginx:.0%} of the {os.cpu_count()} CPUs during nginx's loads, "
              f"{others_bridge:.0%} during the bridge's" + (
                  " -- THE MACHINE WAS BUSY: throughput, latency and their ratios are skewed; rerun when it is quiet"
                  if busy > 0.10 else " (quiet enough)"))
        print(f"notes:   {args.rule_files} rule files, {enabled} sources enabled; bridge answered "
              f"{fmt_int(sum(load['statuses'].values()))} webhooks in {load['seconds']:.1f} s (wrk p99 "
              f"{load['p99_text']}), outbox drained {drain_lag:.1f} s after the load; nginx "
              f"{fmt_int(nginx_rps1)}/s before and {fmt_int(nginx_rps2)}/s after the bridge's load, p99 "
              f"{base['p99_us'] / 1000:.2f} ms; forged flood p99 {flood['p99_us'] / 1000:.2f} ms; drain: {len(polls)} "
              f"outbox polls of {statistics.median(polls) * 1000:.0f} ms (median)")
    except BenchmarkError as e:
        broken = str(e)
    finally:
        for br in bridges:
            try:
                br.stop(timeout=30)
            except BenchmarkError:
                pass
        nginx.stop()
    print(f"total:   {time.monotonic() - started:.0f} s")
    if table.rows:
        print()
        table.print()
    if args.keep or broken:
        print(f"\nlogs and wrk output kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if broken:
        print(f"\nBROKEN RUN: {broken}", file=sys.stderr)
        sys.exit(2)
    failed = table.failed()
    if failed:
        print(f"\n{len(failed)} target(s) missed by more than the {args.margin:.0%} noise margin: "
              + "; ".join(r[0] for r in failed))
        sys.exit(1)
    print(f"\nall targets met (within the {args.margin:.0%} noise margin)")


if __name__ == "__main__":
    main()
