"""A TD's story: `pip install .` into a studio's own environment gives a working faceplate.

The wheel is built from this checkout (no isolation: offline) and checked as a studio would
get it: every engine subpackage is in it (a wheel of the top-level packages alone imports
nothing), Nuke's host package is not (it goes on NUKE_PATH), `faceplate --version` and the
stack import from the unpacked wheel alone (not from the checkout), and every third-party
module the engine imports is declared in pyproject.toml (face-alignment aside: see there).
A full install into a fresh virtual environment, resolving every dependency, takes a minute
on these machines and is done by hand for a release (docs/td-guide.md).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
# Import name → distribution name, where they differ.
DISTRIBUTIONS = {"cv2": "opencv-python-headless", "PyOpenColorIO": "opencolorio",
                 "skimage": "scikit-image", "dlib": "dlib-bin", "PIL": "pillow",
                 "yaml": "pyyaml", "pyblish": "pyblish-base", "outline": "opencue-pyoutline",
                 "openjd": "openjd-cli", "OpenImageIO": "OpenImageIO", "c2pa": "c2pa-python",
                 "imageio_ffmpeg": "imageio-ffmpeg"}
NOT_DECLARED = {"face_alignment"}  # installed --no-deps (one OpenCV): pyproject.toml says how
OURS = {"faceplate", "faceplate_client", "faceplate_pyblish", "faceplate_nuke", "nuke"}


def _wheel(tmp_path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, timeout=300,
                   capture_output=True)
    return next(tmp_path.glob("faceplate-*.whl"))


def test_the_wheel_holds_every_package_and_runs_on_its_own(tmp_path):
    wheel = _wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {str(p.relative_to(ROOT / "engine")) for p in (ROOT / "engine" / "faceplate")
              .rglob("__init__.py")}
    wanted |= {"faceplate_client/__init__.py", "faceplate_pyblish/__init__.py"}
    assert wanted <= names, sorted(wanted - names)
    assert not any(n.startswith("faceplate_nuke/") for n in names)
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    env = dict(os.environ, PYTHONPATH=str(unpacked))
    version = "import faceplate.cli as c; c.main(['--version'])"
    run = subprocess.run([sys.executable, "-c", version], check=False, cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("faceplate "), run.stderr
    stack = ("import faceplate, faceplate.extract.pipeline, faceplate.convert.pipeline, "
             "faceplate.server.engine, faceplate_client.exr; print(faceplate.__file__)")
    run = subprocess.run([sys.executable, "-c", stack], check=False, cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith(str(unpacked)), run.stdout  # not the checkout's


def test_every_module_the_engine_imports_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {d.split("==")[0].split(">")[0].strip().lower()
                for d in project["dependencies"] +
                [e for extra in project["optional-dependencies"].values() for e in extra]}
    imported = set()
    for folder in ("engine/faceplate", "nuke_plugin/faceplate_client",
                   "nuke_plugin/faceplate_pyblish"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    imported.add(node.module.split(".")[0])
    third_party = {m for m in imported - OURS - NOT_DECLARED
                   if m not in sys.stdlib_module_names}
    missing = {m for m in third_party if DISTRIBUTIONS.get(m, m).lower() not in declared}
    assert not missing, f"imported but not in pyproject.toml: {sorted(missing)}"
