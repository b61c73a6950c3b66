"""HAProxy (the Debian package) started by a test in front of served gateways: round-robin, each
instance checked on /readyz every 200 ms, a call refused on connect sent to another instance. A machine
without haproxy fails the test (it is never skipped)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from support.ports import free_port

_CONFIG = """global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
frontend gateway
    bind 127.0.0.1:{port}
    default_backend interlock
backend interlock
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
"""


class HaProxy:
    def __init__(self, backend_ports: list[int]) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise RuntimeError("HAProxy is needed by this test and is not installed (Debian: apt-get install haproxy)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="interlock-haproxy-"))
        servers = "\n".join(f"    server i{n} 127.0.0.1:{p} check inter 200ms fall 2 rise 2"
                            for n, p in enumerate(backend_ports))
        cfg = self.dir / "haproxy.cfg"
        cfg.write_text(_CONFIG.format(port=self.port, servers=servers), encoding="utf-8")
        with (self.dir / "haproxy.log").open("wb") as log:
            self.proc = subprocess.Popen([binary, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("haproxy exited: " + (self.dir / "haproxy.log").read_text(errors="replace"))
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("haproxy did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
