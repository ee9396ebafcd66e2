"""mypy checks the Nuke host side against the types-nuke stubs (never the tests' stand-in)."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mypy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", "mypy.ini",
                           "--no-incremental", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_host_side_type_checks_clean():
    result = mypy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues found" in result.stdout


def test_mypy_sees_the_real_stubs_not_the_stand_in(tmp_path):
    """A misspelt function and an unchecked Optional node must be caught: they would pass if
    mypy resolved ``nuke`` to the stand-in or to nothing."""
    probe = tmp_path / "probe.py"
    probe.write_text("import nuke\n"
                     "nuke.toNode('Read1').name()\n"
                     "nuke.toNodes('Read1')\n")
    result = mypy(str(probe))
    assert 'Item "None" of "Node | None" has no attribute "name"' in result.stdout
    assert 'Module has no attribute "toNodes"' in result.stdout
