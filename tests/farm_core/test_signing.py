"""farm_core/signing.py: which Celery settings signing turns on, and how unusable signing files are
reported."""

import pytest

from farm_core.queue import celery_config
from farm_core.settings import FarmSettings
from farm_core.signing import SigningError, check_signing_files, signing_config, signing_enabled
from tests.fixtures.signing import make_key_and_cert, make_signing_files


def settings_for(**env: str) -> FarmSettings:
    return FarmSettings(**env)


def test_signing_is_off_without_the_files():
    settings = settings_for()
    assert not signing_enabled(settings)
    assert signing_config(settings) == {}
    config = celery_config(settings)
    assert (config["task_serializer"], config["accept_content"]) == ("json", ["json"])
    assert not any(name.startswith("security_") for name in config)


def test_signing_reaches_the_celery_config(tmp_path):
    files = make_signing_files(tmp_path)
    config = celery_config(settings_for(**files.env(), FARM_SIGNING_DIGEST="sha512"))
    assert config["task_serializer"] == "auth"
    assert config["accept_content"] == ["auth"], "only signed task and control messages are accepted"
    assert config["security_key"] == str(files.key) and config["security_certificate"] == str(files.cert)
    assert config["security_cert_store"] == str(files.store) and config["security_digest"] == "sha512"
    check_signing_files(settings_for(**files.env()))  # a consistent set passes


def test_a_certificate_store_glob_is_accepted(tmp_path):
    files = make_signing_files(tmp_path)
    check_signing_files(
        settings_for(**{**files.env(), "FARM_SIGNING_CERT_STORE": str(files.store / "*.crt")})
    )


@pytest.mark.parametrize(
    "problem, expected",
    [
        ("expired certificate", "the certificate has expired"),
        ("empty store", "no certificate file there"),
        ("garbage in the store", "Invalid certificate"),
        ("unreadable certificate", "FARM_SIGNING_CERT_FILE="),
        ("only a key", "not set: FARM_SIGNING_CERT_FILE, FARM_SIGNING_CERT_STORE"),
        ("unknown digest", "FARM_SIGNING_DIGEST=sha-nope: not a digest name"),
    ],
)
def test_unusable_signing_files_are_named_in_the_error(tmp_path, problem, expected):
    files = make_signing_files(tmp_path)
    env = files.env()
    if problem == "expired certificate":
        key, cert = make_key_and_cert(tmp_path / "old", "old", days=0)
        env.update(FARM_SIGNING_KEY_FILE=str(key), FARM_SIGNING_CERT_FILE=str(cert))
    elif problem == "empty store":
        env["FARM_SIGNING_CERT_STORE"] = str(tmp_path / "empty")
        (tmp_path / "empty").mkdir()
    elif problem == "garbage in the store":
        (files.store / "notes.txt").write_text("not a certificate\n")
    elif problem == "unknown digest":
        env["FARM_SIGNING_DIGEST"] = "sha-nope"
    elif problem == "unreadable certificate":
        env["FARM_SIGNING_CERT_FILE"] = str(tmp_path)  # a folder: reading it fails
    else:
        env = {"FARM_SIGNING_KEY_FILE": str(files.key)}
    settings = settings_for(**env)
    assert signing_enabled(settings)
    with pytest.raises(SigningError) as raised:
        check_signing_files(settings)
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value), "one line, fit for a refusal message"
