"""Settings: precedence of options, env and config-file profiles, secrets by reference, safety checks."""

from __future__ import annotations

import logging
import os
import sys
import textwrap
from pathlib import Path

import pytest

from provisioner.api import endpoints
from provisioner.api import settings as config
from provisioner.api.settings import Settings, default_config_path, load_settings
from provisioner.errors import ConfigError
from provisioner.secret import Secret

SECRET = "file-secret-value-0123456789abcdef"
ENV_SECRET = "env-secret-value-0123456789abcdef"

FULL_ENV = {
    "KORE_HOST": "https://env.kore.example/",
    "KORE_STREAM_ID": "st-env",
    "KORE_ACCOUNT_ID": "acc-env",
    "KORE_CLIENT_ID": "cs-env",
    "KORE_CLIENT_SECRET": ENV_SECRET,
}

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture(autouse=True)
def isolated_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the per-user config location into tmp_path so a developer's own file is never read."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def write_config(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text))
    path.chmod(mode)
    return path


PROD = """
    [profiles.prod]
    host = "https://prod.kore.example"
    stream_id = "st-prod"
    account_id = "acc-prod"
    client_id = "cs-prod"
    client_secret_env = "PROD_SECRET"
"""


def test_environment_alone_is_enough() -> None:
    settings = load_settings({}, env=FULL_ENV)
    assert settings == Settings(
        host="https://env.kore.example",
        stream_id="st-env",
        account_id="acc-env",
        client_id="cs-env",
        client_secret=Secret(ENV_SECRET),
    )
    assert settings.iid == "st-env"  # defaults to the stream id
    assert settings.rate_limit == endpoints.DEFAULT_RATE_PER_MINUTE
    assert settings.ca_bundle is None and settings.profile is None
    assert settings.scope == ("https://env.kore.example", "acc-env", "st-env")


def test_options_beat_environment_which_beats_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, PROD + 'iid = "st-file-iid"\nrate_limit = 30\n')
    env = {"PROD_SECRET": SECRET, "KORE_ACCOUNT_ID": "acc-env", "KORE_HOST": "https://env.kore.example"}
    settings = load_settings({"host": "https://cli.kore.example", "rate_limit": None}, env=env, config_path=path)

    assert settings.host == "https://cli.kore.example"  # option over env over file
    assert settings.account_id == "acc-env"  # env over file
    assert settings.stream_id == "st-prod"  # file only
    assert settings.iid == "st-file-iid"
    assert settings.rate_limit == 30  # None in the options means "not given"
    assert settings.client_secret == Secret(SECRET)
    assert settings.profile == "prod"


def test_environment_secret_beats_the_profile_reference(tmp_path: Path) -> None:
    path = write_config(tmp_path, PROD)
    settings = load_settings({}, env={"KORE_CLIENT_SECRET": ENV_SECRET}, config_path=path)
    assert settings.client_secret == Secret(ENV_SECRET)


def test_typed_values_from_options_and_env(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    settings = load_settings({"ca_bundle": bundle, "rate_limit": 12}, env=FULL_ENV)
    assert (settings.ca_bundle, settings.rate_limit) == (bundle, 12)
    settings = load_settings({}, env={**FULL_ENV, "KORE_RATE_LIMIT": "45", "KORE_CA_BUNDLE": str(bundle)})
    assert (settings.ca_bundle, settings.rate_limit) == (bundle, 45)


def test_relative_paths_in_a_profile_are_relative_to_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "prod.secret").write_text(SECRET + "\n")
    (folder / "prod.secret").chmod(0o600)
    path = write_config(folder, PROD.replace('client_secret_env = "PROD_SECRET"', 'client_secret_file = "prod.secret"'))
    path.write_text(path.read_text() + 'ca_bundle = "certs/ca.pem"\n')
    settings = load_settings({}, env={}, config_path=path)
    assert settings.client_secret == Secret(SECRET)  # trailing newline stripped
    assert settings.ca_bundle == folder / "certs" / "ca.pem"


# ------------------------------------------------------------------------------------------ profiles

TWO_PROFILES = (
    PROD
    + """
    [profiles.test]
    host = "https://test.kore.example"
    stream_id = "st-test"
    account_id = "acc-test"
    client_id = "cs-test"
    client_secret_env = "TEST_SECRET"
"""
)
SECRETS = {"PROD_SECRET": SECRET, "TEST_SECRET": ENV_SECRET}


def test_profile_option_beats_env_beats_default_profile(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'default_profile = "prod"\n' + TWO_PROFILES)
    assert load_settings({}, env=SECRETS, config_path=path).profile == "prod"
    env = {**SECRETS, "PROVISIONER_PROFILE": "test"}
    assert load_settings({}, env=env, config_path=path).stream_id == "st-test"
    assert load_settings({}, env=env, config_path=path, profile="prod").stream_id == "st-prod"


def test_the_only_profile_is_used_without_being_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, PROD)
    assert load_settings({}, env=SECRETS, config_path=path).profile == "prod"


def test_config_file_named_by_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, PROD)
    assert load_settings({}, env={**SECRETS, "PROVISIONER_CONFIG": str(path)}).profile == "prod"


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_CONFIG_HOME steers platformdirs on Linux only")
def test_config_file_in_the_user_config_folder(tmp_path: Path) -> None:
    default = default_config_path()
    assert default == tmp_path / "xdg" / "provisioner" / "config.toml"
    assert load_settings({}, env=FULL_ENV).profile is None  # absent: no error
    default.parent.mkdir(parents=True)
    default.write_text(textwrap.dedent(PROD))
    assert load_settings({}, env=SECRETS).profile == "prod"


def test_unknown_profile_lists_the_available_ones(tmp_path: Path) -> None:
    path = write_config(tmp_path, TWO_PROFILES)
    with pytest.raises(ConfigError, match=r"no profile 'stage'.*available profiles: prod, test"):
        load_settings({}, env=SECRETS, config_path=path, profile="stage")


def test_several_profiles_and_none_chosen_says_how_to_choose(tmp_path: Path) -> None:
    path = write_config(tmp_path, TWO_PROFILES)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env=SECRETS, config_path=path)
    assert any("several profiles (prod, test)" in p and "--profile" in p for p in caught.value.problems)
    # with everything given elsewhere, no profile is needed at all
    assert load_settings({}, env=FULL_ENV, config_path=path).profile is None


def test_profile_without_a_config_file_is_refused() -> None:
    with pytest.raises(ConfigError, match="no config file"):
        load_settings({}, env=FULL_ENV, profile="prod")


def test_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings({}, env=FULL_ENV, config_path=tmp_path / "absent.toml")


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[profiles.prod]\nhost = "https://x"\nclient_secret = oops-not-quoted\n')
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 3") as caught:
        load_settings({}, env=FULL_ENV, config_path=path)
    assert "oops-not-quoted" not in str(caught.value)


def test_unknown_keys_in_the_file_are_reported(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'defaultprofile = "prod"\n' + PROD + 'clientid = "typo"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env=SECRETS, config_path=path)
    assert len(caught.value.problems) == 2
    assert "'defaultprofile'" in caught.value.problems[0] and "'clientid'" in caught.value.problems[1]


# ------------------------------------------------------------------------------------------- secrets


def test_literal_secret_works_but_is_discouraged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_config(tmp_path, PROD.replace('client_secret_env = "PROD_SECRET"', f'client_secret = "{SECRET}"'))
    with caplog.at_level(logging.WARNING, logger="provisioner.api.settings"):
        settings = load_settings({}, env={}, config_path=path)
    assert settings.client_secret == Secret(SECRET)
    [warning] = caplog.records
    assert "literal client_secret" in warning.getMessage() and "client_secret_env" in warning.getMessage()
    assert SECRET not in caplog.text


@posix_only
@pytest.mark.parametrize("reference", ["literal", "file"])
def test_secret_files_open_to_others_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, reference: str
) -> None:
    secret_file = tmp_path / "prod.secret"
    secret_file.write_text(SECRET)
    secret_file.chmod(0o644)
    line = f'client_secret = "{SECRET}"' if reference == "literal" else 'client_secret_file = "prod.secret"'
    path = write_config(tmp_path, PROD.replace('client_secret_env = "PROD_SECRET"', line), mode=0o640)
    exposed = path if reference == "literal" else secret_file
    with caplog.at_level(logging.WARNING, logger="provisioner.api.settings"):
        load_settings({}, env={}, config_path=path)
    messages = [r.getMessage() for r in caplog.records if "group or others" in r.getMessage()]
    assert messages == [
        f"{exposed} holds a client secret and is accessible to group or others "
        f"(mode {0o640 if reference == 'literal' else 0o644:04o}); fix it with: chmod 600 {exposed}"
    ]
    assert SECRET not in caplog.text


@posix_only
def test_private_secret_file_is_not_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "prod.secret").write_text(SECRET)
    (tmp_path / "prod.secret").chmod(0o600)
    path = write_config(
        tmp_path, PROD.replace('client_secret_env = "PROD_SECRET"', 'client_secret_file = "prod.secret"')
    )
    with caplog.at_level(logging.WARNING, logger="provisioner.api.settings"):
        load_settings({}, env={}, config_path=path)
    assert caplog.records == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('client_secret_env = "MISSING_VAR"', "names MISSING_VAR, which is not set"),
        ('client_secret_file = "absent.secret"', "cannot be read"),
        ('client_secret_env = "PROD_SECRET"\nclient_secret_file = "x"', "keep only one"),
    ],
)
def test_broken_secret_references(tmp_path: Path, line: str, expected: str) -> None:
    path = write_config(tmp_path, PROD.replace('client_secret_env = "PROD_SECRET"', line))
    with pytest.raises(ConfigError, match=expected):
        load_settings({}, env={"PROD_SECRET": SECRET}, config_path=path)


def test_repr_and_errors_never_show_the_secret(tmp_path: Path) -> None:
    settings = load_settings({}, env=FULL_ENV)
    assert ENV_SECRET not in repr(settings) and ENV_SECRET not in str(settings)
    with pytest.raises(ConfigError) as caught:
        load_settings({"host": "http://example.com"}, env=FULL_ENV)
    assert ENV_SECRET not in str(caught.value)


# ---------------------------------------------------------------------------------- missing / invalid


def test_missing_settings_are_all_named_with_where_to_set_them() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env={})
    problems = caught.value.problems
    assert [p.split(" ", 1)[0] for p in problems] == [
        "host",
        "stream_id",
        "account_id",
        "client_id",
        "client_secret",
    ]
    for key, option, variable in [
        ("host", "--host", "KORE_HOST"),
        ("stream_id", "--stream-id", "KORE_STREAM_ID"),
        ("account_id", "--account-id", "KORE_ACCOUNT_ID"),
        ("client_id", "--client-id", "KORE_CLIENT_ID"),
    ]:
        [problem] = [p for p in problems if p.startswith(f"{key} ")]
        assert option in problem and variable in problem and f"add {key} to the profile" in problem
    assert "KORE_CLIENT_SECRET" in problems[-1] and "client_secret_file" in problems[-1]
    message = str(caught.value)
    assert all(p in message for p in problems)  # one message carries them all
    assert "no config file at" in message


@pytest.mark.parametrize(
    "host",
    ["http://platform.kore.ai", "http://10.0.0.5:8080", "ftp://platform.kore.ai", "platform.kore.ai"],
)
def test_insecure_or_malformed_hosts_are_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="host") as caught:
        load_settings({"host": host}, env=FULL_ENV)
    [problem] = caught.value.problems
    assert problem.startswith("host from --host")
    if host.startswith("http://"):
        assert "clear text" in problem and "loopback" in problem


@pytest.mark.parametrize(
    "host",
    ["https://platform.kore.ai/api", "https://user:pw@platform.kore.ai", "https://platform.kore.ai?x=1"],
)
def test_hosts_with_extras_are_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="host"):
        load_settings({"host": host}, env=FULL_ENV)


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.9.9.9", "http://127.9.9.9"),
        ("http://localhost:9000", "http://localhost:9000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        (" https://platform.kore.ai/ ", "https://platform.kore.ai"),
    ],
)
def test_https_and_loopback_http_are_accepted(given: str, normalised: str) -> None:
    assert load_settings({"host": given}, env=FULL_ENV).host == normalised


def test_settings_built_directly_are_checked_too() -> None:
    with pytest.raises(ConfigError, match="clear text"):
        Settings(host="http://example.com", stream_id="s", account_id="a", client_id="c", client_secret=Secret("x"))
    direct = Settings(host="https://h/", stream_id="s", account_id="a", client_id="c", client_secret=Secret("x"))
    assert (direct.host, direct.iid) == ("https://h", "s")


@pytest.mark.parametrize("value", ["0", "-5", "sixty", "2.5"])
def test_bad_rate_limit_is_reported_with_its_source(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env={**FULL_ENV, "KORE_RATE_LIMIT": value})
    [problem] = caught.value.problems
    assert problem.startswith("rate_limit from KORE_RATE_LIMIT")


def test_invalid_and_missing_are_reported_together(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[profiles.prod]\nhost = "http://example.com"\naccount_id = 42\n')
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env={}, config_path=path)
    keys = [p.split(" ", 1)[0] for p in caught.value.problems]
    assert keys == ["host", "stream_id", "account_id", "client_id", "client_secret"]
    assert "profile 'prod'" in caught.value.problems[0] and "must be a non-empty string" in caught.value.problems[2]


def test_unknown_override_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="client_secret"):
        load_settings({"client_secret": "x"}, env=FULL_ENV)


def test_env_names_are_published_once() -> None:
    assert (config.ENV_HOST, config.ENV_CLIENT_SECRET, config.ENV_CONFIG, config.ENV_PROFILE) == (
        "KORE_HOST",
        "KORE_CLIENT_SECRET",
        "PROVISIONER_CONFIG",
        "PROVISIONER_PROFILE",
    )
