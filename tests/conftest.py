"""Shared test fixtures."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from provisioner.sandbox import SandboxConfig, ThreadedSandbox

Serve = Callable[..., Awaitable[str]]


def _pristine_logger() -> None:
    logger = logging.getLogger("provisioner")
    for handler in logger.handlers:
        handler.close()
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Every test starts and ends with the provisioner logger as Python made it (commands configure it)."""
    _pristine_logger()
    yield
    _pristine_logger()


@pytest.fixture(autouse=True)
def _own_state_and_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default ledger and config file of every test are its own: xdist workers and runs side by side
    never share the machine user's (made only if a test uses them)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start aiohttp apps on 127.0.0.1 (a free port each) and return their base URL; stop them afterwards.

    Call as ``await serve(app)`` or ``await serve(app, ssl_context=ctx)`` for https.
    """
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, *, ssl_context: ssl.SSLContext | None = None) -> str:
        # a short shutdown_timeout: handlers that sleep on purpose must not hold up the teardown
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
        host, port = runner.addresses[0][:2]
        return f"{'https' if ssl_context else 'http'}://{host}:{port}"

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
def threaded_sandbox() -> Iterator[Callable[..., ThreadedSandbox]]:
    """Start sandboxes in background threads: ``threaded_sandbox(SandboxConfig(...))``."""
    started: list[ThreadedSandbox] = []

    def start(config: SandboxConfig | None = None) -> ThreadedSandbox:
        box = ThreadedSandbox(config or SandboxConfig())
        box.__enter__()
        started.append(box)
        return box

    yield start
    for box in reversed(started):
        box.__exit__()
