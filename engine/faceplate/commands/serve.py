"""Run the Faceplate engine: the process the Nuke nodes and farm tasks talk to.

It listens on a private Unix socket (default $XDG_RUNTIME_DIR/faceplate/engine.sock, or set
FACEPLATE_SOCKET; tcp://127.0.0.1:PORT for loopback TCP) and writes a fresh token to a 0600
file beside it that every client must present. Logs go to a rotating file beside the socket.
Stop it with `faceplate status --shutdown`, Ctrl-C or SIGTERM. See docs/protocol.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

HELP = "run the engine the Nuke nodes talk to"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--socket", metavar="ADDRESS",
                        help="socket path or tcp://127.0.0.1:PORT (default: $FACEPLATE_SOCKET, "
                             "else the private runtime folder)")
    parser.add_argument("--token-file", metavar="PATH",
                        help="where to write the token (default: $FACEPLATE_TOKEN_FILE, else "
                             "beside the socket)")
    parser.add_argument("--log", metavar="PATH",
                        help="log file (default: $FACEPLATE_LOG, else beside the socket)")
    parser.add_argument("--device", default="auto",
                        help="torch device for models: auto (GPU if present), cpu, cuda, cuda:1")
    parser.add_argument("--model-memory", type=float, default=4096, metavar="MB",
                        help="memory budget for cached models (default 4096 MB)")
    parser.add_argument("--max-message", type=float, default=1024, metavar="MB",
                        help="largest array payload a request may carry (default 1024 MB)")
    parser.add_argument("--workers", type=int, default=4,
                        help="threads for file and CPU work (default 4)")


def run(args: argparse.Namespace) -> int:
    from faceplate_client.layout import ALREADY_RUNNING
    from faceplate_client.paths import default_log_path, resolve
    from faceplate_client.protocol import Limits

    from ..errors import FaceplateError
    from ..server.engine import AlreadyRunning, Engine, EngineConfig
    from ..server.logs import log_to_file

    try:
        address, token_path = resolve(args.socket, args.token_file)
    except (ValueError, PermissionError) as exc:
        raise FaceplateError(str(exc)) from None
    log_path = args.log or default_log_path(address)
    config = EngineConfig(address, token_path, log_path, args.device,
                          int(args.model_memory * 1e6),
                          Limits(max_payload=int(args.max_message * 1e6)), args.workers)
    log_to_file(log_path, args.verbose)
    engine = Engine(config)
    try:
        engine.bind()
    except AlreadyRunning as exc:
        print(f"faceplate serve: {exc}", file=sys.stderr)
        return ALREADY_RUNNING
    except OSError as exc:
        raise FaceplateError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: engine.stop())
    print(f"faceplate engine listening on {address}\n  token: {token_path}\n  log:   {log_path}",
          file=sys.stderr, flush=True)
    engine.serve_forever()
    if engine.busy():  # work that ignored cancellation must not keep the process alive
        logging.shutdown()
        os._exit(0)
    return 0
