"""The one error the nodes show: a message for the compositor, never a traceback.

An error from the engine keeps its kind: :attr:`NodeError.code` is the engine's error code
(``faceplate_client.protocol``: ``busy``, ``timeout``, ``bad_params``, ``failed``, …) and the
message starts with what that code means for the artist (:data:`SAYS`), so "the engine is
busy, retry" reads differently from "timed out" or "bad value for blur". A check of the node's
own (a knob left empty, an input not connected) has no code.

A NodeError raised while another is handled (a render callback adding the node's name and
frame: ``raise NodeError(f"... {exc}") from None``) keeps that one's code unless given its own.
"""

from __future__ import annotations

import re

from faceplate_client import protocol as p

# What each engine error code means for the compositor: the start of the node's message.
SAYS: dict[str, str] = {
    p.BUSY: "the Faceplate engine is busy: retry in a moment",
    p.TIMEOUT: "timed out: the engine's time limit ran out before this finished",
    p.BAD_PARAMS: "bad value",  # + " for KNOB" when the engine named the parameter
    p.FAILED: "",  # the engine's message is written for the artist: it is the whole text
    p.CANCELLED: "cancelled",
    p.CONNECTION_LOST: "the Faceplate engine went away during the work: Process again (a new "
                       "engine starts)",
    p.UNAVAILABLE: "cannot reach the Faceplate engine: check the engine address knob or start "
                   "one with `faceplate serve`",
    p.INTERNAL: "the Faceplate engine hit a bug (its log has the details)",
    p.AUTH: "the Faceplate engine refused this session's token: reconnect, or restart the "
            "engine",
    p.PROTOCOL_MISMATCH: "the Faceplate engine and these nodes are different releases: install "
                         "matching ones",
    p.TOO_LARGE: "the request is larger than the engine accepts (its --max-message)",
    p.BAD_REQUEST: "the Faceplate engine did not understand these nodes: install matching "
                   "releases",
    p.UNKNOWN_OP: "the Faceplate engine lacks what these nodes ask for: install matching "
                  "releases",
    p.BAD_FRAME: "the connection to the Faceplate engine broke a message: Process again",
}
# Codes where the same request may work if simply tried again later.
RETRY = frozenset({p.BUSY, p.CONNECTION_LOST, p.UNAVAILABLE})
_PARAMETER = re.compile(r"parameter '([^']+)' must")


class NodeError(Exception):
    """Something the artist can fix; the text says what happened and what to do. ``code``:
    the engine's error code, or None for a check of the node's own."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self._code = code

    @property
    def code(self) -> str | None:
        if self._code is not None:
            return self._code
        handled = self.__context__  # the error being handled when this one was raised
        return handled.code if isinstance(handled, NodeError) else None

    @property
    def retry(self) -> bool:
        """Trying the same thing again later may work (the engine was busy or went away)."""
        return self.code in RETRY

    @classmethod
    def from_engine(cls, code: str, message: str, op: str = "",
                    details: dict | None = None) -> NodeError:
        """The node's error for an engine error ``code`` with the engine's ``message`` (from
        ``op``): the code's meaning first, then the engine's own words."""
        where = f"engine {op}: " if op else ""
        says = SAYS.get(code)
        if says is None:  # a code from a newer engine
            return cls(f"{where}{message} [{code}]", code)
        if not says:
            return cls(f"{where}{message}", code)
        if code == p.BAD_PARAMS:
            named = (details or {}).get("param")
            found = _PARAMETER.search(message)
            knob = named if isinstance(named, str) else found.group(1) if found else ""
            says = f"bad value for {knob}" if knob else "bad value"
        return cls(f"{says} ({where}{message})", code)
