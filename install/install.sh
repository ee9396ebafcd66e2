#!/usr/bin/env bash
# Faceplate installer: makes .venv at the repository root with pinned dependencies and the
# faceplate package (editable). Idempotent: when nothing changed since the last run it exits in
# well under a second. Usage: install/install.sh [--force]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${FACEPLATE_PYTHON:-python3}"
stamp="$venv/.faceplate-install"
want="$(cat "$root/install/requirements.lock" "$root/install/requirements-nodeps.txt" \
        "$root/pyproject.toml" | sha256sum | cut -d' ' -f1) $("$python" -V 2>&1)"

if [[ "${1:-}" != "--force" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "faceplate: installing into $venv (first run takes a few minutes)" >&2
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install -r "$root/install/requirements.lock"
"${pip[@]}" install --no-deps -r "$root/install/requirements-nodeps.txt"
"${pip[@]}" install --no-deps --no-build-isolation -e "$root"
# One OpenCV: refuse to finish if anything pulled the GUI build in beside -headless.
if "$venv/bin/python" -m pip show -q opencv-python >/dev/null 2>&1; then
  echo "faceplate: opencv-python was installed beside opencv-python-headless; remove it" >&2
  exit 1
fi
"$venv/bin/python" -c "import cv2, dlib, torch, OpenImageIO, PyOpenColorIO, face_alignment, faceplate"
echo "$want" > "$stamp"
echo "faceplate: ready ($("$venv/bin/faceplate" --version))" >&2
