"""The files `codex-farm up` keeps: where XDG puts them, their modes, what persists, and what wins over
them."""

import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from codex_farm.local_state import (
    FILE_MODE,
    FOLDER_MODE,
    FarmEnv,
    LocalPaths,
    LocalStateError,
    RunningFarm,
    clear_running,
    mcp_token,
    process_start,
    read_config,
    read_running,
    sandbox_root,
    still_running,
    write_running,
)


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    return LocalPaths.from_env({"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path / "home")})


def running(pid: int, **env: str) -> RunningFarm:
    farm_env = FarmEnv(
        redis_url="redis://:pw@127.0.0.1:6390/0",
        adapter_url="http://127.0.0.1:8788",
        adapter_token="adapter-secret",
        mcp_token="mcp-secret",
        sandbox_root=Path("/srv/src"),
        cache_dir=Path("/var/cache/farm"),
        **env,
    )
    return RunningFarm(pid=pid, mcp_url="http://127.0.0.1:8787/mcp", env=farm_env)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_folder_is_under_xdg_config_home_else_home_dot_config(tmp_path: Path):
    assert LocalPaths.from_env({"XDG_CONFIG_HOME": "/x/conf", "HOME": "/h"}).config_file == Path(
        "/x/conf/codex-farm/config.json"
    )
    assert LocalPaths.from_env({"HOME": "/h"}).state_file == Path("/h/.config/codex-farm/up.json")
    assert LocalPaths.from_env({"XDG_CONFIG_HOME": "", "HOME": "/h"}).folder == Path("/h/.config/codex-farm")
    # XDG: a relative path in XDG_CONFIG_HOME is invalid and ignored.
    assert LocalPaths.from_env({"XDG_CONFIG_HOME": "rel/conf", "HOME": "/h"}).folder == Path(
        "/h/.config/codex-farm"
    )


def test_a_token_is_made_once_kept_0600_in_a_0700_folder_and_reused(paths: LocalPaths):
    previous = os.umask(0o022)  # the usual umask: a plain mkdir would be 0755 and a plain file 0644
    try:
        first = mcp_token(paths, None)
    finally:
        os.umask(previous)
    assert len(first.get_secret_value()) >= 32
    assert mode(paths.folder) == FOLDER_MODE and mode(paths.config_file) == FILE_MODE
    assert mcp_token(paths, None) == first
    assert json.loads(paths.config_file.read_text()) == {"mcp_token": first.get_secret_value()}
    assert [p.name for p in paths.folder.iterdir()] == ["config.json"]  # no temporary file left behind


def test_farm_mcp_token_in_the_environment_wins_and_is_not_stored(paths: LocalPaths):
    kept = mcp_token(paths, None)
    assert mcp_token(paths, SecretStr("from-env")).get_secret_value() == "from-env"
    assert read_config(paths).mcp_token == kept


def test_the_sandbox_root_flag_is_kept_and_the_environment_wins_over_the_kept_one(
    paths: LocalPaths, tmp_path: Path
):
    assert sandbox_root(paths, None, None) == Path.home()
    assert not paths.config_file.exists()  # nothing to keep yet
    assert sandbox_root(paths, tmp_path / "src", None) == tmp_path / "src"
    assert sandbox_root(paths, None, None) == tmp_path / "src"
    assert sandbox_root(paths, None, tmp_path / "other") == tmp_path / "other"
    assert read_config(paths).sandbox_root == tmp_path / "src"


def test_the_root_and_the_token_are_kept_side_by_side(paths: LocalPaths, tmp_path: Path):
    token = mcp_token(paths, None)
    sandbox_root(paths, tmp_path, None)
    config = read_config(paths)
    assert config.mcp_token == token and config.sandbox_root == tmp_path


def test_a_loose_folder_is_tightened_on_write(paths: LocalPaths):
    paths.folder.mkdir(parents=True, mode=0o755)
    os.chmod(paths.folder, 0o755)
    mcp_token(paths, None)
    assert mode(paths.folder) == FOLDER_MODE


def test_the_running_farm_round_trips_0600_and_reveals_secrets_only_in_its_file(paths: LocalPaths):
    farm = running(4242, queue="q1")
    write_running(paths, farm)
    assert mode(paths.state_file) == FILE_MODE
    assert read_running(paths) == farm
    stored = json.loads(paths.state_file.read_text())
    assert (
        stored["env"]["REDIS_URL"] == "redis://:pw@127.0.0.1:6390/0"
        and stored["env"]["ADAPTER_TOKEN"] == "adapter-secret"
    )
    assert "adapter-secret" not in repr(farm) and "pw@" not in str(farm)


def test_farm_env_names_each_value_by_its_variable_and_leaves_unset_ones_out():
    assert running(1, key_prefix="p:").env.variables() == {
        "REDIS_URL": "redis://:pw@127.0.0.1:6390/0",
        "ADAPTER_URL": "http://127.0.0.1:8788",
        "ADAPTER_TOKEN": "adapter-secret",
        "FARM_MCP_TOKEN": "mcp-secret",
        "SANDBOX_ROOT": "/srv/src",
        "WORKER_CACHE_DIR": "/var/cache/farm",
        "FARM_KEY_PREFIX": "p:",
    }


def test_clear_removes_only_the_state_its_own_process_wrote(paths: LocalPaths):
    write_running(paths, running(4242))
    clear_running(paths, 1111)
    assert paths.state_file.exists()
    clear_running(paths, 4242)
    assert not paths.state_file.exists()
    clear_running(paths, 4242)  # already gone: nothing to do


def test_a_broken_file_is_named_without_quoting_its_content(paths: LocalPaths):
    paths.folder.mkdir(parents=True)
    paths.config_file.write_text('{"mcp_token": ["not-a-string-secret"]}')
    with pytest.raises(LocalStateError) as raised:
        read_config(paths)
    assert str(paths.config_file) in str(raised.value) and "not-a-string-secret" not in str(raised.value)


def test_a_recorded_up_runs_only_while_its_very_process_lives():
    me, started = os.getpid(), process_start(os.getpid())
    assert still_running(running(me).model_copy(update={"started": started}))
    assert still_running(running(me))  # recorded where the start time could not be read
    # a later process got the PID
    assert not still_running(running(me).model_copy(update={"started": started - 1}))
    assert not still_running(running(2**22 + 12345))  # above the kernel's pid_max: gone
