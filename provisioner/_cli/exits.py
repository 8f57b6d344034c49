"""The exit codes each command can end with, and what they mean there: one table for --help and the README."""

from __future__ import annotations

from typing import Final

from provisioner.exit_codes import ExitCode
from provisioner.jobs import undo

_ALL_RUN_CODES: Final = tuple(ExitCode)
_SENDING_INVALID: Final = (
    "the input is invalid or unreadable; nothing was sent (with --skip-invalid: the valid rows were sent, "
    "some rows are invalid)"
)

# Per command: the codes it can end with, each with its meaning there (None: the code's general meaning).
COMMAND_EXITS: Final[dict[str, dict[ExitCode, str | None]]] = {
    "run": {
        **dict.fromkeys(_ALL_RUN_CODES),
        # Differing is what a rerun after editing the sheet finds, not a failure: it is reported with its changes.
        ExitCode.OK: "every campaign was created, updated, or already existed (also those that differ from the "
        "sheet without --update: they are listed with their changes), and every schedule and start asked for "
        "was made (a campaign still Preparing when the wait ended is reported, not failed)",
        ExitCode.FAILED: "some campaigns failed at the API, were not sent (skipped), or their outcome is unknown, "
        "or a schedule or start failed; with --update, also an Active campaign that differs from the sheet (locked)",
        ExitCode.INVALID: _SENDING_INVALID,
    },
    "plan": {
        ExitCode.OK: "every campaign would be created, updated, or left as it is",
        ExitCode.FAILED: "some rows would be refused (a contact list the server does not have, or a name several "
        "campaigns share), or differ from an Active campaign (locked)",
        ExitCode.INVALID: "the input is invalid or unreadable (with --skip-invalid: some rows are invalid)",
        ExitCode.CONFIG: None,
    },
    "batch": {
        ExitCode.OK: "every input was processed with exit 0 (or the inbox was empty)",
        **dict.fromkeys(_ALL_RUN_CODES[1:]),
        ExitCode.INVALID: _SENDING_INVALID,
    },
    "delete": dict(undo.EXIT_MEANINGS),  # the job says what its codes mean: its closing line says it too
    "validate": {
        ExitCode.OK: "the input is valid",
        ExitCode.INVALID: "the input is invalid or unreadable",
    },
    "template": {
        ExitCode.OK: "the workbook was written",
        ExitCode.INVALID: "PATH exists (pass --force) or cannot be written",
    },
    "doctor": {
        ExitCode.OK: "a run would be safe",
        ExitCode.CONFIG: "a run would not be safe, or the settings cannot be resolved (each failed check says why)",
    },
    "ledger show": {
        ExitCode.OK: "the entries were shown",
        ExitCode.CONFIG: "there is no ledger there, or it cannot be opened",
    },
    "ledger forget": {
        ExitCode.OK: "the entries were removed",
        ExitCode.FAILED: "no entry matched",
        ExitCode.CONFIG: "there is no ledger there, or it cannot be opened",
        ExitCode.BUSY: "a run is using the ledger",
    },
    "sandbox": {
        ExitCode.OK: "stopped with Ctrl-C",
        ExitCode.INVALID: "a wrong option, such as a --fault that is not KIND=P",
        ExitCode.CONFIG: "the port cannot be bound (taken, or not allowed)",
    },
}


def meanings(name: str) -> list[tuple[int, str]]:
    """Return (code, meaning) for every exit of command ``name``, in code order."""
    return [(int(code), text or code.meaning) for code, text in sorted(COMMAND_EXITS[name].items())]


def epilog(name: str) -> str:
    """Return the exit-code paragraph of command ``name``'s --help."""
    return "Exit codes: " + "; ".join(f"{code} {text}" for code, text in meanings(name)) + "."


def readme_table() -> str:
    """Return the README's exit-code section body: the general table, then what differs per command."""
    lines = ["| code | meaning |", "|---|---|"]
    lines += [f"| {int(code)} | {code.meaning} |" for code in ExitCode]
    lines.append("")
    for name, codes in COMMAND_EXITS.items():
        special = [f"{int(c)} {text}" for c, text in sorted(codes.items()) if text]
        only = "" if set(codes) == set(ExitCode) else f" (exits {', '.join(str(int(c)) for c in sorted(codes))})"
        lines.append(f"- `{name}`{only}: {'; '.join(special) or 'as above'}.")
    return "\n".join(lines)
