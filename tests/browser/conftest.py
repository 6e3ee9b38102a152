"""Real-browser tests: Debian's chromium (/usr/bin/chromium) driven by playwright.

They run with ``make test-browser`` (which installs both and sets GAN_COURSE_BROWSER_TESTS=1) and in
CI (.ci/run); a plain ``make test`` skips them, since a learner's machine may have no chromium.
With GAN_COURSE_BROWSER_TESTS=1 a missing browser or playwright is an error, never a skip.
Screenshots go to build/screenshots/.
"""
import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("GAN_COURSE_CHROMIUM", "/usr/bin/chromium")
# Flags for a headless chromium on a machine without network or GPU, as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]
WANTED = os.environ.get("GAN_COURSE_BROWSER_TESTS", "").strip().lower() in {"1", "true", "yes", "on"}


def pytest_collection_modifyitems(config, items):
    if WANTED:
        return
    skip = pytest.mark.skip(reason="real-browser test: run with `make test-browser` (GAN_COURSE_BROWSER_TESTS=1)")
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `make test-browser` installs it (pip install -e '.[browser]')")
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        pytest.fail(f"no chromium at {CHROMIUM}: `make test-browser` installs Debian's (apt-get install chromium)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
