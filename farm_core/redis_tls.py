"""TLS to Redis for Celery: a `rediss://` REDIS_URL is verified by the broker connection as by redis-py.

Every Redis client of the farm reads its TLS options from REDIS_URL's query (`ssl_cert_reqs`,
`ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`): redis-py (job store, frontend) takes them as
keyword arguments, and so does Kombu (the broker). They differ on a bare `rediss://` URL: redis-py
requires a valid server certificate, Kombu would accept any. The options below close that gap.
"""

import ssl
from urllib.parse import parse_qs, urlsplit

CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
# The TLS options REDIS_URL's query may carry, as redis-py and Kombu name them.
URL_TLS_OPTIONS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


def celery_tls_config(redis_url: str) -> dict:
    """broker_use_ssl and redis_backend_use_ssl for a rediss:// URL (empty for redis:// and unix://).

    The URL's own TLS options are kept; without ssl_cert_reqs the certificate is required."""
    parts = urlsplit(redis_url)
    if parts.scheme != "rediss":
        return {}
    query = {name: values[-1] for name, values in parse_qs(parts.query).items() if name in URL_TLS_OPTIONS}
    reqs = query.pop("ssl_cert_reqs", "required")
    options = {"ssl_cert_reqs": CERT_REQS.get(reqs.lower().removeprefix("cert_"), ssl.CERT_REQUIRED), **query}
    return {"broker_use_ssl": options, "redis_backend_use_ssl": dict(options)}
