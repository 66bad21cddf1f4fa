"""A throwaway Redis Cluster on loopback, for tests, examples and benchmarks
(``aioredisjobqueue.testing`` re-exports it). Standard library only, plus the
``redis-server`` and ``redis-cli`` programs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ._server import Managed, RedisServer, free_port

__all__ = ["Deployment", "RedisClusterServer", "debug_args", "info", "redis_cli", "wait_for"]

# How long a cluster or a sentinel group gets to agree on its shape after it starts (s).
_SETTLE_WITHIN = 30.0


def redis_cli(port: int, *args: str, timeout: float = 10.0) -> str:
    """Run one command with ``redis-cli`` against 127.0.0.1:``port``; return its output.

    Raises ``RuntimeError`` when ``redis-cli`` is missing or fails.
    """
    binary = shutil.which("redis-cli")
    if binary is None:
        raise RuntimeError(
            "redis-cli is not on the PATH: install it (Debian: apt-get install redis-tools)"
        )
    done = subprocess.run(
        [binary, "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"redis-cli -p {port} {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def debug_args() -> list[str]:
    """Options that let tests send DEBUG (SLEEP, say) from loopback: Redis >= 7 refuses it
    by default, older servers know no such option."""
    binary = shutil.which("redis-server") or "redis-server"
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    major = version.stdout.partition(" v=")[2].split(".", 1)[0]
    return ["--enable-debug-command", "local"] if major.isdigit() and int(major) >= 7 else []


def info(port: int, *args: str) -> dict[str, str]:
    """``key:value`` lines of an INFO-like reply as a dict ({} if the node does not answer)."""
    try:
        text = redis_cli(port, *args, timeout=2.0)
    except (RuntimeError, subprocess.TimeoutExpired):
        return {}
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def wait_for(what: str, condition: Callable[[], bool], within: float = _SETTLE_WITHIN) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {within:g} s")
        time.sleep(0.05)


class Deployment(Managed):
    """What a cluster and a sentinel group share: a directory and a set of processes."""

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self._given = None if directory is None else Path(directory)
        self._directory: Path | None = self._given

    def _dir(self, name: str) -> Path:
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="ajq-deploy-"))
        path = self._directory / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _processes(self) -> list[RedisServer]:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop every process and remove the directory this made."""
        for process in self._processes():
            process.stop()
        if self._given is None and self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def start(self) -> None:
        raise NotImplementedError


class RedisClusterServer(Deployment):
    """A Redis Cluster of ``masters`` primaries, each with ``replicas`` replicas, on loopback.

    ``start()`` starts every node with ``--cluster-enabled yes``, joins them with
    ``redis-cli --cluster create`` (one primary alone takes every slot) and waits until
    every node reports the cluster ok.
    ``node_timeout_ms`` is short so that a failover takes a few seconds. ``nodes`` are
    ``RedisServer`` objects: ``kill()`` one to fail it over.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        masters: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 2000,
    ) -> None:
        super().__init__(directory)
        if masters < 3 and (masters != 1 or replicas):
            raise ValueError(
                f"masters must be 1 (with no replicas) or >= 3 (redis-cli --cluster create), "
                f"got masters={masters!r}, replicas={replicas!r}"
            )
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[RedisServer] = []

    def _processes(self) -> list[RedisServer]:
        return self.nodes

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` of the first running node (any node leads to the
        cluster)."""
        return self._running().url

    def _running(self) -> RedisServer:
        return next(n for n in self.nodes if n.running)

    def start(self) -> None:
        """Start the nodes, make the cluster, and wait until it is ok everywhere."""
        if self.nodes:
            return
        args = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # a replica syncs at once (Redis 7 waits 5 s for more replicas by default), so
            # it can take over as soon as the cluster is made
            "--repl-diskless-sync-delay", "0",
            *debug_args(),
        ]  # fmt: skip
        try:
            for _ in range(self.masters * (1 + self.replicas)):
                port = free_port()
                # the cluster bus port: by default port + 10000, which may not exist
                bus = ["--cluster-port", str(free_port())]
                node = RedisServer(self._dir(f"node-{port}"), args=[*args, *bus], port=port)
                self.nodes.append(node)
                node.start()
            if self.masters == 1:  # redis-cli makes clusters of 3 primaries or more
                redis_cli(self.nodes[0].port, "cluster", "addslotsrange", "0", "16383")
                self.wait_ok()
                return
            redis_cli(
                self.nodes[0].port,
                "--cluster", "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas", str(self.replicas),
                "--cluster-yes",
                timeout=60.0,
            )  # fmt: skip
            self.wait_ok()
        except BaseException:
            self.stop()
            raise

    def wait_ok(self, within: float = _SETTLE_WITHIN) -> None:
        """Wait until every running node says the cluster is ok, they all see the same
        slots served by the same running primaries (after a kill, until a replica took
        over), and each node that takes itself for a primary serves slots (a primary that
        came back, or one failed over, until it turned replica)."""

        def ok() -> bool:
            running = [n for n in self.nodes if n.running]
            try:
                views = {tuple(sorted(_cluster_slots(n.port))) for n in running}
            except RuntimeError:
                return False
            if len(views) != 1:
                return False  # news of a failover has not reached every node yet
            owners = {port for _, _, port in views.pop()}
            if not owners <= {n.port for n in running}:
                return False
            for node in running:
                state = info(node.port, "cluster", "info")
                if state.get("cluster_state") != "ok" or state.get("cluster_slots_ok") != "16384":
                    return False
                replication = info(node.port, "info", "replication")
                if (replication.get("role") == "master") != (node.port in owners):
                    return False
                if replication.get("role") == "slave" and (
                    replication.get("master_link_status") != "up"
                    or replication.get("master_sync_in_progress") != "0"
                ):
                    return False  # a replica that never synced cannot take over
            return True

        wait_for("the cluster to be ok", ok, within)

    def primaries(self) -> list[RedisServer]:
        """The running nodes that are primaries now."""
        return [
            n
            for n in self.nodes
            if n.running and info(n.port, "info", "replication").get("role") == "master"
        ]

    def replica_of(self, primary: RedisServer) -> RedisServer:
        """A running replica of ``primary``."""
        primary_id = redis_cli(primary.port, "cluster", "myid").strip()
        for line in redis_cli(primary.port, "cluster", "nodes").splitlines():
            fields = line.split()
            if len(fields) > 3 and "slave" in fields[2] and fields[3] == primary_id:
                port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
                replica = next(n for n in self.nodes if n.port == port)
                if replica.running:
                    return replica
        raise RuntimeError(f"primary on port {primary.port} has no running replica")

    def failover(self, primary: RedisServer) -> RedisServer:
        """``CLUSTER FAILOVER`` on a replica of ``primary``; wait until it took over and the
        cluster is ok. Returns the new primary."""
        replica = self.replica_of(primary)
        redis_cli(replica.port, "cluster", "failover")
        wait_for(
            "the replica to take over",
            lambda: info(replica.port, "info", "replication").get("role") == "master",
        )
        self.wait_ok()
        return replica

    def node_of(self, key: str) -> RedisServer:
        """The primary that serves ``key``'s slot now."""
        slot = int(redis_cli(self._running().port, "cluster", "keyslot", key).strip())
        for low, high, port in _cluster_slots(self.primaries()[0].port):
            if low <= slot <= high:
                return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no node serves slot {slot} of {key!r}")


def _cluster_slots(port: int) -> list[tuple[int, int, int]]:
    """(first slot, last slot, primary's port) of each slot range, as ``CLUSTER NODES`` of
    the node at ``port`` sees them."""
    ranges: list[tuple[int, int, int]] = []
    for line in redis_cli(port, "cluster", "nodes").splitlines():
        fields = line.split()
        if len(fields) < 8 or "master" not in fields[2] or "fail" in fields[2]:
            continue
        node_port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
        for spec in fields[8:]:
            if spec.startswith("["):
                continue  # a slot being migrated
            low, _, high = spec.partition("-")
            ranges.append((int(low), int(high or low), node_port))
    return ranges
