"""test_install.py - `meson install` into a scratch root (DESTDIR): the
binary, the library, the header, the pkg-config file, both man pages, the
example configuration and the systemd unit are all laid out where this
build's prefix says; the man pages render without a groff warning; the
installed example passes `sluice -c`; the unit points at the installed
binary and configuration, and its reload checks the file before SIGHUP;
and SIGHUP reloads the configuration with the proxy running on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile

import harness
import proxylib as pl


def build_options(build_dir: str) -> dict:
    """Returns this build's options as {name: value}."""
    out = subprocess.run([shutil.which("meson") or "meson", "introspect", "--buildoptions", build_dir],
                         capture_output=True, check=True, timeout=60).stdout
    return {o["name"]: o["value"] for o in json.loads(out)}


@harness.timeout(120)
def test_meson_install(ctx):
    meson = shutil.which("meson")
    if not meson:
        raise harness.Skip("meson not in PATH")
    opts = build_options(ctx.build_dir)
    prefix = opts["prefix"]

    def under(opt: str) -> str:
        # an absolute option (sysconfdir, a unit dir) stands alone
        return os.path.join(prefix, opts[opt]) if opt in opts else prefix

    root = tempfile.mkdtemp(prefix="sluice-destdir-")
    try:
        cp = subprocess.run([meson, "install", "-C", ctx.build_dir, "--no-rebuild", "--destdir", root],
                            capture_output=True, timeout=100)
        assert cp.returncode == 0, cp.stdout.decode()[-2000:] + cp.stderr.decode()[-2000:]

        def path(*parts: str) -> str:
            return root + os.path.join(*parts)

        docdir = os.path.join(under("datadir"), "doc", "sluice")
        unitdir = opts.get("systemdunitdir") or os.path.join(prefix, "lib", "systemd", "system")
        libdir = under("libdir")
        want = [
            path(under("bindir"), "sluice"),
            path(libdir, "libsluice.so"),
            path(libdir, "libsluice.a"),
            path(libdir, "pkgconfig", "sluice.pc"),
            path(under("includedir"), "sluice.h"),
            path(under("includedir"), "sluice", "pool", "pool.h"),
            path(under("includedir"), "sluice", "sched", "sched.h"),
            path(under("includedir"), "sluice", "mux", "h1.h"),
            path(under("mandir"), "man1", "sluice.1"),
            path(under("mandir"), "man5", "sluice.cfg.5"),
            path(docdir, "sluice.cfg"),
            path(unitdir, "sluice.service"),
        ]
        missing = [p for p in want if not os.path.exists(p)]
        assert not missing, missing
        assert os.access(want[0], os.X_OK)
        assert any(n.startswith("libsluice.so.") for n in os.listdir(path(libdir))), os.listdir(path(libdir))

        # the unit names the installed binary and config; nothing left unfilled
        unit = open(path(unitdir, "sluice.service")).read()
        sysconf = os.path.join(prefix, opts["sysconfdir"])
        bindir = under("bindir")
        assert f"ExecStart={bindir}/sluice -f {sysconf}/sluice/sluice.cfg\n" in unit, unit
        assert "ExecReload=/bin/kill -HUP $MAINPID\n" in unit and "KillSignal=SIGTERM\n" in unit
        assert f"ExecReload={bindir}/sluice -c -f {sysconf}/sluice/sluice.cfg\n" in unit, unit
        assert "Restart=on-failure\n" in unit and "Type=simple\n" in unit
        for f in want[8:]:
            text = open(f).read()
            assert "@" + "BINDIR@" not in text and "@" + "VERSION@" not in text and "@" + "DOCDIR@" not in text, f

        # the example configuration is one sluice accepts
        exe = pl.sluice_path(ctx.build_dir)
        cp = subprocess.run([exe, "-c", "-f", path(docdir, "sluice.cfg")], capture_output=True, timeout=30)
        assert cp.returncode == 0, cp.stderr

        # the pages render without a warning (groff -ww), when groff exists
        groff = shutil.which("groff")
        if groff:
            for page, name_line in zip(want[8:10], (b"sluice - multithreaded HTTP reverse proxy",
                                                    b"sluice.cfg - configuration file")):
                cp = subprocess.run([groff, "-man", "-ww", "-z", "-Tutf8", page],
                                    capture_output=True, timeout=30)
                assert cp.returncode == 0 and not cp.stderr, (page, cp.stderr.decode())
                out = subprocess.run([groff, "-man", "-Tutf8", page], capture_output=True, timeout=30).stdout
                assert name_line in out and len(out) > 2000, out[:300]
            print(f"    {len(want)} files under {root}, man pages render cleanly")
        else:
            print(f"    {len(want)} files under {root} (groff not installed: rendering not checked)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@harness.timeout(60)
def test_sighup_keeps_running(ctx):
    origin, oport = harness.start_origin(ctx.build_dir, name="o1", threads=1)
    try:
        proxy, port = pl.start_sluice(
            ctx, lambda p: pl.make_config(p, [f"server s1 127.0.0.1:{oport}"]), name="hup")
        assert harness.curl([f"http://127.0.0.1:{port}/size/10"]).status == 200
        # the systemd unit's reload: the file is loaded again, the proxy
        # keeps running (test_reload.py checks reloads under load)
        proxy.send_signal(signal.SIGHUP)
        proxy.wait_stderr(r"^sluice: configuration reloaded$", 10)
        assert proxy.alive(), proxy.stderr_tail()
        assert harness.curl([f"http://127.0.0.1:{port}/size/10"]).status == 200
        assert proxy.stop() == 0
    finally:
        origin.stop()


if __name__ == "__main__":
    raise SystemExit(harness.main())
