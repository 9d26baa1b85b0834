"""TLS to Redis: a rediss:// REDIS_URL reaches Celery's config, and on a real TLS redis-server both the
broker connection and the job store verify the server's certificate."""

import ssl
import uuid

import pytest
from celery import Celery

from farm_core.queue import celery_config
from farm_core.redis_client import connect
from farm_core.settings import FarmSettings
from tests.fixtures.redis_tls import TlsRedis, tls_redis  # noqa: F401  (the fixture)


def config_for(url: str) -> dict:
    return celery_config(FarmSettings(REDIS_URL=url))


def celery_app(url: str) -> Celery:
    app = Celery("tls-probe", set_as_current=False)
    app.conf.update(config_for(url))
    app.conf.update(
        broker_connection_retry_on_startup=False, broker_connection_max_retries=0, broker_connection_timeout=5
    )
    return app


@pytest.mark.parametrize(
    "url, expected",
    [
        ("redis://:pw@redis.example:6379/0", None),
        ("rediss://:pw@redis.example:6380/0", {"ssl_cert_reqs": ssl.CERT_REQUIRED}),
        (
            "rediss://:pw@redis.example:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/codex-farm/redis-ca.pem",
            {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": "/etc/codex-farm/redis-ca.pem"},
        ),
        (
            "rediss://:pw@redis.example:6380/0?ssl_cert_reqs=none&ssl_certfile=/c.pem&ssl_keyfile=/k.pem",
            {"ssl_cert_reqs": ssl.CERT_NONE, "ssl_certfile": "/c.pem", "ssl_keyfile": "/k.pem"},
        ),
    ],
    ids=["plain", "bare-rediss", "private-ca", "client-cert"],
)
def test_the_urls_tls_options_reach_the_celery_config(url, expected):
    config = config_for(url)
    assert config.get("broker_use_ssl") == expected
    assert config.get("redis_backend_use_ssl") == expected


def test_celery_and_the_job_store_use_verified_tls(tls_redis: TlsRedis):
    url, queue = tls_redis.verified_url(), "tls-" + uuid.uuid4().hex[:8]
    app = celery_app(url)
    try:
        app.send_task("codex_farm.tls_probe", queue=queue)
    finally:
        app.close()
    client = connect(url, retries=0)
    assert client.connection_pool.connection_kwargs["ssl_cert_reqs"] == "required"
    assert client.llen(queue) == 1, "the task message went over TLS into the queue the job store sees"


def test_a_bare_rediss_url_refuses_a_certificate_it_cannot_verify(tls_redis: TlsRedis):
    """The test CA is in no system store: without ssl_ca_certs both clients must refuse the server."""
    app = celery_app(tls_redis.url())
    try:
        with pytest.raises(Exception, match="certificate verify failed"):
            app.connection_for_write().ensure_connection(max_retries=0)
    finally:
        app.close()
    with pytest.raises(Exception, match="certificate verify failed"):
        connect(tls_redis.url(), retries=0).ping()
