"""The host side without an engine: the cache, landmarks over time, Roto/Tracker/CornerPin
export from an alignments file, the plug-in's init.py and menu.py, and the TD entry point."""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke_standin"))

from session import start


@pytest.fixture
def nuke():
    return start()


def face(cx, cy, size=100.0, jitter=0.0):
    """A face record shaped like iBUG's 68 points: jaw round the bottom, brows on top, the
    inner points on a small circle (enough for geometry checks)."""
    import math

    r = 0.4 * size
    jaw = [(cx + r * math.cos(math.pi - math.pi * i / 16), cy + r * math.sin(math.pi * i / 16))
           for i in range(17)]
    brows = [(cx - 0.8 * r + 1.6 * r * i / 9, cy - 0.6 * r) for i in range(10)]
    inner = [(cx + 0.3 * r * math.cos(2 * math.pi * i / 41), cy + 0.3 * r * math.sin(
        2 * math.pi * i / 41)) for i in range(41)]
    points = [[x + jitter, y] for x, y in jaw + brows + inner]
    return {"bbox": [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2],
            "score": 0.99, "landmarks": points}


# ----------------------------------------------------------------------------- cache

def test_cache_versions_keep_unchanged_frames(tmp_path):
    from faceplate_nuke.cache import StageCache

    cache = StageCache(str(tmp_path), "FaceMerge1", "merge")
    cache.prepare([1, 2], new_version=True)
    for f in (1, 2):
        with open(cache.frame_file(f), "w") as fh:
            fh.write(f"v1 {f}")
        cache.record(f, f"k{f}")
    assert cache.missing({1: "k1", 2: "k2", 3: "k3"}) == [3]
    assert cache.missing({1: "k1", 2: "changed"}) == [2]
    cache.prepare([2], new_version=True)  # replacing frame 2 starts v002
    assert cache.versions() == [1, 2]
    assert cache.is_cached(1, "k1") and not cache.is_cached(2, "k2")
    with open(cache.frame_file(1)) as fh:
        assert fh.read() == "v1 1"  # linked in from v001
    with open(cache.frame_file(2, version=1)) as fh:
        assert fh.read() == "v1 2"  # the old one is kept
    cache.prepare([3], new_version=True)  # only adding a frame: same version
    assert cache.versions() == [1, 2]
    assert cache.pattern().endswith(os.path.join("v002", "merge.####.exr"))


def test_cached_swap_arrays_round_trip_through_atomic_writes(nuke, tmp_path):
    """The swap stage's arrays and sidecars: written through unique temporary files (none left
    behind), readable as a plain open() would make them, and read back bit for bit."""
    from faceplate_client.protocol import Array
    from faceplate_nuke.cache import StageCache
    from faceplate_nuke.stages import _load_array, _save_array

    cache = StageCache(str(tmp_path), "FaceSwap1", "swap", "json")
    cache.prepare([7], new_version=True)
    faces = Array.from_values([0.25 * i for i in range(2 * 2 * 2 * 3)], "float32", (2, 2, 2, 3))
    info = _save_array(cache, 7, "faces", faces)
    cache.record(7, "k", {"faces": info})
    again = _load_array(cache, cache.entry(7)["faces"])
    assert (again.dtype, again.shape, bytes(again.data)) == ("float32", (2, 2, 2, 3),
                                                               bytes(faces.data))
    umask = os.umask(0)
    os.umask(umask)
    names = sorted(os.listdir(cache.version_dir()))
    assert names == ["swap.0007.faces.bin", "swap.0007.json"]  # no temporary left
    for name in names:
        assert os.stat(os.path.join(cache.version_dir(), name)).st_mode & 0o777 == 0o666 & ~umask


def test_keys_follow_the_knobs_each_stage_depends_on(nuke, tmp_path):
    from faceplate_nuke.stages import Run

    read = nuke.createNode("Read")
    read["file"].setValue(str(tmp_path / "plate.####.exr"))
    read["first"].setValue(1)
    read["last"].setValue(10)
    chain, previous = {}, read
    for cls in ("FaceDetect", "FaceAlign", "FaceSwap", "FaceMerge"):
        chain[cls] = previous = nuke.createNode(cls)
        previous.setInput(0, chain.get("FaceDetect") if cls == "FaceAlign" else None)
    chain["FaceDetect"].setInput(0, read)
    chain["FaceSwap"].setInput(0, chain["FaceAlign"])
    chain["FaceMerge"].setInput(0, chain["FaceSwap"])
    for n in chain.values():
        n["cache_folder"].setValue(str(tmp_path / "cache"))
    stages = ("plate", "detect", "align", "swap", "merge")

    def keys():
        run = Run(chain["FaceMerge"])
        return {s: {f: run.key(s, f) for f in range(1, 11)} for s in stages}

    def changed(before, after):
        return {s: sorted(f for f in range(1, 11) if before[s][f] != after[s][f])
                for s in stages if before[s] != after[s]}

    base = keys()
    chain["FaceMerge"]["blur"].setValue(3.0)
    assert changed(base, keys()) == {"merge": list(range(1, 11))}
    chain["FaceMerge"]["blur"].setValue(8)  # back: the old keys again
    assert keys() == base
    chain["FaceMerge"]["erode"].setValueAt(0.0, 1)
    chain["FaceMerge"]["erode"].setValueAt(0.0, 4)
    chain["FaceMerge"]["erode"].setValueAt(2.0, 5)
    chain["FaceMerge"]["erode"].setValueAt(0.0, 6)
    assert changed(base, keys()) == {"merge": [5]}
    chain["FaceMerge"]["erode"].setValue(0)
    chain["FaceSwap"]["identity"].setValue("other")
    assert changed(base, keys()) == {"swap": list(range(1, 11)), "merge": list(range(1, 11))}
    chain["FaceSwap"]["identity"].setValue("")
    chain["FaceAlign"]["smoothing"].setValue(0.0)  # align redoes; swap keys on the aligned
    assert set(changed(base, keys())) == {"align"}  # faces it reads (none are processed here)
    chain["FaceAlign"]["smoothing"].setValue(0.5)
    aligned = Run(chain["FaceMerge"]).cache("align")  # a frame's aligned faces change:
    aligned.prepare([3], new_version=False)           # swap and merge redo that frame only
    aligned.record(3, "k", {"faces": [{"matrix": [[1, 0, 0], [0, 1, 0]],
                                       "landmarks": [[0, 0]] * 68}]})
    assert changed(base, keys()) == {"swap": [3], "merge": [3]}
    read["file"].setValue(str(tmp_path / "other.####.exr"))  # upstream edit: every key
    assert set(changed(base, keys())) == set(stages)


# ----------------------------------------------------------------------------- export

@pytest.fixture
def alignments(tmp_path):
    """A hand-made alignments.json (schema v1): one face moving right, missing on frame 3."""
    frames = {}
    for f in (1, 2, 4):
        rec = face(100 + 10 * f, 80)
        rec.update(track=0, matrix=[[0.01, 0.0, -(100 + 10 * f - 50) * 0.01],
                                    [0.0, 0.01, -(80 - 50) * 0.01]])
        frames[str(f)] = [rec]
    frames["3"] = []
    path = tmp_path / "alignments.json"
    path.write_text(json.dumps({"schema": "faceplate.alignments", "version": 1,
                                "plate": "p.%04d.exr", "colourspace": "ACEScg",
                                "backend": "dlib", "face_type": "whole_face",
                                "size": [320, 200], "smoothing": 0.5, "frames": frames}))
    return str(path), frames


def test_roto_shapes_are_the_landmark_regions_in_nuke_coordinates(nuke, alignments):
    from faceplate_nuke import roto

    path, frames = alignments
    node = nuke.createNode("FaceAlign")
    r = roto.export_roto(node, path)
    (layer,) = list(r["curves"].rootLayer)
    shapes = {s.name: s for s in layer}
    for f in (1, 2, 4):
        for name, indices in roto.REGIONS.items():
            got = [v for p in shapes[name]
                   for v in (p.center.getPosition(f).x, p.center.getPosition(f).y)]
            want = [v for i in indices for v in (frames[str(f)][0]["landmarks"][i][0],
                                                 200 - frames[str(f)][0]["landmarks"][i][1])]
            assert got == pytest.approx(want)
    assert not shapes["hull"].getVisible(3) and shapes["hull"].getVisible(2)
    # The rendered Roto (alpha) covers the face where the image has it (y flipped back).
    nuke.root()["format"].setValue("320 200")
    alpha = r._render(2)[0][..., 0]
    assert alpha[80, 120] == pytest.approx(1.0) and alpha[80, 250] == 0.0


def test_tracker_and_cornerpin_follow_the_face(nuke, alignments):
    from faceplate_nuke import roto

    path, frames = alignments
    node = nuke.createNode("FaceAlign")
    tracker = roto.export_tracker(node, path)
    assert tracker._track_count == len(roto.TRACK_POINTS)
    nose = list(roto.TRACK_POINTS).index("nose_tip")
    for f in (1, 2, 4):
        x, y = frames[str(f)][0]["landmarks"][30]
        assert tracker["tracks"].getValueAt(f, nose * roto.TRACK_COLUMNS + 2) == x
        assert tracker["tracks"].getValueAt(f, nose * roto.TRACK_COLUMNS + 3) == 200 - y
    pin = roto.export_cornerpin(node, path)
    for f in (1, 2, 4):
        left = 100 + 10 * f - 50  # the unit crop's x = 0 in plate pixels
        assert pin["to1"].getValueAt(f, 0) == pytest.approx(left)
        assert pin["to1"].getValueAt(f, 1) == pytest.approx(200 - (80 - 50 + 100))
        assert pin["to3"].getValueAt(f, 0) == pytest.approx(left + 100)
    assert pin["from1"].getValue(0) == pytest.approx(60)


def test_exports_land_beside_the_node_not_inside_the_gizmo(nuke, alignments):
    from faceplate_nuke import roto, training

    path, _ = alignments
    node = nuke.createNode("FaceAlign")
    with node:  # a gizmo's button runs with the gizmo as the current group
        made = [roto.export_roto(node, path), roto.export_tracker(node, path),
                roto.export_cornerpin(node, path), training.show_preview(node, path)]
    assert [n.parent() for n in made] == [nuke.root()] * 4
    assert {c.Class() for c in node.nodes()} == {"Input", "Write", "Read", "Switch", "Output"}


def test_an_empty_alignments_file_is_a_clear_error(nuke, tmp_path):
    from faceplate_nuke import roto
    from faceplate_nuke.errors import NodeError

    path = tmp_path / "a.json"
    path.write_text(json.dumps({"schema": "faceplate.alignments", "size": [1, 1],
                                "frames": {"1": []}}))
    with pytest.raises(NodeError, match="no faces"):
        roto.export_roto(nuke.createNode("FaceAlign"), str(path))
    path.write_text("{}")
    with pytest.raises(NodeError, match="not a Faceplate alignments file"):
        roto.load(str(path))


# ----------------------------------------------------------------------------- plug-in

def test_init_and_menu_set_up_nuke():
    nuke = start(gui=True)
    assert "facemask" in nuke.layers()
    assert nuke._state.layers["facemask"] == ["facemask.face", "facemask.learned",
                                              "facemask.hull", "facemask.occlusion"]
    assert any(p.endswith("gizmos") for p in nuke.pluginPath())
    names = [c[0].__name__ for c in nuke._state.callbacks["beforeFrameRender"]]
    assert names == ["before_frame_render"]
    from faceplate_nuke import callbacks

    callbacks.unregister()  # a TD can turn the on-demand render off
    assert nuke._state.callbacks["beforeFrameRender"] == []
    callbacks.register()
    menu = nuke.menu("Nodes").findItem("Faceplate")
    items = [i.name() for i in menu.items() if i.name()]
    assert items[:4] == ["FaceDetect", "FaceAlign", "FaceSwap", "FaceMerge"]
    icons = os.path.join(os.path.dirname(os.path.dirname(__file__)), "nuke_plugin", "icons")
    for item in menu.items()[:4]:
        assert os.path.isfile(os.path.join(icons, item.icon()))
    toolbar = nuke.toolbar("Faceplate", False)
    assert [i.name() for i in toolbar.items() if i.name()][:4] == items[:4]
    menu.findItem("FaceSwap").invoke()  # the menu entry creates the node
    assert nuke.toNode("FaceSwap1").Class() == "FaceSwap"


def test_a_node_outside_a_chain_says_what_to_connect(nuke, tmp_path):
    from faceplate_nuke import actions
    from faceplate_nuke.errors import NodeError

    merge = nuke.createNode("FaceMerge")
    merge["cache_folder"].setValue(str(tmp_path))
    with pytest.raises(NodeError, match="connect a FaceSwap above it"):
        actions.process(merge)
    assert "connect a FaceSwap" in merge["node_status"].value()


def test_td_entry_point_reports_bad_arguments(nuke, tmp_path, capsys):
    from faceplate_nuke import td

    with pytest.raises(SystemExit):
        td.main(["--script", "x.nk", "--frames", "a-b"])
    assert td.main(["--script", str(tmp_path / "missing.nk"), "--frames", "1-2"]) == 2
    assert "missing.nk" in capsys.readouterr().err


def test_the_host_side_uses_only_the_standard_library_and_python_3_9():
    """Nuke ships its own Python (3.9 in Nuke 14): no numpy, no engine imports, no 3.10 syntax."""
    import ast

    plugin = os.path.join(os.path.dirname(os.path.dirname(__file__)), "nuke_plugin")
    files = [os.path.join(plugin, "init.py"), os.path.join(plugin, "menu.py")]
    package = os.path.join(plugin, "faceplate_nuke")
    files += [os.path.join(package, f) for f in os.listdir(package) if f.endswith(".py")]
    assert len(files) >= 14
    allowed = set(sys.stdlib_module_names) | {"nuke", "faceplate_client", "faceplate_nuke"}
    for path in files:
        with open(path) as fh:
            tree = ast.parse(fh.read(), path, feature_version=(3, 9))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for name in names:
                assert name.split(".")[0] in allowed, f"{path} imports {name}"
