"""The official anthropic SDK as the adapter's client: every response must parse."""

import anthropic
import pytest

TOOL = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
SCENARIO = {
    "name": "sdk",
    "turns": [
        {
            "reasoning": "Need the weather.",
            "text": "Looking it up.",
            "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "cached_tokens": 100},
        },
        {
            "expect": ["light rain"],
            "text": "Oslo: light rain, 7 °C.",
            "usage": {"prompt_tokens": 200, "completion_tokens": 12},
        },
    ],
}


@pytest.fixture
def sdk(scripted_gateway, start_adapter):
    scripted_gateway.add_scenario(SCENARIO)
    adapter = start_adapter(scripted_gateway.url)
    return anthropic.Anthropic(base_url=adapter.url, api_key=adapter.token, max_retries=0)


def first_turn() -> list[dict]:
    return [{"role": "user", "content": "Weather in Oslo? [[scenario:sdk]]"}]


def second_turn(tool_use_id: str) -> list[dict]:
    return [
        *first_turn(),
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": tool_use_id, "name": "get_weather", "input": {"city": "Oslo"}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use_id, "content": "light rain, 7 C"}],
        },
    ]


def test_non_streaming_tool_use_then_answer(sdk):
    message = sdk.messages.create(
        model="claude-opus-5-5", max_tokens=16000, tools=[TOOL], messages=first_turn()
    )
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    call = message.content[-1]
    assert (call.name, call.input) == ("get_weather", {"city": "Oslo"})
    assert (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.output_tokens,
    ) == (20, 100, 30)

    answer = sdk.messages.create(
        model="claude-opus-5-5", max_tokens=1024, tools=[TOOL], messages=second_turn(call.id)
    )
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].text == "Oslo: light rain, 7 °C."


def test_streaming_tool_use_then_answer(sdk):
    with sdk.messages.stream(
        model="claude-opus-5-5", max_tokens=128000, tools=[TOOL], messages=first_turn()
    ) as stream:
        events = [event.type for event in stream]
        message = stream.get_final_message()
    assert events[0] == "message_start" and "message_stop" in events
    assert message.stop_reason == "tool_use"
    assert message.content[0].thinking == "Need the weather."
    assert message.content[-1].input == {"city": "Oslo"}
    assert message.usage.output_tokens == 30

    with sdk.messages.stream(
        model="claude-opus-5-5", max_tokens=1024, tools=[TOOL], messages=second_turn(message.content[-1].id)
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "Oslo: light rain, 7 °C."


def test_count_tokens_and_models(sdk):
    counted = sdk.messages.count_tokens(model="claude-opus-5-5", tools=[TOOL], messages=first_turn())
    assert counted.input_tokens > 10
    models = sdk.models.list()
    assert [m.id for m in models.data]


def test_wrong_token_is_an_authentication_error(scripted_gateway, start_adapter):
    adapter = start_adapter(scripted_gateway.url)
    client = anthropic.Anthropic(base_url=adapter.url, api_key="not-the-token", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model="claude-opus-5-5", max_tokens=10, messages=first_turn())
    assert scripted_gateway.requests() == []
