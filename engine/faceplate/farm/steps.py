"""The steps of a shot's farm job and the command each runs, written once for every scheduler.

A scheduler-specific writer gives the values (literal paths for OpenCue, ``{{Param.X}}``
references for OpenJD) and its spelling of the chunk's frame range; :func:`plan` returns the
same steps for both, so the OpenJD bundle and the OpenCue spec cannot drift apart.

Exit codes (:class:`faceplate.errors.ExitCode`): a task succeeds on OK, and extract's on
NO_FACE too (some frames show no face: normal in a shot). FRAMES_SKIPPED (3: frames that could
not be read, e.g. damaged plate files, were skipped and the rest done) FAILS the task on
purpose, so the wrangler sees it; its log names every skipped frame, one line each, and
lists them as ranges at the end. COULD_NOT_RUN (2) fails it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ExitCode
from .job import SETTINGS_FILE, ShotJob

EXTRACT, TRAIN, OCCLUSION, CONVERT, NUKE, QC = ("Extract", "Train", "OcclusionPredict",
                                                "Convert", "NukeRender", "QCReport")

# Extract's exit codes that count as a successful farm task ("0,1").
EXTRACT_OK = f"{int(ExitCode.OK)},{int(ExitCode.NO_FACE)}"

# The job fields a writer may replace with references to its own parameters.
VALUE_FIELDS = ("plate", "shot_dir", "model_dir", "identity", "output", "frames",
                "faceplate_cmd", "nuke_cmd", "nuke_script", "nuke_write")


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]
    chunked: bool  # one task per chunk of frames; otherwise one task for the whole range
    depends_on: tuple[str, ...] = ()
    needs_engine: bool = False  # talks to `faceplate serve` (Nuke's Faceplate nodes do)


def literal_values(job: ShotJob) -> dict[str, str]:
    return {name: str(getattr(job, name)) for name in VALUE_FIELDS}


def plan(job: ShotJob, values: Mapping[str, str], chunk_frames: str) -> list[Step]:
    """Steps in dependency order. ``chunk_frames`` is how the scheduler spells a task's frames."""
    v = values
    steps: list[Step] = []
    if job.extract:
        # One task: tracking and smoothing need the whole shot, and alignments.json is one file.
        # Extract exits NO_FACE when some frames show no face: normal in a shot, not a failed
        # task. FRAMES_SKIPPED (damaged frames) is left out: the task fails, the wrangler looks.
        argv = [v["faceplate_cmd"], "farm", "step", "--ok", EXTRACT_OK, "--",
                v["faceplate_cmd"], "extract", v["plate"], "-o", v["shot_dir"],
                "--frames", v["frames"]]
        if job.colourspace:
            argv += ["--colourspace", job.colourspace]
        steps.append(Step(EXTRACT, tuple(argv), chunked=False))
    if job.trains:
        argv = [v["faceplate_cmd"], "train", "-m", v["model_dir"], "--consent", job.consent]
        for identity, folder in sorted(job.facesets.items()):
            argv += ["--faceset", f"{identity}={folder}"]
        if job.train_steps:
            argv += ["--steps", str(job.train_steps)]
        steps.append(Step(TRAIN, tuple(argv), chunked=False))
    if job.occlusion:
        # The shot's latest occlusion model (trained by the artist) → its matte sequence.
        argv = [v["faceplate_cmd"], "occlusion", "predict", v["shot_dir"], "--plate",
                v["plate"], "--frames", chunk_frames]
        steps.append(Step(OCCLUSION, tuple(argv), chunked=True,
                          depends_on=tuple(s.name for s in steps)))
    before = tuple(s.name for s in steps)
    if job.renders_with_nuke:
        argv = [v["nuke_cmd"], "-x", "-X", v["nuke_write"], "-F", chunk_frames, v["nuke_script"]]
        steps.append(Step(NUKE, tuple(argv), chunked=True, depends_on=before, needs_engine=True))
    else:
        argv = [v["faceplate_cmd"], "convert", v["plate"], "--alignments", v["shot_dir"],
                "-m", v["model_dir"], "--to", v["identity"], "-o", v["output"],
                "--frames", chunk_frames]
        if job.colourspace:
            argv += ["--colourspace", job.colourspace]
        if job.merge_settings:
            argv += ["--settings", v["shot_dir"] + "/" + SETTINGS_FILE]
        steps.append(Step(CONVERT, tuple(argv), chunked=True, depends_on=before))
    if job.qc:
        # One task over the whole shot, once every frame is rendered: `faceplate report` exits 1
        # when a check fails, which fails the task, so the wrangler sees the shot needs a look.
        argv = [v["faceplate_cmd"], "report", v["shot_dir"], "--merged", v["output"],
                "--plate", v["plate"], "-m", v["model_dir"], "--identity", v["identity"]]
        steps.append(Step(QC, tuple(argv), chunked=False, depends_on=(steps[-1].name,)))
    return steps
