"""Strict checks of incoming Chat Completions requests, mirroring what OpenAI rejects.

The gateway exists to catch translation bugs, so anything a real OpenAI-compatible
provider would refuse (or silently misread) is a 400 here.
"""

import json
import math
import re
from typing import Any

from .errors import invalid
from .profiles import GENERIC, Profile

ALLOWED_TOP_LEVEL = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "n",
        "user",
        "seed",
        "response_format",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "reasoning_effort",
    }
)

# Keys each role may carry; anything else (Anthropic `type`, `cache_control`...) is a bug.
# Assistant messages may also carry reasoning back in the profile's `message_keys`, tool calls its
# `call_keys`.
ALLOWED_MESSAGE_KEYS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
}

# Content part types each role may use; image/file input is user-only.
ALLOWED_PART_TYPES = {
    "system": {"text"},
    "developer": {"text"},
    "user": {"text", "image_url", "file"},
    "assistant": {"text"},
    "tool": {"text"},
}

ALLOWED_PART_KEYS = {
    "text": {"type", "text"},
    "image_url": {"type", "image_url"},
    "file": {"type", "file"},
}

TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_STOP_SEQUENCES = 16
RESPONSE_FORMAT_TYPES = {"text", "json_object", "json_schema"}


def validate_request(body: Any, max_output_tokens: int = 8192, profile: Profile = GENERIC) -> None:
    """Raise a 400 GatewayError describing the first problem found in `body`, as `profile`'s provider
    would."""
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object.")
    allowed = ALLOWED_TOP_LEVEL | profile.request_fields
    for key in body:
        if key not in allowed:
            raise invalid(
                f"Unrecognized request argument supplied: {key}", param=key, code="unknown_parameter"
            )
    _reject_cache_control(body, "")
    _check_model(body)
    _check_sampling(body, max_output_tokens)
    _check_stream(body)
    _check_stop(body.get("stop"))
    tool_names = _check_tools(body)
    _check_tool_choice(body, tool_names)
    _check_misc(body, profile.reasoning_efforts)
    _check_messages(body.get("messages"), profile)


def _reject_cache_control(value: Any, path: str) -> None:
    # Anthropic prompt-caching markers must never leak into an OpenAI request.
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if key == "cache_control":
                raise invalid(
                    f"Unrecognized argument 'cache_control' at {sub}", param=sub, code="unknown_parameter"
                )
            _reject_cache_control(item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _reject_cache_control(item, f"{path}[{i}]")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _check_model(body: dict) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid("'model' must be a non-empty string.", param="model")


def _check_range(body: dict, key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if not _is_number(value) or not low <= value <= high:
        raise invalid(f"Invalid '{key}': {value!r}. Expected a number between {low} and {high}.", param=key)


def _check_sampling(body: dict, max_output_tokens: int) -> None:
    if body.get("max_tokens") is not None and body.get("max_completion_tokens") is not None:
        raise invalid(
            "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported.",
            param="max_tokens",
            code="invalid_parameter_combination",
        )
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if not _is_int(value) or not 1 <= value <= max_output_tokens:
            # Same wording as DeepSeek, the cap most cheap gateways enforce.
            raise invalid(
                f"Invalid {key} value, the valid range of {key} is [1, {max_output_tokens}]", param=key
            )
    _check_range(body, "temperature", 0, 2)
    _check_range(body, "top_p", 0, 1)
    _check_range(body, "frequency_penalty", -2, 2)
    _check_range(body, "presence_penalty", -2, 2)
    n = body.get("n")
    if n is not None and (not _is_int(n) or n != 1):
        raise invalid("Invalid 'n': this gateway only serves n=1.", param="n")


def _check_stream(body: dict) -> None:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("Invalid 'stream': expected a boolean.", param="stream")
    options = body.get("stream_options")
    if options is None:
        return
    if not stream:
        raise invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param="stream_options"
        )
    if not isinstance(options, dict):
        raise invalid("Invalid 'stream_options': expected an object.", param="stream_options")
    for key, value in options.items():
        if key not in ("include_usage", "include_obfuscation"):
            raise invalid(f"Unrecognized stream_options argument: {key}", param=f"stream_options.{key}")
        if not isinstance(value, bool):
            raise invalid(
                f"Invalid 'stream_options.{key}': expected a boolean.", param=f"stream_options.{key}"
            )


def _check_stop(stop: Any) -> None:
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise invalid("Invalid 'stop': expected a string or a list of strings.", param="stop")
    if len(stop) > MAX_STOP_SEQUENCES:
        raise invalid(
            f"Invalid 'stop': at most {MAX_STOP_SEQUENCES} sequences are allowed, got {len(stop)}.",
            param="stop",
        )


def _check_tools(body: dict) -> set[str]:
    tools = body.get("tools")
    if tools is None:
        return set()
    if not isinstance(tools, list) or not tools:
        raise invalid("Invalid 'tools': expected a non-empty array.", param="tools")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        name = _check_tool(tool, f"tools[{i}]")
        if name in names:
            raise invalid(f"Duplicate tool name '{name}' in 'tools'.", param=f"tools[{i}].function.name")
        names.add(name)
    return names


def _check_tool(tool: Any, path: str) -> str:
    if not isinstance(tool, dict) or set(tool) != {"type", "function"} or tool["type"] != "function":
        raise invalid(
            f'Invalid \'{path}\': expected {{"type": "function", "function": {{...}}}}.', param=path
        )
    function = tool["function"]
    if not isinstance(function, dict):
        raise invalid(f"Invalid '{path}.function': expected an object.", param=f"{path}.function")
    for key in function:
        if key not in ("name", "description", "parameters", "strict"):
            raise invalid(f"Unrecognized argument '{key}' in {path}.function", param=f"{path}.function.{key}")
    name = function.get("name")
    if not isinstance(name, str) or not TOOL_NAME_RE.match(name):
        raise invalid(
            f"Invalid '{path}.function.name': {name!r} does not match '^[a-zA-Z0-9_-]{{1,64}}$'.",
            param=f"{path}.function.name",
        )
    if "description" in function and not isinstance(function["description"], str):
        raise invalid(
            f"Invalid '{path}.function.description': expected a string.", param=f"{path}.function.description"
        )
    if "strict" in function and not isinstance(function["strict"], bool):
        raise invalid(
            f"Invalid '{path}.function.strict': expected a boolean.", param=f"{path}.function.strict"
        )
    if "parameters" in function:
        _check_parameters(function["parameters"], f"{path}.function.parameters")
    return name


def _check_parameters(schema: Any, path: str) -> None:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise invalid(f'Invalid \'{path}\': expected a JSON schema with "type": "object".', param=path)
    _reject_key_deep(schema, "$schema", path)


def _reject_key_deep(value: Any, forbidden: str, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == forbidden:
                raise invalid(
                    f"Invalid schema at '{path}': '{forbidden}' is not allowed.", param=f"{path}.{key}"
                )
            _reject_key_deep(item, forbidden, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _reject_key_deep(item, forbidden, f"{path}[{i}]")


def _check_tool_choice(body: dict, tool_names: set[str]) -> None:
    for key in ("tool_choice", "parallel_tool_calls"):
        if body.get(key) is not None and not tool_names:
            raise invalid(
                f"Invalid value for '{key}': '{key}' is only allowed when 'tools' are specified.", param=key
            )
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise invalid("Invalid 'parallel_tool_calls': expected a boolean.", param="parallel_tool_calls")
    choice = body.get("tool_choice")
    if choice is None or choice in ("none", "auto", "required"):
        return
    if (
        not isinstance(choice, dict)
        or set(choice) != {"type", "function"}
        or choice["type"] != "function"
        or not isinstance(choice["function"], dict)
        or set(choice["function"]) != {"name"}
    ):
        raise invalid(
            "Invalid 'tool_choice': expected 'none', 'auto', 'required' or "
            '{"type": "function", "function": {"name": ...}}.',
            param="tool_choice",
        )
    name = choice["function"]["name"]
    if name not in tool_names:
        raise invalid(
            f"Invalid 'tool_choice': tool '{name}' is not declared in 'tools'.", param="tool_choice"
        )


def _check_misc(body: dict, reasoning_efforts: frozenset[str]) -> None:
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise invalid("Invalid 'user': expected a string.", param="user")
    if body.get("seed") is not None and not _is_int(body["seed"]):
        raise invalid("Invalid 'seed': expected an integer.", param="seed")
    if body.get("logprobs") is not None and not isinstance(body["logprobs"], bool):
        raise invalid("Invalid 'logprobs': expected a boolean.", param="logprobs")
    top = body.get("top_logprobs")
    if top is not None:
        if not _is_int(top) or not 0 <= top <= 20:
            raise invalid(
                "Invalid 'top_logprobs': expected an integer between 0 and 20.", param="top_logprobs"
            )
        if body.get("logprobs") is not True:
            raise invalid("'top_logprobs' requires 'logprobs' to be true.", param="top_logprobs")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in reasoning_efforts:
        raise invalid(f"Invalid 'reasoning_effort': {effort!r}.", param="reasoning_effort")
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") not in RESPONSE_FORMAT_TYPES):
        raise invalid(
            "Invalid 'response_format': expected an object with a known 'type'.", param="response_format"
        )


def _check_messages(messages: Any, profile: Profile) -> None:
    if not isinstance(messages, list) or not messages:
        raise invalid("'messages' must be a non-empty array.", param="messages")
    for i, message in enumerate(messages):
        _check_message(message, f"messages[{i}]", profile)
    _check_tool_pairing(messages)


def _check_message(message: Any, path: str, profile: Profile) -> None:
    if not isinstance(message, dict):
        raise invalid(f"Invalid '{path}': expected an object.", param=path)
    role = message.get("role")
    if role not in ALLOWED_MESSAGE_KEYS:
        raise invalid(f"Invalid '{path}.role': {role!r}.", param=f"{path}.role")
    allowed = ALLOWED_MESSAGE_KEYS[role] | (profile.message_keys if role == "assistant" else set())
    for key in message:
        if key not in allowed:
            raise invalid(f"Unrecognized argument '{key}' in {role} message {path}", param=f"{path}.{key}")
    for key in ("name", "refusal", *profile.echo_fields):
        if message.get(key) is not None and not isinstance(message[key], str):
            raise invalid(f"Invalid '{path}.{key}': expected a string.", param=f"{path}.{key}")
    content = message.get("content")
    if role == "assistant":
        if content is None and not message.get("tool_calls"):
            raise invalid(f"Invalid '{path}': assistant messages need 'content' or 'tool_calls'.", param=path)
        if message.get("tool_calls") is not None:
            _check_tool_calls(message["tool_calls"], f"{path}.tool_calls", profile.call_keys)
        if content is None:
            return
    elif role == "tool":
        if not isinstance(message.get("tool_call_id"), str) or not message["tool_call_id"]:
            raise invalid(f"Missing '{path}.tool_call_id'.", param=f"{path}.tool_call_id")
    _check_content(content, role, f"{path}.content")


def _check_content(content: Any, role: str, path: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise invalid(
            f"Invalid '{path}': expected a string or a non-empty array of content parts.", param=path
        )
    for i, part in enumerate(content):
        _check_part(part, role, f"{path}[{i}]")


def _check_part(part: Any, role: str, path: str) -> None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind not in ALLOWED_PART_TYPES[role]:
        raise invalid(
            f"Invalid '{path}.type': {kind!r} is not allowed in '{role}' messages.", param=f"{path}.type"
        )
    for key in part:
        if key not in ALLOWED_PART_KEYS[kind]:
            raise invalid(f"Unrecognized argument '{key}' in content part {path}", param=f"{path}.{key}")
    if kind == "text" and not isinstance(part.get("text"), str):
        raise invalid(f"Invalid '{path}.text': expected a string.", param=f"{path}.text")
    if kind == "image_url":
        image = part.get("image_url")
        if (
            not isinstance(image, dict)
            or not isinstance(image.get("url"), str)
            or set(image) - {"url", "detail"}
        ):
            raise invalid(
                f'Invalid \'{path}.image_url\': expected {{"url": ..., "detail"?}}.',
                param=f"{path}.image_url",
            )
    if kind == "file":
        file = part.get("file")
        if not isinstance(file, dict) or not file or set(file) - {"file_data", "file_id", "filename"}:
            raise invalid(
                f"Invalid '{path}.file': expected file_data/file_id/filename.", param=f"{path}.file"
            )


def _check_tool_calls(tool_calls: Any, path: str, extra_keys: frozenset[str]) -> None:
    if not isinstance(tool_calls, list) or not tool_calls:
        raise invalid(f"Invalid '{path}': expected a non-empty array.", param=path)
    for i, call in enumerate(tool_calls):
        sub = f"{path}[{i}]"
        if (
            not isinstance(call, dict)
            or not {"id", "type", "function"} <= set(call) <= {"id", "type", "function"} | extra_keys
        ):
            raise invalid(f"Invalid '{sub}': expected exactly id, type and function.", param=sub)
        if not isinstance(call["id"], str) or not call["id"]:
            raise invalid(f"Invalid '{sub}.id': expected a non-empty string.", param=f"{sub}.id")
        if call["type"] != "function":
            raise invalid(f"Invalid '{sub}.type': expected 'function'.", param=f"{sub}.type")
        _check_call_function(call["function"], f"{sub}.function")


def _check_call_function(function: Any, path: str) -> None:
    if not isinstance(function, dict) or set(function) != {"name", "arguments"}:
        raise invalid(f"Invalid '{path}': expected exactly name and arguments.", param=path)
    if not isinstance(function["name"], str) or not function["name"]:
        raise invalid(f"Invalid '{path}.name': expected a non-empty string.", param=f"{path}.name")
    arguments = function["arguments"]
    if not isinstance(arguments, str):
        raise invalid(
            f"Invalid '{path}.arguments': expected a JSON-encoded string.", param=f"{path}.arguments"
        )
    try:
        parsed = json.loads(arguments)
    except ValueError:
        raise invalid(f"Invalid '{path}.arguments': not valid JSON.", param=f"{path}.arguments") from None
    if not isinstance(parsed, dict):
        raise invalid(f"Invalid '{path}.arguments': expected a JSON object.", param=f"{path}.arguments")


def _check_tool_pairing(messages: list[dict]) -> None:
    # Tool results must directly follow the assistant message that asked for them,
    # and every call must be answered before the conversation moves on.
    seen_ids: set[str] = set()
    answered: set[str] = set()
    expected: set[str] = set()  # call ids of the latest assistant message still awaiting answers
    answerable = False  # True while only tool messages followed an assistant with tool_calls
    for i, message in enumerate(messages):
        if message["role"] == "tool":
            call_id = message["tool_call_id"]
            if not answerable:
                raise invalid(
                    f"Invalid 'messages[{i}]': messages with role 'tool' must be a response to a preceding "
                    "message with 'tool_calls'.",
                    param=f"messages[{i}]",
                )
            if call_id in answered:
                raise invalid(
                    f"Invalid 'messages[{i}].tool_call_id': tool call {call_id!r} was already answered.",
                    param=f"messages[{i}].tool_call_id",
                )
            if call_id not in expected:
                raise invalid(
                    f"Invalid 'messages[{i}].tool_call_id': {call_id!r} does not answer a pending tool call "
                    "of the preceding assistant message.",
                    param=f"messages[{i}].tool_call_id",
                )
            expected.discard(call_id)
            answered.add(call_id)
            continue
        _require_answered(expected)
        answerable = message["role"] == "assistant" and bool(message.get("tool_calls"))
        expected = set()
        for call in message.get("tool_calls") or []:
            if call["id"] in seen_ids:
                raise invalid(
                    f"Duplicate tool call id {call['id']!r} in messages[{i}].",
                    param=f"messages[{i}].tool_calls",
                )
            seen_ids.add(call["id"])
            expected.add(call["id"])
    _require_answered(expected)


def _require_answered(expected: set[str]) -> None:
    if expected:
        raise invalid(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            "'tool_call_id'. The following tool_call_ids did not have response messages: "
            f"{', '.join(sorted(expected))}",
            param="messages",
        )
