"""Refuse a file that is not a workbook we can read safely, before any reader allocates for it.

The sniffing of magic bytes (old .xls, encrypted, .ods, lock files, empty files), the zip checks (size,
bombs), and the XML checks: every part is started with defusedxml, which refuses a document type
declaration, the only way XML defines entities (bombs, external files). The sheet list is read with it too.
"""

from __future__ import annotations

import posixpath
import zipfile
import zlib
from pathlib import Path
from typing import IO, Final
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring, iterparse

from provisioner.errors import InputError
from provisioner.workbook.load.grid import Limits

CFB_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2: old .xls, or an encrypted .xlsx
ZIP_MAGIC: Final = b"PK\x03\x04"

_UNPACK_ERRORS: Final = (zipfile.BadZipFile, zlib.error, EOFError)
#: How far into a part its root element must have started; Excel's parts start it within a few bytes.
_PROLOG_MAX: Final = 1 << 20
_WORKBOOK_RELS: Final = "xl/_rels/workbook.xml.rels"


def refuse_not_a_workbook(path: Path, limits: Limits) -> int:
    """Refuse a file too large, or one that is not a zip (old .xls, encrypted, empty, a lock file); return its size."""
    name = path.name
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise InputError(
            f"{name} is {size / 2**20:.0f} MB, larger than the {limits.max_file_bytes / 2**20:.0f} MB this tool "
            "accepts (raise the cap with --max-file-mb if the file is genuine).",
            path=str(path),
        )
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(CFB_MAGIC):
        raise InputError(_cfb_message(path), path=str(path))
    if not head.startswith(ZIP_MAGIC):
        raise InputError(_not_a_workbook_message(path, size), path=str(path))
    return size


def _not_a_workbook_message(path: Path, size: int) -> str:
    name = path.name
    if size == 0:
        return f"{name} is empty (0 bytes): the file was not saved or copied completely."
    if name.startswith("~$"):
        return (
            f"{name} is the lock file Excel keeps beside a workbook that is open, not a workbook; "
            f"give the workbook itself ({name[2:]})."
        )
    return (
        f"{name} is not an Excel workbook (.xlsx). Save it from Excel or LibreOffice as "
        "'Excel Workbook (.xlsx)', or give a folder holding campaigns.csv and calling_hours.csv."
    )


def _cfb_message(path: Path) -> str:
    with path.open("rb") as fh:
        blob = fh.read(1 << 20)
    if "EncryptionInfo".encode("utf-16-le") in blob:
        return (
            f"{path.name} is password-protected. Open it, remove the password (File > Info > Protect Workbook "
            "> Encrypt with Password: clear it) and save it again."
        )
    return f"{path.name} is an old Excel 97-2003 (.xls) file. Open it and save it as 'Excel Workbook (.xlsx)'."


def inspect_zip(zf: zipfile.ZipFile, path: Path, limits: Limits) -> dict[str, str]:
    """Check the zip for bombs and hostile XML; return sheet title -> worksheet part name."""
    infos = zf.infolist()
    names = {i.filename for i in infos}
    if "mimetype" in names and b"opendocument" in read_member(zf, "mimetype", path):
        raise InputError(
            f"{path.name} is an OpenDocument spreadsheet (.ods). In LibreOffice use File > Save As > "
            "'Excel 2007-365 (.xlsx)'.",
            path=str(path),
        )
    if "xl/workbook.xml" not in names:
        raise InputError(f"{path.name} is a zip file but not an Excel workbook (.xlsx).", path=str(path))
    total = sum(i.file_size for i in infos)
    if total > limits.max_unzipped_bytes:
        raise InputError(
            f"{path.name} unpacks to {total / 2**20:.0f} MB, more than the "
            f"{limits.max_unzipped_bytes / 2**20:.0f} MB accepted (a zip bomb, or far too much data).",
            path=str(path),
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 16 * 2**20 and ratio > limits.max_compression_ratio:
            raise InputError(
                f"{path.name} looks like a zip bomb: {info.filename} expands {ratio:.0f} times.",
                path=str(path),
            )
        if info.filename.endswith((".xml", ".rels")):
            _refuse_doctype(zf, info, path)
    return _sheet_parts(zf, path, names)


def read_member(zf: zipfile.ZipFile, part: str, path: Path) -> bytes:
    """Read one part of the zip, or say which part is missing or cannot be unpacked."""
    try:
        return zf.read(part)
    except KeyError:
        raise InputError(f"{path.name} is damaged: {part} is missing from it.", path=str(path)) from None
    except _UNPACK_ERRORS as exc:
        raise _damaged(path, part, exc) from None


def _damaged(path: Path, part: str, exc: Exception) -> InputError:
    return InputError(f"{path.name} is damaged: {part} inside it cannot be unpacked ({exc}).", path=str(path))


class _LongProlog(Exception):
    """The part's root element has not started within ``_PROLOG_MAX`` bytes."""


class _Capped:
    """A part read for the parser, refused once ``_PROLOG_MAX`` bytes have gone by without a root element."""

    def __init__(self, member: IO[bytes]) -> None:
        self._member = member
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        """Read the next chunk of the part."""
        if self._read > _PROLOG_MAX:
            raise _LongProlog
        chunk = self._member.read(size)
        self._read += len(chunk)
        return chunk


def _refuse_doctype(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    """Parse a part up to its root element: defusedxml refuses a document type declaration before it."""
    try:
        with zf.open(info) as member:
            for _ in iterparse(_Capped(member), events=("start",), forbid_dtd=True):
                break  # the root element has started: no document type can follow
    except DefusedXmlException:
        raise InputError(
            f"{path.name} contains an XML document type declaration ({info.filename}); workbooks saved by Excel "
            "or LibreOffice never do, and it can hide an entity bomb. Open the file in a spreadsheet program and "
            "save it again.",
            path=str(path),
        ) from None
    except _LongProlog:
        raise InputError(
            f"{path.name} is not a workbook Excel or LibreOffice wrote: {info.filename} starts with over a megabyte "
            "of XML comments. Open the file in a spreadsheet program and save it again.",
            path=str(path),
        ) from None
    except ParseError:
        return  # not well-formed XML: the reader reports the file as damaged
    except _UNPACK_ERRORS as exc:
        raise _damaged(path, info.filename, exc) from None


def _sheet_parts(zf: zipfile.ZipFile, path: Path, names: set[str]) -> dict[str, str]:
    """Map each sheet title to its worksheet part, through the workbook's relationships."""
    targets: dict[str, str] = {}
    if _WORKBOOK_RELS in names:
        for rel in _elements(zf, _WORKBOOK_RELS, path, "Relationship"):
            rid, target = rel.get("Id"), rel.get("Target")
            if rid is not None and target is not None:
                part = target.lstrip("/")  # absolute, or relative to xl/ (some writers repeat the xl/)
                targets[rid] = posixpath.normpath(part if part.startswith("xl/") else posixpath.join("xl", part))
    parts: dict[str, str] = {}
    for sheet in _elements(zf, "xl/workbook.xml", path, "sheet"):
        name = sheet.get("name")
        # The relationship id is the ``id`` attribute of the relationships namespace, under whatever prefix.
        rid = next((value for key, value in sheet.attrib.items() if key.startswith("{") and key.endswith("}id")), None)
        if name is not None and rid in targets:
            parts[name] = targets[rid]
    return parts


def _elements(zf: zipfile.ZipFile, part: str, path: Path, tag: str) -> list[Element]:
    """Return the elements named ``tag`` (in any namespace) of a small XML part."""
    try:
        root = fromstring(read_member(zf, part, path), forbid_dtd=True)
    except ParseError as exc:
        raise InputError(
            f"{path.name} is damaged: {part} inside it is not valid XML ({exc}).", path=str(path)
        ) from None
    return [e for e in root.iter() if isinstance(e.tag, str) and e.tag.rpartition("}")[2] == tag]
