"""Op handlers, one module per group; importing this package registers every op."""

from . import (  # noqa: F401
    coverage,
    frames,
    occlusion,
    qc,
    review,
    service,
    shots,
    stabilise,
    tracking,
)
