"""`python -m scripted_gateway`: serve scripted scenarios as an OpenAI-compatible gateway."""

import argparse
import logging

from .profiles import PROFILE_NAMES
from .scenario import builtin_scenarios_dir
from .server import serve


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m scripted_gateway", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--scenarios", default=None, help="scenario JSON file or folder (default: the bundled examples)"
    )
    parser.add_argument("--default-scenario", default=None, help="scenario used when a request has no marker")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--max-output-tokens", type=int, default=8192)
    parser.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default="generic",
        help="provider whose thinking rules to play (default: generic, none enforced)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    serve(
        args.scenarios or builtin_scenarios_dir(),
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        default_scenario=args.default_scenario,
        max_output_tokens=args.max_output_tokens,
        profile=args.profile,
    )


if __name__ == "__main__":
    main()
