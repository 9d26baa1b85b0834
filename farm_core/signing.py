"""Signed task messages (Celery's `auth` serializer): workers run only jobs signed by a trusted key.

Off unless FARM_SIGNING_KEY_FILE, FARM_SIGNING_CERT_FILE and FARM_SIGNING_CERT_STORE are all set.
Then every task and control message is signed with the key, and a worker runs only messages whose
signature verifies against a certificate in the store: a message written into Redis by anyone
without a trusted key is refused before it is decoded.
"""

import glob
import os
from pathlib import Path

from celery import Celery
from celery.exceptions import SecurityError
from celery.security.certificate import Certificate, FSCertStore
from celery.security.key import PrivateKey
from celery.security.utils import get_digest_algorithm
from cryptography.hazmat.primitives import serialization

from farm_core.errors import FarmError
from farm_core.settings import FarmSettings

AUTH_SERIALIZER = "auth"
# Events (Flower) and their receivers stay JSON: they carry no work, and Flower must read them.
TRUSTED_UNSIGNED = ["json"]
SIGNING_VARIABLES = ("FARM_SIGNING_KEY_FILE", "FARM_SIGNING_CERT_FILE", "FARM_SIGNING_CERT_STORE")


class SigningError(FarmError):
    """Signing is configured but cannot work; the message names the setting and the fix."""

    code = "signing_misconfigured"
    hint = (
        "set FARM_SIGNING_KEY_FILE, FARM_SIGNING_CERT_FILE and FARM_SIGNING_CERT_STORE together "
        "(docs/settings.md)"
    )


def signing_enabled(settings: FarmSettings) -> bool:
    """True when any signing file is set (a partial set is an error, found by check_signing_files)."""
    return any(_signing_values(settings))


def signing_config(settings: FarmSettings) -> dict:
    """Celery settings that sign and verify task and control messages; empty while signing is off."""
    if not signing_enabled(settings):
        return {}
    return {
        "task_serializer": AUTH_SERIALIZER,
        "accept_content": [AUTH_SERIALIZER],
        "result_accept_content": ["json"],
        "security_key": str(settings.signing_key_file),
        "security_certificate": str(settings.signing_cert_file),
        "security_cert_store": settings.signing_cert_store,
        "security_digest": settings.signing_digest,
    }


def check_signing_files(settings: FarmSettings) -> None:
    """Read and cross-check the key, certificate and store; raise SigningError saying what is wrong."""
    missing = [name for name, value in zip(SIGNING_VARIABLES, _signing_values(settings)) if not value]
    if missing:
        raise SigningError(
            f"message signing needs all of {', '.join(SIGNING_VARIABLES)}; not set: {', '.join(missing)}"
        )
    _load(
        "FARM_SIGNING_KEY_FILE",
        settings.signing_key_file,
        PrivateKey,
        "a PEM RSA private key without a password",
    )
    cert = _load("FARM_SIGNING_CERT_FILE", settings.signing_cert_file, Certificate, "a PEM RSA certificate")
    if cert.has_expired():
        raise SigningError(
            f"FARM_SIGNING_CERT_FILE={settings.signing_cert_file}: the certificate has expired"
        )
    if _public_numbers(settings.signing_key_file) != cert.get_pubkey().public_numbers():
        raise SigningError(
            "FARM_SIGNING_CERT_FILE is not the certificate of FARM_SIGNING_KEY_FILE "
            "(their public keys differ)"
        )
    _check_store(settings.signing_cert_store)
    try:
        get_digest_algorithm(settings.signing_digest)
    except (AttributeError, TypeError):
        raise SigningError(
            f"FARM_SIGNING_DIGEST={settings.signing_digest}: not a digest name (sha256, sha384, sha512)"
        ) from None


def enable_signing(app: Celery, settings: FarmSettings) -> bool:
    """Register the signing serializer for app when signing is configured; False when it is off."""
    if not signing_enabled(settings):
        return False
    check_signing_files(settings)
    app.conf.update(signing_config(settings))
    app.setup_security(allowed_serializers=TRUSTED_UNSIGNED, digest=settings.signing_digest)
    return True


def enable_signing_or_exit(app: Celery, settings: FarmSettings) -> bool:
    """enable_signing, but a configuration error stops the process with a one-line message (no traceback)."""
    try:
        return enable_signing(app, settings)
    except SigningError as exc:
        raise SystemExit(f"codex-farm: refusing to start: {exc}") from None


def _signing_values(settings: FarmSettings) -> tuple:
    return (settings.signing_key_file, settings.signing_cert_file, settings.signing_cert_store)


def _load(variable: str, path: Path, parse, what: str):
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningError(f"{variable}={path}: cannot read it ({_reason(exc)})") from None
    try:
        return parse(text)
    except (SecurityError, ValueError, TypeError) as exc:
        raise SigningError(f"{variable}={path}: not {what} ({exc})") from None


def _public_numbers(key_file: Path):
    # Already parsed by _load; read again rather than reach into Celery's PrivateKey.
    return (
        serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        .public_key()
        .public_numbers()
    )


def _check_store(store: str) -> None:
    pattern = os.path.join(store, "*") if os.path.isdir(store) else store
    if not glob.glob(pattern):
        raise SigningError(
            f"FARM_SIGNING_CERT_STORE={store}: no certificate file there (a folder of PEM files, or a glob)"
        )
    try:
        FSCertStore(store)
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningError(
            f"FARM_SIGNING_CERT_STORE={store}: cannot read a certificate ({_reason(exc)})"
        ) from None
    except (SecurityError, ValueError) as exc:
        raise SigningError(f"FARM_SIGNING_CERT_STORE={store}: {exc}") from None


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
