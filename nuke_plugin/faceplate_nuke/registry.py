"""Every Faceplate node class and knob, declared once.

The gizmo files are generated from these declarations (``python -m faceplate_nuke.gizmo_build``)
and the tests check that the committed gizmos match, so a knob the Python reads always exists.
Each knob names the *stage* whose cache key it feeds: changing it invalidates that stage and
the stages after it, and nothing before; and the *param* of that stage's engine op
(``STAGE_OP``) its value is sent as (``graph.op_params``), so a knob is mapped to the engine in
one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from faceplate_client.layout import (
    COLOUR_MODES,
    FACE_TYPES,
    HULL_KINDS,
    MASK_SOURCES,
    PLATE_MATCH,
)

# The node class that owns each stage (stages in data-path order).
STAGE_NODE = {"plate": "FaceDetect", "detect": "FaceDetect", "align": "FaceAlign",
              "swap": "FaceSwap", "merge": "FaceMerge"}
# The engine op each stage calls: the op its knobs' params are sent to (graph.op_params).
STAGE_OP = {"detect": "detect", "align": "track_faces", "swap": "swap", "merge": "merge"}
NODE_CLASSES = ("FaceDetect", "FaceAlign", "FaceSwap", "FaceMerge")

# Node colours (0xRRGGBBAA), one family per stage so a chain reads at a glance.
COLOURS = {"FaceDetect": 0x3B7DB8FF, "FaceAlign": 0x3E9C8FFF, "FaceSwap": 0xC2873AFF,
           "FaceMerge": 0xB8495EFF}

# Values the engine accepts (faceplate.extract, the train op); the face types and merge words
# come from faceplate_client.layout, as the engine takes them.
DETECTORS = ("fan", "dlib")
SELECT_MODES = ("all", "track", "index", "reference")
TRAIN_PRESETS = ("auto", "fast", "standard", "high", "production", "demo")  # train.presets


@dataclass(frozen=True)
class KnobSpec:
    """One knob: ``kind`` is a Nuke addUserKnob type (see KIND_IDS)."""

    name: str
    kind: str
    label: str
    tooltip: str
    default: str = ""
    items: tuple[str, ...] = ()
    script: str = ""  # Python run by a button
    stage: str = ""  # the cache stage this knob changes ("" = none)
    flags: tuple[str, ...] = ()
    param: str = ""  # the parameter of its stage's op (STAGE_OP) the value is sent as
    min_max: tuple[float, float] | None = None  # a number knob's slider (the engine's bounds)


KIND_IDS = {"string": 1, "file": 2, "int": 3, "enum": 4, "bool": 6, "double": 7, "tab": 20,
            "button": 22, "text": 26}


@dataclass(frozen=True)
class NodeSpec:
    cls: str
    help: str
    stages: tuple[str, ...]
    inputs: tuple[str, ...]  # input labels, input 0 first
    knobs: tuple[KnobSpec, ...]


def _button(name: str, label: str, tooltip: str, action: str) -> KnobSpec:
    return KnobSpec(name, "button", label, tooltip,
                    script=f"import faceplate_nuke.actions; faceplate_nuke.actions.{action}()",
                    flags=("+STARTLINE",))


def _common_head(cls: str) -> tuple[KnobSpec, ...]:
    return (
        KnobSpec("faceplate", "tab", "Faceplate", "Faceplate settings"),
        KnobSpec("engine_status", "text", "engine", "Whether the Faceplate engine answers. "
                 "Press Connect to start or reach it.", default="not connected"),
        _button("connect", "Connect", "Reach the engine at the address below (or start a "
                "local one) and show its version and device.", "connect"),
        KnobSpec("engine_address", "string", "engine address", "Socket path (or "
                 "tcp://127.0.0.1:PORT) of a running engine. Empty: $FACEPLATE_SOCKET, else the "
                 "default socket; a local engine is started when none answers."),
    )


def _common_tail() -> tuple[KnobSpec, ...]:
    return (
        KnobSpec("use_input_range", "bool", "use input range", "Process the frame range of "
                 "the input. Off: use first/last below.", default="1"),
        KnobSpec("first", "int", "first frame", "First frame to process when 'use input "
                 "range' is off.", default="1001"),
        KnobSpec("last", "int", "last frame", "Last frame to process when 'use input range' "
                 "is off.", default="1100"),
        KnobSpec("cache_folder", "file", "cache folder", "Where results are kept, one folder "
                 "per node and stage. Empty: $FACEPLATE_CACHE, else faceplate_cache/ next to "
                 "the script."),
        _button("process", "Process", "Compute every frame of the range that is not cached "
                "yet, for this node and the Faceplate nodes above it.", "process"),
        KnobSpec("node_status", "text", "status", "What the last Process did, or why it "
                 "failed.", default="not processed"),
        KnobSpec("show_result", "bool", "show result", "Show the cached result (on) or pass "
                 "the input through (off). Process turns it on.", default="0",
                 flags=("+INVISIBLE",)),
    )


NODES: dict[str, NodeSpec] = {}


def _add(cls: str, help_text: str, stages: tuple[str, ...], inputs: tuple[str, ...],
         knobs: tuple[KnobSpec, ...], tabs: tuple[KnobSpec, ...] = ()) -> None:
    """``tabs``: knobs on tabs of their own, after the Faceplate tab (which ends with the
    common range, cache and Process knobs)."""
    NODES[cls] = NodeSpec(cls, help_text, stages, inputs,
                          _common_head(cls) + knobs + _common_tail() + tabs)


_add("FaceDetect", "Finds faces and their 68 landmarks in the plate. Its output is the plate "
     "with the facemask layer (hull of each detected face).", ("plate", "detect"), ("plate",), (
        KnobSpec("input_colourspace", "string", "input colourspace", "OCIO colourspace of the "
                 "plate (e.g. ACEScg, 'Linear Rec.709 (sRGB)', sRGB). Faces are detected on an "
                 "sRGB view of it; outputs come back in this space.", default="ACEScg",
                 stage="detect"),
        KnobSpec("detector", "enum", "detector", "Face finder. fan: accurate, the studio "
                 "default. dlib: fast, but its landmark model is not for commercial use.",
                 items=DETECTORS, default="fan", stage="detect", param="backend"),
    ))

_add("FaceAlign", "Picks the face to replace, smooths its landmarks over time and aligns it. "
     "Exports landmark regions as Roto shapes, tracks as Tracker/CornerPin, and face sets for "
     "training.", ("align",), ("faces",), (
        KnobSpec("face_type", "enum", "face type", "How much of the head the aligned crop "
                 "covers. Must match the model's face type.", items=FACE_TYPES,
                 default="whole_face", stage="align", param="face_type"),
        KnobSpec("smoothing", "double", "smoothing", "Temporal smoothing of landmarks, 0 (off) "
                 "to 1 (strong): removes the micro-jitter of per-frame detection.",
                 default="0.5", stage="align", param="smoothing"),
        KnobSpec("select_mode", "enum", "select", "Which faces to keep: all; one track; the "
                 "n-th largest face in each frame; or the person most like a reference "
                 "image. Low-confidence tracks (probably not faces) are held back whatever "
                 "is chosen.", items=SELECT_MODES, default="all", stage="align"),
        KnobSpec("track", "int", "track", "Track number to keep when select is 'track'.",
                 default="0", stage="align"),
        KnobSpec("face_index", "int", "index", "Face index (0 = largest) when select is "
                 "'index'.", default="0", stage="align"),
        KnobSpec("reference_image", "file", "reference", "An image of the face to keep when "
                 "select is 'reference'.", stage="align"),
        KnobSpec("export", "tab", "Export", "Roto, tracks and face sets"),
        _button("export_roto", "Export Roto", "Create a Roto node with animated shapes for the "
                "jaw line, brows, eyes, nose, mouth and hull. Edit it and plug it into "
                "FaceMerge's mask input.", "export_roto"),
        _button("export_tracker", "Export Tracker", "Create a Tracker with the eye corners, "
                "nose tip and mouth corners as tracks.", "export_tracker"),
        _button("export_cornerpin", "Export CornerPin", "Create a CornerPin that follows the "
                "aligned face box.", "export_cornerpin"),
        KnobSpec("stabilise_folder", "file", "stabilised folder", "Where Export Stabilised "
                 "writes the still face (face.####.exr) and its ST maps (face_to_plate, "
                 "plate_to_face)."),
        KnobSpec("stabilise_size", "int", "stabilised size", "Size of the still face in "
                 "pixels (64 to 1024).", default="512"),
        _button("export_stabilised", "Export Stabilised", "Write the face of the track as a "
                "still sequence with ST maps and build Read, RotoPaint, STMap and Merge: "
                "paint a fix on the still face and it lands on the moving plate.",
                "export_stabilised"),
        KnobSpec("faceset_folder", "file", "face set folder", "Where Export Face Set writes "
                 "the aligned crops and faceset.json."),
        KnobSpec("coverage_shot", "file", "coverage of", "After Export Face Set, report how "
                 "well the set covers this shot folder (alignments.json; e.g. the shot the "
                 "model must serve). Empty: this node's own range."),
        _button("export_faceset", "Export Face Set", "Write the aligned crops of the range "
                "as a face set for training, then show its coverage (pose, expression, light) "
                "of the shot in a Read beside the node.", "export_faceset"),
        KnobSpec("train_model", "file", "model folder", "Model folder to train (created if "
                 "missing)."),
        KnobSpec("train_identity", "string", "identity", "Identity name of this face set in "
                 "the model (e.g. the actor)."),
        KnobSpec("train_other", "file", "other face set", "Face set of the other identity "
                 "(e.g. the actor who plays the part)."),
        KnobSpec("train_other_identity", "string", "other identity", "Identity name of the "
                 "other face set in the model."),
        KnobSpec("train_preset", "enum", "preset", "Model size: auto (chosen from the device, "
                 "the time and the faces' size on the plate; it says what it chose), fast (64 "
                 "px), standard (128 px), high (256 px, a GPU), production (512 px, a GPU), "
                 "demo (fast, for minutes).", items=TRAIN_PRESETS,
                 default="auto"),
        KnobSpec("train_consent", "string", "consent note", "Who consented to this training "
                 "and under which agreement. Recorded in the model card; required."),
        KnobSpec("train_iterations", "int", "iterations", "Training steps to run.",
                 default="1000"),
        _button("train", "Train", "Train the model on the engine with progress; the latest "
                "preview appears in a Read node.", "train"),
        KnobSpec("review", "tab", "Review", "Clean the tracks and bring an artist's fix back "
                 "(the actions of faceplate alignments)"),
        KnobSpec("review_track", "int", "track", "The track the buttons below act on (see "
                 "the contact sheet or the status).", default="0"),
        KnobSpec("review_other", "int", "other track", "Merge Tracks gives this track's faces "
                 "the track above (one person split in two).", default="1"),
        KnobSpec("review_frames", "string", "frames", "Frames Drop Frames removes the track's "
                 "face from, e.g. 1040-1046 or 1001,1005. Track -1: every track."),
        _button("drop_track", "Drop Track", "Remove every face of the track.", "drop_track"),
        _button("drop_frames", "Drop Frames", "Remove the track's faces on the frames above.",
                "drop_frames"),
        _button("merge_tracks", "Merge Tracks", "Give the other track's faces the track's id.",
                "merge_tracks"),
        _button("hold_track", "Hold Back", "Keep the track in the alignments but never swap "
                "it.", "hold_track"),
        _button("restore_track", "Restore", "Swap a held-back track again (e.g. a real face "
                "rated low).", "restore_track"),
        KnobSpec("review_sheet", "file", "contact sheet", "Where Write Sheet puts the "
                 "contact sheet (PNG). Empty: tracks.png in the node's cache."),
        _button("write_sheet", "Write Sheet", "Write one strip of aligned crops per track "
                "and show it in a Read beside the node.", "write_sheet"),
        KnobSpec("fix_source", "string", "fix from", "The Roto or Tracker whose moved points "
                 "Import Fix reads (set by Export Roto / Export Tracker)."),
        _button("import_fix", "Import Fix", "Read the points moved in the Roto or Tracker "
                "above into the alignments of those frames: landmarks and matrices change "
                "there, neighbours blend toward them, and swap and merge redo only those "
                "frames.", "import_fix"),
        _button("clear_edits", "Clear Edits", "Forget every review edit and fix of this node "
                "(the alignments go back to what tracking gives).", "clear_edits"),
        KnobSpec("review_edits", "string", "edits", "The review edits and fixes applied "
                 "after tracking, in order (JSON; kept in the script).", stage="align",
                 flags=("+INVISIBLE",)),
    ))

_add("FaceSwap", "Runs the model: replaces the aligned face with the target identity and "
     "warps it back into the plate (unblended; alpha is the model's learned mask).",
     ("swap",), ("faces",), (
        KnobSpec("model", "file", "model", "Model folder (model.safetensors + card.json).",
                 stage="swap", param="model"),
        KnobSpec("identity", "string", "target identity", "Identity to swap in: one of the "
                 "model's identities (see its card).", stage="swap", param="identity"),
    ))

_add("FaceMerge", "Blends the swapped face into the plate with an eroded, feathered mask and "
     "colour matching. Output: the plate's channels (its RGB, and alpha when it has one) plus "
     "the facemask layer (face, learned, hull, occlusion), "
     "faceregion (eyes, brows, mouth, skin), faceraw (the unblended swap) and facest (ST map "
     "to the aligned face); metadata faceplate/confidence.",
     ("merge",), ("swap", "mask"), (
        KnobSpec("mask_source", "enum", "mask", "Mask used to blend: the landmark hull, the "
                 "model's learned mask, their product, the 'mask' input (e.g. an edited Roto "
                 "from FaceAlign's Export Roto), or hull × learned with the occluder of Learn "
                 "Occlusion cut out.", items=MASK_SOURCES,
                 default="hull*learned", stage="merge", param="mask"),
        KnobSpec("mask_channel", "string", "mask channel", "Channel of the mask input to use.",
                 default="A", stage="merge", param="mask_channel"),
        KnobSpec("hull", "enum", "hull", "The landmark hull: brows to chin (components), or "
                 "extended up to the forehead.", items=HULL_KINDS, default="components",
                 stage="merge", param="hull"),
        KnobSpec("erode", "double", "erode", "Shrink the mask by this many plate pixels "
                 "(negative grows it; the engine takes -400 to 400).", default="0",
                 stage="merge", param="erode", min_max=(-50, 50)),
        KnobSpec("blur", "double", "blur", "Feather the mask edge (Gaussian sigma, plate "
                 "pixels; the engine takes 0 to 400).", default="8", stage="merge",
                 param="blur", min_max=(0, 100)),
        KnobSpec("colour_mode", "enum", "colour", "Match the swapped face's colour to the "
                 "plate.", items=COLOUR_MODES, default="reinhard", stage="merge",
                 param="colour"),
        KnobSpec("sharpen", "double", "sharpen", "Unsharp-mask amount on the swapped face, 0 "
                 "(off) to 4.", default="0", stage="merge", param="sharpen", min_max=(0, 4)),
        KnobSpec("scale", "double", "face scale", "Grow (>1) or shrink (<1) the swapped face "
                 "about its centre, 0.5 to 2.", default="1", stage="merge", param="scale",
                 min_max=(0.5, 2)),
        KnobSpec("confidence_threshold", "double", "confidence threshold", "Mix follows "
                 "confidence: a face whose confidence (metadata faceplate/confidence: "
                 "detection, landmarks and how well the model's mask fits the face) is below "
                 "this fades out, leaving the plate. 0: always merged.", default="0",
                 stage="merge", param="confidence_threshold", min_max=(0, 1)),
        KnobSpec("confidence_softness", "double", "confidence softness", "How far below the "
                 "threshold a face fades to nothing (0: a hard cut).", default="0.1",
                 stage="merge", param="confidence_softness", min_max=(0, 1)),
        KnobSpec("temporal", "double", "temporal", "Smooth the colour match and the learned "
                 "mask over this many frames (0 off); never across a cut. Applies when the "
                 "shot is rendered (Process, farm); the viewer merges one frame at a time.",
                 default="2", stage="merge", param="temporal", min_max=(0, 8)),
        KnobSpec("temporal_swap", "double", "temporal swap", "Blend the swapped face with its "
                 "neighbours' average, 0 (off) to 1: steadier, softer motion (shot renders "
                 "only).", default="0", stage="merge", param="temporal_swap", min_max=(0, 1)),
        KnobSpec("occlusion_frames", "string", "painted frames", "Frames where you painted what "
                 "covers the face into the mask input (white = occluder), e.g. 1001,1020,1044: "
                 "Learn Occlusion trains on them."),
        KnobSpec("occlusion_steps", "int", "occlusion steps", "Training steps for Learn "
                 "Occlusion (a few minutes on a CPU at 600).", default="600"),
        _button("learn_occlusion", "Learn Occlusion", "Learn the occluder from the painted "
                "frames, predict it for the node's range and switch mask to 'occlusion'. Your "
                "painted frames are used as painted.", "learn_occlusion"),
        KnobSpec("occlusion_matte", "file", "occlusion matte", "Occluder matte sequence for "
                 "the 'occlusion' mask (set by Learn Occlusion; any plate-sized matte works).",
                 stage="merge", param="occlusion_matte"),
        KnobSpec("qc_folder", "file", "QC report folder", "Where QC Report writes index.html "
                 "and report.json. Empty: report/ beside the node's cache."),
        _button("qc_report", "QC Report", "Process the range, then measure every frame "
                "(confidence, flicker, identity, expression, face size, coverage, focus) and "
                "write the shot's QC page; the verdict shows in the status and the page opens "
                "in the browser.", "qc_report"),
    ), tabs=(
        KnobSpec("plate_match", "tab", "Plate match", "Grain, softness and motion blur of the "
                 "plate, given to the swapped face"),
        KnobSpec("grain", "enum", "grain", "auto: measure the plate's grain around each face "
                 "(per channel, per brightness) and regrain the swap with new grain every "
                 "frame. off: leave the swap clean (regrain it yourself).", items=PLATE_MATCH,
                 default="auto", stage="merge", param="grain"),
        KnobSpec("grain_amount", "double", "grain amount", "Times the measured grain (1: as "
                 "the plate's).", default="1", stage="merge", param="grain_amount",
                 min_max=(0, 2)),
        KnobSpec("grain_size", "double", "grain size", "Grain size, Gaussian sigma in plate "
                 "pixels; 0: as measured.", default="0", stage="merge", param="grain_size",
                 min_max=(0, 4)),
        KnobSpec("soften", "enum", "soften", "auto: blur the swap to the plate's softness "
                 "(focus, lens, compression) where the plate is softer; never sharpens (see "
                 "faceplate/plate_match for a swap softer than the plate). off: as the model "
                 "drew it.", items=PLATE_MATCH, default="auto", stage="merge", param="soften"),
        KnobSpec("shutter", "double", "shutter", "Motion blur the swap along its track over "
                 "this shutter angle (degrees; 180 is a film camera's); 0: off. Never across a "
                 "cut. The forward/backward layers hold the face's motion for VectorBlur "
                 "instead.", default="180", stage="merge", param="shutter",
                 min_max=(0, 360)),
    ))
