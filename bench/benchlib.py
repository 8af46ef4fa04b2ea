"""benchlib.py - helpers shared by the benchmark scripts (Python 3 stdlib).

Everything here is about running processes we start ourselves and reading
their figures: tools and build checks, free ports, processes pinned with
taskset and stopped by PID, wrk and h2load runs and their output, /proc CPU
and memory counters, Sluice's JSON stats, the configuration texts of every
peer, interleaved runs with medians, and the Sluice / peer ratios.
"""
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import sys
import time
import urllib.request

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
DEFAULT_BUILD = os.path.join(REPO, "build-bench-rel")
STATS_URI = "/sluice-stats"

# CPU layout on the 2-core machine: the proxy alone on one core, the load
# generator and the origin share the other. A proxy with 2 threads gets both
# cores (CPU_PROXY_2T): pinning both threads on core 0 would measure thread
# overhead with no parallelism; this way it may use core 0 fully and compete
# with the load generator and the origin for core 1, as a 2-thread proxy on
# a 2-core host would.
CPU_PROXY = "0"
CPU_LOAD = "1"
CPU_PROXY_2T = "0,1"


# Disjoint sets for proxy, origin and load generators need this many CPUs:
# fewer leave the origin and the load generator a single CPU between them,
# and then that CPU, not the proxy, bounds the req/s (see compare.py).
DISJOINT_MIN_CPUS = 8


def proxy_cpus(threads, layout=None):
    """Returns the taskset CPU list of a proxy running <threads> threads:
    its first <threads> CPUs of <layout> (see placement()) when given, else
    the fixed 2-core layout above."""
    if layout:
        return cpu_text(layout["proxy"][:threads])
    return CPU_PROXY if threads <= 1 else CPU_PROXY_2T


def cpu_text(ids):
    """Returns the taskset list ("0,1,2") of the CPU ids <ids>."""
    return ",".join(str(c) for c in ids)


def placement(cpus=None):
    """Returns the CPU layout of a thread sweep over <cpus> (CPU ids; default
    those this process may run on, os.sched_getaffinity(0)), as a dict:
      proxy        CPU ids for the proxy; with t threads it runs on proxy[:t]
      origin, load CPU ids of the origin and of the load generators
      disjoint     True when the proxy's, origin's and load's sets never meet
      max_threads  the largest proxy thread count the layout has CPUs for
      why          one line saying what bounds max_threads.
    With DISJOINT_MIN_CPUS or more: the proxy gets the first half, the origin
    the next quarter, the load generators the rest, so that every thread
    point of the sweep measures the proxy alone on its cores against the
    same origin and load. With fewer, the fixed layout of the 2-core machine
    generalised: the origin and the load generator share the last CPU, the
    proxy takes CPUs from the first, and its last thread point (one thread
    per CPU) shares the last CPU with them."""
    ids = sorted(os.sched_getaffinity(0) if cpus is None else cpus)
    n = len(ids)
    if n >= DISJOINT_MIN_CPUS:
        np_, no = n // 2, n // 4
        return {"proxy": ids[:np_], "origin": ids[np_:np_ + no], "load": ids[np_ + no:],
                "disjoint": True, "max_threads": np_,
                "why": "%d CPUs usable: proxy threads on CPUs %s, origin on %s, load generators "
                       "on %s; more than %d proxy threads would share CPUs with the origin or "
                       "the load generators" % (n, cpu_text(ids[:np_]),
                                                cpu_text(ids[np_:np_ + no]),
                                                cpu_text(ids[np_ + no:]), np_)}
    return {"proxy": ids, "origin": ids[-1:], "load": ids[-1:], "disjoint": False,
            "max_threads": n,
            "why": "only %d CPU%s usable (sched_getaffinity; disjoint proxy/origin/load sets "
                   "need %d): origin and load generator share CPU %d, the proxy gets one CPU "
                   "per thread up to %d threads%s; more threads than CPUs would measure "
                   "time-slicing, not scaling" % (
                       n, "" if n == 1 else "s", DISJOINT_MIN_CPUS, ids[-1], n,
                       " (the last one shared with them)" if n > 1 else "")}


def sweep_threads(layout):
    """Returns the default thread points of <layout>: powers of two up to
    its max_threads, and max_threads itself."""
    pts, t = [], 1
    while t <= layout["max_threads"]:
        pts.append(t)
        t *= 2
    if pts[-1] != layout["max_threads"]:
        pts.append(layout["max_threads"])
    return pts

TICKS = os.sysconf("SC_CLK_TCK")


def log(msg):
    """Prints a progress line at once (stdout may be a pipe)."""
    print(msg, flush=True)


# ---------------------------------------------------------------- setup

APT_PACKAGES = {"haproxy": "haproxy", "nginx": "nginx-light", "wrk": "wrk",
                "h2load": "nghttp2-client", "h2o": "h2o", "gnuplot": "gnuplot-nox",
                "curl": "curl"}


def ensure_tools(need=("haproxy", "nginx", "wrk")):
    """Installs the Debian packages of missing tools when running as root.
    Returns the set of tools still missing afterwards."""
    missing = [t for t in need if not tool(t)]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        pkgs = sorted({APT_PACKAGES[t] for t in missing if t in APT_PACKAGES})
        log("installing missing packages: " + " ".join(pkgs))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq"] + pkgs, env=env, check=False)
    return {t for t in need if not tool(t)}


def tool(name):
    """Returns the full path of <name>, looking in /usr/sbin too, or None."""
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin")


def ensure_build(build):
    """Builds Sluice (release) into <build> when its binaries are missing.
    Returns (sluice, origin) paths; exits when the build fails."""
    sluice = os.path.join(build, "engine", "sluice")
    origin = os.path.join(build, "tests", "origin", "sluice-origin")
    if not (os.access(sluice, os.X_OK) and os.access(origin, os.X_OK)):
        log("building Sluice (release) into " + build)
        if not os.path.exists(os.path.join(build, "build.ninja")):
            # meson takes the source tree from the working directory: an
            # export must be configured from inside itself, not from REPO
            src = os.path.dirname(os.path.abspath(build))
            if not os.path.exists(os.path.join(src, "meson.build")):
                src = REPO
            subprocess.run(["meson", "setup", build, "-Dbuildtype=release"], cwd=src, check=True)
        subprocess.run(["meson", "compile", "-C", build], cwd=REPO, check=True)
    if not (os.access(sluice, os.X_OK) and os.access(origin, os.X_OK)):
        sys.exit("no sluice or sluice-origin binary in " + build)
    return sluice, origin


def export_head():
    """Exports the committed HEAD (git archive, the working tree untouched)
    to /tmp/sluice-bench-REV and returns its release build directory, to be
    built by ensure_build(). Figures then belong to one commit even while
    others edit the working tree."""
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=True,
                         stdout=subprocess.PIPE).stdout.decode().strip()
    src = "/tmp/sluice-bench-" + rev
    if not os.path.exists(os.path.join(src, "meson.build")):
        log("exporting HEAD %s to %s" % (rev, src))
        os.makedirs(src, exist_ok=True)
        archive = subprocess.Popen(["git", "-C", REPO, "archive", "HEAD"], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            sys.exit("git archive failed")
        write(os.path.join(src, ".bench-rev"), rev + "\n")
    return os.path.join(src, "build-rel")


def source_rev(build):
    """Returns the git revision the build at <build> was made from: the
    .bench-rev of an export, else the revision of its source tree, marked
    when that tree has uncommitted changes."""
    src = os.path.dirname(os.path.abspath(build))
    try:
        with open(os.path.join(src, ".bench-rev")) as f:
            return f.read().strip() + " (clean export of that commit)"
    except OSError:
        pass
    rev = cmd_output(["git", "-C", src, "rev-parse", "--short", "HEAD"])
    dirty = cmd_output(["git", "-C", src, "status", "--porcelain", "-uno"])
    return rev + (" + uncommitted changes in the working tree" if dirty else "")


def free_ports(n):
    """Returns <n> distinct TCP ports free on 127.0.0.1 right now."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


# ---------------------------------------------------------------- processes

class Proc:
    """A process we started (pinned with taskset), stopped by its PID.

    taskset execs the command, so the PID is the program's own. For nginx
    (master + one worker) the figures cover the master and its children."""

    def __init__(self, name, argv, cpu, logdir, port=None, with_children=False):
        self.name = name
        self.port = port
        self.with_children = with_children
        self.logpath = os.path.join(logdir, name + ".log")
        self.logf = open(self.logpath, "wb")
        self.p = subprocess.Popen(["taskset", "-c", cpu] + argv, stdout=self.logf,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.pid = self.p.pid

    def wait_ready(self, timeout=10.0):
        """Waits until the port accepts connections. Raises when the process
        exits or the port stays closed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("%s exited with %s; log %s:\n%s" % (
                    self.name, self.p.returncode, self.logpath, self.log_tail()))
            if self.port is None:
                return
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                # nginx forks its worker after listening: wait for it too
                if not self.with_children or self.children():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s did not listen on port %s in %.0fs" % (self.name, self.port, timeout))

    def log_tail(self, n=2000):
        try:
            with open(self.logpath, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def children(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.pid, self.pid)) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def pids(self):
        return [self.pid] + (self.children() if self.with_children else [])

    def cpu_seconds(self):
        """Returns utime+stime of the process (all threads; plus children
        for nginx) in seconds."""
        total = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    stat = f.read()
            except OSError:
                continue
            # the command name may hold blanks: fields start after the last ')'
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15)
        return total / TICKS

    def rss_kb(self):
        """Returns the current VmRSS in KiB, summed over master and children
        (for nginx both hold per-connection memory)."""
        total = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                continue
        return total

    def peak_rss_kb(self):
        """Returns VmHWM in KiB (the largest over master and children)."""
        best = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            best = max(best, int(line.split()[1]))
            except OSError:
                continue
        return best

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=5.0):
        """Stops the process by PID: SIGTERM, then SIGKILL after <timeout>."""
        if self.p.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait()
            except ProcessLookupError:
                pass
        # an nginx worker whose master died is re-parented: stop it too
        for pid in getattr(self, "_last_children", []):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.logf.close()

    def remember_children(self):
        self._last_children = self.children() if self.with_children else []


class ProcSet:
    """Every process a script started, stopped in reverse order by PID."""

    def __init__(self):
        self.procs = []

    def add(self, proc):
        self.procs.append(proc)
        return proc

    def stop(self, proc):
        proc.remember_children()
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self):
        for proc in reversed(list(self.procs)):
            try:
                self.stop(proc)
            except Exception as e:  # keep stopping the others
                log("warning: stopping %s: %s" % (proc.name, e))


# ---------------------------------------------------------------- wrk

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def parse_wrk(out):
    """Returns a dict from wrk --latency output: requests, seconds, rps,
    p50_ms, p99_ms, non2xx, sock_errors (connect+read+write+timeout),
    timeouts."""
    r = {"requests": 0, "seconds": 0.0, "rps": 0.0, "p50_ms": None, "p99_ms": None,
         "non2xx": 0, "sock_errors": 0, "timeouts": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if m:
        r["requests"] = int(m.group(1))
        r["seconds"] = _ms(m.group(2) + m.group(3)) / 1000.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, out, re.M)
        if m:
            r[key] = _ms(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["sock_errors"] = sum(int(x) for x in m.groups())
        r["timeouts"] = int(m.group(4))
    return r


def wrk_argv(url, conns, seconds, threads=1, timeout_s=None, cpu=CPU_LOAD, close=False):
    """Returns the argv of a wrk run pinned on <cpu>; with <close>, every
    request says 'Connection: close' (a new connection per request)."""
    argv = ["taskset", "-c", cpu, tool("wrk"), "-t%d" % threads, "-c%d" % conns,
            "-d%ds" % seconds, "--latency"]
    if timeout_s:
        argv.append("--timeout=%ds" % timeout_s)
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(url)
    return argv


def run_client(argv, seconds):
    """Runs a load generator to its end; returns (output, killed). One that
    outlives seconds+15 (it should not) is killed and the result says so."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=seconds + 15)
        killed = False
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        killed = True
    return out.decode(errors="replace"), killed


def run_wrk(url, conns, seconds, threads=1, timeout_s=None, cpu=CPU_LOAD, close=False):
    """Runs wrk (see wrk_argv()); returns parse_wrk() plus 'raw' and 'killed'."""
    out, killed = run_client(wrk_argv(url, conns, seconds, threads, timeout_s, cpu, close),
                             seconds)
    r = parse_wrk(out)
    r["raw"] = out
    r["killed"] = killed
    return r


# ---------------------------------------------------------------- h2load

def parse_h2load(out):
    """Returns a dict from h2load's summary: requests (succeeded), seconds,
    rps, done, failed, errored, timeout, status counts, and the 'time for
    request' mean/sd/max in ms."""
    r = {"requests": 0, "seconds": 0.0, "rps": 0.0, "done": 0, "failed": 0, "errored": 0,
         "timeout": 0, "s2xx": 0, "s3xx": 0, "s4xx": 0, "s5xx": 0,
         "mean_ms": None, "sd_ms": None, "max_ms": None}
    m = re.search(r"finished in ([\d.]+)(us|ms|s|m), ([\d.]+) req/s", out)
    if m:
        r["seconds"] = _ms(m.group(1) + m.group(2)) / 1000.0
        r["rps"] = float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    if m:
        g = [int(x) for x in m.groups()]
        r["done"], r["requests"], r["failed"], r["errored"], r["timeout"] = g[2], g[3], g[4], g[5], g[6]
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        r["s2xx"], r["s3xx"], r["s4xx"], r["s5xx"] = (int(x) for x in m.groups())
    m = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if m:
        r["max_ms"], r["mean_ms"], r["sd_ms"] = _ms(m.group(2)), _ms(m.group(3)), _ms(m.group(4))
    return r


def log_percentiles(path):
    """Returns (p50_ms, p99_ms, count) over the request durations in an
    h2load --log-file (start_us, status, duration_us per line), nearest rank."""
    durs = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    durs.append(int(parts[2]))
    except OSError:
        return None, None, 0
    if not durs:
        return None, None, 0
    durs.sort()

    def rank(q):
        i = max(0, min(len(durs) - 1, int(-(-q * len(durs) // 1)) - 1))
        return durs[i] / 1000.0
    return rank(0.50), rank(0.99), len(durs)


def h2load_argv(url, conns, streams, seconds, logpath=None, cpu=CPU_LOAD):
    """Returns the argv of an h2load run (h2c prior knowledge, one thread)
    pinned on <cpu> for <seconds>, logging every request to <logpath>."""
    argv = ["taskset", "-c", cpu, tool("h2load"), "-t1", "-c%d" % conns, "-m%d" % streams,
            "-D", str(seconds)]
    if logpath:
        argv += ["--log-file", logpath]
    return argv + [url]


def run_h2load(url, conns, streams, seconds, logpath, cpu=CPU_LOAD):
    """Runs h2load (see h2load_argv()); returns parse_h2load() plus exact
    p50/p99 from its log file, 'raw' and 'killed'."""
    out, killed = run_client(h2load_argv(url, conns, streams, seconds, logpath, cpu), seconds)
    r = parse_h2load(out)
    r["p50_ms"], r["p99_ms"], r["logged"] = log_percentiles(logpath)
    try:
        os.unlink(logpath)
    except OSError:
        pass
    r["raw"] = out
    r["killed"] = killed
    return r


# ---------------------------------------------------------------- CPU use

def cpu_busy(cpus):
    """Returns the busy time since boot in seconds (user, nice, system, irq,
    softirq, steal) of the CPUs of <cpus> ("0" or "0,1"), from /proc/stat."""
    want = {"cpu%s" % c for c in cpus.split(",")}
    total = 0.0
    with open("/proc/stat") as f:
        for line in f:
            w = line.split()
            if w and w[0] in want:
                v = [int(x) for x in w[1:]]
                total += (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / TICKS
    return total


def children_cpu():
    """Returns the CPU seconds of the children this process reaped so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Noise:
    """Measures the CPU time that others (not us) used on the proxy's CPUs
    during a run, in cores: busy time of <cpus> minus what the processes of
    <procs> used, minus the load generators that ended during the run when
    they run on those CPUs too. A direct reading of the neighbours' noise."""

    def __init__(self, cpus, procs, load_cpus=CPU_LOAD):
        self.cpus = cpus
        self.procs = [p for p in procs if p]
        self.with_clients = bool(set(load_cpus.split(",")) & set(cpus.split(",")))
        self.t0 = time.monotonic()
        self.busy0 = cpu_busy(cpus)
        self.ours0 = self._ours()

    def _ours(self):
        return sum(p.cpu_seconds() for p in self.procs) + (
            children_cpu() if self.with_clients else 0.0)

    def foreign(self):
        """Returns the others' share of <cpus> since creation, in cores."""
        busy = cpu_busy(self.cpus) - self.busy0
        ours = self._ours() - self.ours0
        return max(0.0, busy - ours) / max(1e-6, time.monotonic() - self.t0)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


# ---------------------------------------------------------------- Sluice stats

def sluice_stats(port, timeout=3.0):
    """Returns Sluice's counters (dict) from the stats URI, or None."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s;json" % (port, STATS_URI),
                                    timeout=timeout) as r:
            return json.loads(r.read().decode())
    except Exception:
        return None


def sluice_stats_tls(port, timeout=3.0):
    """Returns Sluice's tls_* counters (dict) read over HTTPS (a TLS-only
    listener, certificate not checked), or None."""
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen("https://127.0.0.1:%d%s;json" % (port, STATS_URI),
                                    timeout=timeout, context=ctx) as r:
            st = json.loads(r.read().decode())
    except Exception:
        return None
    return {k: v for k, v in st.items() if k.startswith("tls_")}


def probe(port, path="/size/16", timeout=3.0):
    """Returns the HTTP status of one GET, or None when none came in time."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


def haproxy_cli(sock_path, command, timeout=1.0):
    """Sends one command to HAProxy's stats socket. Returns the answer's
    text, or None when the socket does not answer."""
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
        s.close()
    except OSError:
        return None
    return data.decode(errors="replace")


def haproxy_buffers(sock_path, timeout=1.0):
    """Asks HAProxy's stats socket `show pools` about its 16 KiB buffer pool.
    Returns (allocated, used, in thread caches), or None."""
    text = haproxy_cli(sock_path, "show pools", timeout)
    m = text and re.search(r"Pool buffer \(\d+ bytes\) : (\d+) allocated \(\d+ bytes\), "
                           r"(\d+) used \(~(\d+) by thread caches\)", text)
    return tuple(int(x) for x in m.groups()) if m else None


def haproxy_stream_calls(sock_path, timeout=2.0):
    """Returns (process_stream calls, CumReq) from HAProxy's stats socket,
    the first needing `profiling.tasks on`; None for what it did not say."""
    prof = haproxy_cli(sock_path, "show profiling tasks", timeout) or ""
    info = haproxy_cli(sock_path, "show info", timeout) or ""
    m = re.search(r"^\s*process_stream\s+(\d+)", prof, re.M)
    n = re.search(r"^CumReq: (\d+)", info, re.M)
    return (int(m.group(1)) if m else None, int(n.group(1)) if n else None)


# ---------------------------------------------------------------- configs

def haproxy_cfg(port, origin_port, srv_maxconn=1000, limit=None, reserve=None,
                maxconn=4096, stats=True, timeout_queue="10s", extra_global=(),
                nbthread=1, h2=False, h2_port=None, timeout_client="30s", tls_crt=None,
                splice=False):
    """Returns the HAProxy-format configuration both Sluice and HAProxy run.
    <limit>/<reserve> set tune.buffers.limit/reserve when not None. <splice>
    adds `option splice-auto` (both proxies splice HTTP/1.1 bodies). <h2>
    makes the listener speak HTTP/2 prior knowledge; <h2_port> adds a second
    listener that does, beside the HTTP/1.1 one. <tls_crt> makes the
    listener TLS with that PEM (ALPN h2,http/1.1: HTTP/2 by ALPN), TLS 1.3
    and X25519 only, written with the words both proxies share."""
    g = ["global", "    nbthread %d" % nbthread, "    maxconn %d" % maxconn]
    if tls_crt:
        g += ["    ssl-default-bind-options ssl-min-ver TLSv1.3",
              "    ssl-default-bind-curves X25519"]
    g += ["    " + x for x in extra_global]
    if limit is not None:
        g.append("    tune.buffers.limit %d" % limit)
        g.append("    tune.buffers.reserve %d" % reserve)
    lines = g + [
        "",
        "defaults",
        "    mode http",
        "    timeout client %s" % timeout_client,
        "    timeout server 30s",
        "    timeout connect 5s",
        "    timeout queue %s" % timeout_queue,
        "    option http-keep-alive",
    ] + (["    option splice-auto"] if splice else []) + [
        "",
        "frontend fe",
        "    bind 127.0.0.1:%d%s%s" % (port, " proto h2" if h2 else "",
                                     " ssl crt %s alpn h2,http/1.1" % tls_crt if tls_crt else ""),
    ]
    if h2_port:
        lines.append("    bind 127.0.0.1:%d proto h2" % h2_port)
    if stats:
        lines.append("    stats uri " + STATS_URI)
    lines += [
        "    default_backend be",
        "",
        "backend be",
        "    server o1 127.0.0.1:%d maxconn %d" % (origin_port, srv_maxconn),
        "",
    ]
    return "\n".join(lines)


def nginx_conf(port, origin_port, rundir, srv_maxconn=1000, workers=1,
               worker_connections=4096, keepalive_timeout="75s", tls_crt=None):
    """Returns an nginx configuration: <workers> worker processes, upstream
    keep-alive, no access log, everything under <rundir>. <tls_crt>: TLS
    with that PEM (certificate and key), HTTP/2 by ALPN, TLS 1.3, X25519."""
    listen = "listen 127.0.0.1:%d;" % port
    if tls_crt:
        listen = ("listen 127.0.0.1:%d ssl http2;\n        ssl_certificate %s;\n"
                  "        ssl_certificate_key %s;\n        ssl_protocols TLSv1.3;\n"
                  "        ssl_ecdh_curve X25519;" % (port, tls_crt, tls_crt))
    return """worker_processes %(w)d;
worker_rlimit_nofile %(fd)d;
daemon off;
pid %(d)s/nginx.pid;
error_log %(d)s/nginx-error.log warn;
events { worker_connections %(wc)d; }
http {
    access_log off;
    keepalive_timeout %(kt)s;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    keepalive_requests 1000000;
    upstream be {
        server 127.0.0.1:%(o)d max_conns=%(m)d;
        keepalive 1000;
        keepalive_requests 1000000;
    }
    server {
        %(listen)s
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
""" % {"d": rundir, "o": origin_port, "p": port, "m": srv_maxconn, "w": workers,
       "wc": worker_connections, "fd": max(1024, min(fd_hard_limit(), 2 * worker_connections)),
       "kt": keepalive_timeout, "listen": listen}


def h2o_conf(port, origin_port, threads=1, max_connections=4096, idle_timeout_s=None):
    """Returns an h2o configuration: <threads> threads, reverse proxy to the
    origin, no access log (none is configured). No pid or error-log file: h2o
    started as root drops to 'nobody' and could not write under our private
    temporary directory; errors go to stderr, that is the peer's log; we
    stop it by PID. <idle_timeout_s> raises the HTTP/1 and HTTP/2 idle
    timeouts (10 s by default), for connections kept idle on purpose."""
    text = """num-threads: %(t)d
max-connections: %(mc)d
listen:
  host: 127.0.0.1
  port: %(p)d
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:%(o)d/
""" % {"p": port, "o": origin_port, "t": threads, "mc": max_connections}
    if idle_timeout_s:
        text = ("http1-request-timeout: %d\nhttp2-idle-timeout: %d\n"
                % (idle_timeout_s, idle_timeout_s)) + text
    return text


def make_tls_cert(tmp):
    """Writes a self-signed ECDSA P-256 certificate and its key into one PEM
    under <tmp> (what every proxy of the TLS benchmarks serves). Returns
    its path."""
    key, crt = os.path.join(tmp, "bench.key"), os.path.join(tmp, "bench.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=bench.test", "-addext", "subjectAltName=DNS:bench.test"],
                   check=True, capture_output=True)
    pem = os.path.join(tmp, "bench.pem")
    with open(pem, "w") as out:
        for p in (crt, key):
            with open(p) as f:
                out.write(f.read())
    return pem


def fd_hard_limit():
    """Returns the hard limit on open files of this process."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def start_origin(procs, origin_bin, logdir, port, threads=1, cpu=CPU_LOAD):
    o = procs.add(Proc("origin", [origin_bin, "-l", "127.0.0.1:%d" % port, "-t", str(threads),
                                  "-n", "origin", "-q"], cpu, logdir, port))
    o.wait_ready()
    return o


def start_sluice(procs, sluice_bin, cfg_path, logdir, port, name="sluice", cpu=CPU_PROXY):
    p = procs.add(Proc(name, [sluice_bin, "-f", cfg_path], cpu, logdir, port))
    p.wait_ready()
    return p


def start_haproxy(procs, cfg_path, logdir, port, name="haproxy", cpu=CPU_PROXY):
    p = procs.add(Proc(name, [tool("haproxy"), "-f", cfg_path, "-db"], cpu, logdir, port))
    p.wait_ready()
    return p


def start_nginx(procs, conf_path, rundir, logdir, port, name="nginx", cpu=CPU_PROXY):
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(rundir, sub), exist_ok=True)
    p = procs.add(Proc(name, [tool("nginx"), "-c", conf_path, "-p", rundir], cpu,
                       logdir, port, with_children=True))
    p.wait_ready()
    return p


def start_h2o(procs, conf_path, logdir, port, name="h2o", cpu=CPU_PROXY):
    p = procs.add(Proc(name, [tool("h2o"), "-c", conf_path], cpu, logdir, port))
    p.wait_ready()
    return p


def start_peer(procs, peer, tmp, port, origin_port, sluice_bin, threads=1, h2=False, cpu=None,
               **cfg):
    """Starts proxy <peer> (sluice, haproxy, nginx or h2o) with <threads>
    threads (nginx: worker processes) on <port>, pinned on <cpu> (default
    per proxy_cpus()).
    Sluice and HAProxy run the same haproxy_cfg(**cfg) file; <h2> makes the
    listener speak HTTP/2 prior knowledge (h2o speaks both anyway).
    Returns the Proc."""
    cpu = cpu or proxy_cpus(threads)
    if peer == "nginx":
        rundir = os.path.join(tmp, "nginx-run")
        conf = write(os.path.join(tmp, "nginx.conf"),
                     nginx_conf(port, origin_port, rundir, workers=threads,
                                **{k: v for k, v in cfg.items() if k in (
                                    "worker_connections", "keepalive_timeout", "tls_crt")}))
        return start_nginx(procs, conf, rundir, tmp, port, cpu=cpu)
    if peer == "h2o":
        conf = write(os.path.join(tmp, "h2o.conf"),
                     h2o_conf(port, origin_port, threads,
                              **{k: v for k, v in cfg.items() if k in (
                                  "max_connections", "idle_timeout_s")}))
        return start_h2o(procs, conf, tmp, port, cpu=cpu)
    path = write(os.path.join(tmp, "%s%s.cfg" % (peer, "-h2" if h2 else "")),
                 haproxy_cfg(port, origin_port, nbthread=threads, h2=h2, **cfg))
    if peer == "sluice":
        return start_sluice(procs, sluice_bin, path, tmp, port, cpu=cpu)
    return start_haproxy(procs, path, tmp, port, cpu=cpu)


# ---------------------------------------------------------------- versions

def cmd_output(argv):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        return p.stdout.decode(errors="replace").strip()
    except Exception as e:
        return "(%s)" % e


def versions(sluice_bin):
    """Returns a dict of tool versions for the results header."""
    build = os.path.dirname(os.path.dirname(os.path.abspath(sluice_bin)))
    v = {
        "sluice": cmd_output([sluice_bin, "-v"]),
        "sluice_git": source_rev(build),
        "gcc": cmd_output(["gcc", "--version"]).splitlines()[0],
        "haproxy": cmd_output([tool("haproxy") or "haproxy", "-v"]).splitlines()[0],
        "wrk": cmd_output([tool("wrk") or "wrk", "-v"]).splitlines()[0],
        "kernel": cmd_output(["uname", "-srm"]),
        "nproc": cmd_output(["nproc"]),
    }
    if tool("nginx"):
        v["nginx"] = cmd_output([tool("nginx"), "-v"])
    return v


# ---------------------------------------------------------------- interleaved runs

def measure_run(proc, cpus, others, run, load_cpus=CPU_LOAD):
    """Runs run() (one load-generator run returning a dict with 'requests'
    and 'seconds') and adds the proxy's CPU figures (from /proc/PID/stat,
    before and after), the neighbours' noise on <cpus> (see Noise; <others>
    are our other processes that may run there, the load generators run on
    <load_cpus>) and the load average. Raises when the proxy died during
    the run."""
    noise = Noise(cpus, [proc] + list(others), load_cpus)
    cpu0 = proc.cpu_seconds() if proc else None
    r = run()
    r["foreign_cpu"] = noise.foreign()
    r["load1"] = loadavg()
    if proc:
        cpu = proc.cpu_seconds() - cpu0
        n = r["requests"]
        r["cpu_s"] = cpu
        r["cpu_us_per_req"] = cpu * 1e6 / n if n else None
        r["cpu_s_per_100k"] = cpu * 1e5 / n if n else None
        r["cpu_util"] = cpu / r["seconds"] if r["seconds"] else None
        if not proc.alive():
            raise RuntimeError("%s died during the run:\n%s" % (proc.name, proc.log_tail()))
    return r


def interleave(tag, order, label, one_run, runs, warmup, duration, describe):
    """Warms every peer of <order> up for <warmup> s, then runs them in turns
    (run i of every peer, then run i+1), <runs> times <duration> s, so that
    a noisy neighbour hurts every peer alike. one_run(peer, seconds) returns
    a dict, describe(r) its progress line. Returns {peer: [results]}."""
    for peer in order:
        log("  [%s] warm-up %s (%d s)" % (tag, label[peer], warmup))
        one_run(peer, warmup)
    res, k, total = {p: [] for p in order}, 0, runs * len(order)
    for i in range(runs):
        for peer in order:
            k += 1
            log("  [%s] run %d of %d: %s (%d s) [%d/%d]" % (tag, i + 1, runs, label[peer],
                                                          duration, k, total))
            r = one_run(peer, duration)
            log("      " + describe(r))
            res[peer].append(r)
    return res


def summarize(rs, medians, sums):
    """Returns the summary of a peer's runs <rs>: medians of the keys of
    <medians>, sums of those of <sums>, the largest load average, and the
    runs themselves (without raw output)."""
    s = {k: median([r.get(k) for r in rs]) for k in medians}
    s.update({k: sum(r.get(k) or 0 for r in rs) for k in sums})
    s["load1_max"] = max(r["load1"] for r in rs)
    s["runs"] = [{k: v for k, v in r.items() if k != "raw"} for r in rs]
    return s


# ---------------------------------------------------------------- ratios and text

RATIO_KEYS = (("rps", "req/s"), ("p50_ms", "p50"), ("p99_ms", "p99"),
              ("cpu_us_per_req", "CPU per request"), ("rss_kb", "peak RSS"))


def fmt(v, nd=0):
    """Returns <v> with <nd> decimals, or '-' for None."""
    return "-" if v is None else "%.*f" % (nd, v)


def pct(v):
    """Returns a fraction as a percentage text, or '-' for None."""
    return "-" if v is None else "%.0f%%" % (v * 100)


def ratio(x, y):
    """Returns x / y, or None when either is missing or y is 0."""
    if x is None or y is None or y == 0:
        return None
    return x / y


def ratios(sl, other):
    """Returns {key: Sluice / other} over RATIO_KEYS."""
    return {k: ratio(sl.get(k), other.get(k)) for k, _ in RATIO_KEYS}


def ratio_line(sl, other, label):
    """Returns the Markdown bullet of the Sluice / <label> ratios."""
    r = ratios(sl, other)
    return "- Sluice / %s: %s" % (label, ", ".join(
        "%s %s" % (name, fmt(r[k], 2)) for k, name in RATIO_KEYS))


def sluice_counters_line(st):
    """Returns the Markdown bullet of Sluice's stream and pool counters."""
    streams = st.get("streams") or 0
    return ("- Sluice counters: %d streams, %.3f stream calls per stream, pool peak in use %d "
            "buffers, %d failed allocations, %d server connects, %d server reuses" % (
                streams, (st.get("stream_calls", 0) / streams) if streams else 0,
                st.get("pool_peak_in_use", 0), st.get("pool_failed", 0),
                st.get("srv_connects", 0), st.get("srv_reuses", 0)))


def header(script, ver):
    """Returns the Markdown header of a results file."""
    return ("<!-- written by bench/%s on %s -->\n\nVersions: %s\n\n" % (
        script, time.strftime("%Y-%m-%d %H:%M"),
        "; ".join("%s: %s" % kv for kv in sorted(ver.items()))))


def size_label(size):
    return "%d KiB" % (size // 1024) if size >= 1024 else "%d B" % size


def run_compare(a, script, protocol, ver, sluice_bin, origin_bin, cases, peers,
                case_title, run_case, tables, origin_cpu=CPU_LOAD, origin_threads=1):
    """The common body of compare.py and compare_h2.py: starts the origin
    (<origin_threads> threads on <origin_cpu>),
    runs every case of <cases> through run_case(a, procs, sluice_bin, tmp,
    origin, origin_port, case, peers) with progress, stops every process,
    prints tables(results, a) and writes them (a.out) and every figure
    (a.json, tagged with <protocol>)."""
    procs = ProcSet()
    results = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sluice-%s-" % script.split(".")[0]) as tmp:
        try:
            origin_port = free_ports(1)[0]
            origin = start_origin(procs, origin_bin, tmp, origin_port, origin_threads,
                                  origin_cpu)
            for i, c in enumerate(cases):
                log("case %d of %d: %s (%.0f s elapsed)" % (
                    i + 1, len(cases), case_title(c), time.monotonic() - t0))
                results.append({"case": c, "peers": run_case(
                    a, procs, sluice_bin, tmp, origin, origin_port, c, peers)})
        finally:
            procs.stop_all()
    text = tables(results, a)
    print()
    print(text)
    print("elapsed %.0f s" % (time.monotonic() - t0))
    if a.out:
        write(a.out, header(script, ver) + text)
    if a.json:
        write(a.json, json.dumps({"args": vars(a), "versions": ver, "protocol": protocol,
                                  "results": results}, indent=1, default=str))
    return results
