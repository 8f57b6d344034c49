import datetime as dt
import multiprocessing
from pathlib import Path

import pytest

from provisioner.errors import StateError
from provisioner.names import fold_name
from provisioner.provision.ledger import EntryState, Ledger, default_path

SCOPE = ("https://h", "acct", "st-1")


def test_intent_then_outcome_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with Ledger(path) as ledger:
        ledger.begin(SCOPE, "Spring A ", "run1")
        ledger.begin(SCOPE, "B", "run1")
        ledger.created(SCOPE, "B", "cd-1", "run1")
    with Ledger(path) as ledger:
        entries = ledger.entries(SCOPE)
    assert entries["spring a"].state is EntryState.IN_FLIGHT
    assert entries["spring a"].sent_at is not None
    assert entries["b"].state is EntryState.CREATED and entries["b"].campaign_id == "cd-1"


def test_attempts_count_and_failures_are_recorded(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        ledger.begin(SCOPE, "A", "run1")
        ledger.failed(SCOPE, "A", "bad list")
        ledger.begin(SCOPE, "a", "run2")
        entry = ledger.entries(SCOPE, ["a"])["a"]
    assert (entry.attempts, entry.state, entry.error, entry.run_id) == (2, EntryState.IN_FLIGHT, None, "run2")


def test_scopes_do_not_mix(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        ledger.created(SCOPE, "A", "cd-1", "r")
        assert ledger.entries(("https://h", "acct", "st-2")) == {}


def _hold(path: str, ready: object, release: object) -> None:
    with Ledger(Path(path)):
        ready.set()  # type: ignore[attr-defined]
        release.wait(10)  # type: ignore[attr-defined]


def test_a_second_run_on_the_same_ledger_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(path), ready, release))
    holder.start()
    try:
        assert ready.wait(20)
        with pytest.raises(StateError, match="another provisioner run"):
            Ledger(path)
    finally:
        release.set()
        holder.join(10)
    Ledger(path).close()  # free again once the other run ended


def test_clock_is_injectable_and_state_path_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    with Ledger(tmp_path / "l.sqlite3", clock=lambda: moment) as ledger:
        ledger.begin(SCOPE, "A", "r")
        assert ledger.entries(SCOPE)["a"].sent_at == moment
    monkeypatch.setenv("PROVISIONER_STATE", str(tmp_path / "x.db"))
    assert default_path() == tmp_path / "x.db"
    assert fold_name("  Spring   Sale ") == "spring   sale"  # the platform keeps inner spaces


def test_an_unusable_ledger_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot be used"):
        Ledger(path)
