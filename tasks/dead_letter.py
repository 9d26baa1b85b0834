"""Poison messages: a task message the worker cannot run is acked, dead-lettered and logged, never fatal.

Celery builds a task request straight from what arrives on a queue; a message of another content type,
an undecodable body or an ill-typed header used to raise out of its event loop and stop the worker,
and the message, restored, stopped it again on every restart. `DeadLetterConsumer` (the worker's
`worker_consumer`) screens every task message first: one the worker cannot run is acked, recorded
in the capped `farm:deadletter` list (reason, detail, queue, time, redacted excerpt) and logged on one
line, and the worker goes on with the next message.
"""

import base64
import binascii
import functools
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated

import redis
from celery.exceptions import SecurityError
from celery.worker.consumer import Consumer
from cryptography.exceptions import InvalidSignature
from kombu.exceptions import ContentDisallowed
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from farm_core.errors import FarmError
from farm_core.job_models import CompactResult, JobStatus
from farm_core.keys import dead_letter_list
from farm_core.known_secrets import known_secrets
from farm_core.redaction import Redactor
from farm_core.redis_client import connect
from farm_core.signing import AUTH_SERIALIZER
from farm_core.store import JobStore
from tasks.settings import WorkerSettings

# Stable reason codes of a dead letter (its `reason`); the detail is for humans.
NOT_A_TASK_MESSAGE = "not_a_task_message"
UNKNOWN_TASK = "unknown_task"
WRONG_CONTENT_TYPE = "wrong_content_type"
UNDECODABLE_BODY = "undecodable_body"
BAD_SIGNATURE = "bad_signature"
UNSIGNED_ON_SIGNING_WORKER = "unsigned_on_signing_worker"
SIGNED_ON_UNSIGNED_WORKER = "signed_on_unsigned_worker"
WRONG_ARGUMENTS = "wrong_arguments"
UNHANDLED = "unhandled_message_error"

# What to do about a refusal, in the error of the queued job the refused message was sent for.
FIXES = {
    SIGNED_ON_UNSIGNED_WORKER: "set the frontend's FARM_SIGNING_* on every worker of the queue (SECURITY.md)",
    UNSIGNED_ON_SIGNING_WORKER: "set FARM_SIGNING_* on the frontend as on the workers (SECURITY.md)",
    BAD_SIGNATURE: "make the workers trust the frontend's certificate (FARM_SIGNING_CERT_STORE)",
}
# A retried job's task id: `<job id>-<attempt>` (tasks/celery_app.py send_job).
RETRY_TASK_ID = re.compile(r"^(?P<job_id>.+)-\d+$")
# The farm's own tasks are named `codex_farm.*`; Celery's built-in ones (`celery.*`) are never sent by it.
FARM_TASK_PREFIX = "codex_farm."
# Newest entries kept: whoever can write to the queue cannot grow the list past this.
MAX_ENTRIES = 1000
EXCERPT_CHARS = 200
FIELD_CHARS = 300
# Redacted before the cut, so a secret across the cut is masked whole rather than left half-visible.
REDACT_WINDOW_CHARS = 4096
RECORD_RETRIES = 3
SIGNED_CONTENT_TYPE = "application/data"  # what Celery's `auth` serializer sends
JSON_CONTENT_TYPE = "application/json"
SIGNED_FIELD_SEPARATOR = b"\x00\x01"  # between the five fields of an `auth` message body
WORKFLOW_FIELDS = ("callbacks", "errbacks", "chain", "chord")
log = logging.getLogger("codex_farm.worker")


class PoisonMessage(FarmError):
    """A message this worker cannot run; `code` is a stable reason code, the message says why."""

    hint = "the message is kept in farm:deadletter with its reason; `codex-farm doctor` counts them"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


OptionalText = str | None


class TaskHeaders(BaseModel):
    """The protocol 2 headers Celery reads before it runs anything, with the types it assumes."""

    model_config = ConfigDict(extra="allow", strict=True)

    task: str
    id: Annotated[str, Field(min_length=1)]
    shadow: OptionalText = None
    root_id: OptionalText = None
    parent_id: OptionalText = None
    eta: OptionalText = None
    expires: OptionalText = None
    argsrepr: OptionalText = None
    kwargsrepr: OptionalText = None
    retries: int = 0
    ignore_result: bool | None = None
    timelimit: Annotated[list[float | None], Field(min_length=2, max_length=2)] | None = None


@dataclass(frozen=True)
class WorkerRuns:
    """What this worker runs: its registered farm task names, and whether it verifies signatures."""

    task_names: frozenset[str]
    signing: bool


def screen(message, runs: WorkerRuns) -> None:
    """Raise PoisonMessage unless message is a task message of the farm this worker can run."""
    headers = _checked_headers(message.headers)
    if headers.task not in runs.task_names:
        raise PoisonMessage(
            UNKNOWN_TASK,
            f"unknown task {headers.task!r}: this worker runs {', '.join(sorted(runs.task_names))}",
        )
    _check_arguments(_decoded_body(message, runs.signing))


def _checked_headers(headers: object) -> TaskHeaders:
    if not isinstance(headers, dict) or "task" not in headers:
        raise PoisonMessage(NOT_A_TASK_MESSAGE, "no protocol 2 task headers (a `task` name and an `id`)")
    try:
        return TaskHeaders.model_validate(headers)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise PoisonMessage(
            NOT_A_TASK_MESSAGE, f"header {'.'.join(map(str, problem['loc']))}: {problem['msg']}"
        ) from None


def _decoded_body(message, signing: bool) -> object:
    """The body as Celery would decode it (kombu caches it for Celery), or the reason it cannot be."""
    try:
        body = message.decode()
    except ContentDisallowed as exc:
        raise refusal_for_content(message.content_type, signing, exc) from None
    except Exception as exc:  # a decoder raises whatever its input makes it raise
        raise refusal_for_decode_error(message.content_type, signing, exc) from None
    decoded_type = SIGNED_CONTENT_TYPE if signing else JSON_CONTENT_TYPE
    # a raw type kombu hands over as it is
    if isinstance(body, (bytes, str)) and message.content_type != decoded_type:
        if message.content_type == SIGNED_CONTENT_TYPE and looks_signed(body):
            detail = (
                "a signed task message; this worker does not verify signatures (set FARM_SIGNING_* on it)"
            )
            raise PoisonMessage(SIGNED_ON_UNSIGNED_WORKER, detail)
        detail = f"content type {message.content_type!r}: this worker runs {decoded_type} task messages only"
        raise PoisonMessage(WRONG_CONTENT_TYPE, detail)
    return body


def refusal_for_content(content_type: str | None, signing: bool, exc: Exception) -> PoisonMessage:
    """The reason for a content type this worker does not accept."""
    if signing and content_type == JSON_CONTENT_TYPE:
        return PoisonMessage(UNSIGNED_ON_SIGNING_WORKER, f"{exc}; this worker runs only signed task messages")
    return PoisonMessage(WRONG_CONTENT_TYPE, str(exc))


def refusal_for_decode_error(content_type: str | None, signing: bool, exc: Exception) -> PoisonMessage:
    """The reason for a body its content type's decoder refused (a signature that does not verify, on a
    signing worker)."""
    causes = list(_causes(exc))
    signature_failed = any(isinstance(cause, (SecurityError, InvalidSignature)) for cause in causes)
    code = (
        BAD_SIGNATURE
        if signing and (signature_failed or content_type == SIGNED_CONTENT_TYPE)
        else UNDECODABLE_BODY
    )
    if any(isinstance(cause, InvalidSignature) for cause in causes):
        # Celery's verifier fails to wrap this one (its message then names a TypeError): say what happened.
        return PoisonMessage(
            code,
            "Can't decode message body: Bad signature (not made with the key of the certificate it names)",
        )
    return PoisonMessage(code, f"Can't decode message body: {type(exc).__name__}: {exc}")


def _causes(exc: BaseException | None):
    """exc and the exceptions it was raised from or while handling, outermost first."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def looks_signed(body: bytes | str) -> bool:
    """True when body has the shape of Celery's `auth` serializer output: base64 of five separated fields."""
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return False
    return raw.count(SIGNED_FIELD_SEPARATOR) >= 4


def _check_arguments(body: object) -> None:
    """A farm task takes one payload object, no keyword arguments and no workflow (the farm never sends
    one)."""
    if not isinstance(body, (list, tuple)) or len(body) != 3:
        raise PoisonMessage(WRONG_ARGUMENTS, "the body is not protocol 2's [args, kwargs, embed]")
    args, kwargs, embed = body
    if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict) or kwargs != {}:
        raise PoisonMessage(
            WRONG_ARGUMENTS, "a farm task takes exactly one payload object and no keyword arguments"
        )
    if not isinstance(embed, dict) or any(embed.get(field) for field in WORKFLOW_FIELDS):
        raise PoisonMessage(WRONG_ARGUMENTS, "callbacks, errbacks, chains and chords are not accepted")


def guarded(handle: Callable, runs: WorkerRuns, refuse: Callable, broker_errors: tuple) -> Callable:
    """handle behind the screen; whatever else it raises refuses the message too, but for broker errors
    (Celery reconnects)."""

    def on_task_received(message):
        try:
            screen(message, runs)
        except PoisonMessage as poison:
            return refuse(message, poison)
        try:
            return handle(message)
        except broker_errors:
            raise
        # a message Celery chokes on must not stop the worker (and be restored to stop it again)
        except Exception as exc:
            refuse(message, PoisonMessage(UNHANDLED, f"{type(exc).__name__}: {exc}"))

    return on_task_received


@dataclass(frozen=True)
class DeadLetter:
    """One refused message as `farm:deadletter` keeps it (JSON); every text redacted and capped."""

    reason: str
    detail: str
    queue: str
    at: float
    task: str
    excerpt: str

    @classmethod
    def of(cls, message, poison: PoisonMessage, redact: Redactor) -> "DeadLetter":
        """The entry for message, refused for poison; nothing in it is taken unredacted from the message."""
        headers = getattr(message, "headers", None)
        task = headers.get("task") if isinstance(headers, dict) else None
        delivery = getattr(message, "delivery_info", None)
        queue = delivery.get("routing_key") if isinstance(delivery, dict) else None
        return cls(
            reason=poison.code,
            detail=clip(poison.detail, FIELD_CHARS, redact),
            queue=clip(queue if isinstance(queue, str) else "?", FIELD_CHARS, redact),
            at=round(time.time(), 3),
            task=clip(task if isinstance(task, str) else "", FIELD_CHARS, redact),
            excerpt=clip(_body_text(message), EXCERPT_CHARS, redact),
        )


def clip(text: str, limit: int, redact: Redactor) -> str:
    """text redacted, on one line, at most limit characters."""
    return " ".join(redact(text[:REDACT_WINDOW_CHARS]).split())[:limit]


def _body_text(message) -> str:
    body = getattr(message, "body", None)
    if isinstance(body, bytes):
        return body[: REDACT_WINDOW_CHARS * 4].decode("utf-8", "replace")
    return body if isinstance(body, str) else repr(message)


class DeadLetters:
    """The `farm:deadletter` list: newest first, capped at MAX_ENTRIES, expiring FARM_JOB_TTL_S after the
    last entry."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int) -> None:
        self.client, self.key, self.ttl_s = client, dead_letter_list(prefix), ttl_s

    def record(self, letter: DeadLetter) -> None:
        """Push letter, trim the list to its cap and renew its TTL, in one transaction."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.lpush(self.key, json.dumps(asdict(letter)))
            pipe.ltrim(self.key, 0, MAX_ENTRIES - 1)
            pipe.expire(self.key, self.ttl_s)
            pipe.execute()

    def count(self) -> int:
        """How many entries the list holds (at most MAX_ENTRIES)."""
        return self.client.llen(self.key)

    def latest(self, limit: int = 10) -> list[DeadLetter]:
        """The newest entries, newest first."""
        return [DeadLetter(**json.loads(raw)) for raw in self.client.lrange(self.key, 0, limit - 1)]


class DeadLetterConsumer(Consumer):
    """Celery's worker consumer, but a message it cannot run is acked and dead-lettered instead of stopping
    the worker."""

    def create_task_handler(self, *args, **kwargs):
        """Celery's task message handler, behind the screen and a last guard."""
        broker_errors = (*self.connection_errors, *self.channel_errors)
        return guarded(super().create_task_handler(*args, **kwargs), self.runs, self.refuse, broker_errors)

    # Celery's own refusals, reached when a message gets past the screen: dead-lettered like the rest.

    def on_decode_error(self, message, exc):
        """A body kombu could not decode."""
        self.refuse(
            message, refusal_for_decode_error(getattr(message, "content_type", None), self.runs.signing, exc)
        )

    def on_unknown_message(self, body, message):
        """A message without task headers."""
        self.refuse(message, PoisonMessage(NOT_A_TASK_MESSAGE, "no protocol 2 task headers"))

    def on_unknown_task(self, body, message, exc):
        """A task name no strategy is registered for (Celery would also store a failure result; we do not)."""
        self.refuse(message, PoisonMessage(UNKNOWN_TASK, f"unknown task: {exc}"))

    def on_invalid_task(self, body, message, exc):
        """A content type not accepted, or headers Celery found invalid (an unparsable ETA)."""
        if isinstance(exc, ContentDisallowed):
            return self.refuse(message, refusal_for_content(message.content_type, self.runs.signing, exc))
        self.refuse(message, PoisonMessage(NOT_A_TASK_MESSAGE, f"{type(exc).__name__}: {exc}"))

    def refuse(self, message, poison: PoisonMessage) -> None:
        """Record message in the dead-letter list, log one line, and ack it so it is never delivered again."""
        letter = DeadLetter.of(message, poison, self.redact)
        try:
            self.dead_letters.record(letter)
        except redis.RedisError as exc:
            log.warning(
                "could not record a refused message in %s: %s", self.dead_letters.key, type(exc).__name__
            )
        log.warning(
            "refused a task message from queue %r (%s): %s", letter.queue, letter.reason, letter.detail
        )
        if hasattr(message, "ack_log_error") and not message.acknowledged:
            message.ack_log_error(log, self.connection_errors)
        self.fail_named_job(message, letter)

    def fail_named_job(self, message, letter: DeadLetter) -> None:
        """The queued job a refused message was sent for fails with the reason: acked, it would otherwise
        wait forever."""
        headers = getattr(message, "headers", None)
        task_id = headers.get("id") if isinstance(headers, dict) else None
        if not isinstance(task_id, str) or not task_id:
            return
        error = f"refused by a worker: {letter.reason} ({letter.detail})" + (
            f" — {FIXES[letter.reason]}" if letter.reason in FIXES else ""
        )
        retry = RETRY_TASK_ID.match(task_id)
        try:
            for job_id in dict.fromkeys([task_id, *([retry["job_id"]] if retry else [])]):
                result = CompactResult(job_id=job_id, job_status=JobStatus.failed, error=error)
                if self.store.finish(
                    job_id, JobStatus.failed, result, from_statuses=JobStatus.queued.value, error=error
                ):
                    return
        except redis.RedisError as exc:
            log.warning("could not fail the job of a refused message: %s", type(exc).__name__)

    @functools.cached_property
    def runs(self) -> WorkerRuns:
        """The farm tasks this worker registered, and whether it verifies signatures (FARM_SIGNING_*)."""
        names = frozenset(name for name in self.app.tasks if name.startswith(FARM_TASK_PREFIX))
        return WorkerRuns(names, AUTH_SERIALIZER in self.app.conf.accept_content)

    @functools.cached_property
    def settings(self) -> WorkerSettings:
        """The settings of the worker (Celery builds this consumer; it cannot be handed them)."""
        return WorkerSettings()

    @functools.cached_property
    def redact(self) -> Redactor:
        """Masks the worker's known secrets and credential-shaped strings in every entry and log line."""
        return Redactor(known_secrets(self.settings))

    @functools.cached_property
    def store(self) -> JobStore:
        """The job records, on the same briefly retrying client as the list."""
        settings = self.settings
        return JobStore(
            self.dead_letters.client,
            settings.key_prefix,
            settings.job_ttl_s,
            settings.log_max_entries,
            settings.lease_s,
        )

    @functools.cached_property
    def dead_letters(self) -> DeadLetters:
        """The list, on a client that retries only briefly: the event loop waits on it, and an entry is
        worth less than the loop."""
        client = connect(self.settings.redis_url, RECORD_RETRIES)
        return DeadLetters(client, self.settings.key_prefix, self.settings.job_ttl_s)
