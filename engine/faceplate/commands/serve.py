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
                        help="threads (and worker processes) for file and CPU work (default 4)")
    limits = parser.add_argument_group("limits (docs/protocol.md, 'Limits')")
    limits.add_argument("--worker-memory", type=float, default=8192, metavar="MB",
                        help="memory a worker process may add for one request (default 8192)")
    limits.add_argument("--no-isolation", action="store_true",
                        help="run align and merge in the engine process itself: no worker "
                             "processes, so an overrunning request cannot be stopped (for "
                             "debugging and benchmarks)")
    limits.add_argument("--payload-memory", type=float, default=4096, metavar="MB",
                        help="request payloads held at once across all clients (default 4096)")
    limits.add_argument("--max-connections", type=int, default=256,
                        help="open client connections (default 256)")
    limits.add_argument("--max-unauthenticated", type=int, default=64,
                        help="connections still waiting to say hello (default 64)")
    limits.add_argument("--hello-timeout", type=float, default=10, metavar="S",
                        help="seconds from connecting to a valid hello (default 10)")
    limits.add_argument("--send-timeout", type=float, default=60, metavar="S",
                        help="seconds a client may stall reading an answer before it is "
                             "dropped (default 60)")
    limits.add_argument("--log-size", type=float, default=10, metavar="MB",
                        help="rotate the log at this size, keeping five (default 10)")


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
    if min(args.workers, args.max_connections, args.max_unauthenticated) < 1 or min(
            args.worker_memory, args.payload_memory, args.hello_timeout, args.send_timeout,
            args.log_size, args.max_message) <= 0:
        raise FaceplateError("limits must be positive numbers")
    config = EngineConfig(address, token_path, log_path, args.device,
                          int(args.model_memory * 1e6),
                          Limits(max_payload=int(args.max_message * 1e6)), args.workers,
                          isolate=not args.no_isolation,
                          worker_memory_bytes=int(args.worker_memory * 1e6),
                          payload_budget_bytes=int(args.payload_memory * 1e6),
                          max_connections=args.max_connections,
                          max_unauthenticated=args.max_unauthenticated,
                          hello_timeout_s=args.hello_timeout, send_timeout_s=args.send_timeout)
    log_to_file(log_path, args.verbose, max_bytes=int(args.log_size * 1e6))
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
