"""What consume() and the Worker wait out: one decision, on replies as Redis sends them."""

from __future__ import annotations

import pytest
from redis._parsers.base import BaseParser
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aioredisjobqueue._transient import is_transient


@pytest.mark.parametrize(
    "reply",
    [
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        "LOADING Redis is loading the dataset in memory",
        "NOSCRIPT No matching script. Please use EVAL.",
        "READONLY You can't write against a read only replica.",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "CLUSTERDOWN The cluster is down",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "NOREPLICAS Not enough good replicas to write.",
        "ERR max number of clients reached",
    ],
)
def test_replies_that_say_not_now_are_transient(reply: str) -> None:
    assert is_transient(BaseParser.parse_error(reply))


@pytest.mark.parametrize(
    "reply",
    [
        "OOM command not allowed when used memory > 'maxmemory'.",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "ERR value is not an integer or out of range",
        "ERR user_script:12: Script attempted to access nonexistent global variable 'x'",
        "NOPERM this user has no permissions to run the 'evalsha' command",
        "WRONGPASS invalid username-password pair or user is disabled.",
        "MOVED 3999 127.0.0.1:6381",  # followed on a cluster; a node client cannot go on
        "ASK 3999 127.0.0.1:6381",
    ],
)
def test_real_errors_are_not_transient(reply: str) -> None:
    assert not is_transient(BaseParser.parse_error(reply))


def test_dropped_connections_and_timeouts_are_transient_but_a_refused_password_is_not() -> None:
    assert is_transient(RedisConnectionError("Connection closed by server."))
    assert is_transient(RedisTimeoutError("Timeout reading from socket"))
    assert is_transient(ConnectionResetError(104, "Connection reset by peer"))
    assert not is_transient(AuthenticationError("invalid password"))
    assert not is_transient(ValueError("count must be >= 1"))
