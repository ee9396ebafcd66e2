"""Op handlers, one module per group; importing this package registers every op."""

from . import coverage, frames, occlusion, review, service, shots, stabilise, tracking  # noqa: F401
