"""tasks/dead_letter.py: which messages a worker refuses and why, what an entry keeps, and that the list
stays capped.

The worker processes behind these rules are in tests/chaos/test_poison_messages.py."""

import json
import secrets

import pytest
from celery.utils.imports import symbol_by_name
from celery.worker.consumer import Consumer
from kombu import Message
from kombu.serialization import prepare_accept_content

from farm_core.keys import dead_letter_list
from farm_core.queue import RUN_JOB, celery_config
from farm_core.redaction import Redactor
from farm_core.redis_client import connect
from farm_core.settings import FarmSettings
from tasks.dead_letter import (
    MAX_ENTRIES,
    DeadLetter,
    DeadLetterConsumer,
    DeadLetters,
    PoisonMessage,
    WorkerRuns,
    guarded,
    looks_signed,
    screen,
)
from tests.fixtures.redis_server import RedisServer

UNSIGNED = WorkerRuns(frozenset({RUN_JOB}), signing=False)
GOOD_HEADERS = {
    "task": RUN_JOB,
    "id": "t1",
    "eta": None,
    "expires": None,
    "timelimit": [None, None],
    "retries": 0,
    "argsrepr": "job=x",
}
GOOD_BODY = [[{"job_id": "x"}], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
# A body as Celery's `auth` serializer shapes it (base64 of signer, signature, content type, encoding, body).
SIGNED_LOOKING = b"c2lnbmVyAAFzaWduYXR1cmUAAWFwcGxpY2F0aW9uL2pzb24AAXV0Zi04AAFbXQ=="


def message(body: bytes, content_type: str = "application/json", headers: dict | None = None) -> Message:
    """A kombu message as an unsigned worker's consumer receives it (accepting JSON only)."""
    return Message(
        body=body,
        content_type=content_type,
        content_encoding="utf-8",
        headers=GOOD_HEADERS if headers is None else headers,
        accept=prepare_accept_content(["json"]),
        delivery_info={"routing_key": "default"},
    )


def refusal(msg: Message, runs: WorkerRuns = UNSIGNED) -> str:
    with pytest.raises(PoisonMessage) as raised:
        screen(msg, runs)
    return raised.value.code


def test_a_farm_task_message_passes_the_screen():
    screen(message(json.dumps(GOOD_BODY).encode()), UNSIGNED)


@pytest.mark.parametrize(
    "body, content_type, headers, code",
    [
        (b"\x00 raw", "application/data", None, "wrong_content_type"),
        (SIGNED_LOOKING, "application/data", None, "signed_on_unsigned_worker"),
        (b"plain", "application/text", None, "wrong_content_type"),
        (b"\x80\x04K\x01.", "application/x-python-serialize", None, "wrong_content_type"),
        (b"[[{", "application/json", None, "undecodable_body"),
        (json.dumps(GOOD_BODY).encode(), "application/json", {}, "not_a_task_message"),
        (json.dumps(GOOD_BODY).encode(), "application/json", {**GOOD_HEADERS, "id": 7}, "not_a_task_message"),
        (
            json.dumps(GOOD_BODY).encode(),
            "application/json",
            {**GOOD_HEADERS, "timelimit": "soon"},
            "not_a_task_message",
        ),
        (
            json.dumps(GOOD_BODY).encode(),
            "application/json",
            {**GOOD_HEADERS, "task": "celery.backend_cleanup"},
            "unknown_task",
        ),
        (json.dumps({"args": [1]}).encode(), "application/json", None, "wrong_arguments"),
        (b'"just a string"', "application/json", None, "wrong_arguments"),
        (b"", "application/json", None, "wrong_arguments"),
        (json.dumps([[], {}, {}]).encode(), "application/json", None, "wrong_arguments"),
        (
            json.dumps([[{"job_id": "x"}], {"extra": 1}, {}]).encode(),
            "application/json",
            None,
            "wrong_arguments",
        ),
        (json.dumps([["x"], {}, {}]).encode(), "application/json", None, "wrong_arguments"),
        (
            json.dumps([[{"job_id": "x"}], {}, {"callbacks": [{"task": "celery.backend_cleanup"}]}]).encode(),
            "application/json",
            None,
            "wrong_arguments",
        ),
    ],
)
def test_what_an_unsigned_worker_refuses(body, content_type, headers, code):
    assert refusal(message(body, content_type, headers)) == code


def test_a_signing_worker_names_an_unsigned_message():
    signing = WorkerRuns(frozenset({RUN_JOB}), signing=True)
    msg = Message(
        body=json.dumps(GOOD_BODY).encode(),
        content_type="application/json",
        content_encoding="utf-8",
        headers=GOOD_HEADERS,
        accept={"application/data"},
    )
    assert refusal(msg, signing) == "unsigned_on_signing_worker"


def test_looks_signed_wants_five_fields_in_base64():
    assert looks_signed(SIGNED_LOOKING) and looks_signed(SIGNED_LOOKING.decode())
    assert not looks_signed(b"not base64 at all!") and not looks_signed(b"aGVsbG8=")


def test_an_entry_is_redacted_capped_and_on_one_line():
    secret = "sk-" + secrets.token_hex(12)
    msg = message(
        f"{secret}\n{'x' * 10_000}".encode(), "application/data", {**GOOD_HEADERS, "task": "t" * 1000}
    )
    letter = DeadLetter.of(
        msg, PoisonMessage("wrong_content_type", f"detail with {secret}\nsecond line"), Redactor([])
    )
    assert letter.reason == "wrong_content_type" and letter.queue == "default"
    assert secret not in json.dumps(letter.__dict__)
    assert letter.excerpt.startswith("[REDACTED] xxx") and len(letter.excerpt) == 200
    assert letter.detail == "detail with [REDACTED] second line" and len(letter.task) == 300


def test_a_secret_across_the_excerpt_cut_is_masked_whole():
    secret = "known-" + secrets.token_hex(20)
    letter = DeadLetter.of(
        message(("y" * 190 + secret).encode(), "application/data"),
        PoisonMessage("r", "d"),
        Redactor([secret]),
    )
    assert letter.excerpt == "y" * 190 + "[REDACTED]"


def test_the_list_keeps_the_newest_entries_and_expires(redis_server: RedisServer):
    prefix = f"farm-test-dl-{secrets.token_hex(3)}:"
    letters = DeadLetters(connect(redis_server.url), prefix, ttl_s=600)
    for n in range(MAX_ENTRIES + 5):
        letters.record(DeadLetter("wrong_arguments", "d", "q", float(n), RUN_JOB, f"entry {n}"))
    assert letters.count() == MAX_ENTRIES
    assert [letter.excerpt for letter in letters.latest(2)] == [
        f"entry {MAX_ENTRIES + 4}",
        f"entry {MAX_ENTRIES + 3}",
    ]
    assert 0 < redis_server.client().ttl(dead_letter_list(prefix)) <= 600


class Handled:
    """Stands in for Celery's task handler and the consumer's refuse."""

    def __init__(self, raises: Exception | None = None):
        self.raises, self.handled, self.refused = raises, [], []

    def handle(self, msg):
        if self.raises:
            raise self.raises
        self.handled.append(msg)

    def refuse(self, msg, poison: PoisonMessage):
        self.refused.append(poison.code)


def test_the_guard_passes_good_messages_and_refuses_the_rest():
    calls = Handled()
    on_message = guarded(calls.handle, UNSIGNED, calls.refuse, (ConnectionError,))
    good = message(json.dumps(GOOD_BODY).encode())
    on_message(good)
    on_message(message(b"raw", "application/data"))
    assert calls.handled == [good] and calls.refused == ["wrong_content_type"]


def test_whatever_celery_still_raises_is_refused_but_a_broker_error_goes_through():
    celery_chokes = Handled(ValueError("too many values to unpack (expected 3)"))
    guarded(celery_chokes.handle, UNSIGNED, celery_chokes.refuse, (ConnectionError,))(
        message(json.dumps(GOOD_BODY).encode())
    )
    assert celery_chokes.refused == ["unhandled_message_error"]
    broker_down = Handled(ConnectionError("Redis went away"))
    with pytest.raises(ConnectionError):
        guarded(broker_down.handle, UNSIGNED, broker_down.refuse, (ConnectionError,))(
            message(json.dumps(GOOD_BODY).encode())
        )
    assert broker_down.refused == []


def test_the_worker_runs_the_dead_letter_consumer():
    consumer = symbol_by_name(celery_config(FarmSettings())["worker_consumer"])
    assert consumer is DeadLetterConsumer and issubclass(consumer, Consumer)
