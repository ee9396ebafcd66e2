"""Starting an engine process, one way for the Nuke client and the farm worker alike.

Standard library only. The engine runs in its own session, so a signal meant for the caller (a
cancelled farm action, Ctrl-C in Nuke's terminal) does not reach it; its stdin is closed, its
output is appended to a log file, and the environment tells it its address and token file.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Container, Sequence

from . import paths


class EngineStartError(Exception):
    """The engine exited before it answered, or did not answer in time (the message names
    its log)."""


def spawn_engine(command: Sequence[str], address: str, token_path: str, log_path: str,
                 ready: Callable[[], bool], timeout_s: float, *,
                 still_starting: Container[int] = (), stop_on_timeout: bool = False,
                 poll_s: float = 0.05) -> subprocess.Popen:
    """Start ``command`` as an engine serving ``address`` and wait until ``ready()`` is true.

    ``ready`` may raise to give up at once. An exit status in ``still_starting`` (another
    engine won the race for the address) keeps the wait going, since ``ready`` will reach
    that engine; any other exit raises :class:`EngineStartError` with the log's last lines.
    ``stop_on_timeout`` terminates an engine that did not answer within ``timeout_s``.
    """
    env = {**os.environ, paths.SOCKET_ENV: address, paths.TOKEN_ENV: token_path}
    with open(log_path, "ab") as log:  # OSError here and from Popen: the caller says what to fix
        process = subprocess.Popen(list(command), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   close_fds=True)
    deadline = time.monotonic() + timeout_s
    while not ready():
        code = process.poll()
        if code is not None and code not in still_starting:
            raise EngineStartError(f"the engine exited with code {code} before it listened "
                                   f"on {address}; its log is {log_path}:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            if stop_on_timeout and code is None:
                process.terminate()
            raise EngineStartError(f"the engine did not answer at {address} within "
                                   f"{timeout_s:.0f} s; its log is {log_path}")
        time.sleep(poll_s)
    return process


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return f"(no output in {path})"
