"""Git URLs without their credentials: what goes into a job, a log line or a message, never a password or
token."""

from urllib.parse import urlsplit, urlunsplit

# Schemes whose user part is a login (`ssh://git@host`), not a secret: kept, only a password dropped.
USER_IS_LOGIN = ("ssh", "git+ssh", "ssh+git")


def without_credentials(url: str) -> str:
    """url without a password (and, but for ssh logins, without any user info, often a token)."""
    if "://" not in url:
        return url  # a path or scp-like `user@host:path`, whose user is an ssh login
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}@{host}" if user and parts.scheme in USER_IS_LOGIN else host
    return urlunsplit(parts._replace(netloc=netloc))
