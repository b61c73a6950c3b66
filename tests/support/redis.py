"""Redis for the usage counters: the shared server (each test under a key prefix of its own, its keys
deleted afterwards, never a flush) and a private ``redis-server`` a test may stop and start again."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from support.ports import free_port

SHARED_URL = "redis://127.0.0.1:6379/0"


def unique_prefix() -> str:
    return "t" + secrets.token_hex(6)


def shared_redis() -> redis.Redis:
    """The shared server; a test fails (never skips) when it is not there."""
    client = redis.Redis.from_url(SHARED_URL, socket_timeout=5)
    client.ping()
    return client


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Every key of ``prefix`` (usage keys start with ``{<prefix>:``)."""
    for key in client.scan_iter(match="{" + prefix + ":*", count=1000):
        client.delete(key)


class PrivateRedis:
    """A ``redis-server`` of the test's own on a free port, without persistence, stopped and restarted at will
    on the same port."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed (apt-get install redis-server)"
        self._binary = binary
        self._directory = directory
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self._directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _cluster_port() -> int:
    """A free port whose cluster bus port (10000 above it) is free too."""
    import socket

    for _ in range(100):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise AssertionError("no free port pair for a Redis Cluster node")


@contextlib.contextmanager
def private_cluster(directory: Path, masters: int = 3) -> Iterator[list[int]]:
    """A Redis Cluster of the test's own: ``masters`` ``redis-server`` nodes in cluster mode on free ports, the
    slots spread over them by ``redis-cli --cluster create``; yields the nodes' ports once the cluster is ok."""
    binary = shutil.which("redis-server")
    cli = shutil.which("redis-cli")
    assert binary is not None, "redis-server is not installed (apt-get install redis-server)"
    assert cli is not None, "redis-cli is not installed (apt-get install redis-tools)"
    ports = [_cluster_port() for _ in range(masters)]
    procs = []
    try:
        for port in ports:
            node = directory / f"node-{port}"
            node.mkdir()
            procs.append(subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", str(node / "nodes.conf"), "--save", "", "--appendonly", "no",
                 "--dir", str(node)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in ports:
            deadline = time.monotonic() + 10
            while True:
                try:
                    redis.Redis(port=port, socket_timeout=1).ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"redis-server (cluster mode) did not start on port {port}") from None
                    time.sleep(0.05)
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
                        "--cluster-yes"], check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        while not all(redis.Redis(port=p, socket_timeout=1).cluster("INFO").get("cluster_state") == "ok"
                      for p in ports):
            if time.monotonic() > deadline:
                raise AssertionError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
