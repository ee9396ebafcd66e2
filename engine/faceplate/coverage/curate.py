"""A balanced face set: N faces spread over the coverage space, near-duplicates dropped.

Thousands of frames of one interview are mostly the same face; training time goes to what
the set holds most of. :func:`balanced` picks by farthest-point sampling in the coverage
space (each pick is the face farthest from every face picked so far, swapped for the sharpest
face within the duplicate distance of it), :func:`without_duplicates` keeps a face only when
no sharper kept face lies within the duplicate distance. :func:`write_subset` writes the pick
as a new face set with the ordinary face-set writer, its descriptors beside it.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import FaceplateError
from ..extract.faceset import INDEX, FaceSet, FaceSetWriter
from .descriptors import Descriptor
from .report import DEFAULTS, CoverageSettings, vectors
from .store import save_faceset_descriptors

DUPLICATE = 0.25  # steps: closer than this, two faces teach the model the same thing


def without_duplicates(descs: list[Descriptor], within: float = DUPLICATE,
                       settings: CoverageSettings = DEFAULTS) -> list[int]:
    """Indices of the faces kept, sharpest first considered, in their original order."""
    points = vectors(descs, settings)
    kept: list[int] = []
    for i in np.argsort([-d.sharpness for d in descs], kind="stable"):
        if not kept or np.linalg.norm(points[kept] - points[i], axis=1).min() >= within:
            kept.append(int(i))
    return sorted(kept)


def balanced(descs: list[Descriptor], n: int, within: float = DUPLICATE,
             settings: CoverageSettings = DEFAULTS) -> list[int]:
    """Indices of ``n`` faces covering the space (fewer when the set has fewer distinct ones)."""
    if n < 1:
        raise FaceplateError(f"cannot select {n} faces: ask for 1 or more")
    pool = without_duplicates(descs, within, settings)
    points = vectors(descs, settings)[pool]
    sharp = np.array([descs[i].sharpness for i in pool])
    first = int(np.linalg.norm(points - np.median(points, axis=0), axis=1).argmin())
    chosen = [first]
    far = np.linalg.norm(points - points[first], axis=1)
    while len(chosen) < min(n, len(pool)):
        pick = int(far.argmax())
        near = [int(j) for j in np.flatnonzero(np.linalg.norm(points - points[pick], axis=1)
                                                < within) if j not in chosen] or [pick]
        pick = max(near, key=lambda j: sharp[j])
        chosen.append(pick)
        far = np.minimum(far, np.linalg.norm(points - points[pick], axis=1))
    return sorted(pool[j] for j in chosen)


def write_subset(faceset: FaceSet, descs: list[Descriptor], keep: list[int], out: str,
                 progress_stream=None) -> FaceSet:
    """Copy the faces ``keep`` of ``faceset`` into a new face set folder ``out``."""
    if os.path.abspath(out) == os.path.abspath(faceset.root):
        raise FaceplateError("write the curated face set to a new folder, not over its source")
    if os.path.isfile(os.path.join(out, INDEX)):
        raise FaceplateError(f"{out} already holds a face set: choose an empty folder")
    from ..progress import Progress

    writer = FaceSetWriter(out, faceset.face_type, faceset.size)
    progress = Progress("curate", len(keep), "faces", stream=progress_stream)
    for i in keep:
        e = faceset.entries[i]
        writer.add(faceset.image(i), e.source, e.frame, e.track, e.landmarks, e.plate_px)
        progress.advance(message=e.file)
    subset = writer.close()
    save_faceset_descriptors(subset, [descs[i] for i in keep])
    return subset
