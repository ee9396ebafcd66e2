"""A shot as an OpenCue job: a PyOutline outline, serialised to the XML job spec Cuebot takes.

Same steps as the OpenJD bundle (:mod:`faceplate.farm.steps`). OpenCue has no session
environments, so a layer that needs the engine wraps its command in ``faceplate farm engine run
-- ...`` (start, run, shut down); ``TORCH_HOME`` and ``OCIO`` travel as job environment.
Commands are written literally (no pycuerun wrapper) with shell quoting, and frames as
RQD's ``#FRAME_START#-#FRAME_END#`` tokens of each chunk.
"""

from __future__ import annotations

import getpass
import shlex

from ..io.atomic import write_text_atomic
from .job import ShotJob
from .steps import literal_values, plan

CHUNK_FRAMES = "#FRAME_START#-#FRAME_END#"


def build_outline(job: ShotJob, show: str = "faceplate", shot: str = "", user: str = ""):
    """The PyOutline ``Outline`` for ``job`` (import of ``outline`` deferred: engine-only)."""
    import outline
    from outline.modules.shell import Shell

    job.validate()
    frames = job.frame_list
    first, last = frames[0], frames[-1]
    ol = outline.Outline(job.name, frame_range=f"{first}-{last}", show=show,
                         shot=shot or job.name, user=user or getpass.getuser())
    for key, value in (("TORCH_HOME", job.torch_home), ("OCIO", job.ocio)):
        if value:
            ol.set_env(key, value, pre=True)
    layers: dict[str, Shell] = {}
    for step in plan(job, literal_values(job), CHUNK_FRAMES):
        argv = list(step.argv)
        if step.needs_engine:
            argv = [job.faceplate_cmd, "farm", "engine", "run", "--", *argv]
        extra = {"gpus": job.gpus} if job.gpus else {}
        if step.chunked:
            layer = Shell(step.name, command=shlex.join(argv), range=job.frames,
                          chunk=job.chunk_size, **extra)
        else:  # one task for the whole range: a single-frame layer
            layer = Shell(step.name, command=shlex.join(argv), range=str(first), chunk=1,
                          **extra)
        for name in step.depends_on:
            layer.depend_all(layers[name])
        ol.add_layer(layer)
        layers[step.name] = layer
    return ol


def serialize(job: ShotJob, **names: str) -> str:
    """The OpenCue XML job spec (what ``cuerun`` sends to Cuebot), built offline."""
    from outline.cuerun import OutlineLauncher

    return OutlineLauncher(build_outline(job, **names)).serialize(use_pycuerun=False)


def write_spec(job: ShotJob, path: str, **names: str) -> str:
    write_text_atomic(path, serialize(job, **names))
    return path
