"""Op handlers, one module per group; importing this package registers every op."""

from . import service  # noqa: F401
