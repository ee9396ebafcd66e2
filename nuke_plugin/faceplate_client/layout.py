"""The names of Faceplate's files and formats, spelt once for the engine and the host side.

Standard library only (the Nuke nodes and pyblish plugins read these files without the engine,
through :func:`faceplate_client.documents.read_document`, the one rule every reader of a
``schema``/``version`` document follows). Each ``*_VERSION`` is the version this Faceplate
writes and the newest it reads. The layouts themselves are documented in docs/architecture.md.
"""

from __future__ import annotations

from typing import Any

# SHOTDIR/alignments.json: every face of every frame of a shot.
ALIGNMENTS_FILE = "alignments.json"
ALIGNMENTS_SCHEMA = "faceplate.alignments"
ALIGNMENTS_VERSION = 1
# An artist's landmark fixes for `faceplate alignments --import-points` (faceplate.extract.fixes).
FIXES_SCHEMA = "faceplate.fixes"
FIXES_VERSION = 1

# A model folder: weights, card, and the preview training refreshes.
MODEL_WEIGHTS = "model.safetensors"
MODEL_CARD = "card.json"
MODEL_SCHEMA = "faceplate.model"
MODEL_VERSION = 4  # 2: decoder_blocks, ema, holdout; 3: face_prior; 4: a grown model's ladder
                   # (a model never grown is still written as 3; older cards still read)
MODEL_PREVIEW = "preview.png"
MODEL_LOSS_PLOT = "loss.png"  # loss per identity against step

# A face set folder: aligned crops plus this index.
FACESET_INDEX = "faceset.json"
FACESET_SCHEMA = "faceplate.faceset"
FACESET_VERSION = 1

# SHOTDIR/faceplate_job.json (a shot's farm job) and the merge settings beside it.
JOB_FILE = "faceplate_job.json"
JOB_SCHEMA = "faceplate.job"
JOB_VERSION = 1
MERGE_SETTINGS_FILE = "merge_settings.json"

# SHOTDIR/runs.json: what was run on the shot (extract, convert), newest last, with the command
# line; the QC report reads its plate, output and model from here (faceplate.shot_runs).
RUNS_FILE = "runs.json"
RUNS_SCHEMA = "faceplate.runs"
RUNS_VERSION = 1
# SHOTDIR/report/: the shot's QC report (index.html, report.json, its pictures, review media).
REPORT_DIR = "report"
REPORT_PAGE = "index.html"
REPORT_JSON = "report.json"
REPORT_SCHEMA = "faceplate.report"
REPORT_VERSION = 1
# SHOTDIR/report/review.mp4: plate | merged side by side, signed (`faceplate review`).
REVIEW_MOVIE = "review.mp4"

# Descriptor caches beside a face set or a shot (faceplate.coverage.store).
COVERAGE_FILE = "coverage.json"
COVERAGE_SCHEMA = "faceplate.coverage"
COVERAGE_VERSION = 1
# One version of a shot's occlusion model: its card (faceplate.occlusion.store).
OCCLUSION_CARD = "occlusion.json"
OCCLUSION_SCHEMA = "faceplate.occlusion"
OCCLUSION_VERSION = 1

# How much of the head an aligned crop holds (faceplate.face.align.CROPS frames each).
FACE_TYPES = ("face", "whole_face", "head")

# The words of merge_settings.json (faceplate.convert.settings.MergeSettings), which the
# FaceMerge node's menus offer too.
MASK_SOURCES = ("hull", "learned", "hull*learned", "image", "image*learned", "occlusion")
COLOUR_MODES = ("none", "average", "reinhard", "histogram", "seamless")
HULL_KINDS = ("components", "extended")
PLATE_MATCH = ("auto", "off")  # grain and softness: measured from the plate, or not matched
# Output EXR compressions; "plate" follows the plate's own where it is lossless (else zip).
PLATE_COMPRESSION = "plate"
EXR_COMPRESSIONS = (PLATE_COMPRESSION, "zip", "zips", "piz", "rle", "pxr24", "b44", "b44a",
                    "dwaa", "dwab", "none")

# The convert output: its matte layer and the metadata prefix of its provenance.
FACEMASK_LAYER = "facemask"
FACEMASK_CHANNELS = tuple(f"{FACEMASK_LAYER}.{c}"
                          for c in ("face", "learned", "hull", "occlusion"))  # ≤ 4 a Nuke layer
# The merged EXR's other layers (docs/compositor.md, *What FaceMerge delivers*), spelt as
# they are in the file. Nuke reads a layer's ``R G B A`` as ``red green blue alpha``
# (:func:`nuke_channel`); other names it keeps.
FACEREGION_LAYER = "faceregion"  # soft mattes of face parts from the landmarks
FACEREGION_CHANNELS = tuple(f"{FACEREGION_LAYER}.{c}" for c in ("eyes", "brows", "mouth", "skin"))
FACERAW_LAYER = "faceraw"  # the model's face on the plate, unblended, premultiplied by its mask
FACERAW_CHANNELS = tuple(f"{FACERAW_LAYER}.{c}" for c in "RGBA")
FACEST_LAYER = "facest"  # plate → aligned crop ST map (Nuke's STMap), valid = inside the crop
FACEST_CHANNELS = tuple(f"{FACEST_LAYER}.{c}" for c in ("s", "t", "valid"))
# The face's motion vectors in Nuke's own layers (VectorBlur reads them): pixels per frame to
# the next (forward) and the previous (backward) frame, u right, v up.
FORWARD_CHANNELS = ("forward.u", "forward.v")
BACKWARD_CHANNELS = ("backward.u", "backward.v")
# Every layer after RGBA, in the order convert writes them.
FACE_LAYERS = {FACEMASK_LAYER: FACEMASK_CHANNELS, FACEREGION_LAYER: FACEREGION_CHANNELS,
               FACERAW_LAYER: FACERAW_CHANNELS, FACEST_LAYER: FACEST_CHANNELS,
               "forward": FORWARD_CHANNELS, "backward": BACKWARD_CHANNELS}
# Per-frame metadata: how sure the frame's weakest face is (0-1), and its parts.
PROVENANCE_PREFIX = "faceplate/"
CONFIDENCE_KEY = PROVENANCE_PREFIX + "confidence"  # the parts: CONFIDENCE_KEY + "/" + part
CONFIDENCE_PARTS = ("detection", "landmark", "reconstruction")
# Per-frame metadata: what plate match did to each face (grain, softness, motion; JSON).
PLATE_MATCH_KEY = PROVENANCE_PREFIX + "plate_match"


def nuke_channel(name: str) -> str:
    """A file channel as Nuke names it: ``faceraw.R`` → ``faceraw.red``."""
    layer, _, chan = name.rpartition(".")
    full = {"R": "red", "G": "green", "B": "blue", "A": "alpha"}.get(chan, chan)
    return f"{layer}.{full}" if layer else full


def nuke_layers() -> dict[str, list[str]]:
    """The Faceplate layers with their channels in Nuke's spelling (``nuke.Layer``,
    ``add_layer``)."""
    return {name: [nuke_channel(c) for c in chans] for name, chans in FACE_LAYERS.items()}

# Exit status of `faceplate serve` when another engine already serves the address (a client
# racing to start an engine treats it as success and connects to that one).
ALREADY_RUNNING = 3


def read_document(path: str, what: str, schema: str = "") -> dict[str, Any]:
    """A JSON object file; with ``schema``, checked by the one document rule
    (:func:`faceplate_client.documents.read_document`: that schema, a version this Faceplate
    reads). Raises ``ValueError`` (:class:`~faceplate_client.documents.DocumentError`) with
    ``what`` and the path, for the user. Kept for callers written as ``(path, what, schema)``."""
    from . import documents

    if not schema:
        return documents.read_json_object(path, what)
    return documents.read_document(path, schema, what=what)
