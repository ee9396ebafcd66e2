"""``faceplate`` command line: one subcommand per module in :mod:`faceplate.commands`.

Each command module defines ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int`` and
imports the heavy stack (torch, OpenImageIO) inside ``run`` only, so ``faceplate --help`` and
``faceplate status`` answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from faceplate_client.shot_runs import running

from . import __version__, commands
from .errors import ExitCode, FaceplateError

# The order ``faceplate --help`` lists them in: the data path, then service and pipeline.
_ORDER = ("demo", "extract", "coverage", "train", "evaluate", "convert", "serve", "status", "farm")
COMMANDS = tuple(sorted((m.name for m in pkgutil.iter_modules(commands.__path__)),
                        key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n)))


def _command(name: str):
    return importlib.import_module(f"faceplate.commands.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceplate", description="Face replacement for VFX compositing.")
    parser.add_argument("--version", action="version", version=f"faceplate {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name, add_help=False)
            continue
        module = _command(name)
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    running(["faceplate", *argv])  # what the shot's run log records
    chosen = next((a for a in argv if a in COMMANDS), None)
    parser = build_parser(only=chosen)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(_command(args.command).run(args) or 0)
    except FaceplateError as exc:
        print(f"faceplate {args.command}: error: {exc}", file=sys.stderr)
        return int(ExitCode.COULD_NOT_RUN)
    except KeyboardInterrupt:
        print(f"faceplate {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
