"""``provisioner ledger show|forget``: look into the ledger of what runs sent, and repair it by hand.

The server decides what exists; the ledger remembers what we sent, which settles creates that were in flight when
a run stopped. Forgetting an entry makes the next run decide that campaign from the server's list alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import StateError
from provisioner.names import fold_name
from provisioner.provision.ledger import Entry, Ledger, Scope, default_path


@dataclass(frozen=True)
class LedgerRow:
    """One ledger entry with the tenant it belongs to."""

    scope: Scope
    entry: Entry

    def as_dict(self) -> dict[str, object]:
        """Return the row as plain JSON-ready data."""
        host, account, stream = self.scope
        entry = self.entry
        return {
            "host": host,
            "account_id": account,
            "stream_id": stream,
            "name": entry.name,
            "state": entry.state.value,
            "campaign_id": entry.campaign_id,
            "run_id": entry.run_id,
            "attempts": entry.attempts,
            "sent_at": entry.sent_at.isoformat() if entry.sent_at else None,
            "error": entry.error,
        }


def show_entries(state: Path | None, names: Iterable[str] = ()) -> tuple[Path, list[LedgerRow]]:
    """Return the ledger's path and its entries (only those of ``names``, folded as the platform does, if given)."""
    path = _existing(state)
    wanted = {fold_name(n) for n in names}
    with Ledger(path, lock=False) as ledger:
        rows = [LedgerRow(s, e) for s, e in ledger.everything() if not wanted or e.lname in wanted]
    return path, rows


def forget_entries(
    state: Path | None, names: Iterable[str] = (), run_id: str | None = None
) -> tuple[Path, list[LedgerRow]]:
    """Remove the entries of ``names`` (in every tenant) or of one run; return the ledger's path and what went."""
    wanted = {fold_name(n) for n in names}
    if not wanted and run_id is None:
        raise ValueError("name at least one campaign, or a run id")
    path = _existing(state)
    with Ledger(path) as ledger:
        gone = [
            LedgerRow(s, e)
            for s, e in ledger.everything()
            if e.lname in wanted or (run_id is not None and e.run_id == run_id)
        ]
        for row in gone:
            ledger.forget(row.scope, row.entry.lname)
    return path, gone


def _existing(state: Path | None) -> Path:
    path = state or default_path()
    if not path.is_file():
        raise StateError(f"there is no ledger at {path}: no run has used it yet (or pass --state PATH)")
    return path
