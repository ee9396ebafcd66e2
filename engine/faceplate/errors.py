"""The one exception type users see as a message rather than a traceback."""


class FaceplateError(Exception):
    """An error whose message is written for the artist or TD: what went wrong and what to do.

    The CLI prints it without a traceback and exits 2; the engine returns it as a structured
    error; the Nuke nodes show it on the node.
    """
