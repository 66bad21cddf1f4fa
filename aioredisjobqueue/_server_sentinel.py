"""A throwaway Sentinel group on loopback (a primary, its replicas and the sentinels that
watch them), for tests, examples and benchmarks (``aioredisjobqueue.testing`` re-exports
it). Standard library only, plus the ``redis-server`` and ``redis-cli`` programs."""

from __future__ import annotations

import os
from pathlib import Path

from ._server import RedisServer, free_port
from ._server_cluster import Deployment, debug_args, info, redis_cli, wait_for

__all__ = ["RedisSentinelGroup"]


def _data_args() -> list[str]:
    """Options of the data servers: a replica syncs at once (Redis 7 waits 5 s by default
    for more replicas to share a diskless sync), and tests may send DEBUG."""
    return ["--repl-diskless-sync-delay", "0", *debug_args()]


class _Sentinel(RedisServer):
    """``redis-server sentinel.conf --sentinel``: the config file is written at start, and
    the sentinel rewrites it as it learns."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int,
        master_port: int,
        service_name: str,
        quorum: int,
        down_after_ms: int,
        failover_timeout_ms: int,
    ) -> None:
        super().__init__(directory, port=port)
        self._conf = "\n".join(
            [
                f"sentinel monitor {service_name} 127.0.0.1 {master_port} {quorum}",
                f"sentinel down-after-milliseconds {service_name} {down_after_ms}",
                f"sentinel failover-timeout {service_name} {failover_timeout_ms}",
                f"sentinel parallel-syncs {service_name} 1",
                "",
            ]
        )

    def _command(self, directory: Path, log: Path) -> list[str]:
        conf = directory / "sentinel.conf"
        if not conf.exists():
            conf.write_text(self._conf)
        return [
            self.binary, str(conf), "--sentinel",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(directory),
            "--logfile", str(log),
        ]  # fmt: skip


class RedisSentinelGroup(Deployment):
    """A primary with ``replicas`` replicas, watched by ``sentinels`` sentinels, on loopback.

    ``down_after_ms`` is short, so a primary that stops answering is failed over within a
    few seconds. ``start()`` waits until every sentinel knows the primary, its replicas and
    the other sentinels. ``master_port()`` asks the sentinels where the primary is now.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        service_name: str = "mymaster",
        replicas: int = 1,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
    ) -> None:
        super().__init__(directory)
        self.service_name = service_name
        self.replica_count = replicas
        self.sentinel_count = sentinels
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.servers: list[RedisServer] = []  # the primary first, as started
        self.sentinels: list[RedisServer] = []

    def _processes(self) -> list[RedisServer]:
        return [*self.sentinels, *self.servers]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each sentinel."""
        return [("127.0.0.1", s.port) for s in self.sentinels]

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,…/SERVICE/0``."""
        hosts = ",".join(f"{h}:{p}" for h, p in self.addresses)
        return f"redis+sentinel://{hosts}/{self.service_name}/0"

    def start(self) -> None:
        """Start the servers and the sentinels; wait until they all know each other."""
        if self.servers:
            return
        try:
            port = free_port()
            primary = RedisServer(self._dir(f"redis-{port}"), port=port, args=_data_args())
            self.servers.append(primary)
            primary.start()
            for _ in range(self.replica_count):
                port = free_port()
                replica = RedisServer(
                    self._dir(f"redis-{port}"),
                    port=port,
                    args=["--replicaof", "127.0.0.1", str(primary.port), *_data_args()],
                )
                self.servers.append(replica)
                replica.start()
            for _ in range(self.sentinel_count):
                port = free_port()
                sentinel = _Sentinel(
                    self._dir(f"sentinel-{port}"),
                    port=port,
                    master_port=primary.port,
                    service_name=self.service_name,
                    quorum=self.sentinel_count // 2 + 1,
                    down_after_ms=self.down_after_ms,
                    failover_timeout_ms=self.failover_timeout_ms,
                )
                self.sentinels.append(sentinel)
                sentinel.start()
            self.wait_settled()
        except BaseException:
            self.stop()
            raise

    def server(self, port: int) -> RedisServer:
        """The data server (primary or replica) on ``port``."""
        return next(s for s in self.servers if s.port == port)

    def master_port(self) -> int:
        """The port of the primary, as the first sentinel that answers says."""
        for sentinel in self.sentinels:
            if not sentinel.running:
                continue
            try:
                reply = redis_cli(
                    sentinel.port, "sentinel", "get-master-addr-by-name", self.service_name
                )
            except RuntimeError:
                continue
            lines = reply.split()
            if len(lines) == 2:
                return int(lines[1])
        raise RuntimeError("no sentinel knows the primary")

    def wait_settled(self, within: float = 30.0) -> None:
        """Wait until the primary has its replicas online and each running sentinel knows
        the primary, its replicas and the other running sentinels."""
        running = [s for s in self.sentinels if s.running]
        live_replicas = sum(1 for s in self.servers if s.running) - 1

        def settled() -> bool:
            primary = self.master_port()
            state = info(primary, "info", "replication")
            online = [k for k, v in state.items() if k.startswith("slave") and "state=online" in v]
            if state.get("role") != "master" or len(online) != live_replicas:
                return False
            for sentinel in running:
                lines = redis_cli(sentinel.port, "sentinel", "master", self.service_name).split()
                fields = dict(zip(lines[::2], lines[1::2], strict=False))
                if fields.get("port") != str(primary) or fields.get("num-slaves") != str(
                    live_replicas
                ):
                    return False
                if fields.get("num-other-sentinels") != str(len(running) - 1):
                    return False
                if "s_down" in fields.get("flags", "") or "o_down" in fields.get("flags", ""):
                    return False
            return True

        wait_for("the sentinel group to settle", settled, within)

    def failover(self, within: float = 30.0) -> int:
        """``SENTINEL FAILOVER`` and wait until a new primary took over; return its port."""
        old = self.master_port()
        redis_cli(self.sentinels[0].port, "sentinel", "failover", self.service_name)
        wait_for("the failover", lambda: self.master_port() != old, within)
        return self.master_port()
