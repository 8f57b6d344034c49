"""A local stand-in of the vendor's Campaign Management v2 API, for trying the tool and for tests.

May import the base modules and :mod:`provisioner.api` (endpoints, settings); its body rules are written
independently of :mod:`provisioner.provision.payloads` on purpose. Modules: ``config`` (how it behaves),
``rules`` (the create and schedule body checkers), ``listing`` (reading a list request), ``state`` (the
campaigns and their lifecycle), ``server`` (the pipeline, handlers and ``make_app``), ``running`` (serving it).
The names below are its public face.
"""

from provisioner.sandbox.config import FaultKind, Faults, SandboxConfig, client_env, client_settings
from provisioner.sandbox.rules import create_body_problems, schedule_body_problems
from provisioner.sandbox.running import RunningSandbox, ThreadedSandbox, running_sandbox, serve
from provisioner.sandbox.server import STATE_PATH, Sandbox, make_app
from provisioner.sandbox.state import SandboxState, StoredCampaign

__all__ = [
    "STATE_PATH",
    "FaultKind",
    "Faults",
    "RunningSandbox",
    "Sandbox",
    "SandboxConfig",
    "SandboxState",
    "StoredCampaign",
    "ThreadedSandbox",
    "client_env",
    "client_settings",
    "create_body_problems",
    "make_app",
    "running_sandbox",
    "schedule_body_problems",
    "serve",
]
