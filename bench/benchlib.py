"""benchlib.py - helpers shared by compare.py and memcap.py (Python 3 stdlib).

Everything here is about running processes we start ourselves and reading
their figures: tools and build checks, free ports, processes pinned with
taskset and stopped by PID, wrk output parsing, /proc CPU and memory
counters, Sluice's JSON stats and the configuration texts.
"""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
DEFAULT_BUILD = os.path.join(REPO, "build-bench-rel")
STATS_URI = "/sluice-stats"

# CPU layout on the 2-core machine: the proxy alone on one core, the load
# generator and the origin share the other.
CPU_PROXY = "0"
CPU_LOAD = "1"

TICKS = os.sysconf("SC_CLK_TCK")


def log(msg):
    """Prints a progress line at once (stdout may be a pipe)."""
    print(msg, flush=True)


# ---------------------------------------------------------------- setup

APT_PACKAGES = {"haproxy": "haproxy", "nginx": "nginx-light", "wrk": "wrk",
                "h2load": "nghttp2-client"}


def ensure_tools(need=("haproxy", "nginx", "wrk")):
    """Installs the Debian packages of missing tools when running as root.
    Returns the set of tools still missing afterwards."""
    missing = [t for t in need if not shutil.which(t, path=os.environ.get("PATH", "") + ":/usr/sbin")]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        pkgs = sorted({APT_PACKAGES[t] for t in missing if t in APT_PACKAGES})
        log("installing missing packages: " + " ".join(pkgs))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq"] + pkgs, env=env, check=False)
    return {t for t in need if not shutil.which(t, path=os.environ.get("PATH", "") + ":/usr/sbin")}


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


def run_wrk(url, conns, seconds, threads=1, timeout_s=None, cpu=CPU_LOAD):
    """Runs wrk pinned on <cpu>; returns parse_wrk() plus 'raw'. A wrk that
    outlives seconds+15 (it should not) is killed; the result then says so."""
    argv = ["taskset", "-c", cpu, tool("wrk"), "-t%d" % threads, "-c%d" % conns,
            "-d%ds" % seconds, "--latency"]
    if timeout_s:
        argv.append("--timeout=%ds" % timeout_s)
    argv.append(url)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=seconds + 15)
        killed = False
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        killed = True
    out = out.decode(errors="replace")
    r = parse_wrk(out)
    r["raw"] = out
    r["killed"] = killed
    return r


def cpu_busy(cpu):
    """Returns the busy time of CPU <cpu> since boot in seconds (user, nice,
    system, irq, softirq, steal), from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu%s " % cpu):
                v = [int(x) for x in line.split()[1:]]
                return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / TICKS
    return 0.0


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
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, STATS_URI),
                                    timeout=timeout) as r:
            return json.loads(r.read().decode())
    except Exception:
        return None


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


def haproxy_buffers(sock_path, timeout=1.0):
    """Asks HAProxy's stats socket `show pools` about its 16 KiB buffer pool.
    Returns (allocated, used, in thread caches), or None."""
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(b"show pools\n")
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
        s.close()
    except OSError:
        return None
    m = re.search(r"Pool buffer \(\d+ bytes\) : (\d+) allocated \(\d+ bytes\), (\d+) used"
                  r" \(~(\d+) by thread caches\)", data.decode(errors="replace"))
    return tuple(int(x) for x in m.groups()) if m else None


# ---------------------------------------------------------------- configs

def haproxy_cfg(port, origin_port, srv_maxconn=1000, limit=None, reserve=None,
                maxconn=4096, stats=True, timeout_queue="10s", extra_global=()):
    """Returns the HAProxy-format configuration both Sluice and HAProxy run.
    <limit>/<reserve> set tune.buffers.limit/reserve when not None."""
    g = ["global", "    nbthread 1", "    maxconn %d" % maxconn]
    g += ["    " + x for x in extra_global]
    if limit is not None:
        g.append("    tune.buffers.limit %d" % limit)
        g.append("    tune.buffers.reserve %d" % reserve)
    lines = g + [
        "",
        "defaults",
        "    mode http",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout connect 5s",
        "    timeout queue %s" % timeout_queue,
        "    option http-keep-alive",
        "",
        "frontend fe",
        "    bind 127.0.0.1:%d" % port,
    ]
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


def nginx_conf(port, origin_port, rundir, srv_maxconn=1000):
    """Returns an nginx configuration: one worker, upstream keep-alive, no
    access log, everything under <rundir>."""
    return """worker_processes 1;
daemon off;
pid %(d)s/nginx.pid;
error_log %(d)s/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
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
        listen 127.0.0.1:%(p)d;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
""" % {"d": rundir, "o": origin_port, "p": port, "m": srv_maxconn}


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def start_origin(procs, origin_bin, logdir, port, threads=1):
    o = procs.add(Proc("origin", [origin_bin, "-l", "127.0.0.1:%d" % port, "-t", str(threads),
                                  "-n", "origin", "-q"], CPU_LOAD, logdir, port))
    o.wait_ready()
    return o


def start_sluice(procs, sluice_bin, cfg_path, logdir, port, name="sluice"):
    p = procs.add(Proc(name, [sluice_bin, "-f", cfg_path], CPU_PROXY, logdir, port))
    p.wait_ready()
    return p


def start_haproxy(procs, cfg_path, logdir, port, name="haproxy"):
    p = procs.add(Proc(name, [tool("haproxy"), "-f", cfg_path, "-db"], CPU_PROXY, logdir, port))
    p.wait_ready()
    return p


def start_nginx(procs, conf_path, rundir, logdir, port, name="nginx"):
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(rundir, sub), exist_ok=True)
    p = procs.add(Proc(name, [tool("nginx"), "-c", conf_path, "-p", rundir], CPU_PROXY,
                       logdir, port, with_children=True))
    p.wait_ready()
    return p


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
