"""Reasoning sealed into a thinking signature: it opens for the same profile and key, and nothing else
opens."""

import logging

import pytest
from pydantic import SecretStr

from adapter.reasoning_seal import VERSION, CarriedReasoning, ReasoningSeal

SEAL = ReasoningSeal(b"k" * 32)


@pytest.mark.parametrize(
    "text",
    ["short", "a long chain of thought. " * 200, "ünïcode 思考 \n\t"],
    ids=["plain", "deflated", "unicode"],
)
def test_a_seal_opens_to_the_text_and_field_it_carries(text):
    signature = SEAL.seal("deepseek", CarriedReasoning("reasoning_content", text))
    assert signature.startswith(VERSION + ".")
    assert SEAL.open(signature, "deepseek") == CarriedReasoning("reasoning_content", text)


def test_a_long_reasoning_is_compressed():
    text = "the same words again " * 500
    assert len(SEAL.seal("glm", CarriedReasoning("reasoning_content", text))) < len(text) / 4


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1],  # the MAC
        lambda s: (
            s.split(".")[0]
            + "."
            + s.split(".")[1][:-1]
            + ("A" if s.split(".")[1][-1] != "A" else "B")
            + "."
            + s.split(".")[2]
        ),
        lambda s: s + ".extra",
        lambda s: ".".join(
            [
                *SEAL.seal("deepseek", CarriedReasoning("reasoning_content", "other plan")).split(".")[:2],
                s.split(".")[2],
            ]
        ),
    ],
    ids=["mac", "payload", "extra-part", "spliced-mac"],
)
def test_an_altered_seal_is_refused_and_logged(tamper, caplog):
    signature = SEAL.seal("deepseek", CarriedReasoning("reasoning_content", "secret plan"))
    with caplog.at_level(logging.INFO, logger="codex_farm.adapter"):
        assert SEAL.open(tamper(signature), "deepseek") is None
    assert caplog.records and "secret plan" not in caplog.text


def test_a_seal_from_another_key_is_refused():
    other = ReasoningSeal(b"o" * 32).seal("deepseek", CarriedReasoning("reasoning_content", "plan"))
    assert SEAL.open(other, "deepseek") is None


def test_a_seal_for_another_profile_is_dropped():
    assert SEAL.open(SEAL.seal("kimi", CarriedReasoning("reasoning_content", "plan")), "deepseek") is None


@pytest.mark.parametrize("signature", [None, "", "EqQBCkgIARABGAIiQL2…anthropic", "cf1", "cf1.."])
def test_signatures_that_are_not_seals_carry_nothing(signature):
    assert SEAL.open(signature, "deepseek") is None


def test_the_key_comes_from_the_explicit_setting_else_the_gateway_key():
    explicit = ReasoningSeal.from_secrets(SecretStr("k1"), SecretStr("gw"))
    derived = ReasoningSeal.from_secrets(None, SecretStr("gw"))
    assert explicit.key != derived.key
    # Every replica with the same gateway key opens the others' seals.
    assert (
        ReasoningSeal.from_secrets(None, SecretStr("gw"))
        .open(derived.seal("vllm", CarriedReasoning("reasoning", "t")), "vllm")
        .text
        == "t"
    )
    assert derived.key != b"gw" and b"gw" not in derived.key
