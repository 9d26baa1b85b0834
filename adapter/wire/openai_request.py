"""Pydantic models of the OpenAI ``/chat/completions`` request we send upstream.

Every model forbids extra fields, so nothing Anthropic-only (``cache_control``,
``output_config``, ``metadata``, ...) can ride along into the upstream body; the
thinking fields are the providers' own switches, set by the profile.  Optional
fields default to ``None``; serialize with :meth:`ChatRequest.payload` (which is
``model_dump(exclude_none=True)``) so that unset fields are omitted rather than sent
as ``null`` -- several gateways reject explicit nulls.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AssistantMessage",
    "ChatMessage",
    "ChatRequest",
    "ContentPart",
    "FileData",
    "FilePart",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionTool",
    "ImagePart",
    "ImageUrl",
    "NamedFunction",
    "NamedToolChoice",
    "StreamOptions",
    "SystemMessage",
    "TextPart",
    "ToolCall",
    "ToolMessage",
    "UserMessage",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- content parts


class TextPart(_Strict):
    type: Literal["text"] = "text"
    text: str


class ImageUrl(_Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Strict):
    type: Literal["image_url"] = "image_url"
    image_url: ImageUrl


class FileData(_Strict):
    filename: str | None = None
    file_data: str | None = None
    file_id: str | None = None


class FilePart(_Strict):
    type: Literal["file"] = "file"
    file: FileData


ContentPart = Annotated[TextPart | ImagePart | FilePart, Field(discriminator="type")]


# --------------------------------------------------------------------------- messages


class SystemMessage(_Strict):
    role: Literal["system"] = "system"
    content: str


class UserMessage(_Strict):
    role: Literal["user"] = "user"
    content: str | list[ContentPart]


class FunctionCall(_Strict):
    name: str
    # JSON-encoded arguments object.
    arguments: str


class ToolCall(_Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall
    # Provider state of this call, back exactly as received (Gemini: {"google": {"thought_signature": ...}}).
    extra_content: dict[str, Any] | None = None


class AssistantMessage(_Strict):
    role: Literal["assistant"] = "assistant"
    # None (omitted on dump) when the turn only calls tools.
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    # The provider's reasoning, back in the field it came in (see adapter.providers).
    reasoning_content: str | None = None
    reasoning: str | None = None
    reasoning_details: list[dict[str, Any]] | None = None  # OpenRouter, each object as received


class ToolMessage(_Strict):
    role: Literal["tool"] = "tool"
    tool_call_id: str
    content: str


ChatMessage = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage,
    Field(discriminator="role"),
]


# --------------------------------------------------------------------------- tools


class FunctionDefinition(_Strict):
    name: str
    description: str | None = None
    parameters: dict[str, Any]


class FunctionTool(_Strict):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class NamedFunction(_Strict):
    name: str


class NamedToolChoice(_Strict):
    type: Literal["function"] = "function"
    function: NamedFunction


class StreamOptions(_Strict):
    include_usage: bool = True


# --------------------------------------------------------------------------- request


class ChatRequest(_Strict):
    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["auto", "required", "none"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    # Each provider profile's thinking switch (see adapter.providers); at most the profile's own are set.
    thinking: dict[str, Any] | None = None
    reasoning_effort: str | None = None
    enable_thinking: bool | None = None
    reasoning: dict[str, Any] | None = None
    chat_template_kwargs: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON-ready body: ``model_dump(exclude_none=True)``."""
        return self.model_dump(exclude_none=True)
