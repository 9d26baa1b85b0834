"""`doctor --network`'s live probe: two steps through a real adapter to the scripted gateway playing a
provider."""

import json

import pytest

from codex_farm.gateway_probe import Step, fix_for, judge, run_probe
from scripted_gateway import builtin_scenarios_dir

PROBE = json.loads((builtin_scenarios_dir() / "probe.json").read_text())
DEEPSEEK_MODEL = {"CLAUDE_MODEL": "deepseek-v4-flash"}


@pytest.fixture
def deepseek_gateway(scripted_gateway):
    scripted_gateway.configure(profile="deepseek")
    scripted_gateway.add_scenario(PROBE)
    return scripted_gateway


def test_a_working_profile_round_trips_reasoning_and_switches_thinking_off(deepseek_gateway, start_adapter):
    adapter = start_adapter(deepseek_gateway.url, ADAPTER_PROFILE="deepseek", **DEEPSEEK_MODEL)
    on = run_probe(adapter.url, adapter.token, "claude-sonnet-4-5", True, deepseek_gateway.url)
    off = run_probe(adapter.url, adapter.token, "claude-sonnet-4-5", False, deepseek_gateway.url)
    assert (on.ok, on.note, off.ok, off.note) == (True, "", True, ""), (on, off)
    assert on.detail.startswith("deepseek profile, deepseek-v4-flash: step 1 ")
    assert "reasoning round trip ok" in on.detail and "streamed usage" in on.detail
    assert "no reasoning came back" in off.detail
    sent = [r["body"] for r in deepseek_gateway.requests()]
    assert [body.get("thinking") for body in sent] == [{"type": "enabled"}] * 2 + [{"type": "disabled"}] * 2
    # The second step of the thinking run carried the first step's reasoning back.
    assert sent[1]["messages"][1]["reasoning_content"] == PROBE["turns"][0]["reasoning"]


def test_a_profile_that_cannot_switch_thinking_off_is_a_warning_naming_the_right_one(
    deepseek_gateway, start_adapter
):
    adapter = start_adapter(deepseek_gateway.url, ADAPTER_PROFILE="generic", **DEEPSEEK_MODEL)
    off = run_probe(adapter.url, adapter.token, "claude-sonnet-4-5", False, deepseek_gateway.url)
    assert (off.ok, off.note) == (True, "WARN"), off
    assert "thinking off was asked but the model still reasoned" in off.detail
    assert off.hint.startswith("set ADAPTER_PROFILE=deepseek")


def test_a_profile_whose_switch_the_gateway_refuses_fails_at_step_one_with_the_fix(
    deepseek_gateway, start_adapter
):
    adapter = start_adapter(deepseek_gateway.url, ADAPTER_PROFILE="qwen", **DEEPSEEK_MODEL)
    on = run_probe(adapter.url, adapter.token, "claude-sonnet-4-5", True, deepseek_gateway.url)
    assert not on.ok and "step 1 failed (HTTP 400" in on.detail and "enable_thinking" in on.detail, on
    assert on.hint.startswith("set ADAPTER_PROFILE=deepseek")


def test_a_wrong_adapter_token_fails_without_showing_it(deepseek_gateway, start_adapter):
    adapter = start_adapter(deepseek_gateway.url, **DEEPSEEK_MODEL)
    verdict = run_probe(adapter.url, "not-the-token", "claude-sonnet-4-5", True, deepseek_gateway.url)
    assert not verdict.ok and "HTTP 401" in verdict.detail and "not-the-token" not in verdict.detail


def test_an_adapter_that_does_not_answer_fails():
    verdict = run_probe("http://127.0.0.1:9", "t", "claude-sonnet-4-5", True, "")
    assert not verdict.ok and "ConnectError" in verdict.detail


def tool_step(route: dict) -> Step:
    return Step(
        status=200, route=route, blocks=[{"type": "tool_use", "id": "t1", "name": "probe_note", "input": {}}]
    )


@pytest.mark.parametrize(
    ("error", "profile", "model", "fix"),
    [
        (
            "The `reasoning_content` in the thinking mode must be passed back to the API.",
            "generic",
            "my-model",
            "deepseek",
        ),
        (
            "thinking is enabled but reasoning_content is missing in assistant tool call message at index 2",
            "generic",
            "m",
            "kimi",
        ),
        (
            "Function call is missing a thought_signature in functionCall parts.",
            "generic",
            "relay-model",
            "gemini",
        ),
        (
            "Gemini models require OpenRouter reasoning details to be preserved in each request.",
            "generic",
            "x",
            "openrouter",
        ),
        # The gateway's host names its family: that wins over the refusal's wording.
        (
            "The `reasoning_content` in the thinking mode must be passed back to the API.",
            "generic",
            "kimi-k2.6",
            "kimi",
        ),
    ],
)
def test_a_refused_second_step_names_the_profile_that_carries_what_the_provider_wants(
    error, profile, model, fix
):
    route = {"profile": profile, "model": model}
    verdict = judge(
        True, tool_step(route), Step(status=400, error=error, route=route), "https://relay.example/v1"
    )
    assert not verdict.ok and "step 2 refused (HTTP 400" in verdict.detail
    assert verdict.hint.startswith(f"set ADAPTER_PROFILE={fix} ")


def test_an_unexplained_failure_points_at_the_log():
    assert fix_for(
        "upstream returned HTTP 502", "deepseek", "https://api.deepseek.com", "deepseek-v4-flash"
    ) == ("see the adapter's log and docs/providers.md")


def test_a_model_that_does_not_call_the_tool_is_a_warning():
    verdict = judge(True, Step(status=200, blocks=[{"type": "text", "text": "hi"}]), None, "")
    assert (verdict.ok, verdict.note) == (True, "WARN") and "round trip was not exercised" in verdict.detail
