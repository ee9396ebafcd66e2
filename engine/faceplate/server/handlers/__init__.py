"""Op handlers, one module per group; importing this package registers every op."""

from . import frames, service, shots, stabilise  # noqa: F401
