"""A job's result, signed by the worker that made it and checked by the frontend before `apply` writes it.

On a farm with FARM_SIGNING_* set, the worker signs what it produced — the result commit, the sha256
of its patch, the files it changes — together with what it was asked (job, snapshot, repo, transport,
scoped paths, as its signed task message said) with its signing key. A frontend verifies the signature
against its certificate store, so whoever can write Redis but holds no trusted key cannot change a
record's claims (or the patch they describe) without `apply` noticing.
"""

import base64
import binascii
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from celery.exceptions import SecurityError
from celery.security.certificate import Certificate, FSCertStore
from celery.security.key import PrivateKey
from celery.security.utils import get_digest_algorithm
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding

from farm_core.job_models import JobRecord, JobSpec
from farm_core.settings import FarmSettings
from farm_core.signing import signing_enabled

# Names what is signed, so a signature made for anything else (or another layout of it) never verifies.
CLAIM_KIND = "codex-farm result v1"


@dataclass(frozen=True)
class ResultClaim:
    """What a worker vouches for about one job's result."""

    job_id: str
    snapshot_commit: str
    result_commit: str
    patch_sha256: str
    files: tuple[str, ...]
    scope: tuple[str, ...] | None
    location: str
    transport: str

    @classmethod
    def of_job(cls, spec: JobSpec, result_commit: str, patch_sha256: str, files: list[str]) -> "ResultClaim":
        """The worker's claim, from the job it ran and what it packaged."""
        scope = tuple(spec.scoped_patch.paths) if spec.scoped_patch else None
        return cls(
            spec.job_id,
            spec.snapshot_commit,
            result_commit,
            patch_sha256,
            tuple(sorted(files)),
            scope,
            spec.source.location,
            spec.source.transport,
        )

    @classmethod
    def of_record(cls, record: JobRecord) -> "ResultClaim":
        """The same claim as the job's record states it (what the frontend is about to trust)."""
        spec = record.spec
        files = record.result.changed_files if record.result else []
        scope = tuple(spec.scoped_patch.paths) if spec.scoped_patch else None
        return cls(
            record.job_id,
            spec.snapshot_commit,
            record.result_commit or "",
            record.patch_sha256 or "",
            tuple(sorted(files)),
            scope,
            spec.source.location,
            spec.source.transport,
        )

    def payload(self) -> bytes:
        """The canonical bytes signed: compact JSON with sorted keys."""
        body = {"kind": CLAIM_KIND, **{name: getattr(self, name) for name in self.__dataclass_fields__}}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign_result(claim: ResultClaim, settings: FarmSettings) -> dict[str, str]:
    """The record fields `result_signer` and `result_signature` for claim; empty while signing is off."""
    if not signing_enabled(settings):
        return {}
    key, signer = _signing_identity(str(settings.signing_key_file), str(settings.signing_cert_file))
    signature = key.sign(claim.payload(), get_digest_algorithm(settings.signing_digest))
    return {"result_signer": signer, "result_signature": base64.b64encode(signature).decode()}


@functools.cache
def _signing_identity(key_file: str, cert_file: str) -> tuple[PrivateKey, str]:
    """The worker's key and its certificate's id, read once per process, as Celery reads them for its
    messages."""
    return PrivateKey(Path(key_file).read_text()), Certificate(Path(cert_file).read_text()).get_id()


def result_signature_problem(record: JobRecord, settings: FarmSettings) -> str | None:
    """Why the record's result signature does not hold (None when it does, or when signing is off here)."""
    if not signing_enabled(settings):
        return None
    if not record.result_signer or not record.result_signature:
        return "the record carries no worker signature, and FARM_SIGNING_* is set on this frontend"
    try:
        certificate = FSCertStore(settings.signing_cert_store)[record.result_signer]
        signature = base64.b64decode(record.result_signature, validate=True)
        _verify(certificate, ResultClaim.of_record(record).payload(), signature, settings.signing_digest)
    except (SecurityError, InvalidSignature, ValueError, binascii.Error, OSError) as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return f"the worker signature does not verify against FARM_SIGNING_CERT_STORE ({reason})"[:300]
    return None


def _verify(certificate: Certificate, data: bytes, signature: bytes, digest_name: str) -> None:
    """Raise unless signature is certificate's over data, as PrivateKey.sign makes it (RSA-PSS)."""
    # Celery's Certificate.verify turns a bad signature into a TypeError (it catches a module), so verify
    # here.
    if certificate.has_expired():
        raise SecurityError(f"expired certificate {certificate.get_id()!r}")
    digest = get_digest_algorithm(digest_name)
    certificate.get_pubkey().verify(
        signature, data, padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.MAX_LENGTH), digest
    )
