"""A throwaway redis-server, for tests, examples and benchmarks (``aioredisjobqueue.testing``
re-exports it). Imports nothing beyond the standard library."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["Managed", "RedisServer", "free_port"]

# How long a redis-server gets to answer PING after it starts (seconds).
_START_WITHIN = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now; another process may take it before you do."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Managed:
    """``with`` starts it and stops it at the end."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RedisServer(Managed):
    """A throwaway ``redis-server`` process on a free loopback port.

    It runs in ``directory`` (made if missing; the server writes ``redis.log`` there);
    without one it makes a temporary directory at ``start()`` and removes it at
    ``stop()``. Persistence is off unless ``appendonly`` is true (AOF with ``appendfsync
    always``): then data survives ``restart()``, and ``stop()`` then ``start()`` too when
    you gave the directory. The port stays the same across restarts. ``args`` are more
    command-line options for the server (``["--cluster-enabled", "yes"]``, say).
    ``with RedisServer() as server:`` starts it and stops it at the end.

    Raises ``RuntimeError`` when ``redis-server`` is not on the PATH, and from ``start()``
    when it exits or does not answer PING within 10 s.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        appendonly: bool = False,
        args: Sequence[str] = (),
        port: int | None = None,
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not on the PATH: install it (Debian: apt-get install redis-server)"
            )
        self.binary = binary
        self.appendonly = appendonly
        self.args = tuple(args)
        self.port = free_port() if port is None else port
        self._given = None if directory is None else Path(directory)
        self._directory = self._given
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def directory(self) -> Path | None:
        """The directory the server runs in (None before ``start()`` when none was given)."""
        return self._directory

    @property
    def running(self) -> bool:
        """True while the process runs."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the process and wait until it answers PING; does nothing if it runs."""
        if self.running:
            return
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="ajq-redis-"))
        else:
            self._directory.mkdir(parents=True, exist_ok=True)
        log = self._directory / "redis.log"
        args = self._command(self._directory, log)
        # its own session: a Ctrl-C meant for the program that started it does not stop it
        # before that program is done with it
        self._process = process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + _START_WITHIN
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._fail(f"redis-server exited with {process.returncode}", log)
            if self._answers_ping():
                return
            time.sleep(0.02)
        self._fail(f"redis-server did not answer PING within {_START_WITHIN:g} s", log)

    def _command(self, directory: Path, log: Path) -> list[str]:
        """The server's command line."""
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(directory),
            "--logfile", str(log),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            *self.args,
        ]  # fmt: skip

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _fail(self, why: str, log: Path) -> None:
        """Stop what started, and raise with the end of the server's log."""
        try:
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        except OSError:
            tail = ""
        self.stop()
        raise RuntimeError(f"{why} (port {self.port}){': ' + tail if tail else ''}")

    def _end_process(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop(self) -> None:
        """Stop the process (SIGTERM, SIGKILL after 10 s) and remove the directory it made.

        Does nothing if it is not running.
        """
        self._end_process()
        if self._given is None and self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def kill(self) -> None:
        """End the process at once with SIGKILL, as a crash would; ``start()`` brings it back
        on the same port and directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port and directory (data stays with AOF)."""
        self._end_process()
        self.start()

    def __repr__(self) -> str:
        return f"RedisServer(port={self.port}, running={self.running})"
