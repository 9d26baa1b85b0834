"""Pydantic models of the Anthropic Messages API request (what Claude Code sends).

The models are deliberately tolerant: the adapter must never answer a well-formed
Anthropic request with a 400/500 just because the client uses a field or block type
we do not translate.  Rules of thumb:

* Request level: ``extra="allow"`` -- unknown top-level fields are kept on the model
  (visible in ``model_extra``) but never forwarded upstream.
* Block level: known annotation fields (``cache_control``, ``citations``) are declared,
  anything else is ignored.
* Unknown content block types (server tool blocks, container uploads, search results,
  ...) validate into :class:`UnknownBlock` instead of failing; the translator drops them.
* Unknown image/document source types validate into :class:`UnknownSource`.

Validate once, preferably straight from the raw body:
``MessagesRequest.model_validate_json(raw_bytes)``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag

__all__ = [
    "AnyBlock",
    "Base64ImageSource",
    "Base64Source",
    "ContentBlock",
    "ContentSource",
    "CountTokensRequest",
    "DocumentBlock",
    "ImageBlock",
    "Message",
    "MessagesRequest",
    "PlainTextSource",
    "RedactedThinkingBlock",
    "TextBlock",
    "ThinkingBlock",
    "Tool",
    "ToolChoice",
    "ToolReferenceBlock",
    "ToolResultBlock",
    "ToolResultContentBlock",
    "ToolUseBlock",
    "UnknownBlock",
    "UnknownSource",
    "UrlSource",
]


class _Block(BaseModel):
    """Base of content blocks: annotation fields are accepted, other extras ignored."""

    model_config = ConfigDict(extra="ignore")

    cache_control: dict[str, Any] | None = None


# --------------------------------------------------------------------------- sources


class Base64Source(BaseModel):
    """``{"type": "base64", "media_type": ..., "data": ...}`` (images and PDFs)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["base64"] = "base64"
    media_type: str = "application/octet-stream"
    data: str


# Kept as an alias: the image and PDF base64 sources have the same shape.
Base64ImageSource = Base64Source


class UrlSource(BaseModel):
    """``{"type": "url", "url": ...}`` (images and PDFs)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["url"] = "url"
    url: str


class PlainTextSource(BaseModel):
    """``{"type": "text", "media_type": "text/plain", "data": ...}`` (documents)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text"] = "text"
    media_type: str = "text/plain"
    data: str


class UnknownSource(BaseModel):
    """Any other source (``file`` ids from the Files API, future types)."""

    model_config = ConfigDict(extra="allow")

    type: str = "unknown"


def _source_kind(value: Any) -> Any:
    return value.get("type") if isinstance(value, dict) else getattr(value, "type", None)


def _image_source_tag(value: Any) -> str:
    kind = _source_kind(value)
    return kind if kind in ("base64", "url") else "unknown"


def _document_source_tag(value: Any) -> str:
    kind = _source_kind(value)
    return kind if kind in ("base64", "url", "text", "content") else "unknown"


ImageSource = Annotated[
    Annotated[Base64Source, Tag("base64")]
    | Annotated[UrlSource, Tag("url")]
    | Annotated[UnknownSource, Tag("unknown")],
    Discriminator(_image_source_tag),
]

DocumentSource = Annotated[
    Annotated[Base64Source, Tag("base64")]
    | Annotated[PlainTextSource, Tag("text")]
    | Annotated[UrlSource, Tag("url")]
    | Annotated["ContentSource", Tag("content")]
    | Annotated[UnknownSource, Tag("unknown")],
    Discriminator(_document_source_tag),
]


# --------------------------------------------------------------------------- blocks


class TextBlock(_Block):
    type: Literal["text"] = "text"
    text: str
    citations: Any = None


class ImageBlock(_Block):
    type: Literal["image"] = "image"
    source: ImageSource


class DocumentBlock(_Block):
    type: Literal["document"] = "document"
    source: DocumentSource
    title: str | None = None
    context: str | None = None
    citations: Any = None


class ToolReferenceBlock(_Block):
    """Tool-search result naming a (deferred) tool; only valid inside tool results."""

    type: Literal["tool_reference"] = "tool_reference"
    tool_name: str


class ThinkingBlock(_Block):
    type: Literal["thinking"] = "thinking"
    thinking: str = ""
    signature: str | None = None


class RedactedThinkingBlock(_Block):
    type: Literal["redacted_thinking"] = "redacted_thinking"
    data: str = ""


class ToolUseBlock(_Block):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class UnknownBlock(BaseModel):
    """Any block type we do not translate (server tool use/results, container uploads, ...)."""

    model_config = ConfigDict(extra="allow")

    type: str = "unknown"


# Block unions are "known tagged union, else UnknownBlock", tried left to right: the
# tagged union dispatches on ``type`` inside pydantic-core (no Python call per block),
# and only unknown types fall through to the fallback.  The fallback refuses the known
# type names so that a malformed known block (say a ``text`` block without ``text``)
# is still a validation error instead of being silently dropped.


def _refusing(tags: frozenset[str]) -> AfterValidator:
    def check(kind: str) -> str:
        if kind in tags:
            raise ValueError(f"malformed {kind!r} block")
        return kind

    return AfterValidator(check)


_RESULT_BLOCK_TAGS = frozenset({"text", "image", "document", "tool_reference"})
_BLOCK_TAGS = frozenset(
    {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}
)


class _UnknownResultItem(UnknownBlock):
    type: Annotated[str, _refusing(_RESULT_BLOCK_TAGS)] = "unknown"


class _UnknownContentBlock(UnknownBlock):
    type: Annotated[str, _refusing(_BLOCK_TAGS)] = "unknown"


ToolResultContentBlock = Annotated[
    Annotated[TextBlock | ImageBlock | DocumentBlock | ToolReferenceBlock, Field(discriminator="type")]
    | _UnknownResultItem,
    Field(union_mode="left_to_right"),
]


class ContentSource(BaseModel):
    """Document source ``{"type": "content", "content": str | [text/image blocks]}``."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["content"] = "content"
    content: str | list[ToolResultContentBlock] = ""


class ToolResultBlock(_Block):
    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: str | list[ToolResultContentBlock] | None = None
    is_error: bool | None = None


# The blocks a message's content may hold, told apart by their `type`.
KnownContentBlock = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
)
ContentBlock = Annotated[
    Annotated[KnownContentBlock, Field(discriminator="type")] | _UnknownContentBlock,
    Field(union_mode="left_to_right"),
]

# Everything a translator may meet in a content list.
AnyBlock = KnownContentBlock | ToolReferenceBlock | UnknownBlock

DocumentBlock.model_rebuild()


# --------------------------------------------------------------------------- messages


class Message(BaseModel):
    """One conversation turn. Claude Code 2.1.x also sends ``role: "system"`` turns."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock]


# --------------------------------------------------------------------------- tools


class Tool(BaseModel):
    """A tool definition.

    Custom (client) tools carry ``input_schema``; Anthropic server tools
    (``{"type": "web_search_20250305", "name": "web_search", ...}``) do not and are
    dropped by the translator.  Extra keys (``defer_loading``, ``cache_control``,
    ``allowed_callers``, server-tool options) are tolerated.
    """

    model_config = ConfigDict(extra="allow")

    type: str | None = None
    name: str = ""
    description: str | None = None
    input_schema: dict[str, Any] | None = None

    @property
    def is_custom(self) -> bool:
        return self.input_schema is not None and self.type in (None, "custom")


class ToolChoice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["auto", "any", "tool", "none"] = "auto"
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


# --------------------------------------------------------------------------- requests


class CountTokensRequest(BaseModel):
    """Body of ``POST /v1/messages/count_tokens``."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[Message]
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: dict[str, Any] | None = None


class MessagesRequest(CountTokensRequest):
    """Body of ``POST /v1/messages``.

    Fields such as ``context_management``, ``output_config``, ``service_tier``,
    ``container`` or ``mcp_servers`` land in ``model_extra`` and are never forwarded.
    """

    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    metadata: dict[str, Any] | None = None
