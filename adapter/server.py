"""Running the adapter under uvicorn with redacted logging."""

import gc
import logging

import uvicorn

from adapter.app import create_app
from adapter.settings import AdapterSettings


def serve(host: str, port: int, log_level: str = "info") -> None:
    """Serve the adapter until interrupted; refuses to start without client tokens unless anonymous is allowed."""
    settings = AdapterSettings()
    if not settings.client_tokens and not settings.allow_anonymous:
        raise SystemExit("adapter: set ADAPTER_TOKENS (or ADAPTER_ALLOW_ANONYMOUS=1 for loopback-only dev)")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    # Start-up leaves ~50k long-lived objects; freezing them keeps full collections (20+ ms pauses
    # in the request path) from walking them again and again.
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_config=None, log_level=log_level, access_log=False)
