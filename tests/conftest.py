"""Shared test fixtures."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aiohttp import web

from provisioner.config import Settings
from provisioner.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from provisioner.secret import Secret

Serve = Callable[..., Awaitable[str]]


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


class ThreadedSandbox:
    """A sandbox served from its own thread and event loop, so synchronous code (run_job, subprocesses) can use it."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self.server: RunningSandbox | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with running_sandbox(self.config) as server:
            self.server = server
            self._started.set()
            await self._stop.wait()

    def __enter__(self) -> RunningSandbox:
        self._thread.start()
        assert self._started.wait(10), "sandbox did not start"
        assert self.server is not None
        return self.server

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()

    def settings(self) -> Settings:
        """Settings a client needs to reach this sandbox."""
        assert self.server is not None
        return Settings(
            host=self.server.url,
            stream_id=self.config.stream_id,
            account_id=self.config.account_id,
            iid=self.config.iid,
            client_id=self.config.client_id,
            client_secret=Secret(self.config.client_secret),
        )


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
