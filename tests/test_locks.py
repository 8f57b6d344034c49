"""The lock module shared by the ledger and the inbox, and the commands that must start without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.errors import LedgerBusyError
from provisioner.provision.ledger import Ledger
from provisioner.provision.locks import FileLock, holder

# Each FileLock opens the file anew, and the lock belongs to that opening: two in one process exclude each
# other as two processes do.


def test_shared_locks_coexist_and_exclude_an_exclusive_one(tmp_path: Path) -> None:
    path = tmp_path / "l.lock"
    with (
        FileLock(path, shared=True, busy="busy"),
        FileLock(path, shared=True, busy="busy"),
        pytest.raises(LedgerBusyError, match=r"^busy$"),
    ):
        FileLock(path, busy="busy")
    FileLock(path, busy="busy").release()  # free again once both readers let go


def test_an_exclusive_lock_excludes_everyone_and_records_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "l.lock"
    assert holder(path) == ""
    with FileLock(path, busy="taken") as lock:
        lock.record("pid 1 on here")
        for shared in (False, True):
            with pytest.raises(LedgerBusyError, match="taken"):
                FileLock(path, shared=shared, busy="taken")
        assert holder(path) == "pid 1 on here"
        lock.record("pid 2 on there")  # a later holder replaces the line, never appends
        assert holder(path) == "pid 2 on there"


def test_a_plan_runs_beside_a_plan_but_not_beside_a_run(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with (
        Ledger(path, lock=False),
        Ledger(path, lock=False),
        pytest.raises(LedgerBusyError, match="another provisioner run"),
    ):
        Ledger(path)
    with Ledger(path), pytest.raises(LedgerBusyError):
        Ledger(path, lock=False)


# Where fcntl does not exist (Windows), the commands that take no lock must still start and work: one
# interpreter, fcntl made unimportable before provisioner is imported, runs `template` then `validate`.
_NO_FCNTL = """
import sys
sys.modules["fcntl"] = None  # import fcntl now fails, as it does on Windows
from provisioner._cli import main
book = sys.argv[1]
for command in ("template", "validate"):
    sys.argv = ["provisioner", command, book]
    try:
        main()
    except SystemExit as stop:
        if stop.code:
            raise
"""


def test_template_and_validate_work_without_fcntl(tmp_path: Path) -> None:
    book = tmp_path / "campaigns.xlsx"
    done = subprocess.run([sys.executable, "-c", _NO_FCNTL, str(book)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout and book.exists()
