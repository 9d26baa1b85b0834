"""Anthropic Messages request -> OpenAI chat request, rule by rule."""

import json
import re

import pytest

from adapter.translate.context import ResponseContext
from adapter.translate.request import TranslatedRequest, UpstreamTarget, to_openai
from adapter.wire.anthropic_request import (
    CountTokensRequest,
    MessagesRequest,
    UnknownBlock,
)
from adapter.wire.openai_request import ChatRequest

CLIENT_MODEL = "claude-sonnet-4-5"
TARGET = UpstreamTarget(model="deepseek-chat", max_output_tokens=8192)
TOOL = {
    "name": "Read",
    "description": "Read a file",
    "input_schema": {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
}
TOOL_OUT = {
    "type": "function",
    "function": {
        "name": "Read",
        "description": "Read a file",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
}
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
PNG_PART = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def request(**fields):
    body = {"model": CLIENT_MODEL, "max_tokens": 1024, "messages": [user("hi")]}
    body.update(fields)
    return body


def user(content):
    return {"role": "user", "content": content}


def assistant(content):
    return {"role": "assistant", "content": content}


def system(content):
    return {"role": "system", "content": content}


def text(value, **extra):
    return {"type": "text", "text": value, **extra}


def tool_use(call_id, name="Read", **arguments):
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def tool_result(call_id, content="ok", **extra):
    return {"type": "tool_result", "tool_use_id": call_id, "content": content, **extra}


def call(call_id, name="Read", arguments="{}"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def translate(body, target=TARGET) -> TranslatedRequest:
    return to_openai(MessagesRequest.model_validate(body), target)


def payload(body, target=TARGET) -> dict:
    translated = translate(body, target)
    assert isinstance(translated.body, ChatRequest)
    return translated.body.model_dump(exclude_none=True)


def expected(messages, **fields):
    out = {"model": "deepseek-chat", "messages": messages, "max_tokens": 1024}
    out.update(fields)
    return out


# Each case: (anthropic body, expected upstream payload).
CASES = {
    # ---- rule 1: top-level system -------------------------------------------------
    "system-string": (
        request(system="Be brief."),
        expected([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]),
    ),
    "system-blocks-joined-billing-dropped": (
        request(
            system=[
                text("x-anthropic-billing-header: cc_version=2.1.3; cc_entrypoint=cli"),
                text("You are Claude Code.", cache_control={"type": "ephemeral"}),
                text("Be careful.", cache_control={"type": "ephemeral", "ttl": "1h"}),
            ]
        ),
        expected(
            [
                {"role": "system", "content": "You are Claude Code.\n\nBe careful."},
                {"role": "user", "content": "hi"},
            ]
        ),
    ),
    "system-only-billing-header": (
        request(system=[text("x-anthropic-billing-header: cc_version=2")]),
        expected([{"role": "user", "content": "hi"}]),
    ),
    "system-empty-string": (
        request(system=""),
        expected([{"role": "user", "content": "hi"}]),
    ),
    # ---- rule 2: role system messages -----------------------------------------------
    "system-role-before-first-assistant-hoisted": (
        request(
            system="Base.",
            messages=[system("Early A."), user("hi"), system([text("Early B.")]), assistant("yo")],
        ),
        expected(
            [
                {"role": "system", "content": "Base.\n\nEarly A.\n\nEarly B."},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yo"},
            ]
        ),
    ),
    "system-role-hoisted-without-top-level-system": (
        request(messages=[user("hi"), system("Only this.")]),
        expected([{"role": "system", "content": "Only this."}, {"role": "user", "content": "hi"}]),
    ),
    "system-role-after-assistant-becomes-reminder": (
        request(
            messages=[
                user("hi"),
                assistant("yo"),
                system("Late."),
                user([text("next")]),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yo"},
                {
                    "role": "user",
                    "content": "<system-reminder>\nLate.\n</system-reminder>\n\nnext",
                },
            ]
        ),
    ),
    "system-role-after-assistant-at-end": (
        request(messages=[user("hi"), assistant("yo"), system("Late.")]),
        expected(
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yo"},
                {"role": "user", "content": "<system-reminder>\nLate.\n</system-reminder>"},
            ]
        ),
    ),
    "system-role-already-wrapped": (
        request(
            messages=[
                user("hi"),
                assistant("yo"),
                system("<system-reminder>\nx\n</system-reminder>"),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yo"},
                {"role": "user", "content": "<system-reminder>\nx\n</system-reminder>"},
            ]
        ),
    ),
    "system-role-late-billing-header-dropped": (
        request(
            messages=[
                user("hi"),
                assistant("yo"),
                system([text("x-anthropic-billing-header: a"), text("Keep.")]),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yo"},
                {"role": "user", "content": "<system-reminder>\nKeep.\n</system-reminder>"},
            ]
        ),
    ),
    # ---- rule 3: alternation ------------------------------------------------------
    "adjacent-users-merged": (
        request(messages=[user("a"), user([text("b"), text("c")])]),
        expected([{"role": "user", "content": "a\n\nb\n\nc"}]),
    ),
    "adjacent-assistants-merged": (
        request(messages=[user("q"), assistant("a"), assistant([text("b")])]),
        expected([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a\n\nb"}]),
    ),
    "assistant-merge-keeps-calls": (
        request(
            messages=[
                user("q"),
                assistant("thinking out loud"),
                assistant([tool_use("t1")]),
                user([tool_result("t1")]),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": "thinking out loud",
                    "tool_calls": [call("t1")],
                },
                {"role": "tool", "tool_call_id": "t1", "content": "ok"},
            ]
        ),
    ),
    "empty-assistant-dropped-users-merged": (
        request(
            messages=[
                user("a"),
                assistant([{"type": "thinking", "thinking": "hmm", "signature": "s"}]),
                user("b"),
            ]
        ),
        expected([{"role": "user", "content": "a\n\nb"}]),
    ),
    # ---- rule 4: user content -------------------------------------------------------
    "user-text-blocks-become-string": (
        request(messages=[user([text("a", cache_control={"type": "ephemeral"}), text("b")])]),
        expected([{"role": "user", "content": "a\n\nb"}]),
    ),
    "user-image-base64": (
        request(messages=[user([text("look"), {"type": "image", "source": PNG}])]),
        expected([{"role": "user", "content": [{"type": "text", "text": "look"}, PNG_PART]}]),
    ),
    "user-image-url": (
        request(messages=[user([{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}])]),
        expected(
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                }
            ]
        ),
    ),
    "user-image-file-source-placeholder": (
        request(messages=[user([{"type": "image", "source": {"type": "file", "file_id": "f1"}}])]),
        expected([{"role": "user", "content": "[image omitted: unsupported source]"}]),
    ),
    "user-document-pdf": (
        request(
            messages=[
                user(
                    [
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": "JVBERi0=",
                            },
                            "citations": {"enabled": True},
                        },
                        text("summarize"),
                    ]
                )
            ]
        ),
        expected(
            [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "file",
                            "file": {
                                "filename": "document.pdf",
                                "file_data": "data:application/pdf;base64,JVBERi0=",
                            },
                        },
                        {"type": "text", "text": "summarize"},
                    ],
                }
            ]
        ),
    ),
    "user-document-text-with-title": (
        request(
            messages=[
                user(
                    [
                        {
                            "type": "document",
                            "title": "notes.txt",
                            "source": {"type": "text", "media_type": "text/plain", "data": "body"},
                        }
                    ]
                )
            ]
        ),
        expected([{"role": "user", "content": "notes.txt\n\nbody"}]),
    ),
    "user-document-url": (
        request(messages=[user([{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}])]),
        expected([{"role": "user", "content": "Document URL: https://x/a.pdf"}]),
    ),
    "user-document-content-source": (
        request(
            messages=[
                user(
                    [
                        {
                            "type": "document",
                            "source": {"type": "content", "content": [text("p1"), text("p2")]},
                        }
                    ]
                )
            ]
        ),
        expected([{"role": "user", "content": "p1\n\np2"}]),
    ),
    "unknown-blocks-dropped": (
        request(
            messages=[
                user([text("q"), {"type": "container_upload", "file_id": "f"}]),
                assistant(
                    [
                        {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}},
                        {"type": "web_search_tool_result", "tool_use_id": "s1", "content": []},
                        text("found it", citations=[{"type": "web_search_result_location"}]),
                    ]
                ),
            ]
        ),
        expected([{"role": "user", "content": "q"}, {"role": "assistant", "content": "found it"}]),
    ),
    # ---- rule 5: assistant ----------------------------------------------------------
    "assistant-text-and-calls-thinking-dropped": (
        request(
            messages=[
                user("q"),
                assistant(
                    [
                        {"type": "thinking", "thinking": "plan", "signature": "sig"},
                        {"type": "redacted_thinking", "data": "xxx"},
                        text("Reading."),
                        tool_use("t1", path="a.py"),
                        tool_use("t2", path="é/ü.py", opts={"n": 1}),
                    ]
                ),
                user([tool_result("t1"), tool_result("t2")]),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": "Reading.",
                    "tool_calls": [
                        call("t1", arguments='{"path":"a.py"}'),
                        call("t2", arguments='{"path":"é/ü.py","opts":{"n":1}}'),
                    ],
                },
                {"role": "tool", "tool_call_id": "t1", "content": "ok"},
                {"role": "tool", "tool_call_id": "t2", "content": "ok"},
            ]
        ),
    ),
    "assistant-only-calls-has-no-content": (
        request(messages=[user("q"), assistant([tool_use("t1")]), user([tool_result("t1")])]),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [call("t1")]},
                {"role": "tool", "tool_call_id": "t1", "content": "ok"},
            ]
        ),
    ),
    "assistant-tool-name-sanitized": (
        request(
            messages=[
                user("q"),
                assistant([tool_use("t1", name="mcp.fs/read")]),
                user([tool_result("t1")]),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [call("t1", name="mcp_fs_read")]},
                {"role": "tool", "tool_call_id": "t1", "content": "ok"},
            ]
        ),
    ),
    # ---- rule 6: tool results -------------------------------------------------------
    "tool-results-before-user-text-in-result-order": (
        request(
            messages=[
                user("q"),
                assistant([tool_use("t1"), tool_use("t2")]),
                user([tool_result("t2", "two"), tool_result("t1", "one"), text("go on")]),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [call("t1"), call("t2")]},
                {"role": "tool", "tool_call_id": "t2", "content": "two"},
                {"role": "tool", "tool_call_id": "t1", "content": "one"},
                {"role": "user", "content": "go on"},
            ]
        ),
    ),
    "tool-result-text-blocks-joined": (
        request(
            messages=[
                user("q"),
                assistant([tool_use("t1")]),
                user([tool_result("t1", [text("a"), text("b", cache_control={"type": "ephemeral"})])]),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [call("t1")]},
                {"role": "tool", "tool_call_id": "t1", "content": "a\nb"},
            ]
        ),
    ),
    "tool-result-errors": (
        request(
            messages=[
                user("q"),
                assistant([tool_use("t1"), tool_use("t2"), tool_use("t3")]),
                user(
                    [
                        tool_result("t1", "<tool_use_error>nope</tool_use_error>", is_error=True),
                        tool_result("t2", "Error: already", is_error=True),
                        tool_result("t3", "fine", is_error=False),
                    ]
                ),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [call("t1"), call("t2"), call("t3")]},
                {
                    "role": "tool",
                    "tool_call_id": "t1",
                    "content": "Error: <tool_use_error>nope</tool_use_error>",
                },
                {"role": "tool", "tool_call_id": "t2", "content": "Error: already"},
                {"role": "tool", "tool_call_id": "t3", "content": "fine"},
            ]
        ),
    ),
    "tool-result-empty": (
        request(
            messages=[
                user("q"),
                assistant([tool_use("t1"), tool_use("t2"), tool_use("t3")]),
                user(
                    [
                        tool_result("t1", ""),
                        tool_result("t2", []),
                        {"type": "tool_result", "tool_use_id": "t3"},
                    ]
                ),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [call("t1"), call("t2"), call("t3")]},
                {"role": "tool", "tool_call_id": "t1", "content": "(no output)"},
                {"role": "tool", "tool_call_id": "t2", "content": "(no output)"},
                {"role": "tool", "tool_call_id": "t3", "content": "(no output)"},
            ]
        ),
    ),
    "tool-result-images-move-to-user": (
        request(
            messages=[
                user("q"),
                assistant([tool_use("t1")]),
                user(
                    [
                        tool_result("t1", [text("screenshot:"), {"type": "image", "source": PNG}]),
                        text("what do you see?"),
                    ]
                ),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [call("t1")]},
                {
                    "role": "tool",
                    "tool_call_id": "t1",
                    "content": "screenshot:\n[image attached below]",
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Attachments from tool call t1:"},
                        PNG_PART,
                        {"type": "text", "text": "what do you see?"},
                    ],
                },
            ]
        ),
    ),
    "tool-result-tool-reference": (
        request(
            messages=[
                user("q"),
                assistant([tool_use("t1", name="ToolSearch")]),
                user([tool_result("t1", [{"type": "tool_reference", "tool_name": "mcp.x/y"}])]),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [call("t1", name="ToolSearch")]},
                {"role": "tool", "tool_call_id": "t1", "content": "Tool available: mcp_x_y"},
            ]
        ),
    ),
    # ---- rule 7: unmatched calls and results ----------------------------------------
    "call-without-result-gets-synthetic-answer": (
        request(
            messages=[
                user("q"),
                assistant([tool_use("t1"), tool_use("t2")]),
                user([tool_result("t2", "two"), text("stop")]),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [call("t1"), call("t2")]},
                {"role": "tool", "tool_call_id": "t2", "content": "two"},
                {"role": "tool", "tool_call_id": "t1", "content": "(no result)"},
                {"role": "user", "content": "stop"},
            ]
        ),
    ),
    "trailing-call-without-result": (
        request(messages=[user("q"), assistant([text("x"), tool_use("t1")])]),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "x", "tool_calls": [call("t1")]},
                {"role": "tool", "tool_call_id": "t1", "content": "(no result)"},
            ]
        ),
    ),
    "orphan-result-becomes-user-text": (
        request(
            messages=[
                user([tool_result("ghost", "data", is_error=True), text("and")]),
            ]
        ),
        expected([{"role": "user", "content": "Tool result for ghost: Error: data\n\nand"}]),
    ),
    "result-found-later-is-pulled-up": (
        request(
            messages=[
                user("q"),
                assistant([tool_use("t1")]),
                user("interjection"),
                assistant("hm"),
                user([tool_result("t1", "late")]),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [call("t1")]},
                {"role": "tool", "tool_call_id": "t1", "content": "late"},
                {"role": "user", "content": "interjection"},
                {"role": "assistant", "content": "hm"},
            ]
        ),
    ),
    "duplicate-call-ids-renamed": (
        request(
            messages=[
                user("q"),
                assistant([tool_use("t1")]),
                user([tool_result("t1", "first")]),
                assistant([tool_use("t1")]),
                user([tool_result("t1", "second")]),
            ]
        ),
        expected(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [call("t1")]},
                {"role": "tool", "tool_call_id": "t1", "content": "first"},
                {"role": "assistant", "tool_calls": [call("t1_2")]},
                {"role": "tool", "tool_call_id": "t1_2", "content": "second"},
            ]
        ),
    ),
    # ---- rule 8: tools ----------------------------------------------------------------
    "tools-converted-server-tools-dropped": (
        request(
            tools=[
                {**TOOL, "cache_control": {"type": "ephemeral"}, "defer_loading": True},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
                {"type": "text_editor_20250124", "name": "str_replace_editor"},
                {"type": "custom", "name": "Plain", "input_schema": {"type": "object"}},
            ]
        ),
        expected(
            [{"role": "user", "content": "hi"}],
            tools=[
                TOOL_OUT,
                {
                    "type": "function",
                    "function": {
                        "name": "Plain",
                        "parameters": {"type": "object", "properties": {}},
                    },
                },
            ],
        ),
    ),
    "tools-empty-list-omitted": (
        request(tools=[]),
        expected([{"role": "user", "content": "hi"}]),
    ),
    "tools-only-server-tools-omitted": (
        request(
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
            tool_choice={"type": "any"},
        ),
        expected([{"role": "user", "content": "hi"}]),
    ),
    "tools-duplicate-names-once": (
        request(tools=[TOOL, TOOL]),
        expected([{"role": "user", "content": "hi"}], tools=[TOOL_OUT]),
    ),
    # ---- rule 9: tool_choice --------------------------------------------------------------
    "tool-choice-auto": (
        request(tools=[TOOL], tool_choice={"type": "auto"}),
        expected([{"role": "user", "content": "hi"}], tools=[TOOL_OUT], tool_choice="auto"),
    ),
    "tool-choice-any": (
        request(tools=[TOOL], tool_choice={"type": "any"}),
        expected([{"role": "user", "content": "hi"}], tools=[TOOL_OUT], tool_choice="required"),
    ),
    "tool-choice-none": (
        request(tools=[TOOL], tool_choice={"type": "none"}),
        expected([{"role": "user", "content": "hi"}], tools=[TOOL_OUT], tool_choice="none"),
    ),
    "tool-choice-named": (
        request(tools=[TOOL], tool_choice={"type": "tool", "name": "Read"}),
        expected(
            [{"role": "user", "content": "hi"}],
            tools=[TOOL_OUT],
            tool_choice={"type": "function", "function": {"name": "Read"}},
        ),
    ),
    "tool-choice-named-sanitized": (
        request(
            tools=[{**TOOL, "name": "mcp.fs/read"}],
            tool_choice={"type": "tool", "name": "mcp.fs/read"},
        ),
        expected(
            [{"role": "user", "content": "hi"}],
            tools=[{**TOOL_OUT, "function": {**TOOL_OUT["function"], "name": "mcp_fs_read"}}],
            tool_choice={"type": "function", "function": {"name": "mcp_fs_read"}},
        ),
    ),
    "tool-choice-named-unknown-degrades-to-auto": (
        request(tools=[TOOL], tool_choice={"type": "tool", "name": "web_search"}),
        expected([{"role": "user", "content": "hi"}], tools=[TOOL_OUT], tool_choice="auto"),
    ),
    "tool-choice-disable-parallel": (
        request(tools=[TOOL], tool_choice={"type": "auto", "disable_parallel_tool_use": True}),
        expected(
            [{"role": "user", "content": "hi"}],
            tools=[TOOL_OUT],
            tool_choice="auto",
            parallel_tool_calls=False,
        ),
    ),
    "tool-choice-without-tools-omitted": (
        request(tool_choice={"type": "any", "disable_parallel_tool_use": True}),
        expected([{"role": "user", "content": "hi"}]),
    ),
    # ---- rule 10: sampling ----------------------------------------------------------------
    "stop-sequences": (
        request(stop_sequences=["END", "\n\nHuman:"]),
        expected([{"role": "user", "content": "hi"}], stop=["END", "\n\nHuman:"]),
    ),
    "stop-sequences-empty-omitted": (
        request(stop_sequences=[]),
        expected([{"role": "user", "content": "hi"}]),
    ),
    "temperature-top-p-passed-top-k-dropped": (
        request(temperature=0.3, top_p=0.9, top_k=40),
        expected([{"role": "user", "content": "hi"}], temperature=0.3, top_p=0.9),
    ),
    # ---- rule 11: max_tokens --------------------------------------------------------------
    "max-tokens-capped": (
        request(max_tokens=128000),
        {**expected([{"role": "user", "content": "hi"}]), "max_tokens": 8192},
    ),
    "max-tokens-below-cap-kept": (
        request(max_tokens=100),
        {**expected([{"role": "user", "content": "hi"}]), "max_tokens": 100},
    ),
    # ---- rule 12: streaming ----------------------------------------------------------------
    "stream-true": (
        request(stream=True),
        expected(
            [{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        ),
    ),
    "stream-false": (
        request(stream=False),
        expected([{"role": "user", "content": "hi"}]),
    ),
    # ---- rule 13: dropped fields -------------------------------------------------------------
    "anthropic-only-fields-dropped": (
        request(
            thinking={"type": "enabled", "budget_tokens": 31999},
            context_management={"edits": [{"type": "clear_thinking_20251015"}]},
            output_config={"effort": "high"},
            metadata={"user_id": "user_abc_session_1"},
            service_tier="auto",
            container="c1",
            mcp_servers=[{"type": "url", "url": "https://x", "name": "x"}],
            top_k=5,
            cache_control={"type": "ephemeral"},
            some_future_field={"anything": [1, 2]},
        ),
        expected([{"role": "user", "content": "hi"}]),
    ),
    # ---- rule 14: model -------------------------------------------------------------------
    "model-is-target": (
        request(model="claude-opus-4-1"),
        expected([{"role": "user", "content": "hi"}]),
    ),
}


@pytest.mark.parametrize(("body", "want"), list(CASES.values()), ids=list(CASES))
def test_rule(body, want):
    assert payload(body) == want


# --------------------------------------------------------------------------- context


def test_context():
    translated = translate(
        request(
            tools=[{**TOOL, "name": "mcp.fs/read"}, TOOL],
            stop_sequences=["END"],
            messages=[
                user("q"),
                assistant([tool_use("t1", name="old tool")]),
                user([tool_result("t1")]),
            ],
        )
    )
    assert translated.context == ResponseContext(
        request_model=CLIENT_MODEL,
        tool_names={"mcp_fs_read": "mcp.fs/read", "old_tool": "old tool"},
        stop_sequences=("END",),
    )
    assert translated.context.original_tool_name("mcp_fs_read") == "mcp.fs/read"
    assert translated.context.original_tool_name("Read") == "Read"


def test_count_tokens_request_translates():
    parsed = CountTokensRequest.model_validate(
        {"model": CLIENT_MODEL, "messages": [user("hi")], "tools": [TOOL], "system": "s"}
    )
    body = to_openai(parsed, TARGET).body.model_dump(exclude_none=True)
    assert body == {
        "model": "deepseek-chat",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
        "max_tokens": 8192,
        "tools": [TOOL_OUT],
    }


def test_count_tokens_round_trips_into_messages_request():
    raw = request(
        system=[text("s", cache_control={"type": "ephemeral"})],
        messages=[
            user([text("q"), {"type": "image", "source": PNG}]),
            assistant([{"type": "server_tool_use", "id": "s", "name": "x", "input": {}}, tool_use("t1")]),
            user(
                [
                    tool_result("t1", [text("r")]),
                    {"type": "document", "source": {"type": "text", "data": "d"}},
                ]
            ),
        ],
        tools=[TOOL, {"type": "web_search_20250305", "name": "web_search"}],
        context_management={"x": 1},
    )
    raw.pop("max_tokens")
    parsed = CountTokensRequest.model_validate(raw)
    again = MessagesRequest.model_validate({**parsed.model_dump(), "max_tokens": 1})
    assert to_openai(again, TARGET).body.messages == to_openai(parsed, TARGET).body.messages


# --------------------------------------------------------------------------- models


def test_request_tolerates_unknown_fields_and_blocks():
    parsed = MessagesRequest.model_validate(
        request(
            brand_new_field=1,
            messages=[user([{"type": "hologram", "payload": {"x": 1}}, text("hi")])],
        )
    )
    assert parsed.model_extra == {"brand_new_field": 1}
    assert isinstance(parsed.messages[0].content[0], UnknownBlock)
    assert parsed.messages[0].content[0].type == "hologram"


def test_unknown_blocks_inside_tool_results_tolerated():
    parsed = MessagesRequest.model_validate(
        request(
            messages=[
                user("q"),
                assistant([tool_use("t1")]),
                user([tool_result("t1", [{"type": "browser_state", "x": 1}, text("r")])]),
            ]
        )
    )
    assert payload(parsed.model_dump())["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "t1",
        "content": "r",
    }


@pytest.mark.parametrize(
    "content",
    [
        pytest.param([{"type": "text"}], id="text-without-text"),
        pytest.param([{"type": "tool_use", "id": "x"}], id="tool-use-without-name"),
        pytest.param([{"type": "tool_result"}], id="tool-result-without-id"),
        pytest.param([tool_result("t", [{"type": "text", "text": 3}])], id="bad-text-in-result"),
    ],
)
def test_malformed_known_blocks_are_rejected(content):
    with pytest.raises(ValueError):
        MessagesRequest.model_validate(request(messages=[user(content)]))


def test_request_from_json_bytes():
    raw = json.dumps(request(system=[text("s")], stream=True)).encode()
    parsed = MessagesRequest.model_validate_json(raw)
    assert payload(parsed.model_dump()) == expected(
        [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )


def test_chat_request_forbids_unknown_fields():
    with pytest.raises(ValueError):
        ChatRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "output_config": {}}
        )
    with pytest.raises(ValueError):
        ChatRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "x", "cache_control": {}}]}
        )


def test_input_request_not_mutated():
    parsed = MessagesRequest.model_validate(
        request(
            tools=[{**TOOL, "input_schema": {**TOOL["input_schema"], "$schema": "x"}}],
            messages=[user("q"), assistant([tool_use("t1", path="a")]), user([tool_result("t1")])],
        )
    )
    before = parsed.model_dump()
    translate_twice = [to_openai(parsed, TARGET).body.model_dump() for _ in range(2)]
    assert parsed.model_dump() == before
    assert translate_twice[0] == translate_twice[1]


# --------------------------------------------------------------------------- realistic


FORBIDDEN_KEYS = {
    "cache_control",
    "citations",
    "thinking",
    "signature",
    "context_management",
    "output_config",
    "metadata",
    "top_k",
    "service_tier",
    "container",
    "mcp_servers",
    "defer_loading",
    "$schema",
    "exclusiveMinimum",
    "input_schema",
    "system",
    "stop_sequences",
    "tool_use_id",
    "is_error",
    "source",
    "input",
    "media_type",
}
FORBIDDEN_TYPES = {"tool_use", "tool_result", "thinking", "redacted_thinking", "image", "document"}


def walk(node, path="$"):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def claude_code_request():
    schema_header = "http://json-schema.org/draft-07/schema#"
    return {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 128000,
        "stream": True,
        "temperature": 1,
        "system": [
            {
                "type": "text",
                "text": "x-anthropic-billing-header: cc_version=2.1.12.abc; cc_entrypoint=sdk-cli",
            },
            {
                "type": "text",
                "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": {"type": "ephemeral"},
            },
            {
                "type": "text",
                "text": "You are an interactive CLI tool. " * 20,
                "cache_control": {"type": "ephemeral"},
            },
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "<system-reminder>\nAs you answer the user's questions, you can use the "
                        "following context...\n</system-reminder>",
                    },
                    {
                        "type": "text",
                        "text": "Fix the failing test in tests/test_x.py",
                        "cache_control": {"type": "ephemeral"},
                    },
                ],
            },
            {"role": "system", "content": "Current git status: clean"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "I should look at the test.",
                        "signature": "EqQBCkYIBxgCKkB...",
                    },
                    {"type": "text", "text": "Let me look at the test and the code."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01A",
                        "name": "Read",
                        "input": {"file_path": "/repo/tests/test_x.py"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_01B",
                        "name": "Grep",
                        "input": {"pattern": "def add", "path": "/repo"},
                    },
                    {"type": "tool_use", "id": "toolu_01C", "name": "mcp__ide__getDiagnostics", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01B",
                        "content": "src/x.py:1:def add(a, b):",
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A",
                        "content": [
                            {
                                "type": "text",
                                "text": "     1\tdef test_add():\n     2\t    assert add(1, 2) == 3",
                            }
                        ],
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01C",
                        "content": "",
                        "cache_control": {"type": "ephemeral"},
                    },
                ],
            },
            {"role": "system", "content": [{"type": "text", "text": "The user changed settings."}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "redacted_thinking", "data": "abc"},
                    {
                        "type": "tool_use",
                        "id": "toolu_02A",
                        "name": "Edit",
                        "input": {
                            "file_path": "/repo/src/x.py",
                            "old_string": "a - b",
                            "new_string": "a + b",
                        },
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_02A",
                        "content": "Error: file changed",
                        "is_error": True,
                    },
                    {
                        "type": "text",
                        "text": "<system-reminder>\nTodo list is empty\n</system-reminder>",
                        "cache_control": {"type": "ephemeral"},
                    },
                ],
            },
        ],
        "tools": [
            {
                "name": "Read",
                "description": "Reads a file from the local filesystem.",
                "input_schema": {
                    "$schema": schema_header,
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "file_path": {"type": "string", "description": "Absolute path"},
                        "offset": {"type": "number", "exclusiveMinimum": 0},
                        "limit": {"type": "integer", "exclusiveMinimum": 0},
                    },
                    "required": ["file_path"],
                },
            },
            {
                "name": "Grep",
                "description": "Search file contents.",
                "input_schema": {
                    "$schema": schema_header,
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "pattern": {"type": "string"},
                        "path": {"type": "string"},
                        "output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
                        "-n": {"type": "boolean"},
                    },
                    "required": ["pattern"],
                },
            },
            {
                "name": "Edit",
                "description": "Edit a file.",
                "input_schema": {
                    "$schema": schema_header,
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "file_path": {"type": "string"},
                        "old_string": {"type": "string"},
                        "new_string": {"type": "string"},
                        "replace_all": {"type": "boolean", "default": False},
                    },
                    "required": ["file_path", "old_string", "new_string"],
                },
                "cache_control": {"type": "ephemeral"},
            },
            {
                "name": "mcp__ide__getDiagnostics",
                "description": "Get diagnostics",
                "input_schema": {
                    "type": "object",
                    "properties": {"uri": {"type": "string", "format": "uri"}},
                },
                "defer_loading": True,
            },
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 8},
        ],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
        "metadata": {"user_id": "user_0123_account__session_4567"},
    }


def test_claude_code_shaped_request():
    translated = translate(claude_code_request())
    body = translated.body.model_dump(exclude_none=True)

    for path, key, value in walk(body):
        if ".parameters.properties" in path and path.endswith(".properties"):
            continue  # property names are the tool's own data
        assert key not in FORBIDDEN_KEYS, f"{path}.{key}"
        if key == "type":
            assert value not in FORBIDDEN_TYPES, f"{path}.type={value}"
    assert "billing-header" not in json.dumps(body)

    assert body["model"] == "deepseek-chat"
    assert body["max_tokens"] == 8192
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 1
    assert body["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in body["tools"]] == [
        "Read",
        "Grep",
        "Edit",
        "mcp__ide__getDiagnostics",
    ]
    read_params = body["tools"][0]["function"]["parameters"]
    assert read_params == {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "Absolute path"},
            "offset": {"type": "number"},
            "limit": {"type": "integer"},
        },
        "additionalProperties": False,
        "required": ["file_path"],
    }

    messages = body["messages"]
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "tool",
        "user",
        "assistant",
        "tool",
        "user",
    ]
    assert messages[0]["content"] == (
        "You are Claude Code, Anthropic's official CLI for Claude.\n\n"
        + "You are an interactive CLI tool. " * 20
        + "\n\nCurrent git status: clean"
    )
    assert messages[2]["content"] == "Let me look at the test and the code."
    assert [c["id"] for c in messages[2]["tool_calls"]] == ["toolu_01A", "toolu_01B", "toolu_01C"]
    assert [m["tool_call_id"] for m in messages[3:6]] == ["toolu_01B", "toolu_01A", "toolu_01C"]
    assert messages[5]["content"] == "(no output)"
    assert messages[6] == {
        "role": "user",
        "content": "<system-reminder>\nThe user changed settings.\n</system-reminder>",
    }
    assert "content" not in messages[7]
    assert messages[7]["tool_calls"][0]["function"] == {
        "name": "Edit",
        "arguments": '{"file_path":"/repo/src/x.py","old_string":"a - b","new_string":"a + b"}',
    }
    assert messages[8] == {"role": "tool", "tool_call_id": "toolu_02A", "content": "Error: file changed"}
    assert messages[9] == {
        "role": "user",
        "content": "<system-reminder>\nTodo list is empty\n</system-reminder>",
    }

    # Alternation: no two adjacent user/assistant messages share a role.
    for before, after in zip(messages, messages[1:]):
        assert not (before["role"] == after["role"] and before["role"] in ("user", "assistant"))

    assert translated.context == ResponseContext(request_model="claude-sonnet-4-5-20250929")


def test_prefix_is_stable_across_turns():
    """Turn N's translation is a prefix of turn N+1's (gateway prefix caching)."""
    turn = claude_code_request()
    longer = claude_code_request()
    longer["messages"] = longer["messages"] + [
        {"role": "assistant", "content": [{"type": "text", "text": "Retrying."}]},
        {"role": "system", "content": "late reminder"},
        {"role": "user", "content": "thanks"},
    ]
    # A new billing header every session must not matter either.
    longer["system"][0]["text"] = "x-anthropic-billing-header: cc_version=9.9.9; other"
    first = translate(turn).body.model_dump(exclude_none=True)["messages"]
    second = translate(longer).body.model_dump(exclude_none=True)["messages"]
    assert second[: len(first)] == first


def test_tool_names_in_output_are_valid():
    pattern = re.compile(r"[a-zA-Z0-9_-]{1,64}")
    body = payload(
        request(
            tools=[{**TOOL, "name": "a" * 100}, {**TOOL, "name": "ünïcödé tool"}],
            messages=[user("q"), assistant([tool_use("t", name="x" * 80)]), user([tool_result("t")])],
        )
    )
    names = [t["function"]["name"] for t in body["tools"]]
    names += [c["function"]["name"] for m in body["messages"] for c in m.get("tool_calls", [])]
    assert len(names) == 3
    assert all(pattern.fullmatch(name) for name in names)
