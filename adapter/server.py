"""Running the adapter under uvicorn with redacted logging."""

import gc
import logging

import uvicorn

from adapter.app import create_app
from adapter.settings import AdapterSettings
from adapter.slow_clients import DeadlineProtocol
from farm_core.key_guard import make_undumpable


def serve(host: str, port: int, log_level: str = "info") -> None:
    """Serve the adapter until interrupted; refuses to start without client tokens unless anonymous is
    allowed."""
    # First, before any key is read: from here on no other process of this user can read our
    # environment or memory (only CAP_SYS_PTRACE can), whatever agents run as this user.
    guarded = make_undumpable()
    settings = AdapterSettings()
    if not settings.client_tokens and not settings.allow_anonymous:
        raise SystemExit("adapter: set ADAPTER_TOKENS (or ADAPTER_ALLOW_ANONYMOUS=1 for loopback-only dev)")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not guarded:
        logging.getLogger("codex_farm.adapter").warning(
            "adapter: this system cannot make the process non-dumpable; "
            "processes of its user can read its memory and environment"
        )
    app = create_app(settings)
    # Start-up leaves ~50k long-lived objects; freezing them keeps full collections (20+ ms pauses
    # in the request path) from walking them again and again.
    gc.collect()
    gc.freeze()
    protocol = DeadlineProtocol.with_deadlines(settings.header_timeout_s, settings.body_timeout_s)
    uvicorn.run(
        app, host=host, port=port, http=protocol, log_config=None, log_level=log_level, access_log=False
    )
