"""Provider profiles: inferred from the gateway and model, and each one's own thinking switch."""

import pytest

from adapter.providers import PROFILES, client_effort, infer_profile, wants_thinking


@pytest.mark.parametrize(
    "base_url, model, profile",
    [
        ("https://api.deepseek.com/v1", "anything", "deepseek"),
        ("https://api.moonshot.ai/v1", "x", "kimi"),
        ("https://api.z.ai/api/paas/v4", "x", "glm"),
        ("https://open.bigmodel.cn/api/paas/v4", "x", "glm"),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "x", "qwen"),
        ("https://generativelanguage.googleapis.com/v1beta/openai", "x", "gemini"),
        ("https://openrouter.ai/api/v1", "deepseek/deepseek-v4-flash", "openrouter"),
        ("https://relay.example/v1", "deepseek-v4-pro", "deepseek"),
        ("https://relay.example/v1", "vendor/kimi-k2.6", "kimi"),
        ("https://relay.example/v1", "GLM-5", "glm"),
        ("https://relay.example/v1", "qwen3-coder-plus", "qwen"),
        ("http://127.0.0.1:8000/v1", "my-finetune", "generic"),
        ("https://notdeepseek.com.evil/v1", "m", "generic"),
    ],
)
def test_the_profile_follows_the_gateway_host_then_the_model_name(base_url, model, profile):
    assert infer_profile(base_url, model).name == profile


@pytest.mark.parametrize(
    "mode, client, expected",
    [
        ("auto", {"type": "adaptive", "display": "omitted"}, True),
        ("auto", {"type": "enabled", "budget_tokens": 1024}, True),
        ("auto", {"type": "disabled"}, False),
        ("auto", None, None),
        ("on", {"type": "disabled"}, True),
        ("off", {"type": "adaptive"}, False),
    ],
)
def test_thinking_is_the_model_maps_choice_else_the_clients(mode, client, expected):
    assert wants_thinking(mode, client) is expected


def test_only_known_efforts_are_taken_from_output_config():
    assert client_effort({"output_config": {"effort": "medium"}}) == "medium"
    assert client_effort({"output_config": {"effort": "ludicrous"}}) is None
    assert client_effort(None) is None


@pytest.mark.parametrize(
    "profile, on, effort, fields",
    [
        # DeepSeek: low/medium -> high, xhigh -> max (api-docs.deepseek.com/guides/thinking_mode).
        ("deepseek", True, "medium", {"thinking": {"type": "enabled"}, "reasoning_effort": "high"}),
        ("deepseek", True, "xhigh", {"thinking": {"type": "enabled"}, "reasoning_effort": "max"}),
        ("deepseek", True, None, {"thinking": {"type": "enabled"}}),
        ("deepseek", False, None, {"thinking": {"type": "disabled"}}),
        ("kimi", True, "high", {}),
        ("kimi", False, None, {"thinking": {"type": "disabled"}}),
        ("glm", True, None, {"thinking": {"type": "enabled", "clear_thinking": False}}),
        ("glm", False, None, {"thinking": {"type": "disabled"}}),
        ("qwen", True, None, {"enable_thinking": True}),
        ("qwen", False, None, {"enable_thinking": False}),
        ("vllm", False, None, {"chat_template_kwargs": {"enable_thinking": False}}),
        ("gemini", False, None, {"reasoning_effort": "none"}),
        ("openrouter", True, "max", {"reasoning": {"effort": "high"}}),
        ("generic", True, "high", {}),
        ("generic", False, None, {}),
    ],
)
def test_each_profile_says_thinking_its_own_way(profile, on, effort, fields):
    assert PROFILES[profile].thinking_fields(on, effort) == fields
