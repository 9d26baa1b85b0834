"""Each provider's documented thinking rules, declared once; the gateway plays the configured one.

A profile says how a request switches thinking, what the provider does when it says nothing,
which response field carries the reasoning, what must come back and the provider's error when
it does not. To add a provider, add one `Profile` to `PROFILES`.
"""

import re
from dataclasses import dataclass

from .provider_state import ProviderState, ReasoningDetails, ThoughtSignatures
from .reasoning_echo import EchoRule
from .switches import (
    EffortLevel,
    ReasoningObject,
    TemplateKwargs,
    ThinkingObject,
    ThinkingSwitch,
    TopLevelFlag,
)
from .usage import OPENAI_USAGE, UsageFields

# OpenAI's values; what the generic gateway has always accepted.
OPENAI_REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})


@dataclass(frozen=True)
class ModelRule:
    """A model family whose thinking differs from the provider's default."""

    pattern: str  # matched at the start of the request's `model`
    thinks_by_default: bool = True
    always_thinks: bool = False  # the switch is ignored


@dataclass(frozen=True)
class Profile:
    """One provider's thinking rules: switch, default, reasoning field, echo rule, extras."""

    name: str
    switch: ThinkingSwitch | None  # None: requests cannot switch thinking
    thinks_by_default: bool
    model_rules: tuple[ModelRule, ...] = ()
    reasoning_field: str = "reasoning_content"  # in messages and stream deltas
    # Assistant-message fields that may carry reasoning back in a request.
    echo_fields: tuple[str, ...] = ("reasoning_content",)
    echo_rule: EchoRule | None = None
    # Opaque state on answers that must come back unmodified (Gemini's thought signatures, OpenRouter's
    # details).
    state: ProviderState | None = None
    # A thinking model always says something: a turn scripted without reasoning gets a generated line.
    fills_missing_reasoning: bool = True
    sends_reasoning_text: bool = True  # False: the model thinks but its thoughts are not returned
    sse_comment: str | None = None  # an SSE comment line the provider sends before and between chunks
    reasoning_efforts: frozenset[str] = OPENAI_REASONING_EFFORTS
    # Format of generated tool call ids ({name}, {index} = calls so far in the conversation); None:
    # call_<hex>.
    tool_call_id: str | None = None
    usage: UsageFields = OPENAI_USAGE

    @property
    def message_keys(self) -> frozenset[str]:
        """Assistant-message keys this provider takes back beyond OpenAI's."""
        return frozenset(self.echo_fields) | (self.state.message_keys if self.state else frozenset())

    @property
    def call_keys(self) -> frozenset[str]:
        """Tool-call keys this provider takes back beyond id, type and function."""
        return self.state.call_keys if self.state else frozenset()

    @property
    def request_fields(self) -> frozenset[str]:
        """Top-level request fields this provider accepts beyond OpenAI's."""
        return frozenset({self.switch.name}) if self.switch is not None else frozenset()

    def thinks(self, body: dict) -> bool:
        """Whether this validated request runs in thinking mode; 400 on a malformed switch."""
        requested = self.switch.read(body) if self.switch is not None else None
        rule = next((r for r in self.model_rules if re.match(r.pattern, body["model"])), None)
        if rule is not None and rule.always_thinks:
            return True
        if requested is not None:
            return requested
        return rule.thinks_by_default if rule is not None else self.thinks_by_default


# Today's gateway: reasoning exactly as scripted, OpenAI's fields, nothing enforced.
GENERIC = Profile(name="generic", switch=None, thinks_by_default=True, fills_missing_reasoning=False)

# DeepSeek V4 (deepseek-v4-flash, deepseek-v4-pro). https://api-docs.deepseek.com/guides/thinking_mode
DEEPSEEK = Profile(
    name="deepseek",
    # "Thinking Mode Toggle: {"thinking": {"type": "enabled/disabled"}}"
    switch=ThinkingObject(),
    # "Thinking mode is enabled by default, with the default effort being `high`"
    thinks_by_default=True,
    # "Between two user messages, if the model made tool calls, the intermediate assistant's
    # reasoning_content must participate in context concatenation and must be passed back to
    # the API in all subsequent user turns." The rule keys on tool calls made, not on `tools`.
    # Error text and body as the API sends them, e.g. the raw body quoted in
    # https://github.com/endolith/open-interpreter/issues/215
    echo_rule=EchoRule(
        scope="tool_call_turns",
        error="The `reasoning_content` in the thinking mode must be passed back to the API.",
        error_code="invalid_request_error",
    ),
    # The effort mapping table: "minimal → low, low, medium → high, high, xhigh → high, max, ultra → max".
    reasoning_efforts=frozenset({"minimal", "low", "medium", "high", "xhigh", "max", "ultra"}),
    # https://api-docs.deepseek.com/guides/kv_cache: usage gains "prompt_cache_hit_tokens" and
    # "prompt_cache_miss_tokens"; https://api-docs.deepseek.com/api/create-chat-completion:
    # "completion_tokens_details.reasoning_tokens: Tokens generated by the model for reasoning."
    usage=UsageFields(reasoning_tokens=True, cache_hit_miss=True),
)

# Moonshot Kimi (kimi-k2.6, kimi-k2.5, kimi-k2-thinking).
# https://platform.kimi.ai/docs/guide/use-kimi-k2-thinking-model
KIMI = Profile(
    name="kimi",
    # kimi-k2.6 "thinking is on by default, can be disabled"; `keep`: "null (default, not kept) / "all"".
    switch=ThinkingObject(options={"keep": (None, "all")}),
    thinks_by_default=True,
    # "kimi-k2-thinking: A dedicated thinking model with thinking forcibly enabled"
    model_rules=(ModelRule(r"kimi-k2-thinking", always_thinks=True),),
    # Error text and body as the API sends them, e.g. the raw body quoted in
    # https://github.com/anomalyco/opencode/issues/25758 (index: position in `messages`).
    echo_rule=EchoRule(
        scope="tool_call_messages",
        error="thinking is enabled but reasoning_content is missing in assistant tool call message at index "
        "{index}",
        error_keys=("message", "type"),
    ),
    # https://github.com/MoonshotAI/Kimi-K2/blob/main/docs/tool_call_guidance.md:
    # "The format of the tool ID is `functions.{func_name}:{idx}`"
    tool_call_id="functions.{name}:{index}",
)

# Z.ai GLM (GLM-4.7, GLM-5). https://docs.z.ai/guides/capabilities/thinking-mode
GLM = Profile(
    name="glm",
    # "If you want to disable thinking, use: "thinking": {"type": "disabled"}"; preserved thinking
    # is switched by "clear_thinking": false (https://docs.bigmodel.cn/cn/guide/capabilities/thinking-mode).
    switch=ThinkingObject(options={"clear_thinking": (True, False)}),
    # "Thinking is activated by default in GLM-5.1 GLM-5 GLM-4.7 series"
    thinks_by_default=True,
    # "When using interleaved thinking with tools, thinking blocks should be explicitly preserved and
    # returned together with the tool results." No 400: dropping them only lowers quality and cache hits,
    # so the gateway records whether they came back.
    echo_rule=EchoRule(scope="tool_call_messages"),
)

# Alibaba DashScope, OpenAI-compatible mode. https://www.alibabacloud.com/help/en/model-studio/deep-thinking
QWEN = Profile(
    name="qwen",
    # "Use the enable_thinking parameter to switch between thinking and non-thinking"
    switch=TopLevelFlag("enable_thinking"),
    # qwen-plus and the other commercial models: "By default, the thinking mode is not enabled for the
    # commercial models. You need to set enable_thinking to true first"
    thinks_by_default=False,
    model_rules=(
        # The Qwen3.5 / Qwen3.6 series: "混合思考模式，默认开启思考模式" (thinking on by default).
        ModelRule(r"qwen3\.\d+-"),
        # Open-source Qwen3 (qwen3-32b, qwen3-235b-a22b, ...),
        # https://help.aliyun.com/zh/model-studio/qwen-api-reference
        # on enable_thinking: "开源版默认True，商业版默认False" (open-source default true, commercial false).
        ModelRule(r"qwen3-\d"),
        # "Thinking-only: The model always thinks before replying, and this cannot be disabled."
        ModelRule(r"qwq-", always_thinks=True),
    ),
)

# vLLM with a reasoning parser. https://docs.vllm.ai/en/stable/features/reasoning_outputs/
VLLM = Profile(
    name="vllm",
    # "The reasoning feature for the Qwen3 series is enabled by default. To disable it, you must pass
    # enable_thinking=False in your chat_template_kwargs." (Granite and DeepSeek-V3.1 use `thinking`.)
    switch=TemplateKwargs(),
    thinks_by_default=True,
    # "reasoning used to be called reasoning_content. To migrate, directly replace reasoning_content
    # with reasoning." The old name is still taken back here so clients mid-migration are not refused.
    reasoning_field="reasoning",
    echo_fields=("reasoning", "reasoning_content"),
)

# Gemini's OpenAI-compatible endpoint. https://ai.google.dev/gemini-api/docs/openai
GEMINI_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high"})
GEMINI = Profile(
    name="gemini",
    # "reasoning_effort": "low", "medium", "high" ... "If you want to disable thinking, you can set the
    # reasoning effort to "none"."
    switch=EffortLevel(GEMINI_EFFORTS),
    # https://ai.google.dev/gemini-api/docs/thinking: "Gemini models engage in dynamic thinking by default"
    thinks_by_default=True,
    reasoning_efforts=GEMINI_EFFORTS,
    # Thought summaries only come with `include_thoughts`, which the adapter does not ask for.
    sends_reasoning_text=False,
    fills_missing_reasoning=False,
    state=ThoughtSignatures(),
)

# OpenRouter. https://openrouter.ai/docs/guides/best-practices/reasoning-tokens
OPENROUTER = Profile(
    name="openrouter",
    # "reasoning": {"effort": "xhigh" | "high" | "medium" | "low" | "minimal" | "none", "max_tokens": n,
    # "exclude": false, "enabled": true}
    switch=ReasoningObject(frozenset({"xhigh", "high", "medium", "low", "minimal", "none"})),
    thinks_by_default=True,
    # "Reasoning tokens will appear in the reasoning field of each message"
    reasoning_field="reasoning",
    echo_fields=("reasoning",),
    state=ReasoningDetails(),
    # https://openrouter.ai/docs/api-reference/streaming: "OpenRouter occasionally sends comments to prevent
    # connection timeouts. These comments look like: : OPENROUTER PROCESSING"
    sse_comment=": OPENROUTER PROCESSING",
)

PROFILES: dict[str, Profile] = {
    p.name: p for p in (GENERIC, DEEPSEEK, KIMI, GLM, QWEN, VLLM, GEMINI, OPENROUTER)
}
PROFILE_NAMES = tuple(PROFILES)


def profile_named(name: str) -> Profile:
    """The profile called `name`; ValueError naming the known ones otherwise."""
    if name not in PROFILES:
        raise ValueError(f"unknown gateway profile {name!r}; known: {', '.join(PROFILE_NAMES)}")
    return PROFILES[name]
