"""Draws docs/coverage-report.png: `faceplate coverage` on a shot made from the bundled photo.

The shot is the astronaut (scikit-image, public domain) turning her head and, in the middle,
looking up with the mouth wide open; the face set is an "interview" of her facing the camera
with small turns. Poses are landmark-driven warps (faceplate.samples.make_posed_shot).
Run: .venv/bin/python docs/coverage_picture.py
"""

from __future__ import annotations

import os
import shutil
import tempfile

from faceplate.cli import main as faceplate
from faceplate.samples import make_posed_shot

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> str:
    work = tempfile.mkdtemp(prefix="coverage-doc-")
    os.chdir(work)
    turn = [{"yaw": y, "pitch": -3} for y in (-24, -18, -12, -6, 0, 6)]
    laugh = [{"yaw": y, "pitch": p, "mouth": m, "roll": -6}
             for y, p, m in [(4, 12, 0.2), (6, 18, 0.3), (6, 22, 0.4), (4, 24, 0.45),
                             (2, 20, 0.35), (0, 14, 0.25)]]
    back = [{"yaw": y, "pitch": -2, "roll": 4} for y in (-4, 4, 10, 16, 22, 28)]
    shot = make_posed_shot("astronaut", "sh010/plate", turn + laugh + back, face_px=150)
    interview = make_posed_shot("astronaut", "interview/plate",
                                [{"yaw": y, "pitch": p} for y in (-24, -12, 0, 12, 24)
                                 for p in (-6, 0, 5)], face_px=180)
    common = ["--backend", "dlib", "--select", "index:0", "--no-preview", "--smoothing", "0"]
    assert faceplate(["extract", shot.pattern, "-o", "sh010/faces", *common]) == 0
    assert faceplate(["extract", interview.pattern, "-o", "interview/faces", *common,
                      "--faceset", "astronaut_set", "--faceset-size", "128"]) == 0
    faceplate(["coverage", "--shot", "sh010/faces", "--faceset", "astronaut=astronaut_set",
               "--report", "coverage-report.json"])
    out = os.path.join(HERE, "coverage-report.png")
    shutil.copy("coverage-report.png", out)
    shutil.rmtree(work)
    return out


if __name__ == "__main__":
    print(main())
