"""Which backend model serves a Claude model name, and with what output cap."""

from adapter.settings import AdapterSettings
from adapter.translate.request import UpstreamTarget


def resolve_target(requested_model: str, settings: AdapterSettings) -> UpstreamTarget:
    """Pick the backend model: exact map entry, then family (haiku/sonnet/opus) substring, then the default."""
    route = settings.model_map.get(requested_model)
    if route is None:
        lowered = requested_model.lower()
        route = next((r for key, r in settings.model_map.items() if key.lower() in lowered), None)
    if route is None:
        return UpstreamTarget(model=settings.default_model, max_output_tokens=settings.max_output_tokens)
    return UpstreamTarget(model=route.model, max_output_tokens=route.max_output_tokens or settings.max_output_tokens)


def listed_models(settings: AdapterSettings) -> list[str]:
    """Model names the adapter advertises on GET /v1/models."""
    return sorted(set(settings.model_map) | {settings.default_model})
