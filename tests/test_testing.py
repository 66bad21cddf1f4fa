"""aioredisjobqueue.testing as a user sees it: RedisServer, fake_queue, drain, the fixtures."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis
from helpers import PATIENCE

from aioredisjobqueue import Job, JobEvent, QueueStats, RedisJobQueue
from aioredisjobqueue.testing import (
    DrainResult,
    QueueFactory,
    RedisServer,
    drain,
    fake_queue,
    free_port,
)

pytest_plugins = ["pytester"]

EMPTY = QueueStats(ready=0, locked=0, delayed=0, dead=0)


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


# -- RedisServer ----------------------------------------------------------------------------


def test_redis_server_starts_answers_at_its_url_and_stops() -> None:
    server = RedisServer()
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    server.start()
    directory = server.directory
    assert directory is not None and directory.is_dir()
    try:
        assert server.running
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()
            assert client.config_get("appendonly") == {"appendonly": "no"}
            assert client.config_get("save") == {"save": ""}
    finally:
        server.stop()
    assert not server.running
    assert refuses_connections(server.port)
    assert not directory.exists()  # the temporary directory it made is gone


async def test_restart_with_appendonly_keeps_jobs(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "data", appendonly=True) as server:
        async with RedisJobQueue("kept", url=server.url) as queue:
            await queue.put_many(["a", "b"])
            await asyncio.to_thread(server.restart)
        async with RedisJobQueue("kept", url=server.url) as queue:
            assert (await queue.stats()).ready == 2
    assert (tmp_path / "data").is_dir()  # a directory it was given stays


WITHOUT_PYTEST = """
import asyncio, importlib.abc, sys

class NoPytest(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pytest", "_pytest", "pytest_asyncio"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoPytest())

from aioredisjobqueue import Job
from aioredisjobqueue.testing import RedisServer, drain, fake_queue
from aioredisjobqueue import RedisJobQueue

async def handler(job: Job) -> None:
    pass

async def main() -> None:
    async with fake_queue() as queue:
        await queue.put_many(["a", "b"])
        print("fake", (await drain(queue, handler)).completed)
    with RedisServer() as server:
        async with RedisJobQueue("q", url=server.url) as queue:
            await queue.put("c")
            print("real", (await drain(queue, handler)).completed)
    print("pytest imported:", any(m.split(".")[0] in ("pytest", "_pytest") for m in sys.modules))

asyncio.run(main())
"""


def test_redis_server_fake_queue_and_drain_work_without_pytest() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PYTEST], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["fake 2", "real 1", "pytest imported: False"]


def test_the_session_fixture_is_still_importable_by_name() -> None:
    from aioredisjobqueue.testing import jobqueue_redis_server  # type: ignore[attr-defined]

    assert callable(jobqueue_redis_server)


def test_context_manager_stops_the_process() -> None:
    with RedisServer() as server:
        assert server.running
        port = server.port
    assert not server.running
    assert refuses_connections(port)


def test_missing_redis_server_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"not on the PATH.*apt-get install redis-server"):
        RedisServer()


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


# -- fake_queue and drain -------------------------------------------------------------------


async def test_fake_queues_are_private_and_uniquely_named() -> None:
    async with fake_queue() as a, fake_queue() as b, fake_queue("same") as c:
        assert a.name != b.name
        assert c.name == "same"
        await a.put("only in a")
        assert (await b.stats()) == EMPTY
        assert (await c.stats()) == EMPTY


async def test_drain_completes_every_job() -> None:
    seen: list[int] = []

    async def handle(job: Job) -> None:
        seen.append(job.payload)

    async with fake_queue() as queue:
        await queue.put_many(range(20))
        result = await drain(queue, handle, within=PATIENCE)
        assert isinstance(result, DrainResult)
        assert (result.completed, result.retried, result.dead, result.lock_lost) == (20, 0, 0, 0)
        assert sorted(seen) == list(range(20))
        assert [e.kind for e in result.events].count("start") == 20
        assert await queue.stats() == EMPTY


async def test_drain_retries_at_once_and_counts_retries() -> None:
    async def fails_first(job: Job) -> None:
        if job.deliveries == 1:
            raise ValueError("first delivery fails")

    async with fake_queue() as queue:
        await queue.put_many(["a", "b", "c"])
        result = await drain(queue, fails_first, within=PATIENCE)
        assert (result.completed, result.retried, result.dead) == (3, 3, 0)
        retries = [e for e in result.events if e.kind == "retry"]
        assert all(isinstance(e.error, ValueError) and e.retry_in == 0 for e in retries)
        assert await queue.stats() == EMPTY


async def test_drain_counts_poison_jobs_as_dead() -> None:
    async def poison(job: Job) -> None:
        raise RuntimeError("never works")

    async with fake_queue(max_deliveries=3) as queue:
        await queue.put("poison")
        await queue.put("fine")  # also fails: every job is poison here
        result = await drain(queue, poison, within=PATIENCE)
        assert (result.completed, result.retried, result.dead) == (0, 4, 2)
        assert (await queue.stats()).dead == 2
        assert {d.payload for d in await queue.dead_letters()} == {"poison", "fine"}


async def test_drain_times_out_naming_the_queue_and_gives_the_job_back() -> None:
    async def hangs(job: Job) -> None:
        await asyncio.Event().wait()

    async with fake_queue("stuck") as queue:
        await queue.put("forever")
        with pytest.raises(
            TimeoutError, match=r"queue 'stuck' not drained within 0.2 s: .*1 locked"
        ):
            await drain(queue, hangs, within=0.2)
        # the worker stopped: the job is due again at once, its delivery uncounted
        assert await queue.stats() == QueueStats(ready=1, locked=0, delayed=0, dead=0)
        job = await queue.get()
        assert job is not None and job.deliveries == 1


async def test_drain_waits_for_delayed_jobs_unless_told_not_to() -> None:
    async def handle(job: Job) -> None:
        pass

    async with fake_queue() as queue:
        await queue.put("later", delay=60)
        result = await drain(queue, handle, include_delayed=False, within=PATIENCE)
        assert result.completed == 0
        assert (await queue.stats()).delayed == 1
        with pytest.raises(TimeoutError, match="1 delayed"):
            await drain(queue, handle, within=0.1)


async def test_drain_keeps_worker_options_a_caller_passes() -> None:
    async def fails_first(job: Job) -> None:
        if job.deliveries == 1:
            raise ValueError("first delivery fails")

    async with fake_queue() as queue:
        await queue.put("x")
        result = await drain(
            queue, fails_first, retry_delay=0.05, retry_max_delay=0.05, within=PATIENCE
        )
        (retry,) = [e for e in result.events if e.kind == "retry"]
        assert retry.retry_in is not None and 0 <= retry.retry_in <= 0.05
        assert result.completed == 1


async def test_drain_still_calls_the_callers_on_event() -> None:
    async def handle(job: Job) -> None:
        pass

    seen: list[str] = []
    seen_async: list[str] = []

    async def async_hook(event: JobEvent) -> None:
        seen_async.append(event.kind)

    async with fake_queue() as queue:
        await queue.put_many([1, 2])
        result = await drain(queue, handle, on_event=lambda e: seen.append(e.kind))
        assert seen == [e.kind for e in result.events]
        assert seen.count("complete") == 2
        await queue.put(3)
        await drain(queue, handle, on_event=async_hook)
        assert seen_async == ["start", "complete"]


# -- the fixtures, in this session ----------------------------------------------------------


async def test_jobqueue_fixture_is_an_empty_fakeredis_queue(jobqueue: RedisJobQueue) -> None:
    assert type(jobqueue.redis).__module__.startswith("fakeredis")
    assert await jobqueue.stats() == EMPTY


async def test_jobqueue_factory_shares_one_server(jobqueue_factory: QueueFactory) -> None:
    producer, consumer, other = jobqueue_factory(), jobqueue_factory(), jobqueue_factory("other")
    assert producer.name == consumer.name != other.name
    await producer.put("shared")
    job = await consumer.get()
    assert job is not None and job.payload == "shared"
    assert await other.stats() == EMPTY


async def test_real_jobqueue_factory_runs_on_the_session_server(
    real_jobqueue_factory: QueueFactory, jobqueue_redis_server: RedisServer
) -> None:
    a, b = real_jobqueue_factory(max_deliveries=2), real_jobqueue_factory()
    assert a.name == b.name
    await a.put("real")
    assert (await b.stats()).ready == 1
    with redis.Redis(port=jobqueue_redis_server.port) as client:
        assert client.exists(a.keys.payloads) == 1


# -- the plugin, in a user's own pytest run -------------------------------------------------

USER_TESTS = """
    import pytest
    from aioredisjobqueue import Job
    from aioredisjobqueue.testing import drain

    NAMES = {}

    async def handle(job: Job) -> None:
        pass

    @pytest.mark.asyncio
    async def test_jobqueue(jobqueue):
        await jobqueue.put({"to": "a@b.c"})
        result = await drain(jobqueue, handle, within=30)
        assert result.completed == 1

    @pytest.mark.asyncio
    async def test_jobqueue_factory(jobqueue_factory):
        a, b = jobqueue_factory(), jobqueue_factory()
        await a.put("x")
        assert (await b.stats()).ready == 1

    @pytest.mark.asyncio
    async def test_real_jobqueue(real_jobqueue, jobqueue_redis_server):
        NAMES["real"] = real_jobqueue.name
        await real_jobqueue.put("left behind")

    def test_real_jobqueue_left_no_keys(jobqueue_redis_server):
        import redis
        with redis.Redis.from_url(jobqueue_redis_server.url) as client:
            assert client.keys("*" + NAMES["real"] + "*") == []

    @pytest.mark.asyncio
    async def test_real_jobqueue_factory(real_jobqueue_factory):
        queue = real_jobqueue_factory(max_deliveries=1)
        await queue.put("y")
        job = await queue.get()
        await job.complete()
"""

# strict mode, the default of pytest-asyncio: the fixtures must not rely on auto mode
USER_INI = """
    [pytest]
    asyncio_mode = strict
    asyncio_default_fixture_loop_scope = function
    filterwarnings = error
"""


def test_plugin_fixtures_in_a_users_run(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:aioredisjobqueue", "-k", "test_jobqueue")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*fixture 'jobqueue' not found*"])


def test_plugin_without_its_extras_says_what_to_install(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest-asyncio and fakeredis made unimportable, and no redis-server on the PATH
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(
        pytest_asyncio="raise ImportError('pytest-asyncio is not installed')",
        fakeredis="raise ImportError('fakeredis is not installed')",
        test_user="""
            import asyncio
            import pytest
            from aioredisjobqueue.testing import fake_queue

            def test_jobqueue(jobqueue):
                pass

            def test_server(jobqueue_redis_server):
                pass

            def test_fake_queue():
                async def use():
                    async with fake_queue():
                        pass
                with pytest.raises(ModuleNotFoundError) as raised:
                    asyncio.run(use())
                assert "needs fakeredis" in str(raised.value)
                assert "pip install 'aioredisjobqueue[testing]'" in str(raised.value)
        """,
    )
    monkeypatch.setenv("PATH", str(pytester.path))
    result = pytester.runpytest_subprocess("-p", "no:asyncio", "-rs")
    result.assert_outcomes(passed=1, skipped=1, errors=1)
    output = result.stdout.str()
    assert "fixtures need pytest-asyncio: pip install 'aioredisjobqueue[testing]'" in output
    assert "redis-server is not on the PATH" in output


def test_the_readme_example_runs_as_a_users_tests(
    pytester: pytest.Pytester, project_root: Path
) -> None:
    readme = (project_root / "README.md").read_text()
    section = readme.split("## Testing your handlers", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makeini(USER_INI)
    pytester.mkpydir("myservice")
    pytester.path.joinpath("myservice", "tasks.py").write_text(
        textwrap.dedent(
            """
            from aioredisjobqueue import Job

            async def send_email(job: Job) -> None:
                if "@" not in job.payload["to"]:
                    raise ValueError(f"not an address: {job.payload['to']!r}")
            """
        )
    )
    pytester.makepyfile(test_readme=example)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
