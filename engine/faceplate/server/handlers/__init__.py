"""Op handlers, one module per group; importing this package registers every op."""

from . import frames, occlusion, service, shots, tracking  # noqa: F401
