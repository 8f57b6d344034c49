"""The corpus of broken inputs: the files users really drop, each with what the tool must say about it.

Every case is built into an empty folder at test time, with openpyxl or by writing zip members by hand, except
three that need programs CI does not have; those are committed under ``tests/broken/``, made from the same
valid one-campaign workbook every other case starts from:

- ``campaigns.ods`` and ``campaigns.xls``: ``soffice --headless --convert-to ods|xls campaigns.xlsx``
  (LibreOffice 7.4, ``apt-get install libreoffice-calc``);
- ``protected.xlsx``: encrypted with the password ``secret`` by ``msoffcrypto-tool`` (``pip install
  msoffcrypto-tool``), the ECMA-376 agile encryption Excel uses.

``python -m tests.broken_corpus binaries`` remakes those three; ``python -m tests.broken_corpus doc`` runs the
command line on every case and rewrites ``docs/broken-inputs.md`` from what it says.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl

from provisioner.workbook import spec
from tests.helpers import GOOD_CAMPAIGN, LABELS, campaign, window, write_book

ROOT = Path(__file__).resolve().parents[1]
BROKEN = Path(__file__).parent / "broken"
DOC = ROOT / "docs" / "broken-inputs.md"
NAME = GOOD_CAMPAIGN["name"]
MEMORY_CAP_MB = 500  # the requirement: every case finishes within 10 s and 500 MB
# The 10 s are CPU seconds, start-up included: what the case costs, which a busy machine does not change. Wall
# time does change: on 2 cores shared with other test runs a case of 1.5 CPU seconds took 18 s.
TIME_CAP_S = 10
HANG_S = 300  # wall time after which a child that waits instead of computing is killed
SHOWN_CHARS = 170  # how much of a message the doc table shows

Make = Callable[[Path], Path]


@dataclass(frozen=True)
class Case:
    """One input: what the user did, how to make it, and fragments the tool's answer must hold."""

    id: str
    did: str
    make: Make  # writes the input into an empty folder and returns the path to give the command line
    says: tuple[str, ...]  # the first fragment picks the line the doc table shows; all must appear
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Run:
    """What one run of the command line did."""

    code: int
    stdout: str
    stderr: str
    cpu_seconds: float  # the child's own CPU time, user and system (wait4's ru_utime + ru_stime)
    peak_mb: float  # the child's own peak resident memory (wait4's ru_maxrss)

    @property
    def output(self) -> str:
        """Return stdout and stderr together."""
        return self.stdout + self.stderr


# --- running the command line ------------------------------------------------------------------------------

# The caps are set inside the child before anything is imported: preexec_fn is unsafe beside the sandbox's
# thread. Past TIME_CAP_S CPU seconds the kernel stops the child (SIGXCPU, then SIGKILL a second later).
_CAPPED = (
    "import resource, runpy, sys; "
    "memory, cpu = int(sys.argv.pop(1)), int(sys.argv.pop(1)); "
    "resource.setrlimit(resource.RLIMIT_AS, (memory, memory)); "
    "resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1)); "
    "runpy.run_module('provisioner', run_name='__main__', alter_sys=True)"
)


def run_cli(args: Iterable[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run the command line as ``python -m provisioner ARGS`` does, capped at 500 MB and 10 CPU seconds."""
    command = [sys.executable, "-c", _CAPPED, str(MEMORY_CAP_MB * 2**20), str(TIME_CAP_S), *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, env={**os.environ, **(env or {})}, cwd=cwd or ROOT)
        status, usage = _wait(proc, time.monotonic() + HANG_S)
        out.seek(0)
        err.seek(0)
        return Run(
            os.waitstatus_to_exitcode(status),
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024,
        )


def _wait(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int, resource.struct_rusage]:
    """Reap the child with wait4, which gives its own resource usage; kill it at the deadline."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
            return status, usage
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.02)


def run_all(cases: Iterable[Case], folder_for: Callable[[Case], Path]) -> dict[str, tuple[Run, Path]]:
    """Build every case in its own folder, then run ``validate`` on them, as many at a time as there are cores."""
    built = {case.id: (case, folder_for(case)) for case in cases}
    inputs = {key: (case, case.make(folder), folder) for key, (case, folder) in built.items()}

    def run(key: str) -> tuple[str, tuple[Run, Path]]:
        case, path, folder = inputs[key]
        return key, (run_cli(["validate", str(path), *case.options]), folder)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return dict(pool.map(run, inputs))


def shown(run: Run, case: Case, folder: Path) -> str:
    """Return the line of the answer the doc table shows: the first holding the case's first fragment."""
    line = next((ln for ln in run.output.split("\n") if case.says[0] in ln), "")
    line = line.replace(f"{folder}{os.sep}", "").strip()
    line = re.sub(r"[\x00-\x1f]", lambda m: f"\\x{ord(m[0]):02x}", line)  # shown, not obeyed, in the doc
    line = re.sub(r"^(error:|ERROR|WARNING)\s+", "", line)
    line = re.sub(r"\[([^\]]{40})[^\]]+\]", r"[\1…]", line)  # a long cell value would fill the column
    line = line.replace("|", "\\|")
    return line if len(line) <= SHOWN_CHARS else line[: SHOWN_CHARS - 1].rstrip() + "…"


# --- building blocks ---------------------------------------------------------------------------------------


def _book(folder: Path, rows: list[dict[str, Any]] | None = None, hours: list[dict[str, Any]] | None = None) -> Path:
    return write_book(folder / "campaigns.xlsx", rows or [campaign()], hours)


def _edit(change: Callable[[openpyxl.Workbook], object]) -> Make:
    """Make a valid workbook, then change it with openpyxl as a user would in Excel."""

    def make(folder: Path) -> Path:
        path = _book(folder)
        book = openpyxl.load_workbook(path)
        change(book)
        book.save(path)
        return path

    return make


def _rows(rows: list[dict[str, Any]], hours: list[dict[str, Any]] | None = None) -> Make:
    return lambda folder: _book(folder, rows, hours)


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _patch(part: str, change: Callable[[bytes], bytes], base: Make = _book) -> Make:
    """Make a workbook, then rewrite one part of it as a program (or an attacker) would, byte by byte."""

    def make(folder: Path) -> Path:
        path = base(folder)
        members = _members(path)
        members[part] = change(members[part])
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        return path

    return make


def _cell(ref: str, xml: bytes) -> bytes:
    """Return an inline-string cell holding ``xml`` at ``ref``."""
    return f'<c r="{ref}" t="inlineStr"><is><t>'.encode() + xml + b"</t></is></c>"


def _append_row(number: int, cells: bytes) -> Callable[[bytes], bytes]:
    return lambda xml: xml.replace(b"</sheetData>", f'<row r="{number}">'.encode() + cells + b"</row></sheetData>")


def _write_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> Path:
    """Write a zip by hand from (name, raw deflate data, CRC-32, unpacked size): sizes need not be believable."""
    body, directory = bytearray(), bytearray()
    for name, data, crc, size in members:
        encoded = name.encode()
        fields = (8, 0, 0x21, crc, len(data), size, len(encoded))  # deflate, time 0:00, date 1980-01-01
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, *fields, 0, 0, 0, 0, 0, len(body))
        directory += encoded
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, *fields, 0) + encoded + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), len(body), 0)
    path.write_bytes(bytes(body + directory + end))
    return path


def _deflate(data: bytes) -> tuple[bytes, int, int]:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(), zlib.crc32(data), len(data)


def _spaces(head: bytes, mebibytes: int, tail: bytes) -> tuple[bytes, int, int]:
    """Deflate head + N MiB of spaces + tail without building them: one flushed block, repeated."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b" " * 2**20
    start = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
    middle = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)  # a full flush makes it stand alone
    end = packer.compress(tail) + packer.flush()
    crc = zlib.crc32(head)
    for _ in range(mebibytes):
        crc = zlib.crc32(block, crc)
    return start + middle * mebibytes + end, zlib.crc32(tail, crc), len(head) + mebibytes * 2**20 + len(tail)


def _bomb(mebibytes: int, *, declared: int | None = None) -> Make:
    """A workbook whose CallingHours sheet expands to N MiB; ``declared`` makes the zip lie about that size."""

    def make(folder: Path) -> Path:
        members = _members(_book(folder))
        sheet = members.pop("xl/worksheets/sheet2.xml")
        cut = sheet.index(b"</sheetData>")
        data, crc, size = _spaces(sheet[:cut], mebibytes, sheet[cut:])
        entries = [(name, *_deflate(content)) for name, content in members.items()]
        entries.append(("xl/worksheets/sheet2.xml", data, crc, size if declared is None else declared))
        return _write_zip(folder / "campaigns.xlsx", entries)

    return make


_LAUGHS = b"".join(
    b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"lol") * 10) for i in range(1, 10)
)


def _entity_bomb(prefix: bytes) -> Callable[[bytes], bytes]:
    """Billion laughs: nine entities, each ten of the one before, 10^9 'lol' once expanded, in a cell."""
    doctype = b'<?xml version="1.0"?>' + prefix + b"<!DOCTYPE worksheet [" + _LAUGHS + b"]>"
    return lambda xml: doctype + xml.replace(b"<t>Renewal reminders</t>", b"<t>&lol9;</t>")


def _flip_bytes(part: str) -> Make:
    """Corrupt a part's deflate data in place, as a bad disk or a broken transfer does."""

    def make(folder: Path) -> Path:
        path = _book(folder)
        data = bytearray(path.read_bytes())
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(part)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 40
        data[start : start + 16] = bytes(b ^ 0xFF for b in data[start : start + 16])
        path.write_bytes(bytes(data))
        return path

    return make


def _truncated(folder: Path) -> Path:
    path = _book(folder)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _committed(name: str, as_name: str | None = None) -> Make:
    return lambda folder: Path(shutil.copy(BROKEN / name, folder / (as_name or name)))


def _text_file(name: str, data: bytes) -> Make:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def _docx(folder: Path) -> Path:
    """A minimal Word document: the parts Word itself needs."""
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    doc_rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
    w_ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.'
        'org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
        'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/word/document.xml" ContentType="{main}"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
        f'org/package/2006/relationships"><Relationship Id="rId1" Type="{doc_rel}" Target="word/document.xml"/>'
        "</Relationships>",
        "word/document.xml": f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{w_ns}"><w:body><w:p>'
        "<w:r><w:t>Campaigns for spring</w:t></w:r></w:p></w:body></w:document>",
    }
    path = folder / "campaigns.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    return path


def _lock_file(folder: Path) -> Path:
    """Excel's owner file: the user name as a counted ANSI string, then as UTF-16, 165 bytes in all."""
    user = "Alice Martin"
    data = bytes([len(user)]) + user.encode().ljust(53) + bytes([len(user), 0]) + user.encode("utf-16-le")
    path = folder / "~$campaigns.xlsx"
    path.write_bytes(data.ljust(165, b"\x00"))
    return path


def _big(folder: Path) -> Path:
    """A workbook padded past 1 MB by a picture that does not compress."""
    path = _book(folder)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("xl/media/image1.png", os.urandom(3 * 2**19))
    return path


def _rows_xml(count: int) -> Callable[[bytes], bytes]:
    """Give the Campaigns sheet ``count`` data rows, written straight into its XML as a program would."""

    def change(xml: bytes) -> bytes:
        rows = b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (n, n, n) for n in range(3, count + 2))
        return xml.replace(b"</sheetData>", rows + b"</sheetData>")

    return change


# --- CSV folders -------------------------------------------------------------------------------------------

_CSV_KEYS = [c.key for c in spec.CAMPAIGN_COLUMNS if c.key in GOOD_CAMPAIGN]
CAMPAIGNS_CSV = (
    ",".join(LABELS[k] for k in _CSV_KEYS) + "\n" + ",".join(str(GOOD_CAMPAIGN[k]) for k in _CSV_KEYS) + "\n"
)
HOURS_CSV = f"Campaign,Day,Start,End\n{NAME},MO-FR,9:00 AM,5:00 PM\n"


def _csv(campaigns: bytes | None = None, hours: bytes | None = None, *, skip: str = "") -> Make:
    """Make a folder of the two CSV files, either replaced by the bytes given (or left out)."""

    def make(folder: Path) -> Path:
        inbox = folder / "inbox"
        inbox.mkdir()
        for name, data in (("campaigns.csv", campaigns), ("calling_hours.csv", hours)):
            if name != skip:
                default = CAMPAIGNS_CSV if name == "campaigns.csv" else HOURS_CSV
                (inbox / name).write_bytes(default.encode() if data is None else data)
        return inbox

    return make


def _xlsx_as_csv(folder: Path) -> Path:
    inbox = _csv()(folder)
    shutil.copy(_book(folder), inbox / "campaigns.csv")
    return inbox


# --- the corpus --------------------------------------------------------------------------------------------

_EMOJI_NAME = "🎉 Spring Renewals East – VIP customers 2025 🚀🚀🚀🚀🚀🚀"
_RTL_NAME = "حملة\x0bالربيع"  # Arabic 'spring campaign', a vertical tab pasted in from a PDF


def _merge_key(folder: Path) -> Path:
    path = _book(folder, [campaign()], [window(NAME, "MO-FR"), window(NAME, "SA", end=dt.time(12))])
    book = openpyxl.load_workbook(path)
    book["CallingHours"]["A3"] = None
    book["CallingHours"].merge_cells("A2:A3")
    book.save(path)
    return path


def _rename_sheets(book: openpyxl.Workbook) -> None:
    book["Campaigns"].title = "Sheet1"
    book["CallingHours"].title = "Sheet2"


def _copy_hours_sheet(book: openpyxl.Workbook) -> None:
    book.copy_worksheet(book["CallingHours"]).title = "Calling Hours"


def _duplicate_header(book: openpyxl.Workbook) -> None:
    sheet = book["Campaigns"]
    sheet.cell(1, sheet.max_column + 1, "priority ")
    sheet.cell(2, sheet.max_column, 4)


def _title_above_headers(book: openpyxl.Workbook) -> None:
    book["Campaigns"].insert_rows(1, 2)
    book["Campaigns"].cell(1, 1, "Spring 2025 campaigns")


def _merge_rows(folder: Path) -> Path:
    # Written into the XML: openpyxl's merge_cells would make 32 million cell objects for this range.
    hours = [window(NAME, day) for day in ("MO", "TU", "WE", "TH", "FR")] * 400
    merge = b'</sheetData><mergeCells count="1"><mergeCell ref="A3:XFD2001"/></mergeCells>'
    return _patch(
        "xl/worksheets/sheet2.xml",
        lambda xml: xml.replace(b"</sheetData>", merge),
        lambda f: _book(f, [campaign()], hours),
    )(folder)


def _empty_hours(book: openpyxl.Workbook) -> None:
    del book["CallingHours"]
    book.create_sheet("CallingHours")


def _encoded(cell: str) -> bytes:
    """Escape control characters the way Excel stores them in XML: _x0007_."""
    return "".join(f"_x{ord(ch):04X}_" if ord(ch) < 32 else ch for ch in cell).encode()


CASES: tuple[Case, ...] = (
    # --- not a workbook at all
    Case(
        "csv-named-xlsx",
        "Saved a CSV file and gave it the name campaigns.xlsx",
        _text_file("campaigns.xlsx", CAMPAIGNS_CSV.encode()),
        ("campaigns.xlsx is not an Excel workbook",),
    ),
    Case(
        "empty-file",
        "Gave a 0-byte file (a download or sync that never finished)",
        _text_file("campaigns.xlsx", b""),
        ("campaigns.xlsx is empty (0 bytes)",),
    ),
    Case(
        "excel-lock-file",
        "Picked ~$campaigns.xlsx, the lock file Excel leaves beside an open workbook",
        _lock_file,
        ("~$campaigns.xlsx is the lock file", "give the workbook itself (campaigns.xlsx)"),
    ),
    Case(
        "word-document",
        "Gave a Word document renamed to .xlsx",
        _docx,
        ("campaigns.xlsx is a zip file but not an Excel workbook",),
    ),
    Case(
        "old-xls",
        "Saved as Excel 97-2003 (.xls)",
        _committed("campaigns.xls"),
        ("campaigns.xls is an old Excel 97-2003 (.xls) file",),
    ),
    Case(
        "xls-renamed-xlsx",
        "Renamed an .xls file to .xlsx",
        _committed("campaigns.xls", "campaigns.xlsx"),
        ("campaigns.xlsx is an old Excel 97-2003 (.xls) file",),
    ),
    Case(
        "ods",
        "Saved from LibreOffice in its own format (.ods)",
        _committed("campaigns.ods"),
        ("campaigns.ods is an OpenDocument spreadsheet (.ods)",),
    ),
    Case(
        "ods-renamed-xlsx",
        "Renamed an .ods file to .xlsx",
        _committed("campaigns.ods", "campaigns.xlsx"),
        ("campaigns.xlsx is an OpenDocument spreadsheet (.ods)",),
    ),
    Case(
        "password-protected",
        "Protected the workbook with a password (File > Info > Encrypt with Password)",
        _committed("protected.xlsx"),
        ("protected.xlsx is password-protected",),
    ),
    # --- damaged or hostile zips
    Case(
        "truncated-download",
        "Gave a workbook cut off halfway (an interrupted download or copy)",
        _truncated,
        ("campaigns.xlsx is damaged (not a complete zip/xlsx file)",),
    ),
    Case(
        "corrupt-sheet-data",
        "Gave a workbook with corrupted bytes inside (bad disk, broken transfer)",
        _flip_bytes("xl/worksheets/sheet1.xml"),
        ("campaigns.xlsx is damaged: xl/worksheets/sheet1.xml inside it cannot be unpacked",),
    ),
    Case(
        "sheet-xml-cut-short",
        "Gave a workbook whose writer crashed mid-sheet (valid zip, sheet XML cut short)",
        _patch("xl/worksheets/sheet1.xml", lambda xml: xml[: len(xml) * 6 // 10]),
        ("campaigns.xlsx, sheet 'Campaigns' is damaged and cannot be read",),
    ),
    Case(
        "zip-bomb",
        "Gave a 1 MB file whose CallingHours sheet unpacks to 1 GiB",
        _bomb(1024),
        ("campaigns.xlsx unpacks to 1024 MB, more than the 512 MB accepted",),
    ),
    Case(
        "zip-bomb-ratio",
        "Gave a file with one part that expands 1,000 times (256 MiB, under the total cap)",
        _bomb(256),
        ("campaigns.xlsx looks like a zip bomb: xl/worksheets/sheet2.xml expands",),
    ),
    Case(
        "zip-bomb-lying-sizes",
        "Gave a zip bomb whose headers claim the part is 2 KB",
        _bomb(256, declared=2048),
        ("campaigns.xlsx is damaged: xl/worksheets/sheet2.xml inside it cannot be unpacked",),
    ),
    Case(
        "xml-entity-bomb",
        "Gave a sheet with a 'billion laughs' entity bomb (a DOCTYPE before the sheet)",
        _patch("xl/worksheets/sheet1.xml", _entity_bomb(b"")),
        ("campaigns.xlsx contains an XML document type declaration (xl/worksheets/sheet1.xml)",),
    ),
    Case(
        "xml-entity-bomb-late",
        "Hid the entity bomb's DOCTYPE behind 200 KB of XML comments",
        _patch("xl/worksheets/sheet1.xml", _entity_bomb(b"<!--" + b"x" * 200_000 + b"-->")),
        ("campaigns.xlsx contains an XML document type declaration (xl/worksheets/sheet1.xml)",),
    ),
    Case(
        "xml-comment-padding",
        "Gave a sheet that starts with 2 MB of XML comments, past which a DOCTYPE could hide",
        _patch("xl/worksheets/sheet1.xml", lambda xml: b"<!--" + b"x" * 2**21 + b"-->" + xml),
        ("xl/worksheets/sheet1.xml starts with over a megabyte of XML comments",),
    ),
    Case(
        "xml-external-entity",
        "Gave a workbook whose workbook.xml reads a local file through an external entity (XXE)",
        _patch(
            "xl/workbook.xml",
            lambda xml: b'<!DOCTYPE workbook [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + xml,
        ),
        ("campaigns.xlsx contains an XML document type declaration (xl/workbook.xml)",),
    ),
    # --- sheets and layout
    Case(
        "missing-sheet",
        "Deleted the CallingHours sheet",
        _edit(lambda b: b.remove(b["CallingHours"])),
        ("campaigns.xlsx has no sheet named 'CallingHours'", "sheets found: 'Campaigns'"),
    ),
    Case(
        "renamed-sheets",
        "Left the sheets named Sheet1 and Sheet2",
        _edit(_rename_sheets),
        ("campaigns.xlsx has no sheet named 'Campaigns' or 'CallingHours'", "'Sheet1', 'Sheet2'"),
    ),
    Case(
        "two-hours-sheets",
        "Copied the CallingHours sheet and named the copy 'Calling Hours', keeping both",
        _edit(_copy_hours_sheet),
        ("has 2 sheets that could be the CallingHours sheet", "'CallingHours', 'Calling Hours'"),
    ),
    Case(
        "duplicate-headers",
        "Added a second Priority column, headed 'priority ' (other case, trailing space)",
        _edit(_duplicate_header),
        ('Columns "Priority" and "priority" both mean Priority', "Campaigns!O1 (row 1)"),
    ),
    Case(
        "header-on-row-3",
        "Put a title and a blank row above the headers",
        _edit(_title_above_headers),
        ("campaigns.xlsx, sheet 'Campaigns': the header row must be row 1, but the headers are on row 3",),
    ),
    Case(
        "no-header-row",
        "Deleted the header row",
        _edit(lambda b: b["Campaigns"].delete_rows(1)),
        ("campaigns.xlsx, sheet 'Campaigns' has no header row",),
    ),
    Case(
        "empty-hours-sheet",
        "Left the CallingHours sheet empty",
        _edit(_empty_hours),
        ("campaigns.xlsx, sheet 'CallingHours' is empty",),
    ),
    Case(
        "merged-cells",
        "Merged one hours key over two rows instead of repeating it",
        _merge_key,
        ("part of the merged cells A2:A3", 'CallingHours!A3 (row 3, column "Campaign or Hours Key")'),
    ),
    Case(
        "merged-whole-rows",
        "Selected 2,000 whole rows of CallingHours and pressed Merge (a range out to column XFD)",
        _merge_rows,
        ("part of the merged cells A3:XFD2001", "CallingHours!B4 (row 4"),
    ),
    Case(
        "formulas-not-calculated",
        "Gave a file a program wrote with formulas, never opened in Excel (no cached values)",
        _rows([campaign(max_ring_time="=10*3")]),
        ("sheet 'Campaigns': cells L2 hold formulas whose results were never calculated",),
    ),
    Case(
        "formula-error-value",
        "Looked a value up with VLOOKUP, which shows #N/A",
        _patch(
            "xl/worksheets/sheet1.xml",
            lambda xml: re.sub(
                rb'<c r="L2"[^>]*>.*?</c>', b'<c r="L2" t="e"><f>VLOOKUP(A2,Rings!A:B,2,0)</f><v>#N/A</v></c>', xml
            ),
        ),
        ('cells L2 (#N/A, column "Max Ring Time (s)") show a formula error',),
    ),
    Case(
        "stray-cell-last-row",
        "Typed an x in Q1048576, the sheet's last row (Ctrl+Down then a keystroke)",
        _patch("xl/worksheets/sheet1.xml", _append_row(1_048_576, _cell("Q1048576", b"x"))),
        ("has more than 200,000 rows: cell Q1048576 holds a value on row 1,048,576",),
    ),
    Case(
        "stray-cell-last-cell",
        "Typed an x in XFD1048576, the sheet's very last cell",
        _patch("xl/worksheets/sheet1.xml", _append_row(1_048_576, _cell("XFD1048576", b"x"))),
        ("cell XFD1048576 holds a value on row 1,048,576",),
    ),
    Case(
        "stray-cell-far-right",
        "Typed a note in XFD400, far right of the data",
        _patch("xl/worksheets/sheet1.xml", _append_row(400, _cell("XFD400", b"note"))),
        ("span A1:XFD400", "cell XFD400 is one"),
    ),
    Case(
        "too-many-rows",
        "Gave 200,001 campaign rows, more than the 200,000 accepted",
        _patch("xl/worksheets/sheet1.xml", _rows_xml(200_001)),
        ("has more than 200,000 rows: cell A200002",),
    ),
    Case(
        "file-too-large",
        "Gave a workbook larger than the size cap (here --max-file-mb 1)",
        _big,
        ("campaigns.xlsx is 2 MB, larger than the 1 MB this tool accepts",),
        ("--max-file-mb", "1"),
    ),
    Case(
        "huge-cell",
        "Pasted 32,767 characters, as many as Excel allows in a cell, into a Description",
        _rows([campaign(description="lorem ipsum " * 2731)]),
        ("Description is 32767 characters long; the platform allows at most 256", 'column "Description"'),
    ),
    Case(
        "huge-cell-beyond-excel",
        "Gave a file a program wrote with 1,000,000 characters in one cell, more than Excel can hold",
        _patch(
            "xl/worksheets/sheet1.xml",
            lambda xml: xml.replace(b"<t>Renewal reminders</t>", b"<t>" + b"x" * 1_000_000 + b"</t>"),
        ),
        ("sheet 'Campaigns', row 2, column \"Description\": the cell holds 1,000,000 characters",),
    ),
    # --- values the validator refuses
    Case(
        "control-character",
        "Pasted a name holding an invisible control character (BEL, \\x07)",
        _patch(
            "xl/worksheets/sheet1.xml",
            lambda xml: xml.replace(b"<t>Spring Renewals East</t>", b"<t>" + _encoded("Spring\x07 Renewals") + b"</t>"),
        ),
        ('Campaigns!A2 (row 2, column "Campaign Name")', "invisible control characters"),
    ),
    Case(
        "rtl-name-control-character",
        "Pasted an Arabic (right-to-left) name from a PDF, with a vertical tab inside",
        _patch(
            "xl/worksheets/sheet1.xml",
            lambda xml: xml.replace(b"<t>Spring Renewals East</t>", b"<t>" + _encoded(_RTL_NAME) + b"</t>"),
        ),
        ('Campaigns!A2 (row 2, column "Campaign Name")', "invisible control characters"),
    ),
    Case(
        "emoji-name-too-long",
        f"Named a campaign with emoji, {len(_EMOJI_NAME)} characters (the platform allows 48)",
        _rows([campaign(name=_EMOJI_NAME)], [window(_EMOJI_NAME)]),
        (f"Campaign Name is {len(_EMOJI_NAME)} characters long", 'Campaigns!A2 (row 2, column "Campaign Name")'),
    ),
    Case(
        "names-differ-in-case",
        "Named two campaigns 'Spring Renewals East' and 'spring renewals east ' (case, trailing space)",
        _rows([campaign(), campaign(name="spring renewals east ")], [window(NAME)]),
        ("Another campaign on row 2 has the same name", 'Campaigns!A3 (row 3, column "Campaign Name")'),
    ),
    Case(
        "number-as-text-with-unit",
        "Typed the ring time as text with its unit, '30 s'",
        _rows([campaign(max_ring_time="30 s")]),
        ("Max Ring Time (s) must be a whole number", 'Campaigns!L2 (row 2, column "Max Ring Time (s)")'),
    ),
    Case(
        "phone-stored-as-number",
        "Typed the caller ID into a number cell: Excel dropped the + (14155550123)",
        _rows([campaign(caller_id=14155550123)]),
        ("Caller ID was stored as a number (14155550123)", 'Campaigns!F2 (row 2, column "Caller ID")'),
    ),
    Case(
        "date-where-time-belongs",
        "Typed a date and time (3/3/2025 9:00) where a time of day belongs",
        _rows([campaign()], [window(NAME, start=dt.datetime(2025, 3, 3, 9, 0))]),
        ("Start holds a date (2025-03-03)", 'CallingHours!C2 (row 2, column "Start")'),
    ),
    # --- CSV folders
    Case(
        "csv-latin1",
        "Saved calling_hours.csv as 'CSV (Comma delimited)' on Windows: Latin-1, not UTF-8",
        _csv(hours="Campaign,Day,Start,End\nCampaña Otoño,MO-FR,9:00 AM,5:00 PM\n".encode("latin-1")),
        ("calling_hours.csv is not UTF-8 text (line 2",),
    ),
    Case(
        "csv-utf16-unicode-text",
        "Saved as Excel's 'Unicode Text': UTF-16 with a byte order mark, tab-separated",
        _csv(hours=HOURS_CSV.replace(",", "\t").encode("utf-16")),
        ("calling_hours.csv is saved as UTF-16",),
    ),
    Case(
        "csv-utf16-no-bom",
        "Gave UTF-16 text without a byte order mark",
        _csv(hours=HOURS_CSV.encode("utf-16-le")),
        ("calling_hours.csv contains NUL bytes",),
    ),
    Case(
        "csv-tabs",
        "Gave a tab-separated file named .csv",
        _csv(hours=HOURS_CSV.replace(",", "\t").encode()),
        ("calling_hours.csv is separated by tabs",),
    ),
    Case(
        "csv-pipes",
        "Gave a file separated by | characters",
        _csv(hours=HOURS_CSV.replace(",", "|").encode()),
        ("calling_hours.csv is separated by '|' characters",),
    ),
    Case(
        "csv-unclosed-quote",
        'Started a campaign name with a quote mark and never closed it: "Spring Renewals East,…',
        _csv(campaigns=CAMPAIGNS_CSV.replace(NAME, '"' + NAME).encode()),
        ("campaigns.csv, line 2: a cell starts with a quote mark",),
    ),
    Case(
        "csv-is-really-xlsx",
        "Renamed the workbook to campaigns.csv",
        _xlsx_as_csv,
        ("campaigns.csv is an Excel file renamed to .csv",),
    ),
    Case(
        "csv-missing-file",
        "Gave a folder without calling_hours.csv",
        _csv(skip="calling_hours.csv"),
        ("must hold calling_hours.csv (found: campaigns.csv)",),
    ),
)


ACCEPTED: tuple[Case, ...] = (
    Case(
        "formatted-to-last-row",
        "Formatted cells down to row 1,048,576: the used range (<dimension>) claims a million rows, all empty",
        _patch(
            "xl/worksheets/sheet1.xml",
            lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:Q1048576"', xml).replace(
                b"</sheetData>", b'<row r="1048576"><c r="Q1048576" s="0"/></row></sheetData>'
            ),
        ),
        ("campaigns.xlsx: 1 campaign, 1 ready to create; valid.",),
    ),
    Case(
        "number-as-text",
        "Typed Priority as text ('3): read as the number 3",
        _rows([campaign(priority="3")]),
        ("campaigns.xlsx: 1 campaign, 1 ready to create; valid.",),
    ),
    Case(
        "emoji-and-rtl-names",
        "Named campaigns with emoji and in Arabic, within 48 characters",
        _rows([campaign(name="🎉 Spring Renewals 🚀"), campaign(name="حملة الربيع")]),
        ("campaigns.xlsx: 2 campaigns, 2 ready to create; valid.",),
    ),
    Case(
        "hours-key-trailing-space",
        "Wrote the hours key as 'spring renewals east ' (other case, trailing space)",
        _rows([campaign()], [window("spring renewals east ")]),
        ("campaigns.xlsx: 1 campaign, 1 ready to create; valid.",),
    ),
    Case(
        "csv-semicolons-bom",
        "Saved as Excel's 'CSV UTF-8' with semicolons (European settings): BOM and ; separators",
        _csv(campaigns=("\ufeff" + CAMPAIGNS_CSV.replace(",", ";")).encode()),
        ("inbox: 1 campaign, 1 ready to create; valid.",),
    ),
)


# --- the committed binaries and the doc --------------------------------------------------------------------


def make_binaries() -> None:
    """Remake the committed files; needs LibreOffice's soffice and the msoffcrypto-tool package."""
    from msoffcrypto.format.ooxml import OOXMLFile

    with tempfile.TemporaryDirectory() as tmp:
        source = _book(Path(tmp))
        for kind in ("ods", "xls"):
            subprocess.run(
                ["soffice", "--headless", "--convert-to", kind, "--outdir", str(BROKEN), str(source)],
                check=True,
                capture_output=True,
            )
        with source.open("rb") as plain, (BROKEN / "protected.xlsx").open("wb") as locked:
            OOXMLFile(plain).encrypt("secret", locked)


def write_doc() -> None:
    """Run every case and write docs/broken-inputs.md from what the tool says."""
    lines = [
        "# Broken inputs",
        "",
        "What `provisioner` says about the inputs users really drop. Each row is a case of the corpus in",
        "`tests/broken_corpus.py`; `tests/test_broken_inputs.py` runs the real command line (`provisioner",
        "validate`) on every one, in a process capped at 500 MB of address space and 10 s of CPU time, and",
        "checks the exit code, that no traceback is printed, that the message names the problem and where it is,",
        "and that the text below is still what the tool says. A few cases also go through `provisioner run`",
        "against a local sandbox API, which must receive no request at all.",
        "",
        "An unreadable file gets one line on standard error (`error: …`); a readable file with bad values gets",
        "the list of problems, each with its sheet, row and column. Either way the exit code is 2 and nothing is",
        "sent. Regenerate this page with `python -m tests.broken_corpus doc`.",
        "",
        "| Case | What the user did | What the tool says | Exit |",
        "| --- | --- | --- | --- |",
    ]
    lines += _table(CASES)
    lines += [
        "",
        "## Accepted on purpose",
        "",
        "These look broken but are read correctly, so `validate` says the input is valid (exit 0).",
        "",
        "| Case | What the user did | What the tool says | Exit |",
        "| --- | --- | --- | --- |",
    ]
    lines += _table(ACCEPTED)
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _table(cases: tuple[Case, ...]) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        runs = run_all(cases, lambda case: Path(tempfile.mkdtemp(dir=tmp)))
        return [doc_row(case, *runs[case.id]) for case in cases]


def doc_row(case: Case, run: Run, folder: Path) -> str:
    """Return the doc table's row for a case, from what the tool said."""
    did = case.did.replace("|", "\\|")
    return f"| `{case.id}` | {did} | {shown(run, case, folder)} | {run.code} |"


if __name__ == "__main__":
    {"binaries": make_binaries, "doc": write_doc}[sys.argv[1]]()
