"""The one error the nodes show: a message for the compositor, never a traceback."""


class NodeError(Exception):
    """Something the artist can fix; the text says what happened and what to do."""
