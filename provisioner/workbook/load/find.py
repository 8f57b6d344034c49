"""Find the Campaigns and CallingHours sheets among a workbook's sheet names or a folder's CSV files."""

from __future__ import annotations

from collections.abc import Iterable

from provisioner.errors import InputError
from provisioner.workbook import spec


def match_sheets(file_name: str, titles: list[str]) -> dict[str, str]:
    """Map each canonical sheet to its title among ``titles``; refuse a missing or ambiguous sheet."""
    by_norm: dict[str, list[str]] = {}
    for title in titles:
        by_norm.setdefault(spec.normalize_header(title), []).append(title)
    found: dict[str, list[str]] = {}
    for canonical, aliases in spec.SHEET_ALIASES.items():
        for alias in aliases:
            matches = by_norm.get(spec.normalize_header(alias.removesuffix(".csv")))
            if matches:
                found[canonical] = matches
                break
    # A results workbook fed back as input keeps its campaigns on the Results sheet.
    if spec.CAMPAIGNS not in found and "results" in by_norm:
        found[spec.CAMPAIGNS] = by_norm["results"]
    missing = [c for c in spec.SHEET_ALIASES if c not in found]
    if missing:
        raise InputError(
            f"{file_name} has no sheet named {' or '.join(repr(m) for m in missing)} "
            f"(sheets found: {', '.join(repr(t) for t in titles) or 'none'}). Sheet names may differ in case and "
            "spacing, e.g. 'calling hours'.",
            path=file_name,
        )
    for canonical, matches in found.items():
        if len(matches) > 1:
            raise InputError(
                f"{file_name} has {len(matches)} sheets that could be the {canonical} sheet: "
                f"{', '.join(repr(t) for t in matches)} (case, spaces and punctuation in sheet names do not "
                "count). Rename or delete all but one.",
                path=file_name,
            )
    return {canonical: matches[0] for canonical, matches in found.items()}


def csv_sheets(names: Iterable[str]) -> dict[str, str]:
    """Map each sheet to the file name, among ``names``, that holds it as CSV (sheets without one are left out)."""
    files = {spec.normalize_header(n[: -len(".csv")]): n for n in names if n.lower().endswith(".csv")}
    found: dict[str, str] = {}
    for canonical, aliases in spec.SHEET_ALIASES.items():
        wanted = {spec.normalize_header(a.removesuffix(".csv")) for a in aliases}
        match = next((files[k] for k in files if k in wanted), None)
        if match is not None:
            found[canonical] = match
    return found
