import datetime as dt
import multiprocessing
from pathlib import Path

import pytest

from provisioner.errors import StateError
from provisioner.jobs.ledger_repair import forget_entries, show_entries
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


def test_show_lists_every_tenant_and_filters_by_the_platforms_name_rule(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with Ledger(path) as ledger:
        ledger.created(SCOPE, "Spring A", "cd-1", "run1")
        ledger.created(("https://h", "acct", "st-2"), "Other", "cd-2", "run2")
    shown_path, rows = show_entries(path)
    assert shown_path == path
    assert [(r.scope[2], r.entry.name, r.entry.campaign_id) for r in rows] == [
        ("st-1", "Spring A", "cd-1"),
        ("st-2", "Other", "cd-2"),
    ]
    _, only = show_entries(path, [" SPRING a "])
    assert [r.as_dict()["name"] for r in only] == ["Spring A"]
    assert only[0].as_dict()["state"] == "created" and only[0].as_dict()["stream_id"] == "st-1"


def test_forget_by_name_or_by_run_removes_exactly_those(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with Ledger(path) as ledger:
        ledger.created(SCOPE, "A", "cd-1", "run1")
        ledger.created(SCOPE, "B", "cd-2", "run1")
        ledger.created(SCOPE, "C", "cd-3", "run2")
    _, gone = forget_entries(path, ["a"])
    assert [r.entry.name for r in gone] == ["A"]
    _, gone = forget_entries(path, run_id="run1")
    assert [r.entry.name for r in gone] == ["B"]
    with Ledger(path) as ledger:
        assert set(ledger.entries(SCOPE)) == {"c"}
    with pytest.raises(ValueError, match="at least one campaign"):
        forget_entries(path)


def test_show_does_not_create_a_ledger_where_there_is_none(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="there is no ledger"):
        show_entries(tmp_path / "none.sqlite3")
    assert not (tmp_path / "none.sqlite3").exists()
