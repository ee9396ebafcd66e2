"""Draws docs/qc-report.png: the top of a real QC report page, as headless Chromium shows it.

The shot is faceplate.samples.make_faulty_shot (the bundled astronaut, converted faithfully,
then broken: Grace Hopper's face on frames 1004–1005, a frozen swap on 1009–1011); the report is
`faceplate report`'s own. Needs Debian's chromium.
Run: .venv/bin/python docs/qc_report_picture.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from faceplate.io.images import read_image, write_image
from faceplate.qc.page import HEADLESS_CHROMIUM
from faceplate.qc.shot_report import write_report
from faceplate.samples import make_faulty_shot

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qc-report.png")
WIDTH, HEIGHT = 1150, 2050


def main() -> str:
    chromium = shutil.which("chromium") or "chromium"
    with tempfile.TemporaryDirectory() as tmp:
        shot = make_faulty_shot(tmp)
        report = write_report(shot.shot_dir, faceset=shot.faceset)
        png = os.path.join(tmp, "page.png")
        subprocess.run([chromium, *HEADLESS_CHROMIUM, f"--user-data-dir={tmp}/profile",
                        f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={png}",
                        "file://" + report.page], check=True, capture_output=True, timeout=120)
        write_image(OUT, read_image(png).rgb(), ["R", "G", "B"], pixel_type="uint8")
    return OUT


if __name__ == "__main__":
    print(main())
