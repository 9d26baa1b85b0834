"""What the response side must remember about the request it answers."""

from collections.abc import Callable
from dataclasses import dataclass, field

from adapter.reasoning_seal import CarriedReasoning


@dataclass(frozen=True)
class ResponseContext:
    """Request facts needed to translate the upstream answer back to Anthropic form."""

    # Model name the client asked for; Anthropic responses echo it, not the backend model.
    request_model: str
    # Tool name sent upstream -> the client's original tool name (names are sanitized for OpenAI).
    tool_names: dict[str, str] = field(default_factory=dict)
    # The client's stop_sequences, to tell `stop_sequence` from `end_turn`.
    stop_sequences: tuple[str, ...] = ()
    # The provider's reasoning state -> the thinking block's signature that carries it back; None: not
    # carried.
    seal_reasoning: Callable[[CarriedReasoning], str] | None = None

    @property
    def carries_reasoning(self) -> bool:
        """Whether reasoning state is sealed into thinking signatures for the next request."""
        return self.seal_reasoning is not None

    def signature(self, carried: CarriedReasoning) -> str:
        """The signature of a thinking block carrying this state ("" when reasoning is not carried)."""
        return self.seal_reasoning(carried) if self.seal_reasoning is not None else ""

    def original_tool_name(self, upstream_name: str) -> str:
        """Map a tool name the upstream used back to the client's name."""
        return self.tool_names.get(upstream_name, upstream_name)
