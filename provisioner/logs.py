"""Logging for the CLI: concise text or JSON lines, an optional log file, and secrets always redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal, TextIO

from provisioner.errors import ConfigError
from provisioner.secret import MASK, Secret

#: The root of the logger tree configure_logging sets up; modules log to ``getLogger(__name__)`` below it.
LOGGER_NAME: Final = "provisioner"

#: Human lines, or one JSON object per line for machines.
LogFormat = Literal["text", "json"]

_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_STREAM_HANDLER: Final = "provisioner.stream"
_FILE_HANDLER: Final = "provisioner.file"
_BLANK_RECORD: Final = logging.LogRecord("", 0, "", 0, "", None, None)
_RECORD_FIELDS: Final = frozenset(vars(_BLANK_RECORD)) | {"message", "asctime"}
_PLAIN: Final = logging.Formatter()

_secrets: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None


def register_secret(value: str | Secret) -> None:
    """Have :func:`scrub`, and so every log line, replace this value with ``***`` from now on."""
    global _secret_pattern
    text = value.reveal() if isinstance(value, Secret) else value
    if not text.strip():  # masking "" or " " would mangle every line and hide nothing
        return
    # repr() escapes backslashes and quotes; an exception's text (KeyError, tuples) shows the value that way
    _secrets.update({text, repr(text)[1:-1]})
    longest_first = sorted(_secrets, key=len, reverse=True)
    _secret_pattern = re.compile("|".join(map(re.escape, longest_first)))


def scrub(text: str) -> str:
    """Return the text with every registered secret and anything shaped like a JWT replaced by ``***``."""
    if _secret_pattern is not None:
        text = _secret_pattern.sub(MASK, text)
    return _JWT.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Scrub a record in place, for any formatter: message with its arguments, traceback, stack, extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the record and let it through."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001
            # a malformed call: show it scrubbed here rather than let Handler.handleError print the raw args
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = scrub(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _PLAIN.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        for key, value in _extras(record).items():
            if isinstance(value, str):
                setattr(record, key, scrub(value))
        return True


class _TextFormatter(logging.Formatter):
    """Human lines, each starting with a full ISO-8601 timestamp with its UTC offset."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record)

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the record's extra fields, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            payload.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        # scrub before encoding: JSON escapes (quotes, backslashes) would hide a secret from scrub() after it
        return json.dumps(_jsonable(payload), ensure_ascii=False)


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS and key != PRINTED}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).astimezone().isoformat(timespec="milliseconds")


def _jsonable(value: object) -> object:
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {scrub(str(key)): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    return scrub(str(value))


def configure_logging(
    *,
    verbosity: int = 0,
    quiet: bool = False,
    log_format: LogFormat = "text",
    log_file: Path | None = None,
    stream: TextIO | None = None,
) -> None:
    """Set up the "provisioner" logger: a stream and an optional file; calling it again replaces both.

    The stream (standard error unless given) shows INFO, DEBUG with ``verbosity >= 1``, ERROR only with
    ``quiet`` (which wins over verbosity). The file gets INFO, or DEBUG with ``verbosity >= 1``, whatever
    ``quiet`` says, in the same format, with logger names in text. Text lines start with an ISO 8601
    timestamp (date, time and UTC offset). Every handler redacts secrets and JWTs. Raises ConfigError if
    the log file cannot be opened.
    """
    verbose = verbosity > 0
    detail = logging.DEBUG if verbose else logging.INFO
    redact = RedactingFilter()
    handlers: list[logging.Handler] = []

    if log_file is not None:
        try:
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot open the log file {log_file}: {exc.strerror}") from exc
        file_handler.set_name(_FILE_HANDLER)
        file_handler.setLevel(detail)
        file_handler.setFormatter(_formatter(log_format, names=True))
        handlers.append(file_handler)

    stream_handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    stream_handler.set_name(_STREAM_HANDLER)
    stream_handler.setLevel(logging.ERROR if quiet else detail)
    stream_handler.setFormatter(_formatter(log_format, names=verbose))
    if log_format == "text":
        stream_handler.addFilter(_not_printed)
    handlers.append(stream_handler)

    logger = logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if h.get_name() in {_STREAM_HANDLER, _FILE_HANDLER}]:
        logger.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.addFilter(redact)
        logger.addHandler(handler)
    logger.setLevel(min(handler.level for handler in handlers))
    logger.propagate = False  # the CLI owns the output; a root handler would print every line twice


#: Set in a record's ``extra`` when the command prints the same line as its result: a text console then shows it
#: once (from the command), while log files and JSON logs keep it as the structured closing record.
PRINTED: Final = "printed_by_command"


def _not_printed(record: logging.LogRecord) -> bool:
    return not getattr(record, PRINTED, False)


def _formatter(log_format: LogFormat, *, names: bool) -> logging.Formatter:
    if log_format == "json":
        return _JsonFormatter()
    name = "%(name)s: " if names else ""
    return _TextFormatter(f"%(asctime)s %(levelname)s {name}%(message)s")
