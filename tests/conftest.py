pytest_plugins = [
    "tests.fixtures.gateway",
    "tests.fixtures.redis_server",
    "tests.fixtures.adapter",
    "tests.fixtures.claude",
    "tests.fixtures.git_repos",
    "tests.fixtures.farm",
]
