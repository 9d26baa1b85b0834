"""Git URLs leave the frontend (into a job) and the worker (into a message) without a password or token."""

import pytest

from farm_core.url_credentials import without_credentials


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x-access-token:ghp_secret@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://ghp_secret@github.com/o/r.git", "https://github.com/o/r.git"),
        ("ssh://git:pw@host:2222/r.git", "ssh://git@host:2222/r.git"),
        ("ssh://git@host/r.git", "ssh://git@host/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
        ("https://host/r.git", "https://host/r.git"),
    ],
)
def test_credentials_never_leave_the_frontend(url: str, expected: str) -> None:
    assert without_credentials(url) == expected
