"""Where the engine listens and keeps its token, shared by the engine and its clients.

Standard library only. Defaults live in a private 0700 folder: ``$XDG_RUNTIME_DIR/faceplate``
or ``<tempdir>/faceplate-<uid>``. Environment variables override them:

- ``FACEPLATE_SOCKET``: a socket path, or ``tcp://127.0.0.1:PORT`` (loopback only)
- ``FACEPLATE_TOKEN_FILE``: the token file (default: beside the socket, ``.token``)
- ``FACEPLATE_ENGINE_CMD``: the command a client runs to start an engine (``faceplate serve``)
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from dataclasses import dataclass

from .atomic import replacing

SOCKET_ENV = "FACEPLATE_SOCKET"
TOKEN_ENV = "FACEPLATE_TOKEN_FILE"
ENGINE_CMD_ENV = "FACEPLATE_ENGINE_CMD"
LOG_ENV = "FACEPLATE_LOG"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def runtime_dir() -> str:
    """The private folder for the socket, token and log, created 0700 (and checked)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = (os.path.join(base, "faceplate") if base and os.path.isdir(base)
              else os.path.join(tempfile.gettempdir(), f"faceplate-{os.getuid()}"))
    ensure_private_dir(folder)
    return folder


def ensure_private_dir(folder: str) -> None:
    """Create ``folder`` 0700; refuse one that another user owns or others can write."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{folder} is not a folder owned by you: remove it or set "
                              f"{SOCKET_ENV} to a socket in a private folder")
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)


@dataclass(frozen=True)
class Address:
    """A Unix socket path, or a loopback TCP ``(host, port)``."""

    path: str = ""
    host: str = ""
    port: int = 0

    @property
    def is_tcp(self) -> bool:
        return not self.path

    def __str__(self) -> str:
        return f"tcp://{self.host}:{self.port}" if self.is_tcp else self.path

    @classmethod
    def parse(cls, text: str) -> Address:
        if not text.startswith("tcp://"):
            return cls(path=os.path.abspath(os.path.expanduser(text)))
        host, sep, port = text[len("tcp://"):].rpartition(":")
        host = host.strip("[]")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{text!r}: write a TCP address as tcp://127.0.0.1:PORT")
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"{text!r}: the engine listens on the loopback interface only "
                             "(127.0.0.1); use a Unix socket or an SSH tunnel across machines")
        return cls(host=host, port=int(port))


def default_address() -> Address:
    configured = os.environ.get(SOCKET_ENV)
    if configured:
        return Address.parse(configured)
    return Address(path=os.path.join(runtime_dir(), "engine.sock"))


def default_token_path(address: Address) -> str:
    return _beside(address, TOKEN_ENV, ".token")


def default_log_path(address: Address) -> str:
    return _beside(address, LOG_ENV, ".log")


def _beside(address: Address, env: str, ext: str) -> str:
    """``$env`` when set, else a file named after the socket (or the TCP port) with ``ext``."""
    configured = os.environ.get(env)
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    return beside_socket(address, ext)


def beside_socket(address: Address, ext: str) -> str:
    """A file named after the socket (or the TCP port) with ``ext``, whatever the environment
    says (a farm session's engine keeps its token and log to itself)."""
    if address.is_tcp:
        return os.path.join(runtime_dir(), f"engine-{address.port}{ext}")
    return os.path.splitext(address.path)[0] + ext


def resolve(socket: str | None = None, token: str | None = None) -> tuple[Address, str]:
    """The address and token file to use: explicit arguments, then env vars, then defaults."""
    address = Address.parse(socket) if socket else default_address()
    return address, (os.path.abspath(token) if token else default_token_path(address))


def read_token(path: str) -> str:
    """The engine's token; refuses a file others can read (it would let them drive the engine)."""
    info = os.stat(path)
    if info.st_mode & 0o077:
        raise PermissionError(f"token file {path} is readable by others: chmod 600 it, or "
                              "delete it and restart the engine")
    with open(path, encoding="ascii") as f:
        return f.read().strip()


def create_token(path: str) -> str:
    """Write a fresh random token to ``path`` with mode 0600 (atomically) and return it."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    token = secrets.token_hex(32)
    with replacing(path, mode=0o600) as tmp, open(tmp, "w", encoding="ascii") as f:
        f.write(token + "\n")
    return token
