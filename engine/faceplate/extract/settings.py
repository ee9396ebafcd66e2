"""What a user can choose about an extraction, as one dataclass.

:class:`ExtractSettings` is the single declaration: ``faceplate extract``'s flags and the
engine's ``extract_shot`` and ``track_faces`` op parameters are generated from its fields
(help, choices and bounds declared once; checked by :class:`faceplate.settings.Settings`).
Per-run things (plate, shot folder, frame range, colourspace, face-set folder) are not here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..face.align import FACE_TYPES, MAX_SIZE, MIN_SIZE
from ..settings import Settings, setting

BACKENDS = ("auto", "fan", "dlib")  # as backends.BACKENDS (that module imports the heavy stack)


@dataclass(frozen=True)
class ExtractSettings(Settings):
    """How faces are found, judged, tracked and smoothed (pixel sizes are plate pixels)."""

    KIND = "extract"

    backend: str = setting("auto", "fan (S3FD + FAN, needs weight files), dlib (offline; "
                           "landmark model non-commercial) or auto: fan when its weights are "
                           "present", BACKENDS)
    face_type: str = setting("whole_face", "crop framing: face, whole_face (with forehead) or "
                             "head", FACE_TYPES)
    smoothing: float = setting(0.5, "landmark smoothing over the shot, 0 = off, 1 = strongest",
                               bounds=(0.0, 1.0))
    select: str = setting("all", "faces to keep: all, track:0,2, index:0 (largest) or "
                          "ref:photo.jpg (this person); low-confidence tracks are held back "
                          "whatever is chosen")
    faceset_size: int = setting(256, "face set crop size in pixels", bounds=(MIN_SIZE, MAX_SIZE))
    detect_size: int = setting(0, "long side of the copy a whole frame is searched at (0: the "
                               "backend's default, dlib 1920, fan 960; raise it for small faces)",
                               bounds=(0, 16384))
    min_face: float = setting(32.0, "skip faces narrower than this many plate pixels",
                              bounds=(0.0, 100000.0))
    redetect_every: int = setting(10, "search the whole frame for new faces every N frames; "
                                  "between, only near tracked faces (1 = every frame)",
                                  bounds=(1, 100000))
    verify: bool = setting(True, "check doubtful detections (low score or an unlikely landmark "
                           "shape) with dlib's CNN face detector, and search with it where a "
                           "track loses its face")
    empty_search_every: int = setting(5, "where no face is tracked and the first detector "
                                      "finds none, search the whole frame (a 640 px copy) with "
                                      "the CNN detector on every Nth such frame; 0 = never "
                                      "(needs verify)", bounds=(0, 100000))
    empty_search_max: int = setting(12, "at most this many of those whole-frame CNN searches a "
                                    "shot (each 1-4 s on one core)", bounds=(0, 100000))
    min_confidence: float = setting(0.5, "tracks whose mean confidence is below this are held "
                                    "back (not swapped; restore with faceplate alignments)",
                                    bounds=(0.0, 1.0))
    cut_threshold: float = setting(0.5, "colour-histogram change (0-1) between frames that "
                                   "counts as a shot cut; 1 = never cut", bounds=(0.0, 1.0))
    preview: bool = setting(True, "write SHOTDIR/preview.png (faces drawn on a few frames, a "
                            "strip of crops per person)")
    view: str = setting("", "the stereo view to extract from a multi-view EXR plate (its "
                            "view or multiView name; empty: the first part's R, G, B); "
                            "convert swaps the view its alignments were made on")
