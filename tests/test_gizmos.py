"""The gizmo files as Nuke would read them: valid script syntax, wired insides, and every knob
the Python reads present (the stubs cannot check knob names; these tests do)."""

from __future__ import annotations

import ast
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "nuke_standin"))
sys.path.insert(0, os.path.join(REPO, "nuke_plugin"))

import nkscript
from faceplate_client.layout import FACEMASK_CHANNELS
from faceplate_nuke import gizmo_build
from faceplate_nuke.registry import NODE_CLASSES, NODES

GIZMOS = os.path.join(REPO, "gizmos")
PACKAGE = os.path.join(REPO, "nuke_plugin", "faceplate_nuke")


def load(cls: str) -> nkscript.NodeDef:
    with open(os.path.join(GIZMOS, cls + ".gizmo")) as fh:
        script = nkscript.parse(fh.read(), gizmo=True)
    assert script.layers["facemask"] == list(FACEMASK_CHANNELS)
    (gizmo,) = script.nodes
    assert gizmo.cls == "Gizmo"
    return gizmo


@pytest.mark.parametrize("cls", NODE_CLASSES)
def test_gizmo_matches_the_registry(cls):
    """The committed file is what the generator writes (regenerate: python -m
    faceplate_nuke.gizmo_build gizmos)."""
    with open(os.path.join(GIZMOS, cls + ".gizmo")) as fh:
        assert fh.read() == gizmo_build.gizmo_text(NODES[cls])


@pytest.mark.parametrize("cls", NODE_CLASSES)
def test_gizmo_knobs_have_tooltips_and_defaults(cls):
    gizmo = load(cls)
    knobs = {k.name: k for k in gizmo.user_knobs}
    assert list(knobs) == [k.name for k in NODES[cls].knobs]
    for spec in NODES[cls].knobs:
        knob = knobs[spec.name]
        assert knob.tooltip, f"{cls}.{spec.name} has no tooltip"
        assert knob.label
        assert knob.slider == spec.min_max
        if spec.kind == "enum":
            assert knob.items == list(spec.items)
            assert gizmo.knobs[spec.name] in spec.items
        if spec.kind == "button":
            _, _, func = knob.script.rpartition("; ")[2].rpartition(".")
            from faceplate_nuke import actions

            assert callable(getattr(actions, func.rstrip("()"))), knob.script
    assert int(gizmo.knobs["tile_color"], 16) != 0
    assert gizmo.knobs["help"]
    assert os.path.isfile(os.path.join(REPO, "nuke_plugin", "icons", gizmo.knobs["icon"]))


@pytest.mark.parametrize("cls", NODE_CLASSES)
def test_gizmo_insides_are_wired(cls):
    gizmo = load(cls)
    by_name = {c.name: c for c in gizmo.children}
    assert by_name["Output1"].inputs == [by_name["result_switch"]]
    switch = by_name["result_switch"]
    assert switch.inputs == [by_name["Input1"], by_name["cache_read"]]
    assert switch.knobs["which"] == "{parent.show_result}"
    assert by_name["input_write"].inputs == [by_name["Input1"]]
    assert by_name["input_write"].knobs["disable"] == "true"  # never rendered by nuke -x
    assert by_name["input_write"].knobs["channels"] == "all"
    assert int(gizmo.knobs["inputs"]) == len(NODES[cls].inputs)
    if cls == "FaceMerge":
        assert by_name["mask"].knobs["number"] == "1"
        assert by_name["mask_write"].inputs == [by_name["mask"]]


def _knob_names_read_by_the_plugin() -> set[str]:
    """String keys the host code reads: node["x"], graph.value(node, "x"), node.knob("x")."""
    names: set[str] = set()
    for file in os.listdir(PACKAGE):
        if not file.endswith(".py"):
            continue
        with open(os.path.join(PACKAGE, file)) as fh:
            tree = ast.parse(fh.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                    and isinstance(node.slice.value, str) and isinstance(node.value, ast.Name) \
                    and node.value.id in ("node", "merge", "write", "read", "tracker", "pin",
                                          "roto_node", "swap", "align", "detect"):
                names.add(node.slice.value)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                args = node.args
                if node.func.attr == "value" and len(args) >= 2 \
                        and isinstance(args[1], ast.Constant):
                    names.add(args[1].value)
                if node.func.attr == "knob" and args and isinstance(args[0], ast.Constant):
                    names.add(args[0].value)
    return names


# Knobs of Nuke's own nodes that the plug-in sets (checked against Nuke's documentation).
BUILTIN_KNOBS = {"file", "first", "last", "file_type", "channels", "disable", "label",
                 "curves", "tracks", "add_track", "name",
                 "raw", "uv", "operation"}  # Read, STMap, Merge2 (Export Stabilised)


def test_every_knob_the_python_reads_exists():
    read = _knob_names_read_by_the_plugin()
    assert {"engine_address", "mask_source", "smoothing", "show_result"} <= read
    on_gizmos = {k.name for cls in NODE_CLASSES for k in load(cls).user_knobs}
    missing = sorted(n for n in read - on_gizmos - BUILTIN_KNOBS
                     if not re.fullmatch(r"(to|from)[1-4]", n))
    assert missing == []


def test_parser_reads_stack_syntax_and_round_trips():
    text = ("#! nuke\nversion 13.2 v8\nRead {\n inputs 0\n file \"/a b/c.####.exr\"\n name R\n}\n"
            "set N1 [stack 0]\nBlur {\n size {{curve x1 2 x10 4}}\n name B\n}\npush $N1\n"
            "Merge2 {\n inputs 2\n name M\n}\n")
    script = nkscript.parse(text)
    r, b, m = script.nodes
    assert r.knobs["file"] == "/a b/c.####.exr"
    assert b.inputs == [r] and b.knobs["size"] == "{curve x1 2 x10 4}"
    assert m.inputs == [r, b]  # the top of the stack is input 0
    again = nkscript.parse(nkscript.write(script.nodes))
    assert [(n.cls, n.name, [i.name for i in n.inputs]) for n in again.nodes] == \
        [(n.cls, n.name, [i.name for i in n.inputs]) for n in script.nodes]


@pytest.mark.parametrize("bad", [
    "Blur {\n size 3\n",                    # unbalanced brace
    "Read {\n inputs 0\n}\nMerge2 {\n inputs 2\n}\n",  # too few nodes on the stack
    "Group {\n}\nBlur {\n}\n",             # missing end_group
    'Text {\n message "open\n}\n',          # unterminated string
    "push $nowhere\n",                      # unknown variable
])
def test_parser_rejects_broken_scripts(bad):
    with pytest.raises(nkscript.ScriptSyntaxError):
        nkscript.parse(bad)


def test_facemerge_offers_every_merge_setting_of_the_engine():
    """FaceMerge's knobs follow the engine's MergeSettings declaration (the host cannot import
    it: the two are kept in step here), each sent as the setting its ``param`` names.
    mask_image is the node's mask input."""
    from faceplate.convert.settings import MergeSettings

    spec = {k.param: k for k in NODES["FaceMerge"].knobs if k.param}
    assert set(spec) == {s["name"] for s in MergeSettings.knobs()} - {"mask_image"}
    for setting in MergeSettings.knobs():
        if setting["name"] == "mask_image":
            continue
        knob = spec[setting["name"]]
        assert knob.stage == "merge"
        assert list(knob.items) == setting["choices"]
        # A bounded number gets a slider, and the slider never offers what the engine refuses.
        bounds = (setting["min"], setting["max"]) if "min" in setting else None
        assert (knob.min_max is None) == (bounds is None), knob.name
        if bounds and knob.min_max:
            assert bounds[0] <= knob.min_max[0] < knob.min_max[1] <= bounds[1], knob.name
        default = setting["default"]
        assert (float(knob.default) == default) if isinstance(default, float) \
            else knob.default == default


def test_every_knob_param_is_a_parameter_of_its_stages_op():
    """A knob's ``param`` is sent to the op its stage calls (``STAGE_OP``): the op declares it,
    with the knob's type and (for menus) the knob's items among its choices."""
    from faceplate.server.engine import REGISTRY
    from faceplate_nuke.graph import PARAM_TYPES
    from faceplate_nuke.registry import STAGE_OP

    sent = [(cls, k) for cls in NODE_CLASSES for k in NODES[cls].knobs if k.param]
    assert {k.stage for _, k in sent} == {"detect", "align", "swap", "merge"}
    for cls, knob in sent:
        op = STAGE_OP[knob.stage]
        declared = {p.name: p for p in REGISTRY[op].params}
        assert knob.param in declared, f"{cls}.{knob.name}: op {op} has no {knob.param}"
        param = declared[knob.param]
        assert param.type is PARAM_TYPES[knob.kind], f"{cls}.{knob.name}"
        assert set(knob.items) <= set(param.choices or knob.items), f"{cls}.{knob.name}"


def test_face_types_and_detectors_are_the_engines():
    from faceplate.face.align import CROPS, FACE_TYPES
    from faceplate_client import layout
    from faceplate_nuke import registry

    assert set(registry.FACE_TYPES) == set(FACE_TYPES)
    assert tuple(CROPS) == layout.FACE_TYPES  # a crop framing for every face type, in order
    assert set(registry.DETECTORS) <= {"auto", "fan", "dlib"}


def test_facealign_offers_every_training_preset():
    """The host cannot import the engine's preset table: the two are kept in step here."""
    from faceplate.train.presets import PRESETS
    from faceplate_nuke.registry import TRAIN_PRESETS

    assert set(TRAIN_PRESETS) == {"auto", *PRESETS}
