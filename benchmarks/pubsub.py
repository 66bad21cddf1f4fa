"""Pub/sub latency, classic against sharded: PUBLISH/SUBSCRIBE and SPUBLISH/SSUBSCRIBE on
one Redis node and on a 3-primary Redis Cluster, interleaved.

    .venv/bin/python -m benchmarks.pubsub [--n 500] [--repeat 5]

The numbers behind the choice of channels for wake-ups: shard channels on a cluster,
classic ones on one node. Each repeat sends N messages one at a time on a channel of one
slot (the subscriber on the node that owns it) and times each from the publish call to
its arrival; prints the median µs (min-max over the repeats), and the cluster's bus
traffic (messages sent between nodes) per message.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from redis.asyncio import Redis

from aioredisjobqueue._server_cluster import info
from aioredisjobqueue.testing import RedisClusterServer, RedisServer

from .harness import summarize
from .tables import span, table

CHANNEL = "ajq:{bench}:wake"


async def _latency(port: int, sharded: bool, n: int) -> float:
    client = Redis(port=port)
    pubsub = client.pubsub()
    try:
        await (pubsub.ssubscribe if sharded else pubsub.subscribe)(CHANNEL)
        assert await pubsub.get_message(timeout=5) is not None  # the confirmation
        publish = "SPUBLISH" if sharded else "PUBLISH"
        times = []
        for _ in range(n):
            start = time.perf_counter()
            await client.execute_command(publish, CHANNEL, "")
            while await pubsub.get_message(timeout=5) is None:
                pass
            times.append((time.perf_counter() - start) * 1e6)
    finally:
        await pubsub.aclose()
        await client.aclose()
    times.sort()
    return times[len(times) // 2]


def _bus_messages(ports: list[int]) -> int:
    return sum(int(info(p, "cluster", "info").get("cluster_stats_messages_sent", 0)) for p in ports)


async def measure(node: int, owner: int, ports: list[int], n: int, repeat: int) -> list[str]:
    found: dict[tuple[str, bool], list[float]] = {}
    bus: dict[bool, list[float]] = {False: [], True: []}
    for turn in range(repeat):
        for sharded in (False, True) if turn % 2 == 0 else (True, False):
            found.setdefault(("node", sharded), []).append(await _latency(node, sharded, n))
            before = _bus_messages(ports)
            found.setdefault(("cluster", sharded), []).append(await _latency(owner, sharded, n))
            bus[sharded].append((_bus_messages(ports) - before) / n)
    rows = [
        [where, span(summarize(found[(where, False)])), span(summarize(found[(where, True)]))]
        for where in ("node", "cluster")
    ]
    rows.append(
        ["cluster bus messages per message", span(summarize(bus[False])),
         span(summarize(bus[True]))]
    )  # fmt: skip
    head = f"Pub/sub: {n} messages per run, {repeat} runs, median µs from publish to arrival"
    return [head, "", *table(["", "PUBLISH/SUBSCRIBE", "SPUBLISH/SSUBSCRIBE"], rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with RedisServer() as node, RedisClusterServer() as cluster:
        owner = cluster.node_of(CHANNEL).port
        ports = [n.port for n in cluster.nodes]
        lines = asyncio.run(measure(node.port, owner, ports, args.n, args.repeat))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
