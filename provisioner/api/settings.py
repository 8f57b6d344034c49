"""Settings: which tenant, which app credentials and which limits a run uses (options > env > config file).

The config file is TOML with named profiles::

    default_profile = "prod"

    [profiles.prod]
    host = "https://platform.kore.ai"
    stream_id = "st-…"
    account_id = "…"
    client_id = "cs-…"
    client_secret_env = "KORE_PROD_SECRET"      # or client_secret_file = "prod.secret"
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shlex
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import platformdirs

from provisioner.api import endpoints
from provisioner.errors import ConfigError
from provisioner.secret import Secret

ENV_HOST: Final = "KORE_HOST"
ENV_STREAM_ID: Final = "KORE_STREAM_ID"
ENV_ACCOUNT_ID: Final = "KORE_ACCOUNT_ID"
ENV_IID: Final = "KORE_IID"
ENV_CLIENT_ID: Final = "KORE_CLIENT_ID"
ENV_CLIENT_SECRET: Final = "KORE_CLIENT_SECRET"  # noqa: S105  (a variable name, not a secret)
ENV_CA_BUNDLE: Final = "KORE_CA_BUNDLE"
ENV_RATE_LIMIT: Final = "KORE_RATE_LIMIT"
ENV_CONFIG: Final = "PROVISIONER_CONFIG"
ENV_PROFILE: Final = "PROVISIONER_PROFILE"

_log = logging.getLogger("provisioner.api.settings")

_LOOPBACK_NAMES: Final = frozenset({"localhost"})
_SECRET_KEYS: Final = ("client_secret", "client_secret_env", "client_secret_file")


@dataclass(frozen=True, slots=True)
class _Field:
    key: str  # the Settings attribute, the overrides key and the profile key
    option: str
    env: str


_FIELDS: Final = {
    f.key: f
    for f in (
        _Field("host", "--host", ENV_HOST),
        _Field("stream_id", "--stream-id", ENV_STREAM_ID),
        _Field("account_id", "--account-id", ENV_ACCOUNT_ID),
        _Field("iid", "--iid", ENV_IID),
        _Field("client_id", "--client-id", ENV_CLIENT_ID),
        _Field("ca_bundle", "--ca-bundle", ENV_CA_BUNDLE),
        _Field("rate_limit", "--rate-limit", ENV_RATE_LIMIT),
    )
}
_PROFILE_KEYS: Final = frozenset(_FIELDS) | frozenset(_SECRET_KEYS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything a run needs to reach one tenant; the client secret prints as ``***``."""

    host: str
    stream_id: str
    account_id: str
    iid: str = ""  # empty means "the same as stream_id"
    client_id: str
    client_secret: Secret
    ca_bundle: Path | None = None
    rate_limit: int = endpoints.DEFAULT_RATE_PER_MINUTE
    profile: str | None = None
    #: Where each setting came from (an option, a variable, a profile, "default"); never a value.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        try:
            host = normalise_host(self.host)
            _positive_int(self.rate_limit)
        except ValueError as exc:
            raise ConfigError(f"invalid settings: {exc}") from None
        object.__setattr__(self, "host", host)
        if not self.iid:
            object.__setattr__(self, "iid", self.stream_id)

    @property
    def scope(self) -> tuple[str, str, str]:
        """Return ``(host, account_id, stream_id)``: the tenant a ledger entry belongs to."""
        return (self.host, self.account_id, self.stream_id)


def normalise_host(value: str) -> str:
    """Return the host URL without a trailing slash; raise ValueError unless https (or loopback http)."""
    host = value.strip().rstrip("/")
    parts = urlsplit(host)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"host {value!r} must be a URL such as https://platform.kore.ai")
    if parts.username is not None or parts.password is not None:
        raise ValueError("host must not carry a user name or password")
    if parts.path or parts.query or parts.fragment:
        raise ValueError(f"host {value!r} must be scheme://name[:port] only, without a path or query")
    try:
        parts.port  # noqa: B018  (parsing the port is the check)
    except ValueError:
        raise ValueError(f"host {value!r} has an invalid port") from None
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"host {value!r} uses plain http, which would send the signed token and campaign data "
            "in clear text; use https:// (plain http is accepted only for loopback addresses "
            "such as 127.0.0.1 or localhost, e.g. a local sandbox)"
        )
    return host


def where_to_set(key: str) -> str:
    """Say how a setting can be given: its option, its environment variable and its config-file key."""
    if key == "client_secret":
        return (
            f'set {ENV_CLIENT_SECRET}, or add client_secret_env = "VAR" or client_secret_file = "PATH" '
            "to the profile in the config file"
        )
    field = _FIELDS[key]
    return f"pass {field.option}, set {field.env}, or add {key} to the profile in the config file"


def default_config_path() -> Path:
    """Return the per-user config file location used when neither --config nor PROVISIONER_CONFIG is set."""
    return platformdirs.user_config_path("provisioner") / "config.toml"


def load_settings(
    overrides: Mapping[str, object | None],
    *,
    env: Mapping[str, str] = os.environ,
    config_path: Path | None = None,
    profile: str | None = None,
) -> Settings:
    """Merge options, environment and the config-file profile into Settings; report every problem at once.

    ``overrides`` holds the command-line values keyed like the Settings fields (None means not given);
    ``config_path`` and ``profile`` are the --config and --profile options.
    """
    unknown = set(overrides) - set(_FIELDS)
    if unknown:
        raise ValueError(f"not a setting that can be overridden: {', '.join(sorted(unknown))}")
    path, explicit = _config_location(config_path, env)
    config = _read_config(path, explicit)
    chosen = _choose_profile(config, path, profile or env.get(ENV_PROFILE) or None)
    resolve = _Resolver(overrides, env, chosen)

    host = resolve.text("host", required=True, check=normalise_host)
    stream_id = resolve.text("stream_id", required=True)
    account_id = resolve.text("account_id", required=True)
    iid = resolve.text("iid", required=False)
    client_id = resolve.text("client_id", required=True)
    ca_bundle = resolve.path("ca_bundle")
    rate_limit = resolve.integer("rate_limit", default=endpoints.DEFAULT_RATE_PER_MINUTE)
    client_secret = resolve.secret()

    if resolve.missing and chosen is None and config is not None and len(config.profiles) > 1:
        resolve.problems.append(
            f"{path} has several profiles ({', '.join(sorted(config.profiles))}) and none was chosen: "
            f'pass --profile NAME, set {ENV_PROFILE}, or add default_profile = "NAME" to the file'
        )
    if resolve.problems:
        raise ConfigError(
            f"settings are missing or invalid ({_describe_sources(path, config, chosen)})",
            problems=tuple(resolve.problems),
        )
    return Settings(
        host=host,
        stream_id=stream_id,
        account_id=account_id,
        iid=iid,
        client_id=client_id,
        client_secret=client_secret,
        ca_bundle=ca_bundle,
        rate_limit=rate_limit,
        profile=chosen.name if chosen else None,
        origins=resolve.origins,
    )


@dataclass(frozen=True, slots=True)
class _Profile:
    name: str
    path: Path  # the config file; relative paths in the profile are resolved against its folder
    table: Mapping[str, object]

    @property
    def origin(self) -> str:
        return f"profile {self.name!r} in {self.path}"


@dataclass(frozen=True, slots=True)
class _Found:
    value: object
    origin: str
    base: Path | None  # folder a relative path is resolved against (None: the working directory)


class _Resolver:
    """Finds each setting in the sources by precedence and records every problem instead of stopping."""

    def __init__(self, overrides: Mapping[str, object | None], env: Mapping[str, str], chosen: _Profile | None) -> None:
        self._overrides = overrides
        self._env = env
        self._profile = chosen
        self.problems: list[str] = []
        self.missing: list[str] = []
        self.origins: dict[str, str] = {}

    def _find(self, key: str) -> _Found | None:
        found = self._look(key)
        self.origins[key] = found.origin if found is not None else "default"
        return found

    def _look(self, key: str) -> _Found | None:
        field = _FIELDS[key]
        given = self._overrides.get(key)
        if given is not None and given != "":
            return _Found(given, field.option, None)
        if self._env.get(field.env, "").strip():
            return _Found(self._env[field.env], field.env, None)
        if self._profile is not None and key in self._profile.table:
            return _Found(self._profile.table[key], self._profile.origin, self._profile.path.parent)
        return None

    def _absent(self, key: str, required: bool) -> None:
        if required:
            self.missing.append(key)
            self.problems.append(f"{key} is not set: {where_to_set(key)}")

    def text(self, key: str, *, required: bool, check: Callable[[str], str] = str.strip) -> str:
        found = self._find(key)
        if found is None:
            self._absent(key, required)
            return ""
        if not isinstance(found.value, str) or not found.value.strip():
            self.problems.append(f"{key} from {found.origin} must be a non-empty string")
            return ""
        try:
            return check(found.value)
        except ValueError as exc:
            self.problems.append(f"{key} from {found.origin}: {exc}")
            return ""

    def path(self, key: str) -> Path | None:
        found = self._find(key)
        if found is None:
            return None
        if not isinstance(found.value, str | os.PathLike) or not str(found.value).strip():
            self.problems.append(f"{key} from {found.origin} must be a file path")
            return None
        path = Path(str(found.value).strip()).expanduser()
        return found.base / path if found.base is not None else path

    def integer(self, key: str, *, default: int) -> int:
        found = self._find(key)
        if found is None:
            return default
        try:
            return _positive_int(found.value)
        except ValueError as exc:
            self.problems.append(f"{key} from {found.origin}: {exc}")
            return default

    def secret(self) -> Secret:
        chosen = self._profile
        refs = [key for key in _SECRET_KEYS if chosen is not None and key in chosen.table]
        if chosen is not None and "client_secret" in refs:
            _log.warning(
                '%s holds a literal client_secret; prefer a reference: client_secret_env = "VAR" '
                'or client_secret_file = "PATH"',
                chosen.origin,
            )
            _warn_if_exposed(chosen.path)
        if self._env.get(ENV_CLIENT_SECRET, "").strip():
            self.origins["client_secret"] = ENV_CLIENT_SECRET
            return Secret(self._env[ENV_CLIENT_SECRET].strip())
        if chosen is None or not refs:
            self._absent("client_secret", required=True)
            return Secret("")
        if len(refs) > 1:
            self.problems.append(f"{chosen.origin} sets {' and '.join(refs)}; keep only one of them")
            return Secret("")
        value = chosen.table[refs[0]]
        self.origins["client_secret"] = f"{refs[0]} in {chosen.origin}"
        if not isinstance(value, str) or not value.strip():
            self.problems.append(f"{refs[0]} in {chosen.origin} must be a non-empty string")
            return Secret("")
        if refs[0] == "client_secret_env":
            return self._secret_from_env(value.strip(), chosen)
        if refs[0] == "client_secret_file":
            return self._secret_from_file(chosen.path.parent / Path(value).expanduser(), chosen)
        return Secret(value.strip())

    def _secret_from_env(self, variable: str, chosen: _Profile) -> Secret:
        value = self._env.get(variable, "").strip()
        if not value:
            self.problems.append(f"client_secret_env in {chosen.origin} names {variable}, which is not set or empty")
        return Secret(value)

    def _secret_from_file(self, path: Path, chosen: _Profile) -> Secret:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            self.problems.append(f"client_secret_file {path} (from {chosen.origin}) cannot be read: {reason}")
            return Secret("")
        _warn_if_exposed(path)
        if not value:
            self.problems.append(f"client_secret_file {path} (from {chosen.origin}) is empty")
        return Secret(value)


def _positive_int(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"rate_limit must be a whole number of requests per minute, at least 1 (got {value!r})")
    return value


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _warn_if_exposed(path: Path) -> None:
    """Warn when a file holding a secret is accessible to group or others (POSIX modes only)."""
    if os.name != "posix":
        return  # Windows modes say nothing about who may read a file
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        _log.warning(
            "%s holds a client secret and is accessible to group or others (mode %04o); fix it with: chmod 600 %s",
            path,
            mode,
            shlex.quote(str(path)),
        )


def _config_location(config_path: Path | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    """Return the config file to read and whether the user named it (then it must exist)."""
    if config_path is not None:
        return config_path.expanduser(), True
    if env.get(ENV_CONFIG, "").strip():
        return Path(env[ENV_CONFIG].strip()).expanduser(), True
    return default_config_path(), False


@dataclass(frozen=True, slots=True)
class _ConfigFile:
    path: Path
    default_profile: str | None
    profiles: Mapping[str, Mapping[str, object]]


def _read_config(path: Path, explicit: bool) -> _ConfigFile | None:
    if not explicit and not path.exists():
        return None
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries the line and column but never a whole value
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None
    problems = [
        f"unknown top-level key {key!r} (expected default_profile or [profiles.NAME] tables)"
        for key in sorted(set(document) - {"default_profile", "profiles"})
    ]
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(t, dict) for t in profiles.values()):
        problems.append("profiles must be tables written as [profiles.NAME]")
        profiles = {}
    for name, table in profiles.items():
        problems.extend(f"profile {name!r} has an unknown key {key!r}" for key in sorted(set(table) - _PROFILE_KEYS))
    default = document.get("default_profile")
    if default is not None and not isinstance(default, str):
        problems.append("default_profile must be a string naming a profile")
    if problems:
        raise ConfigError(f"the config file {path} has problems", problems=tuple(problems))
    return _ConfigFile(path, default, profiles)


def _choose_profile(config: _ConfigFile | None, path: Path, requested: str | None) -> _Profile | None:
    """Pick the profile: --profile, else PROVISIONER_PROFILE, else default_profile, else the only one."""
    if config is None:
        if requested:
            raise ConfigError(f"profile {requested!r} was asked for, but there is no config file at {path}")
        return None
    name = requested or config.default_profile
    if name is None:
        if len(config.profiles) != 1:
            return None
        name = next(iter(config.profiles))
    if name not in config.profiles:
        available = ", ".join(sorted(config.profiles)) or "none"
        raise ConfigError(f"there is no profile {name!r} in {path}; available profiles: {available}")
    return _Profile(name, path, config.profiles[name])


def _describe_sources(path: Path, config: _ConfigFile | None, chosen: _Profile | None) -> str:
    if config is None:
        return f"no config file at {path}"
    if chosen is None:
        return f"config file {path}, no profile chosen"
    return f"config file {path}, profile {chosen.name!r}"
