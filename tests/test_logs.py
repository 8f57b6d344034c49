"""Tests for logging setup and redaction."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import datetime
from pathlib import Path

import pytest

from provisioner.errors import ConfigError
from provisioner.logs import LOGGER_NAME, PRINTED, RedactingFilter, configure_logging, register_secret, scrub
from provisioner.secret import Secret

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHBJZCI6ImNzLTEyMyJ9.Zm9vYmFy-_c2lnbmF0dXJl"

log = logging.getLogger(f"{LOGGER_NAME}.tests")


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_lines_are_time_level_message() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)

    log.debug("hidden")
    log.info("created %s campaigns", 3)
    log.warning("careful")

    assert len(lines(stream)) == 2
    assert [line.split(" ", 1)[1] for line in lines(stream)] == ["INFO created 3 campaigns", "WARNING careful"]
    for line in lines(stream):  # dated, with the offset: a log collector needs the day, not only the time
        assert datetime.fromisoformat(line.split(" ", 1)[0]).utcoffset() is not None


def test_verbose_text_shows_debug_and_logger_names() -> None:
    stream = io.StringIO()
    configure_logging(verbosity=1, stream=stream)

    log.debug("details")

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\S+ DEBUG provisioner\.tests: details", lines(stream)[0])


def test_quiet_shows_only_errors_even_when_verbose() -> None:
    stream = io.StringIO()
    configure_logging(quiet=True, verbosity=1, stream=stream)

    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")

    assert [line.split(" ", 1)[1] for line in lines(stream)] == ["ERROR provisioner.tests: e"]


def test_json_lines_carry_timestamp_level_logger_message_and_extras() -> None:
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)

    log.info("row %d done", 7, extra={"row": 7, "sheet": "Campaigns", "when": datetime(2024, 1, 2)})

    (line,) = lines(stream)
    record = json.loads(line)
    assert datetime.fromisoformat(record["ts"]).utcoffset() is not None
    assert record["level"] == "INFO"
    assert record["logger"] == "provisioner.tests"
    assert record["message"] == "row 7 done"
    assert (record["row"], record["sheet"], record["when"]) == (7, "Campaigns", "2024-01-02 00:00:00")
    assert "args" not in record and "msg" not in record


def test_json_keeps_its_own_fields_when_an_extra_has_the_same_name() -> None:
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)

    log.warning("x", extra={"level": "fake"})

    assert json.loads(lines(stream)[0])["level"] == "WARNING"


def test_json_exception_is_one_line_with_the_traceback_in_a_field() -> None:
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")

    (line,) = lines(stream)
    record = json.loads(line)
    assert record["message"] == "failed"
    assert "Traceback" in record["exception"] and "RuntimeError: boom" in record["exception"]


def test_the_file_gets_info_with_dates_and_names_while_the_stream_is_quiet(tmp_path: Path) -> None:
    stream = io.StringIO()
    path = tmp_path / "run.log"
    configure_logging(quiet=True, log_file=path, stream=stream)

    log.debug("d")
    log.info("i")
    log.error("e")

    assert lines(stream)[0].endswith("ERROR e")
    written = path.read_text(encoding="utf-8").splitlines()
    assert len(written) == 2
    stamp, rest = written[0].split(" ", 1)
    assert datetime.fromisoformat(stamp).utcoffset() is not None
    assert rest == "INFO provisioner.tests: i"


def test_the_file_gets_debug_when_verbose_and_uses_the_chosen_format(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    configure_logging(verbosity=1, log_format="json", log_file=path, stream=io.StringIO())

    log.debug("d")

    assert [json.loads(line)["level"] for line in path.read_text(encoding="utf-8").splitlines()] == ["DEBUG"]


def test_an_unusable_log_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="log file"):
        configure_logging(log_file=tmp_path / "missing" / "run.log", stream=io.StringIO())


def test_configuring_twice_replaces_the_handlers(tmp_path: Path) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(log_file=tmp_path / "a.log", stream=first)
    old_file = next(h for h in logging.getLogger(LOGGER_NAME).handlers if isinstance(h, logging.FileHandler))

    configure_logging(log_file=tmp_path / "b.log", stream=second)
    configure_logging(log_file=tmp_path / "b.log", stream=second)
    log.info("once")

    assert len(logging.getLogger(LOGGER_NAME).handlers) == 2
    assert first.getvalue() == ""
    assert len(lines(second)) == 1
    assert (tmp_path / "b.log").read_text(encoding="utf-8").count("once") == 1
    assert old_file.stream is None  # closed


def test_records_do_not_propagate_to_the_root_logger(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging(stream=io.StringIO())

    log.info("mine")

    assert caplog.records == []


def test_scrub_masks_registered_secrets_and_jwts() -> None:
    register_secret("plain-secret-41f7")
    register_secret(Secret("wrapped-secret-9c2e"))

    text = scrub(f"a plain-secret-41f7 b wrapped-secret-9c2e c auth={JWT} d")

    assert text == "a *** b *** c auth=*** d"


def test_scrub_ignores_blank_secrets_and_leaves_ordinary_text_alone() -> None:
    register_secret("")
    register_secret("  ")

    assert scrub("nothing to  hide, eyJ alone is fine") == "nothing to  hide, eyJ alone is fine"


def test_a_longer_secret_is_masked_whole_even_when_it_contains_a_shorter_one() -> None:
    register_secret("abc-shared-7d1")
    register_secret("abc-shared-7d1-and-more")

    assert scrub("x abc-shared-7d1-and-more y") == "x *** y"


SECRET = 'sk-"quoted"\\path-é-5b8a'  # quotes, a backslash and non-ASCII: escaped by repr() and by JSON


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_and_jwts_never_reach_the_output(log_format: str, tmp_path: Path) -> None:
    register_secret(SECRET)
    stream = io.StringIO()
    path = tmp_path / "run.log"
    configure_logging(log_format="json" if log_format == "json" else "text", log_file=path, stream=stream)

    log.info(f"inline {SECRET} and {JWT}")
    log.info("as args %s / %r / %s", SECRET, SECRET, JWT)
    log.info("as extras", extra={"token": JWT, "nested": {"secret": SECRET, "list": [JWT]}})
    try:
        raise KeyError(SECRET)  # its text is the repr of the value
    except KeyError:
        log.exception("lookup failed for %s", JWT)
    try:
        raise ValueError(f"token {JWT} rejected for secret {SECRET}")
    except ValueError:
        log.error("call failed", exc_info=True)
    log.info("stack", stack_info=True, extra={"secret": SECRET})

    for output in (stream.getvalue(), path.read_text(encoding="utf-8")):
        assert "***" in output
        assert "Traceback" in output.replace("\\n", "\n")
        for leak in (SECRET, repr(SECRET)[1:-1], json.dumps(SECRET)[1:-1], JWT, JWT.split(".")[2]):
            assert leak not in output
        if log_format == "json":
            for line in output.splitlines():
                record = json.loads(line)
                assert SECRET not in json.dumps(record, ensure_ascii=False)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_formatters_scrub_on_their_own_too(log_format: str) -> None:
    register_secret("formatter-only-secret-c41")
    stream = io.StringIO()
    configure_logging(log_format="json" if log_format == "json" else "text", stream=stream)
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        handler.filters.clear()

    try:
        raise OSError("formatter-only-secret-c41")
    except OSError:
        log.error("got %s and %s", "formatter-only-secret-c41", JWT, exc_info=True)

    output = stream.getvalue()
    assert "OSError: ***" in output.replace("\\n", "\n")
    assert "formatter-only-secret-c41" not in output and JWT not in output


def test_the_filter_scrubs_the_record_for_a_foreign_formatter() -> None:
    register_secret("filter-only-secret-3e9")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s|%(token)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger(f"{LOGGER_NAME}.foreign")
    logger.addHandler(handler)
    try:
        try:
            raise OSError("filter-only-secret-3e9")
        except OSError:
            logger.error("got %s", "filter-only-secret-3e9", exc_info=True, extra={"token": JWT})
    finally:
        logger.removeHandler(handler)

    output = stream.getvalue()
    assert output.startswith("got ***|***\n")
    assert "OSError: ***" in output
    assert "filter-only-secret-3e9" not in output and JWT not in output


def test_a_malformed_call_is_logged_scrubbed_instead_of_raising() -> None:
    register_secret("malformed-secret-77a")
    stream = io.StringIO()
    configure_logging(stream=stream)

    log.info("two %s %s", "malformed-secret-77a")  # one argument short

    output = stream.getvalue()
    assert "two %s %s" in output and "***" in output
    assert "malformed-secret-77a" not in output


def test_a_line_the_command_prints_itself_shows_once_on_a_text_console_but_stays_in_files_and_json(
    tmp_path: Path,
) -> None:
    text, json_stream = io.StringIO(), io.StringIO()
    logger = logging.getLogger(LOGGER_NAME)
    configure_logging(log_format="text", stream=text, log_file=tmp_path / "run.log")
    logger.info("finished: in.xlsx: 3 created", extra={PRINTED: True, "exit_code": 0})
    logger.info("progress: 1/3")
    assert "finished:" not in text.getvalue() and "progress: 1/3" in text.getvalue()
    assert "finished: in.xlsx: 3 created" in (tmp_path / "run.log").read_text()

    configure_logging(log_format="json", stream=json_stream)
    logger.info("finished: in.xlsx: 3 created", extra={PRINTED: True, "exit_code": 0})
    [line] = [json.loads(x) for x in json_stream.getvalue().splitlines()]
    assert line["message"].startswith("finished:") and line["exit_code"] == 0 and PRINTED not in line
