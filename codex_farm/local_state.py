"""What `codex-farm up` keeps on disk: the config that outlives a run, and the state of the farm it runs.

Both files live in `$XDG_CONFIG_HOME/codex-farm/` (default `~/.config/codex-farm/`), the folder of mode 0700
and each file of mode 0600. The state holds the private Redis password and the adapter token; it sits with the
config rather than under `~/.local/state` because `~/.config` is among the paths hidden from sandboxed agents
(WORKER_SANDBOX_HIDE).
"""

import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, SecretStr, ValidationError

from farm_core.errors import FarmError

APP_FOLDER = "codex-farm"
CONFIG_FILE = "config.json"
STATE_FILE = "up.json"
FOLDER_MODE = 0o700
FILE_MODE = 0o600
TOKEN_BYTES = 24

# A secret revealed only when written to its 0600 file; printed or logged, it stays masked.
StoredSecret = Annotated[
    SecretStr, PlainSerializer(lambda secret: secret.get_secret_value(), return_type=str, when_used="json")
]


class LocalStateError(FarmError):
    """A config or state file that exists but cannot be read as one; the message names the file, never its
    content."""

    code = "local_state_invalid"
    hint = "fix or delete the file the message names; `codex-farm up` writes it anew"


class LocalPaths(BaseModel):
    """The folder of `up`'s files and the files in it."""

    folder: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "LocalPaths":
        """`$XDG_CONFIG_HOME/codex-farm`, else `~/.config/codex-farm` (a relative XDG_CONFIG_HOME is
        ignored, as XDG says)."""
        configured = Path(env.get("XDG_CONFIG_HOME") or "")
        home = Path(env["HOME"]) if env.get("HOME") else Path.home()
        return cls(folder=(configured if configured.is_absolute() else home / ".config") / APP_FOLDER)

    @property
    def config_file(self) -> Path:
        return self.folder / CONFIG_FILE

    @property
    def state_file(self) -> Path:
        return self.folder / STATE_FILE


class StoredConfig(BaseModel):
    """What `up` keeps across runs so the Codex config stays valid: the MCP token and the sandbox root."""

    model_config = ConfigDict(extra="ignore")

    mcp_token: StoredSecret | None = None
    sandbox_root: Path | None = None


class FarmEnv(BaseModel):
    """The settings that point a command at a farm, each under the environment variable it is read from."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    redis_url: StoredSecret = Field(alias="REDIS_URL")
    adapter_url: str = Field(alias="ADAPTER_URL")
    adapter_token: StoredSecret = Field(alias="ADAPTER_TOKEN")
    mcp_token: StoredSecret = Field(alias="FARM_MCP_TOKEN")
    sandbox_root: Path = Field(alias="SANDBOX_ROOT")
    cache_dir: Path = Field(alias="WORKER_CACHE_DIR")
    queue: str | None = Field(None, alias="FARM_QUEUE")
    key_prefix: str | None = Field(None, alias="FARM_KEY_PREFIX")
    metrics_file: Path | None = Field(None, alias="WORKER_METRICS_FILE")

    def variables(self) -> dict[str, str]:
        """Variable name -> value, secrets revealed, unset ones left out."""
        return {
            name: str(value)
            for name, value in self.model_dump(mode="json", by_alias=True, exclude_none=True).items()
        }


class RunningFarm(BaseModel):
    """The farm a running `up` recorded: its process, its MCP URL and the settings that reach it."""

    model_config = ConfigDict(extra="ignore")

    pid: int
    started: int | None = Field(
        None, description="The process's start time (see process_start), to tell it from a later one."
    )
    mcp_url: str
    env: FarmEnv


ModelT = TypeVar("ModelT", bound=BaseModel)


def read_config(paths: LocalPaths) -> StoredConfig:
    """The kept config; empty when there is none yet."""
    return _read(paths.config_file, StoredConfig) or StoredConfig()


def write_config(paths: LocalPaths, config: StoredConfig) -> None:
    """Replace the kept config (file 0600, folder 0700)."""
    _write_private(paths, paths.config_file, config.model_dump_json(indent=2, exclude_none=True))


def mcp_token(paths: LocalPaths, from_env: SecretStr | None) -> SecretStr:
    """FARM_MCP_TOKEN when set; else the kept token, made and kept on first use."""
    if from_env is not None:
        return from_env
    config = read_config(paths)
    if config.mcp_token is None:
        config = config.model_copy(update={"mcp_token": SecretStr(secrets.token_urlsafe(TOKEN_BYTES))})
        write_config(paths, config)
    return config.mcp_token


def sandbox_root(paths: LocalPaths, from_flag: Path | None, from_env: Path | None) -> Path:
    """--sandbox-root (kept for later runs), else SANDBOX_ROOT, else the kept root, else the home
    directory."""
    config = read_config(paths)
    if from_flag is not None:
        if config.sandbox_root != from_flag:
            write_config(paths, config.model_copy(update={"sandbox_root": from_flag}))
        return from_flag
    return from_env or config.sandbox_root or Path.home()


def read_running(paths: LocalPaths) -> RunningFarm | None:
    """The farm recorded in the state file, if any (its process may have gone: see still_running)."""
    return _read(paths.state_file, RunningFarm)


def write_running(paths: LocalPaths, farm: RunningFarm) -> None:
    """Record the running farm (file 0600, folder 0700), its settings under their variable names."""
    _write_private(paths, paths.state_file, farm.model_dump_json(indent=2, by_alias=True, exclude_none=True))


def clear_running(paths: LocalPaths, pid: int) -> None:
    """Remove the state file if process pid recorded it."""
    try:
        recorded = read_running(paths)
    except LocalStateError:
        return  # not ours to judge: a file we cannot read was not written by this run
    if recorded is not None and recorded.pid == pid:
        paths.state_file.unlink(missing_ok=True)


def still_running(farm: RunningFarm) -> bool:
    """True while the `up` that recorded farm lives: its PID exists and is not a later process given the
    same PID."""
    if not _process_exists(farm.pid):
        return False
    return farm.started is None or process_start(farm.pid) in (None, farm.started)


def process_start(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (Linux /proc); None where that cannot be read."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name, which may itself hold spaces; the start time is field 22.
    return int(text[text.rindex(")") + 2 :].split()[19])


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _read(path: Path, model: type[ModelT]) -> ModelT | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LocalStateError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        return model.model_validate_json(text)
    except ValidationError:
        # The error would quote the file's content, secrets included: name the file only.
        raise LocalStateError(f"{path} is not a valid codex-farm file: fix or delete it") from None


def _write_private(paths: LocalPaths, target: Path, text: str) -> None:
    """Write text to target atomically: a 0600 temporary file in the 0700 folder, renamed over target."""
    paths.folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    # mkdir's mode passes through the umask, and an older folder may be looser
    os.chmod(paths.folder, FOLDER_MODE)
    # mkstemp creates the file 0600 already: it is never readable by others, not even before the rename.
    handle, temporary = tempfile.mkstemp(dir=paths.folder, prefix=f".{target.name}.")
    try:
        os.fchmod(handle, FILE_MODE)
        with os.fdopen(handle, "w") as file:
            file.write(text + "\n")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
