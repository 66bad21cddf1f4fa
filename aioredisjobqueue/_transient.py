"""What is transient: the one place that decides which failures a loop waits out.

A transient failure says nothing about the call itself, only about the moment: the
connection dropped or timed out, or Redis answered that it cannot serve now (a script is
running, it is loading its data, it lost a script, it is a replica or in a failover).
``consume()`` and the Worker wait these out with backoff; single calls raise them, and
every other error (``OOM``, ``WRONGTYPE``, a bad argument) is real and ends the loops.

Whether a call that failed transiently ran is known only for the error replies here
(Redis refused the command: it did not run); after a dropped connection it is unknown.
"""

from __future__ import annotations

from redis.exceptions import AuthenticationError, AuthorizationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["CAUGHT", "CONNECTION_ERRORS", "TRANSIENT_REPLIES", "is_transient"]

# Error replies whose command did not run and may simply be sent again later:
# BUSY      a script (or function) runs past busy-reply-threshold;
# LOADING   Redis is loading its data set after a restart;
# NOSCRIPT  the script cache was flushed (scripts fall back to EVAL themselves);
# READONLY, MASTERDOWN, CLUSTERDOWN, TRYAGAIN, NOREPLICAS: a failover, a replica that
# lost its master, a cluster that is not serving yet;
# UNBLOCKED a blocking read (the hand-off inbox's BLPOP) ended by a failover: the primary
# it waited on became a replica.
TRANSIENT_REPLIES = frozenset(
    {"BUSY", "LOADING", "NOSCRIPT"}
    | {"READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS", "UNBLOCKED"}
)

# Cluster redirections (MOVED, ASK) are not here: a queue on a cluster follows them where
# it meets them (its route to the slot's primary, or redis-py's RedisCluster), and raises
# TRYAGAIN if the slot keeps moving; a client of one node that meets one cannot go on.

# Redis could not be reached, or the connection dropped or timed out (the outcome of a
# call that met one of these is unknown).
CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)

# What a loop catches to ask ``is_transient``: every Redis error and socket error.
CAUGHT = (RedisError, OSError)


def _code(exc: BaseException) -> str:
    """The error code of a Redis error reply (``BUSY``, ``OOM``…), or ``""``."""
    # redis-py strips the code of the replies it maps to a class of its own and keeps it
    # in ``status_code``; the others keep it as the first word of the message
    code = getattr(exc, "status_code", None)
    if isinstance(code, str) and code:
        return code
    text = str(exc.args[0]) if exc.args else ""
    return text.split(" ", 1)[0]


def is_transient(exc: BaseException) -> bool:
    """True for a failure a consumer loop should wait out and retry: a dropped or
    timed-out connection, a socket error, or an error reply in ``TRANSIENT_REPLIES``.

    A refused password or ACL is not transient, though redis-py makes it a
    ``ConnectionError``: waiting would not mend it."""
    if isinstance(exc, AuthenticationError | AuthorizationError):
        return False
    if isinstance(exc, CONNECTION_ERRORS):
        # BusyLoadingError (LOADING) is a ConnectionError of redis-py's too
        return True
    if isinstance(exc, RedisError):
        code = _code(exc)
        return code in TRANSIENT_REPLIES
    return False
