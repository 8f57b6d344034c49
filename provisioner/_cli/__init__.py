"""Command-line interface: thin typer commands over the library; the library never imports this package."""

from __future__ import annotations

from provisioner._cli import (  # noqa: F401  (registers the commands)
    batch,
    delete,
    doctor,
    ledger,
    run,
    sandbox,
    template,
    validate,
)
from provisioner._cli._app import app


def main() -> None:
    """Run the ``provisioner`` console script."""
    app()
