"""Headless Chromium (Debian's, never a downloaded one) driven by Selenium, and the
dashboard served by ``aioredisjobqueue web`` in a subprocess: for the browser tests and
for scripts/screenshot.py."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from aioredisjobqueue.testing import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def have_chromium() -> bool:
    """Whether Debian's chromium and chromium-driver are installed."""
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile, quit at the end."""
    with tempfile.TemporaryDirectory(prefix="ajq-chromium-") as profile:
        options = Options()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()


@contextlib.contextmanager
def dashboard(url: str, *args: str) -> Iterator[str]:
    """``aioredisjobqueue web`` on Redis ``url`` with ``args``, on a free port; yields its
    base URL once it answers, and stops it (SIGTERM) at the end."""
    port = free_port()
    command = [sys.executable, "-m", "aioredisjobqueue", "web", "--url", url, "--port", str(port)]
    process = subprocess.Popen([*command, *args], stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/api/queues", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    said = process.stderr.read() if process.stderr else ""
                    raise RuntimeError(f"the dashboard did not start: {said}") from None
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
