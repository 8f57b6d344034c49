"""Serving a sandbox: in an ``async with`` block, from a thread for synchronous callers, or until Ctrl-C."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from provisioner.api.settings import Settings
from provisioner.sandbox.config import SandboxConfig, client_settings
from provisioner.sandbox.server import Sandbox, make_app

#: The sandbox keeps nothing worth draining, so a stuck slow reply must not hold up shutdown for long.
_SHUTDOWN_GRACE_S: Final = 1.0
_START_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    """A sandbox being served: its base URL (``http://127.0.0.1:PORT``) and its state."""

    url: str
    sandbox: Sandbox


@asynccontextmanager
async def running_sandbox(
    config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSandbox]:
    """Serve a sandbox on ``host:port`` (0: a free port) for the duration of the ``async with`` block."""
    sandbox = Sandbox(config or SandboxConfig())
    # handler_cancellation: a client that gave up on a slow reply must not keep its handler sleeping.
    runner = web.AppRunner(make_app(sandbox), handler_cancellation=True, shutdown_timeout=_SHUTDOWN_GRACE_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_port = runner.addresses[0][1]
        yield RunningSandbox(url=f"http://{host}:{bound_port}", sandbox=sandbox)
    finally:
        await runner.cleanup()


class ThreadedSandbox:
    """A sandbox served from its own thread and event loop, for synchronous callers (tests, benchmarks)."""

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
        """Start serving; return the running sandbox (its URL and state); RuntimeError if it does not start."""
        self._thread.start()
        started = self._started.wait(_START_TIMEOUT_S)
        if not started or self.server is None:
            raise RuntimeError(f"the sandbox did not start within {_START_TIMEOUT_S:g} s")
        return self.server

    def __exit__(self, *exc: object) -> None:
        """Stop serving and join the thread."""
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(_START_TIMEOUT_S)
        self._loop.close()

    def settings(self) -> Settings:
        """Settings a client needs to reach this sandbox."""
        if self.server is None:
            raise RuntimeError("the sandbox is not serving")
        return client_settings(self.server.url, self.config)


async def serve(
    config: SandboxConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[RunningSandbox], None],
) -> None:
    """Serve a sandbox until cancelled (Ctrl-C), calling ``on_ready`` once it listens."""
    async with running_sandbox(config, host=host, port=port) as server:
        on_ready(server)
        await asyncio.Event().wait()
