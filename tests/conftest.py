pytest_plugins = [
    "tests.fixtures.leak_scan",  # first: other fixture modules import it
    "tests.fixtures.gateway",
    "tests.fixtures.redis_server",
    "tests.fixtures.adapter",
    "tests.fixtures.claude",
    "tests.fixtures.git_repos",
    "tests.fixtures.farm",
    "tests.fixtures.recording_service",
    "tests.fixtures.chaos",
]
