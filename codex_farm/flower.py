"""`codex-farm flower`: Flower for the farm's Celery app, on loopback, behind basic auth, read-only by
default."""

import ipaddress
import os
import sys

from flower.options import default_options

from codex_farm.settings import FlowerSettings
from farm_core.errors import FarmError

# The tasks page shows each job's argsrepr (job id, queue, attempt, short redacted prompt) next to its state.
TASK_COLUMNS = "name,uuid,state,args,received,started,runtime,worker"


class FlowerRefused(FarmError):
    """A setting that would expose Flower without authentication, or let viewers act on the farm."""

    code = "flower_refused"
    hint = "set FLOWER_BASIC_AUTH=user:password (docs/settings.md)"


def basic_auth_logins(settings: FlowerSettings) -> list[str]:
    """The `user:password` logins of FLOWER_BASIC_AUTH; refuses none, an empty user or an empty password."""
    if settings.basic_auth is None or not settings.basic_auth.get_secret_value().strip():
        raise FlowerRefused(
            "FLOWER_BASIC_AUTH is not set: codex-farm flower never serves without basic auth (user:password)"
        )
    logins = [login.strip() for login in settings.basic_auth.get_secret_value().split(",")]
    for login in logins:
        user, _, password = login.partition(":")
        if not user or not password:
            raise FlowerRefused(
                "FLOWER_BASIC_AUTH must be user:password[,user2:password2], each with a user and a password"
            )
    return logins


def flower_argv(settings: FlowerSettings, address: str, port: int, allow_control: bool) -> list[str]:
    """The `celery flower` arguments for our app; raises FlowerRefused instead of starting an open Flower."""
    if os.environ.get("FLOWER_UNAUTHENTICATED_API"):
        raise FlowerRefused(
            "FLOWER_UNAUTHENTICATED_API is set: unset it, codex-farm flower never "
            "serves an unauthenticated API"
        )
    logins = basic_auth_logins(settings)
    if not allow_control and not hasattr(default_options, "read_only"):
        raise FlowerRefused("this Flower has no read-only mode (upgrade flower, or pass --allow-control)")
    argv = [
        "flower",
        f"--address={address}",
        f"--port={port}",
        # In this process's arguments only, never on a command line: the host's process list does not show it.
        f"--basic_auth={','.join(logins)}",
        # Flower keeps no state file: what it saw of the jobs stays in memory.
        "--persistent=False",
        f"--tasks_columns={TASK_COLUMNS}",
    ]
    if hasattr(default_options, "read_only"):
        argv.append(f"--read_only={not allow_control}")
    return argv


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def run_flower(address: str, port: int, allow_control: bool) -> int:
    """Run Flower for the farm's Celery app (farm_core/queue.py) in this process until SIGTERM or Ctrl-C; 2
    if it refuses to start."""
    try:
        argv = flower_argv(FlowerSettings(), address, port, allow_control)
    except FlowerRefused as exc:
        print(f"codex-farm flower: {exc}", file=sys.stderr)
        return 2
    if not is_loopback(address):
        print(
            f"codex-farm flower: listening on {address}, not loopback; keep it behind "
            "a firewall or a TLS proxy",
            file=sys.stderr,
        )
    # Imported here: it configures the farm's Celery app, reading and validating its settings; refusals first.
    from farm_core.queue import app

    return app.start(argv) or 0
