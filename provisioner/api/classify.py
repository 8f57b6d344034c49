"""The response classifier: every HTTP outcome of a call becomes success or one class of the error tree.

The class says what is safe to do next (resend, look up, give up on the row, stop the run); the text names the
call and the server's own words, never a credential.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import json
import math
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp

from provisioner.api.campaign import Campaign
from provisioner.api.settings import where_to_set
from provisioner.errors import (
    AmbiguousError,
    ApiError,
    AuthError,
    NotSentError,
    RateLimitedError,
    RejectedError,
    TLSError,
)

#: The longest server message kept in an error.
EXCERPT_CHARS: Final = 300

_FAILED_BODY_STATUSES: Final = frozenset({"error", "failure"})
_RATE_LIMIT_TEXT: Final = re.compile(r"rate[\s_-]?limit", re.IGNORECASE)
_SCRIPT_OR_STYLE: Final = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG: Final = re.compile(r"<[^>]*>")
_SPACE: Final = re.compile(r"\s+")
_AUTH_CAUSES: Final = (
    f"usual causes: a wrong client id or client secret ({where_to_set('client_id')}; "
    f'{where_to_set("client_secret")}); the app\'s API scope "Campaign Management" not mapped to the bot or not '
    f"published; the app belonging to another account than the account id ({where_to_set('account_id')}); "
    f"a stream id other than the bot the scope is mapped to ({where_to_set('stream_id')})"
)
# What OpenSSL says when the "TLS" reply is plain text: the server answered in HTTP.
_PLAIN_HTTP_REPLY: Final = re.compile(r"wrong.version.number|http.request|packet.length.too.long|record.layer", re.I)


def classify_response(
    method: str,
    path: str,
    status: int,
    headers: Mapping[str, str],
    body_text: str,
    *,
    clock: Callable[[], float] = time.time,
) -> ApiError | None:
    """Return the error one HTTP response means, or None when it is a success (a 2xx JSON object)."""
    body = json_object(body_text)
    # Only the server's own message is searched for "rate limit", never the data it echoes back.
    said = _plain(body_text) if body is None else _server_words(body)
    server_text = said or _plain(body_text) or "(empty body)"
    body_status = body.get("status") if body is not None else None
    body_status = body_status.lower() if isinstance(body_status, str) else None
    call = f"{method} {path}"
    # A success that echoes a campaign named "rate limit …" must not be resent as if it were refused.
    if status == 429 or (_RATE_LIMIT_TEXT.search(said) and not (_is_2xx(status) and body_status == "success")):
        return RateLimitedError(
            f"{call}: rate limited (HTTP {status}): {_clip(server_text)}",
            retry_after=_retry_after(headers.get("Retry-After"), clock()),
            method=method,
            path=path,
            status=status,
        )
    if _is_2xx(status):
        if body is None:
            return AmbiguousError(
                f"{call}: HTTP {status} but the body is not a JSON object: {_clip(server_text)}",
                method=method,
                path=path,
                status=status,
            )
        if body_status in _FAILED_BODY_STATUSES:
            return RejectedError(
                f"{call}: refused (HTTP {status}, status {body_status!r}): {_clip(server_text)}",
                method=method,
                path=path,
                status=status,
            )
        return None
    if status >= 500:
        return AmbiguousError(
            f"{call}: server error (HTTP {status}); it may have been processed: {_clip(server_text)}",
            method=method,
            path=path,
            status=status,
        )
    if status in (401, 403):
        return AuthError(
            f"{call}: credentials refused (HTTP {status}): {_clip(server_text)}; {_AUTH_CAUSES}",
            method=method,
            path=path,
            status=status,
        )
    if 300 <= status < 400:
        return RejectedError(
            f"{call}: unexpected redirect (HTTP {status}); check the host ({where_to_set('host')})",
            method=method,
            path=path,
            status=status,
        )
    return RejectedError(
        f"{call}: refused (HTTP {status}): {_clip(server_text)}", method=method, path=path, status=status
    )


def classify_transport_error(method: str, path: str, exc: BaseException) -> ApiError:
    """Return the error a failed exchange means: not sent, maybe processed, or a TLS setup problem."""
    call = f"{method} {path}"
    kind = type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        failure = exc.certificate_error
        reason = failure.verify_message if isinstance(failure, ssl.SSLCertVerificationError) else kind
        advice = _tls_advice(call, exc.host, f"certificate verification failed ({reason})")
        return TLSError(advice, method=method, path=path)
    if isinstance(exc, aiohttp.ClientSSLError) and _PLAIN_HTTP_REPLY.search(str(exc)):
        advice = f"{call}: the server at {exc.host}:{exc.port} does not speak HTTPS; use http:// for a local sandbox"
        return TLSError(advice, method=method, path=path)
    if isinstance(exc, aiohttp.ClientSSLError):
        advice = _tls_advice(call, exc.host, f"the TLS handshake failed ({exc.strerror or kind})")
        return TLSError(advice, method=method, path=path)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return NotSentError(
            f"{call}: not sent, cannot connect to {exc.host}:{exc.port} ({exc.strerror or kind})",
            method=method,
            path=path,
            status=None,
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return NotSentError(
            f"{call}: not sent, no connection within the connect timeout",
            method=method,
            path=path,
            status=None,
        )
    # Everything else may have happened after the request was written: read timeouts, disconnects,
    # broken payloads, total timeouts.
    return AmbiguousError(
        f"{call}: no complete answer ({kind}); it may have been processed",
        method=method,
        path=path,
        status=None,
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful reply: its JSON object body, and readers that turn unexpected shapes into AmbiguousError."""

    method: str
    path: str
    status: int
    body: Mapping[str, object]

    def data(self) -> Mapping[str, object]:
        """Return the ``data`` object of the envelope."""
        data = self.body.get("data")
        if not isinstance(data, dict):
            raise self.unexpected("no data object")
        return data

    def campaign(self, record: object) -> Campaign:
        """Read one campaign record, whichever of ``id`` or ``_id`` carries its id."""
        if not isinstance(record, dict):
            raise self.unexpected("a campaign record is not an object")
        campaign_id = record.get("id") or record.get("_id")
        if not isinstance(campaign_id, str):
            raise self.unexpected("a campaign record has no id or _id")
        name = record.get("name")
        status = record.get("status")
        return Campaign(
            id=campaign_id,
            name=name if isinstance(name, str) else "",
            status=status if isinstance(status, str) else None,
            raw=record,
        )

    def unexpected(self, what: str) -> AmbiguousError:
        """Return the error for a 2xx body of an unexpected shape (ambiguous: a create may have happened)."""
        # Ambiguous, not rejected: the server said 2xx, so a create may well have happened.
        return AmbiguousError(
            f"{self.method} {self.path}: unexpected response shape: {what}",
            method=self.method,
            path=self.path,
            status=self.status,
        )


def count(value: object) -> int | None:
    """Return a paging number the server reported, or None when it reported none (or not a whole number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _is_2xx(status: int) -> bool:
    return 200 <= status < 300


def json_object(text: str) -> dict[str, object] | None:
    """Return the text as a JSON object, or None when it is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _server_words(body: Mapping[str, object]) -> str:
    """The server's own message in a JSON body: ``errors[].msg`` (with codes) or ``message``; else empty."""
    errors = body.get("errors")
    if isinstance(errors, list):
        entries = [text for text in (_error_entry(e) for e in errors if isinstance(e, dict)) if text]
        if entries:
            return "; ".join(entries)
    message = body.get("message")
    return _SPACE.sub(" ", message).strip() if isinstance(message, str) else ""


def _plain(text: str) -> str:
    """Readable text of a body: scripts, styles and tags removed, entities decoded, whitespace collapsed."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", _SCRIPT_OR_STYLE.sub(" ", text)))).strip()


def _error_entry(entry: Mapping[str, object]) -> str:
    message = entry.get("msg")
    code = entry.get("code")
    text = _SPACE.sub(" ", message).strip() if isinstance(message, str) else ""
    return f"{text} (code {code})" if text and code is not None else text


def _clip(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header given as seconds or as an HTTP-date."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.replace(tzinfo=when.tzinfo or dt.UTC).timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _tls_advice(call: str, host: str, problem: str) -> str:
    return (
        f"{call}: cannot talk securely to {host}: {problem}. If the host uses a private CA or your network "
        f"inspects TLS, give provisioner that CA certificate (PEM): {where_to_set('ca_bundle')}. "
        "Retrying cannot help."
    )
