"""Provider profiles: each plays its documented thinking switch, reasoning field and reasoning echo rule."""

import pytest

import scripted_gateway.__main__ as gateway_command
from codex_farm import cli
from scripted_gateway import run_in_thread

from .support import CLIENT, chunks_of, post, reassemble, request, stream_lines, tool_result, user

READ_TOOL = {
    "type": "function",
    "function": {"name": "Read", "parameters": {"type": "object", "properties": {}}},
}
REASONING_FIELDS = ("reasoning_content", "reasoning")
DEEPSEEK_REFUSAL = {
    "error": {
        "message": "The `reasoning_content` in the thinking mode must be passed back to the API.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_request_error",
    }
}

# (profile, model, request fields) answered in thinking mode, and the field carrying the reasoning.
THINKING_ON = [
    ("deepseek", "deepseek-v4-flash", {}, "reasoning_content"),
    (
        "deepseek",
        "deepseek-v4-pro",
        {"thinking": {"type": "enabled"}, "reasoning_effort": "max"},
        "reasoning_content",
    ),
    ("kimi", "kimi-k2.6", {}, "reasoning_content"),
    ("kimi", "kimi-k2-thinking", {"thinking": {"type": "disabled"}}, "reasoning_content"),  # always thinks
    ("glm", "glm-4.7", {}, "reasoning_content"),
    ("qwen", "qwen3.6-plus", {}, "reasoning_content"),
    ("qwen", "qwen3-32b", {}, "reasoning_content"),
    ("qwen", "qwen-plus", {"enable_thinking": True}, "reasoning_content"),
    ("vllm", "Qwen/Qwen3-32B", {}, "reasoning"),
]
THINKING_OFF = [
    ("deepseek", "deepseek-v4-pro", {"thinking": {"type": "disabled"}}),
    ("kimi", "kimi-k2.5", {"thinking": {"type": "disabled"}}),
    ("glm", "glm-5", {"thinking": {"type": "disabled", "clear_thinking": False}}),
    ("qwen", "qwen-plus", {}),  # commercial models do not think unless asked
    ("qwen", "qwen3.6-plus", {"enable_thinking": False}),
    ("vllm", "Qwen/Qwen3-32B", {"chat_template_kwargs": {"enable_thinking": False}}),
    ("vllm", "ibm-granite/granite-3.2-8b-instruct", {"chat_template_kwargs": {"thinking": False}}),
]
ONE_TURN = {"name": "think", "turns": [{"reasoning": "Weighing it.", "text": "Done."}]}
TOOL_TURNS = {
    "name": "tools",
    "turns": [
        {
            "reasoning": "Read it first.",
            "tool_calls": [{"name": "Read", "arguments": {"file_path": "a.txt"}}],
        },
        {"text": "It says hi."},
        {"text": "You are welcome."},
    ],
}


def served_reasoning(gw, body: dict, stream: bool) -> dict[str, str]:
    """The reasoning of one answer by the field that carried it ({} when none was sent)."""
    if not stream:
        message = post(gw, body).json()["choices"][0]["message"]
        return {name: message[name] for name in REASONING_FIELDS if name in message}
    found: dict[str, str] = {}
    for chunk in chunks_of(stream_lines(gw, body)):
        for name in REASONING_FIELDS:
            if chunk["choices"] and name in chunk["choices"][0]["delta"]:
                found[name] = found.get(name, "") + chunk["choices"][0]["delta"][name]
    return found


def tool_conversation(gw, model: str, keep_reasoning: bool, **extra) -> list[dict]:
    """Messages after one served tool-call turn and its result, its reasoning kept or dropped."""
    first = request("tools", model=model, tools=[READ_TOOL], **extra)
    reply = post(gw, first).json()["choices"][0]["message"]
    if not keep_reasoning:
        reply = {key: value for key, value in reply.items() if key not in REASONING_FIELDS}
    return first["messages"] + [reply, tool_result(reply["tool_calls"][0]["id"], "hi")]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("profile", "model", "fields", "field"), THINKING_ON)
def test_thinking_mode_sends_reasoning_in_the_provider_field(
    scripted_gateway, profile, model, fields, field, stream
):
    scripted_gateway.add_scenario(ONE_TURN)
    scripted_gateway.configure(profile=profile)
    assert served_reasoning(scripted_gateway, request("think", model=model, **fields), stream) == {
        field: "Weighing it."
    }
    assert scripted_gateway.requests()[-1]["thinking"] is True


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("profile", "model", "fields"), THINKING_OFF)
def test_thinking_off_sends_no_reasoning(scripted_gateway, profile, model, fields, stream):
    scripted_gateway.add_scenario(ONE_TURN)
    scripted_gateway.configure(profile=profile)
    assert served_reasoning(scripted_gateway, request("think", model=model, **fields), stream) == {}
    assert scripted_gateway.requests()[-1]["thinking"] is False


@pytest.mark.parametrize("stream", [False, True])
def test_a_thinking_turn_scripted_without_reasoning_still_reasons(scripted_gateway, stream):
    scripted_gateway.add_scenario({"name": "plain", "turns": [{"text": "one"}, {"text": "two"}]})
    scripted_gateway.configure(profile="deepseek")
    body = request("plain", model="deepseek-v4-flash")
    assert served_reasoning(scripted_gateway, body, stream) == {"reasoning_content": "Thinking about turn 0."}
    later = request(
        "plain",
        {"role": "assistant", "content": "one", "reasoning_content": "x"},
        user("more"),
        model="deepseek-v4-flash",
    )
    assert served_reasoning(scripted_gateway, later, stream) == {
        "reasoning_content": "Thinking about turn 1."
    }


@pytest.mark.parametrize("stream", [False, True])
def test_generic_sends_reasoning_exactly_as_scripted_and_records_nothing_new(scripted_gateway, stream):
    scripted_gateway.add_scenario(ONE_TURN)
    scripted_gateway.add_scenario({"name": "plain", "turns": [{"text": "one"}]})
    assert served_reasoning(scripted_gateway, request("think"), stream) == {
        "reasoning_content": "Weighing it."
    }
    assert served_reasoning(scripted_gateway, request("plain"), stream) == {}
    assert all("thinking" not in e and "reasoning_echo" not in e for e in scripted_gateway.requests())
    refused = post(scripted_gateway, request("think", thinking={"type": "disabled"}))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_parameter"


@pytest.mark.parametrize(
    ("profile", "fields", "param"),
    [
        ("deepseek", {"thinking": {"type": "auto"}}, "thinking.type"),
        ("deepseek", {"thinking": {}}, "thinking.type"),
        ("deepseek", {"thinking": "enabled"}, "thinking"),
        ("deepseek", {"thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking.budget_tokens"),
        ("deepseek", {"reasoning_effort": "none"}, "reasoning_effort"),
        ("deepseek", {"enable_thinking": True}, "enable_thinking"),
        ("kimi", {"thinking": {"type": "enabled", "keep": "some"}}, "thinking.keep"),
        ("glm", {"thinking": {"type": "enabled", "clear_thinking": "no"}}, "thinking.clear_thinking"),
        ("glm", {"thinking": {"type": "enabled", "clear_thinking": 0}}, "thinking.clear_thinking"),
        ("qwen", {"enable_thinking": "true"}, "enable_thinking"),
        ("qwen", {"thinking": {"type": "enabled"}}, "thinking"),
        ("vllm", {"chat_template_kwargs": {"enable_thinking": "no"}}, "chat_template_kwargs.enable_thinking"),
        ("vllm", {"chat_template_kwargs": "thinking"}, "chat_template_kwargs"),
        ("generic", {"reasoning_effort": "max"}, "reasoning_effort"),
    ],
)
def test_switch_values_the_provider_refuses_are_400(scripted_gateway, profile, fields, param):
    scripted_gateway.add_scenario(ONE_TURN)
    scripted_gateway.configure(profile=profile)
    r = post(scripted_gateway, request("think", **fields))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param and r.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("profile", "fields"),
    [
        ("deepseek", {"reasoning_effort": effort})
        for effort in ("minimal", "low", "medium", "high", "xhigh", "max", "ultra")
    ]
    + [
        ("kimi", {"thinking": {"type": "enabled", "keep": "all"}}),
        ("kimi", {"thinking": {"type": "enabled", "keep": None}}),
        ("glm", {"thinking": {"type": "enabled", "clear_thinking": True}}),
        ("vllm", {"chat_template_kwargs": {"enable_thinking": True, "custom_flag": 1}}),
    ],
)
def test_switch_values_the_provider_accepts(scripted_gateway, profile, fields):
    scripted_gateway.add_scenario(ONE_TURN)
    scripted_gateway.configure(profile=profile)
    r = post(scripted_gateway, request("think", **fields))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("with_tools", [True, False])
def test_deepseek_refuses_a_tool_call_turn_without_its_reasoning(scripted_gateway, with_tools):
    scripted_gateway.add_scenario(TOOL_TURNS)
    scripted_gateway.configure(profile="deepseek")
    # The rule keys on tool calls the model made, whether or not the request still declares tools.
    extra = {"tools": [READ_TOOL]} if with_tools else {}
    dropped = tool_conversation(scripted_gateway, "deepseek-v4-flash", keep_reasoning=False)
    refused = post(scripted_gateway, {"model": "deepseek-v4-flash", "messages": dropped, **extra})
    assert (refused.status_code, refused.json()) == (400, DEEPSEEK_REFUSAL)
    kept = tool_conversation(scripted_gateway, "deepseek-v4-flash", keep_reasoning=True)
    answered = post(scripted_gateway, {"model": "deepseek-v4-flash", "messages": kept, **extra})
    assert (
        answered.status_code == 200 and answered.json()["choices"][0]["message"]["content"] == "It says hi."
    )
    entries = scripted_gateway.requests()
    assert entries[1]["reasoning_echo"] == {"checked": [1], "missing": [1]}
    assert entries[3]["reasoning_echo"] == {"checked": [1], "missing": []}


def test_deepseek_also_wants_the_answer_of_a_tool_call_turn_back_but_not_of_a_plain_turn(scripted_gateway):
    scripted_gateway.add_scenario(TOOL_TURNS)
    scripted_gateway.configure(profile="deepseek")
    messages = tool_conversation(scripted_gateway, "deepseek-v4-flash", keep_reasoning=True)
    # "Between two user messages, if the model made tool calls, the intermediate assistant's reasoning_content
    # must ... be passed back": the closing answer of that stretch is one of those assistant messages.
    closing = {"role": "assistant", "content": "It says hi."}
    refused = post(
        scripted_gateway, {"model": "deepseek-v4-flash", "messages": [*messages, closing, user("thanks")]}
    )
    assert (refused.status_code, refused.json()) == (400, DEEPSEEK_REFUSAL)
    closing["reasoning_content"] = "Summarise."
    assert (
        post(
            scripted_gateway, {"model": "deepseek-v4-flash", "messages": [*messages, closing, user("thanks")]}
        ).status_code
        == 200
    )
    plain = request(
        "tools", {"role": "assistant", "content": "Hello."}, user("and?"), model="deepseek-v4-flash"
    )
    assert post(scripted_gateway, plain).status_code == 200


def test_deepseek_with_thinking_off_needs_no_reasoning_back(scripted_gateway):
    scripted_gateway.add_scenario(TOOL_TURNS)
    scripted_gateway.configure(profile="deepseek")
    off = {"thinking": {"type": "disabled"}}
    messages = tool_conversation(scripted_gateway, "deepseek-v4-pro", keep_reasoning=False, **off)
    assert (
        post(scripted_gateway, {"model": "deepseek-v4-pro", "messages": messages, **off}).status_code == 200
    )
    assert "reasoning_echo" not in scripted_gateway.requests()[-1]


@pytest.mark.parametrize("stream", [False, True])
def test_kimi_refuses_a_tool_call_message_without_reasoning_by_its_index(scripted_gateway, stream):
    scripted_gateway.add_scenario(TOOL_TURNS)
    scripted_gateway.configure(profile="kimi")
    system = {"role": "system", "content": "You are Kimi."}
    first = request("tools", model="kimi-k2.6", tools=[READ_TOOL])
    first["messages"].insert(0, system)
    reply = post(scripted_gateway, first).json()["choices"][0]["message"]
    call_id = reply["tool_calls"][0]["id"]
    stripped = {key: value for key, value in reply.items() if key != "reasoning_content"}
    body = {
        "model": "kimi-k2.6",
        "tools": [READ_TOOL],
        "messages": [*first["messages"], stripped, tool_result(call_id, "hi")],
    }
    refused = post(scripted_gateway, {**body, "stream": stream})
    assert refused.status_code == 400
    assert refused.json() == {
        "error": {
            "message": "thinking is enabled but reasoning_content is missing in assistant tool call message "
            "at index 2",
            "type": "invalid_request_error",
        }
    }
    body["messages"][2] = reply
    if stream:
        assert reassemble(chunks_of(stream_lines(scripted_gateway, body)))["text"] == "It says hi."
    else:
        assert post(scripted_gateway, body).json()["choices"][0]["message"]["content"] == "It says hi."


def test_kimi_does_not_ask_back_the_reasoning_of_answers_without_tool_calls(scripted_gateway):
    scripted_gateway.add_scenario(TOOL_TURNS)
    scripted_gateway.configure(profile="kimi")
    messages = tool_conversation(scripted_gateway, "kimi-k2.6", keep_reasoning=True)
    closing = {"role": "assistant", "content": "It says hi."}
    assert (
        post(
            scripted_gateway, {"model": "kimi-k2.6", "messages": [*messages, closing, user("thanks")]}
        ).status_code
        == 200
    )


@pytest.mark.parametrize("stream", [False, True])
def test_kimi_tool_call_ids_count_calls_across_the_conversation(scripted_gateway, stream):
    scripted_gateway.add_scenario(
        {
            "name": "ids",
            "turns": [
                {
                    "tool_calls": [
                        {"name": "Read", "arguments": {}},
                        {"name": "Bash", "arguments": {"command": "ls"}},
                    ]
                },
                {"tool_calls": [{"name": "Read", "arguments": {}}]},
            ],
        }
    )
    scripted_gateway.configure(profile="kimi")

    def call_ids(body: dict) -> tuple[list[str], dict]:
        if stream:
            out = reassemble(chunks_of(stream_lines(scripted_gateway, body)))
            calls = [out["calls"][i] for i in sorted(out["calls"])]
            message = {
                "role": "assistant",
                "content": None,
                "reasoning_content": out["reasoning"],
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for c in calls
                ],
            }
        else:
            message = post(scripted_gateway, body).json()["choices"][0]["message"]
        return [c["id"] for c in message["tool_calls"]], message

    first = request("ids", model="kimi-k2.6")
    ids, message = call_ids(first)
    assert ids == ["functions.Read:0", "functions.Bash:1"]
    second = {**first, "messages": [*first["messages"], message, *(tool_result(i, "ok") for i in ids)]}
    assert call_ids(second)[0] == ["functions.Read:2"]


def test_glm_accepts_dropped_reasoning_and_records_whether_it_came_back(scripted_gateway):
    scripted_gateway.add_scenario(TOOL_TURNS)
    scripted_gateway.configure(profile="glm")
    for keep in (False, True):
        messages = tool_conversation(scripted_gateway, "glm-4.7", keep_reasoning=keep)
        assert post(scripted_gateway, {"model": "glm-4.7", "messages": messages}).status_code == 200
    dropped, kept = scripted_gateway.requests()[1], scripted_gateway.requests()[3]
    assert dropped["reasoning_echo"] == {"checked": [1], "missing": [1]}
    assert kept["reasoning_echo"] == {"checked": [1], "missing": []}


def test_vllm_takes_reasoning_back_in_either_field_others_only_in_theirs(scripted_gateway):
    scripted_gateway.add_scenario(TOOL_TURNS)

    def back(field: str) -> dict:
        return request("tools", {"role": "assistant", "content": "Hi.", field: "r"}, user("go on"))

    scripted_gateway.configure(profile="vllm")
    assert post(scripted_gateway, back("reasoning")).status_code == 200
    assert post(scripted_gateway, back("reasoning_content")).status_code == 200
    for profile in ("generic", "deepseek"):
        scripted_gateway.configure(profile=profile)
        r = post(scripted_gateway, back("reasoning"))
        assert r.status_code == 400 and r.json()["error"]["param"] == "messages[1].reasoning"


@pytest.mark.parametrize("stream", [False, True])
def test_deepseek_usage_adds_reasoning_tokens_and_the_cache_split(scripted_gateway, stream):
    scripted_gateway.add_scenario(
        {
            "name": "u",
            "turns": [
                {
                    "reasoning": "r" * 40,
                    "text": "t" * 40,
                    "usage": {"prompt_tokens": 1000, "cached_tokens": 640},
                }
            ],
        }
    )
    scripted_gateway.configure(profile="deepseek")

    def usage(**fields) -> dict:
        body = request("u", model="deepseek-v4-flash", **fields)
        if stream:
            return chunks_of(
                stream_lines(scripted_gateway, {**body, "stream_options": {"include_usage": True}})
            )[-1]["usage"]
        return post(scripted_gateway, body).json()["usage"]

    split = {
        "prompt_tokens": 1000,
        "prompt_cache_hit_tokens": 640,
        "prompt_cache_miss_tokens": 360,
        "prompt_tokens_details": {"cached_tokens": 640},
    }
    assert usage() == {
        **split,
        "completion_tokens": 20,
        "total_tokens": 1020,
        "completion_tokens_details": {"reasoning_tokens": 10},
    }
    assert usage(thinking={"type": "disabled"}) == {
        **split,
        "completion_tokens": 10,
        "total_tokens": 1010,
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_other_profiles_keep_openai_usage(scripted_gateway):
    scripted_gateway.add_scenario(ONE_TURN)
    for profile in ("kimi", "glm", "qwen", "vllm"):
        scripted_gateway.configure(profile=profile)
        usage = post(scripted_gateway, request("think")).json()["usage"]
        assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details"}


def test_unknown_profile_is_refused_and_a_full_reset_restores_generic(scripted_gateway):
    with pytest.raises(ValueError, match="unknown gateway profile 'deepsek'"):
        scripted_gateway.configure(profile="deepsek")
    scripted_gateway.configure(profile="kimi")
    scripted_gateway.reset(full=True)
    assert scripted_gateway.state.config.profile == "generic"


def test_run_in_thread_takes_a_profile():
    with run_in_thread([ONE_TURN], profile="vllm") as gw:
        message = CLIENT.post(gw.url + "/chat/completions", json=request("think")).json()["choices"][0][
            "message"
        ]
        assert message["reasoning"] == "Weighing it." and "reasoning_content" not in message


def test_gateway_command_passes_the_profile(monkeypatch):
    served: list[dict] = []
    monkeypatch.setattr(gateway_command, "serve", lambda scenarios, **options: served.append(options))
    cli.main(["gateway", "--port", "0", "--profile", "kimi"])
    cli.main(["gateway", "--port", "0"])
    assert [options["profile"] for options in served] == ["kimi", "generic"]
    with pytest.raises(SystemExit):
        cli.main(["gateway", "--profile", "deepsek"])


GEMINI_REFUSAL = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to "
    "work correctly, and missing thought_signature may lead to degraded model performance. Additional "
    "data, function call `default_api:Read` , position 1. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
PARALLEL = {
    "name": "parallel",
    "turns": [
        {
            "reasoning": "Read both.",
            "tool_calls": [
                {"name": "Read", "arguments": {"file_path": "a"}},
                {"name": "Read", "arguments": {"file_path": "b"}},
            ],
        },
        {"text": "Both read."},
    ],
}


def first_answer(gw, scenario: str, model: str, stream: bool, **extra) -> tuple[dict, dict]:
    """The first request of `scenario` and its answer as one message (streamed or not)."""
    body = request(scenario, model=model, tools=[READ_TOOL], **extra)
    if not stream:
        return body, post(gw, body).json()["choices"][0]["message"]
    chunks = chunks_of(stream_lines(gw, body))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    calls: dict[int, dict] = {}
    for delta in deltas:
        for call in delta.get("tool_calls") or ():
            known = calls.setdefault(call["index"], {"function": {"arguments": ""}})
            known["function"]["arguments"] += call["function"].pop("arguments", "")
            known["function"].update(call.pop("function"))
            known.update({k: v for k, v in call.items() if k != "index"})
    message = {"role": "assistant", "content": None, "tool_calls": [calls[i] for i in sorted(calls)]}
    fragments = [d for delta in deltas for d in delta.get("reasoning_details") or ()]
    if fragments:
        message["reasoning_details"] = fragments
    return body, message


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_signs_the_first_of_parallel_calls_and_refuses_a_request_that_lost_it(
    scripted_gateway, stream
):
    scripted_gateway.add_scenario(PARALLEL)
    scripted_gateway.configure(profile="gemini")
    body, reply = first_answer(scripted_gateway, "parallel", "gemini-3-flash-preview", stream)
    first, second = reply["tool_calls"]
    assert set(first["extra_content"]["google"]) == {"thought_signature"} and "extra_content" not in second
    # thoughts are not returned without include_thoughts
    assert not {"reasoning_content", "reasoning"} & set(reply)
    results = [tool_result(first["id"], "a"), tool_result(second["id"], "b")]
    lost = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{k: v for k, v in c.items() if k != "extra_content"} for c in reply["tool_calls"]],
    }
    refused = post(scripted_gateway, {**body, "messages": [*body["messages"], lost, *results]})
    assert refused.status_code == 400 and refused.json()["error"]["message"] == GEMINI_REFUSAL
    altered = {
        **reply,
        "tool_calls": [{**first, "extra_content": {"google": {"thought_signature": "AAAA"}}}, second],
    }
    assert (
        post(scripted_gateway, {**body, "messages": [*body["messages"], altered, *results]}).status_code
        == 400
    )
    answered = post(scripted_gateway, {**body, "messages": [*body["messages"], reply, *results]})
    assert answered.status_code == 200 and scripted_gateway.requests()[-1]["state_checked"] == [1]


def test_gemini_with_reasoning_effort_none_signs_nothing_and_wants_nothing_back(scripted_gateway):
    scripted_gateway.add_scenario(PARALLEL)
    scripted_gateway.configure(profile="gemini")
    body, reply = first_answer(
        scripted_gateway, "parallel", "gemini-2.5-flash", False, reasoning_effort="none"
    )
    assert all("extra_content" not in call for call in reply["tool_calls"])
    results = [tool_result(call["id"], "x") for call in reply["tool_calls"]]
    assert (
        post(scripted_gateway, {**body, "messages": [*body["messages"], reply, *results]}).status_code == 200
    )


def merged(fragments: list[dict]) -> list[dict]:
    """Streamed reasoning_details as one list: a fragment continues the last detail of its index."""
    out: list[dict] = []
    for fragment in fragments:
        if out and fragment["index"] == out[-1]["index"]:
            out[-1] = {
                **out[-1],
                **{k: v for k, v in fragment.items() if v is not None},
                "text": out[-1]["text"] + fragment.get("text", ""),
            }
        else:
            out.append(dict(fragment))
    return out


@pytest.mark.parametrize("stream", [False, True])
def test_openrouter_wants_its_reasoning_details_back_unmodified(scripted_gateway, stream):
    scripted_gateway.add_scenario(TOOL_TURNS)
    scripted_gateway.configure(profile="openrouter")
    body, reply = first_answer(scripted_gateway, "tools", "google/gemini-3-pro-preview", stream)
    details = merged(reply["reasoning_details"]) if stream else reply["reasoning_details"]
    assert [d["type"] for d in details] == ["reasoning.text", "reasoning.encrypted"] and details[0][
        "text"
    ] == "Read it first."
    result = tool_result(reply["tool_calls"][0]["id"], "hi")
    for changed in ([], [{**details[0], "text": "Something else."}, details[1]], details[:1]):
        refused = post(
            scripted_gateway,
            {**body, "messages": [*body["messages"], {**reply, "reasoning_details": changed}, result]},
        )
        assert refused.status_code == 400
        assert (
            refused.json()["error"]["message"]
            == "Gemini models require OpenRouter reasoning details to be preserved in each request."
        )
    kept = {**reply, "reasoning_details": details}
    assert post(scripted_gateway, {**body, "messages": [*body["messages"], kept, result]}).status_code == 200


def test_openrouter_streams_keep_alive_comments_between_chunks(scripted_gateway):
    scripted_gateway.add_scenario(ONE_TURN)
    scripted_gateway.configure(profile="openrouter")
    lines = [line for line in stream_lines(scripted_gateway, {**request("think"), "stream": True}) if line]
    assert lines[0] == ": OPENROUTER PROCESSING" and lines[-1] == "data: [DONE]"
    data = [i for i, line in enumerate(lines) if line.startswith("data: {")]
    assert all(lines[i - 1] == ": OPENROUTER PROCESSING" for i in data)


@pytest.mark.parametrize(
    ("fields", "thinking"),
    [
        ({"reasoning": {"effort": "high"}}, True),
        ({"reasoning": {"enabled": False}}, False),
        ({"reasoning": {"effort": "none"}}, False),
        ({}, True),
    ],
)
def test_openrouter_reads_its_reasoning_object(scripted_gateway, fields, thinking):
    scripted_gateway.add_scenario(ONE_TURN)
    scripted_gateway.configure(profile="openrouter")
    message = post(scripted_gateway, request("think", **fields)).json()["choices"][0]["message"]
    assert ("reasoning" in message) is thinking and scripted_gateway.requests()[-1]["thinking"] is thinking


@pytest.mark.parametrize(
    ("profile", "fields"),
    [
        ("openrouter", {"reasoning": {"effort": "huge"}}),
        ("openrouter", {"reasoning": {"budget": 5}}),
        ("gemini", {"reasoning_effort": "max"}),
    ],
)
def test_gemini_and_openrouter_refuse_switch_values_they_do_not_know(scripted_gateway, profile, fields):
    scripted_gateway.add_scenario(ONE_TURN)
    scripted_gateway.configure(profile=profile)
    assert post(scripted_gateway, request("think", **fields)).status_code == 400
