#!/usr/bin/env python3
"""rules_cost.py - proxy CPU per request with and without request rules.

Runs one sluice (1 thread, pinned on CPU 0) in front of the demo origin
(CPU 1) twice per round, interleaved: with no rules, then with 20 ACLs, a
10,000-host map choosing the backend and 5 header edits. wrk (CPU 1) asks
GET /size/1024 over keep-alive connections carrying a Host the map knows.
The figure is the proxy's user+system CPU time (from /proc) divided by the
requests wrk completed; the median of the rounds is printed. With
--haproxy, HAProxy (Debian's, 1 thread, same CPU) runs the same rules
file in each round too, and the ratio Sluice/HAProxy with rules is given.

    python3 bench/rules_cost.py [--build build] [--rounds 3] [--seconds 5] [--haproxy]
"""
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def config(port, oport, rules, mapfile):
    head = f"""global
    nbthread 1
defaults
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 5s
frontend web
    bind 127.0.0.1:{port}
"""
    tail = f"""    default_backend app
backend app
    server s1 127.0.0.1:{oport}
backend app2
    server s1 127.0.0.1:{oport}
"""
    if not rules:
        return head + tail
    acls = "".join(f"    acl a{i} path_beg /never{i}\n" for i in range(10))
    acls += "".join(f"    acl h{i} hdr(x-test-{i}) -m found\n" for i in range(5))
    acls += ("    acl net src 10.0.0.0/8 2001:db8::/32\n    acl post method POST PUT\n"
             "    acl re path_reg ^/api/v[0-9]+/\n    acl ua hdr_sub(user-agent) -i bot\n"
             "    acl q url_param(debug) 1\n")
    edits = ("    http-request set-header X-Client %[src]\n"
             "    http-request set-header X-Proto http\n"
             "    http-request add-header X-Via sluice\n"
             "    http-request del-header X-Secret\n"
             "    http-request replace-header User-Agent (.*) \\1-proxied\n")
    route = ("    use_backend app2 if a0 || a1 || a2 || a3 || a4 || a5 || a6 || a7 || a8 || a9\n"
             "    use_backend app2 if h0 || h1 || h2 || h3 || h4\n"
             "    use_backend app2 if net post re ua q\n"
             f"    use_backend %[req.hdr(host),lower,map({mapfile})]\n")
    return head + acls + edits + route + tail


def one(build, oport, rules, mapfile, seconds, tmp, haproxy=False):
    port = free_port()
    path = os.path.join(tmp, f"{'rules' if rules else 'plain'}.cfg")
    with open(path, "w") as f:
        f.write(config(port, oport, rules, mapfile))
    # the same file: it only uses keywords both proxies read alike
    argv = ["haproxy", "-db", "-f", path] if haproxy else [os.path.join(build, "engine/sluice"), "-f", path]
    p = subprocess.Popen(["taskset", "-c", "0", *argv],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/size/1024"
        hdr = ["-H", "Host: site4242.example.com"]
        subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", "-d1s", *hdr, url],
                       capture_output=True, check=True)
        c0 = cpu_seconds(p.pid)
        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{seconds}s", *hdr, url],
                             capture_output=True, text=True, check=True).stdout
        c1 = cpu_seconds(p.pid)
        m = re.search(r"(\d+) requests in", out)
        if not m or re.search(r"Non-2xx", out):
            raise SystemExit(f"wrk failed:\n{out}")
        reqs = int(m.group(1))
        return (c1 - c0) / reqs * 1e6, reqs / seconds
    finally:
        p.terminate()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--haproxy", action="store_true", help="also run HAProxy with the rules")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mapfile = os.path.join(tmp, "hosts.map")
        with open(mapfile, "w") as f:
            for i in range(10000):
                f.write(f"site{i}.example.com {'app' if i % 2 == 0 else 'app2'}\n")
        oport = free_port()
        origin = subprocess.Popen(["taskset", "-c", "1", os.path.join(a.build, "tests/origin/sluice-origin"),
                                   "-q", "-n", "o", "-t", "1", "-l", f"127.0.0.1:{oport}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(oport)
            res = {False: [], True: [], "haproxy": []}
            for r in range(a.rounds):
                for rules in (False, True) + (("haproxy",) if a.haproxy else ()):
                    us, rps = one(a.build, oport, bool(rules), mapfile, a.seconds, tmp,
                                  haproxy=rules == "haproxy")
                    res[rules].append((us, rps))
                    name = "haproxy rules" if rules == "haproxy" else "rules" if rules else "plain"
                    print(f"round {r + 1} {name}: {us:.2f} us CPU/request, {rps:.0f} req/s", flush=True)
        finally:
            origin.terminate()
            origin.wait()
    plain = statistics.median(x[0] for x in res[False])
    rules = statistics.median(x[0] for x in res[True])
    print(f"median: plain {plain:.2f} us/request, rules {rules:.2f} us/request, "
          f"rules/plain {rules / plain:.3f}; load average {os.getloadavg()[0]:.1f}")
    if a.haproxy:
        ha = statistics.median(x[0] for x in res["haproxy"])
        print(f"median: haproxy rules {ha:.2f} us/request, sluice rules/haproxy rules {rules / ha:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
