"""Atomic file writes for the engine: the standard-library ``faceplate_client.atomic``, which the
Nuke host side writes its cache through too (one implementation, importable on both sides)."""

from faceplate_client.atomic import (
    replacing,
    write_atomic,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)

__all__ = ["replacing", "write_atomic", "write_bytes_atomic", "write_json_atomic",
           "write_text_atomic"]
