"""Tokens for the vendor's public API: a fresh single-use HS256 JWT per request, signed with the client secret."""

from __future__ import annotations

import functools
import logging
import uuid
import warnings
from typing import Final

import jwt

from provisioner.api import endpoints
from provisioner.api.settings import Settings

#: Short enough that a leaked token dies soon, long enough to absorb a few minutes of clock skew
#: (at most endpoints.JWT_MAX_LIFETIME_S, which the vendor enforces when jti is checked).
TOKEN_LIFETIME_S: Final = 600
#: The JWT ``sub`` claim: any stable id will do for the vendor.
JWT_SUBJECT: Final = "provisioner"
_MIN_SECRET_BYTES: Final = 32  # HS256 wants a key at least as long as its hash (RFC 7518, section 3.2)

_log = logging.getLogger("provisioner.api.auth")


def mint_token(settings: Settings, now: float) -> str:
    """Sign a single-use JWT (HS256, unique ``jti``) for the app, issued at ``now`` (epoch seconds)."""
    secret = settings.client_secret.reveal()
    if len(secret.encode()) < _MIN_SECRET_BYTES:
        _warn_short_secret(settings.client_id)
    issued = int(now)
    claims = {
        "appId": settings.client_id,
        "sub": JWT_SUBJECT,
        "iat": issued,
        "exp": issued + TOKEN_LIFETIME_S,
        "jti": str(uuid.uuid4()),
    }
    with warnings.catch_warnings():
        # PyJWT's own warning shows its source file path; _warn_short_secret has said it once, in our words.
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm=endpoints.JWT_ALGORITHM)


@functools.cache
def _warn_short_secret(client_id: str) -> None:
    _log.warning(
        "the client secret of app %s is shorter than %d bytes, too short for HS256 tokens to be safe: "
        "generate a longer one for the app when you can",
        client_id,
        _MIN_SECRET_BYTES,
    )
