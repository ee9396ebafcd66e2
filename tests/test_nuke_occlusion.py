"""A compositor paints the microphone on two frames of FaceMerge's mask input, presses Learn
Occlusion, and the swapped face goes behind the microphone on every frame (stand-in Nuke, real
engine on a real socket)."""

from __future__ import annotations

import functools
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke_standin"))
sys.path.insert(0, os.path.dirname(__file__))

from engine_helpers import sample_and_model
from session import start
from test_nuke_e2e import build, read_exr

FIRST, LAST = 1001, 1003  # the frames test_nuke_e2e.build reads


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from faceplate.samples import occluders

    return sample_and_model(tmp_path_factory.mktemp("occluded"), frames=LAST - FIRST + 1,
                            first=FIRST, overlay=functools.partial(occluders, face_px=110.0))


def test_learn_occlusion_from_two_painted_frames(shot, engine_socket, tmp_path):
    sample, model = shot
    nuke = start()
    nodes = build(nuke, sample, model, engine_socket, str(tmp_path / "cache"))
    from faceplate_nuke import actions

    merge = nodes["FaceMerge"]
    # The artist's paint: a Read of the painted mattes stands in for the Roto.
    paint = nuke.createNode("Read")
    paint["file"].setValue(os.path.join(os.path.dirname(sample.pattern),
                                        "plate_matte.####.exr"))
    paint["first"].setValue(FIRST)
    paint["last"].setValue(LAST)
    merge["occlusion_frames"].setValue("1001,1003")
    merge["occlusion_steps"].setValue(4)  # the checks below read painted frames: paint as is
    from faceplate_nuke.errors import NodeError

    with pytest.raises(NodeError, match="connect the mask input"):
        actions.learn_occlusion(merge)  # outside the GUI the error is raised
    assert "connect the mask input" in merge["node_status"].value()
    merge.setInput(1, paint)
    pattern = actions.learn_occlusion(merge)
    assert merge["mask_source"].value() == "occlusion"
    assert merge["occlusion_matte"].value() == pattern
    history = nuke._state.progress_tasks[-1]._history
    assert any(m.startswith("occlusion") for _, m in history)

    cache = actions.process(merge)
    on_object, on_bare = [], []
    for f in (FIRST, LAST):  # painted frames: the paint is used as it is
        out = read_exr(cache.frame_file(f))
        painted = read_exr(paint["file"].value().replace("####", str(f))).pixels[..., 0]
        occlusion = out.channel("facemask.occlusion")
        hull = out.channel("facemask.hull") > 0.99
        np.testing.assert_allclose(occlusion[hull], painted[hull], atol=2e-3)
        face = out.channel("facemask.face")
        on_object.append(face[hull & (painted > 0.99)])
        on_bare.append(face[hull & (painted == 0)])
    covered, bare = np.concatenate(on_object), np.concatenate(on_bare)
    assert covered.size > 50  # the microphone and the ball cross the face
    assert covered.mean() < 0.25 * bare.mean()  # the face goes behind them (2 px feather)
