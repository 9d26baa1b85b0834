"""`python -m codex_farm` is the `codex-farm` command."""

from codex_farm.cli import main

main()
