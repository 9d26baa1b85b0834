"""get_artifact_slice: bounded, redacted byte ranges of a job's log, patch and one check's output; no model
call."""

from mcp import Client

from mcp_frontend.server import build_server
from tests.fixtures.mcp_calls import call_error, call_ok
from tests.mcp_frontend.cheap.support import make_job, sandbox, service  # noqa: F401

BINARY_PATCH = (
    b"diff --git a/x.bin b/x.bin\nGIT binary patch\n"
    + bytes(range(256))
    + "\nü naïve ünïcödé\n".encode() * 400
)
LOG = [
    ("status", "running on w1"),
    ("tool", "Bash ls"),
    ("status", "check lint: running"),
    ("check", "lint ok"),
    ("status", "check lint: passed"),
    ("status", "check tests: running"),
    ("check", "collected 3 items"),
    ("check", "FAILED test_greet - token=sk-abcdefghijklmnop1234"),
    ("status", "check tests: failed"),
    ("status", "completed: 1 files changed; lint: passed; tests: failed"),
]


async def read_all(client, job_id: str, artifact: str, max_bytes: int) -> tuple[str, list[dict]]:
    text, slices, offset = "", [], 0
    while offset is not None:
        piece = await call_ok(
            client,
            "get_artifact_slice",
            {"job_id": job_id, "artifact": artifact, "offset": offset, "max_bytes": max_bytes},
        )
        assert piece["bytes"] <= max_bytes and piece["offset"] == offset
        slices.append(piece)
        text += piece["text"]
        offset = piece["next_offset"]
    return text, slices


async def test_slices_of_log_patch_and_check(service, scripted_gateway):  # noqa: F811
    job_id = make_job(
        service, patch=BINARY_PATCH, checks={"lint": "passed", "tests": "failed"}, log=LOG, changed=["x.bin"]
    )
    async with Client(build_server(service)) as client:
        check, _ = await read_all(client, job_id, "check:tests", 65536)
        lint, _ = await read_all(client, job_id, "check:lint", 65536)
        log, log_slices = await read_all(client, job_id, "log", 100)
        patch, patch_slices = await read_all(client, job_id, "patch", 4096)

    assert check == "collected 3 items\nFAILED test_greet - token=[REDACTED]\n" and lint == "lint ok\n"
    lines = log.splitlines()
    assert len(lines) == len(LOG) and lines[1].endswith(" tool: Bash ls") and "sk-abcdef" not in log
    assert len(log_slices) > 1 and all(s["total_bytes"] == len(log.encode()) for s in log_slices)
    expected = BINARY_PATCH.decode("utf-8", "replace")
    # no slice split a character: no extra replacement characters
    assert patch == expected and len(patch_slices) > 1
    assert (
        patch_slices[-1]["next_offset"] is None and patch_slices[0]["next_offset"] == patch_slices[0]["bytes"]
    )
    assert scripted_gateway.requests() == []


async def test_slice_past_the_end_is_empty(service):  # noqa: F811
    job_id = make_job(service, patch=b"diff\n", changed=["a"])
    async with Client(build_server(service)) as client:
        piece = await call_ok(
            client, "get_artifact_slice", {"job_id": job_id, "artifact": "patch", "offset": 99}
        )
    assert piece == {
        "job_id": job_id,
        "artifact": "patch",
        "offset": 5,
        "bytes": 0,
        "total_bytes": 5,
        "next_offset": None,
        "text": "",
    }


async def test_artifact_errors_are_structured(service):  # noqa: F811
    job_id = make_job(service, checks={"tests": "passed"}, log=LOG, changed=["x"])
    cases = [
        ({"job_id": "no-such-job", "artifact": "log"}, "unknown_job"),
        ({"job_id": job_id, "artifact": "stdout"}, "invalid_argument"),
        ({"job_id": job_id, "artifact": "check:nope"}, "invalid_argument"),
        ({"job_id": job_id, "artifact": "log", "max_bytes": 65537}, "invalid_argument"),
        ({"job_id": job_id, "artifact": "log", "max_bytes": 0}, "invalid_argument"),
        ({"job_id": job_id, "artifact": "log", "offset": -1}, "invalid_argument"),
        ({"job_id": job_id, "artifact": "patch"}, "patch_unavailable"),
    ]
    async with Client(build_server(service)) as client:
        for arguments, code in cases:
            error = await call_error(client, "get_artifact_slice", arguments)
            assert error["code"] == code, arguments
    assert "check:tests" in (await _error(service, {"job_id": job_id, "artifact": "check:nope"}))["message"]


async def _error(service, arguments):  # noqa: F811
    async with Client(build_server(service)) as client:
        return await call_error(client, "get_artifact_slice", arguments)
