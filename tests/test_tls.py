"""TLS end to end: the real sandbox over HTTPS with a private CA, driven through the command line."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from pathlib import Path

import pytest
import trustme

from provisioner.exit_codes import ExitCode
from provisioner.sandbox import Sandbox, SandboxConfig, client_env, make_app
from tests.conftest import Serve
from tests.helpers import campaign, write_book


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "provisioner",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.mark.slow
async def test_untrusted_certificate_is_refused_clearly_and_ca_bundle_trusts_it(serve: Serve, tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    config = SandboxConfig(contact_lists=frozenset({"Renewals East"}))
    sandbox = Sandbox(config)
    url = await serve(make_app(sandbox), ssl_context=context)
    assert url.startswith("https://")
    env = {**os.environ, **client_env(url, config), "PROVISIONER_STATE": str(tmp_path / "l.sqlite3")}
    path = write_book(tmp_path / "in.xlsx", [campaign()])

    code, output = await run_cli("run", str(path), env=env)
    assert code == ExitCode.CONFIG
    assert "certificate verification failed" in output and "--ca-bundle" in output
    assert "Traceback" not in output
    assert sandbox.campaigns == []

    bundle = tmp_path / "corporate-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    code, output = await run_cli("run", str(path), "--ca-bundle", str(bundle), env=env)
    assert code == ExitCode.OK, output
    assert len(sandbox.campaigns) == 1


async def test_plain_http_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, **client_env("http://campaigns.example.com", SandboxConfig())}
    code, output = await run_cli("run", str(write_book(tmp_path / "in.xlsx", [campaign()])), env=env)
    assert code == ExitCode.CONFIG
    assert "https" in output and "Traceback" not in output
