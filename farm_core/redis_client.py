"""Redis connections that ride out a Redis restart instead of failing the job."""

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

# About a minute of reconnect attempts: long enough for a restart, short enough to surface an outage.
RETRIES = 60
BACKOFF = ExponentialBackoff(cap=1.0, base=0.05)


def connect(url: str, retries: int = RETRIES) -> redis.Redis:
    """A client that retries commands across connection loss (the job store's writes are idempotent or
    guarded)."""
    return redis.Redis.from_url(
        url,
        retry=Retry(BACKOFF, retries),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        health_check_interval=10,
        socket_keepalive=True,
        socket_connect_timeout=5,
    )
