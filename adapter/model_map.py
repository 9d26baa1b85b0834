"""Which backend model serves a Claude model name: its output cap, provider profile and thinking."""

from adapter.providers import PROFILES, ProviderProfile, infer_profile
from adapter.reasoning_seal import ReasoningSeal
from adapter.settings import AdapterSettings, ModelRoute
from adapter.translate.request import UpstreamTarget


def resolve_target(
    requested_model: str, settings: AdapterSettings, seal: ReasoningSeal | None = None
) -> UpstreamTarget:
    """Pick the backend model: exact map entry, then family (haiku/sonnet/opus) substring, then the
    default."""
    route = settings.model_map.get(requested_model)
    if route is None:
        lowered = requested_model.lower()
        route = next((r for key, r in settings.model_map.items() if key.lower() in lowered), None)
    route = route or ModelRoute(model=settings.default_model)
    return UpstreamTarget(
        model=route.model,
        max_output_tokens=route.max_output_tokens or settings.max_output_tokens,
        profile=profile_of(route, settings),
        thinking=route.thinking,
        effort=route.effort,
        seal=seal,
    )


def profile_of(route: ModelRoute, settings: AdapterSettings) -> ProviderProfile:
    """The route's profile, else ADAPTER_PROFILE, else the one the gateway URL or backend model name
    implies."""
    name = route.profile or settings.profile
    return PROFILES[name] if name is not None else infer_profile(settings.upstream_base_url, route.model)


def listed_models(settings: AdapterSettings) -> list[str]:
    """Model names the adapter advertises on GET /v1/models."""
    return sorted(set(settings.model_map) | {settings.default_model})
