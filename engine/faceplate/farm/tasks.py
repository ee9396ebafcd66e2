"""The tasks a farm will actually run for a bundle, computed by the OpenJD model library itself
(it balances chunk sizes: 10 frames in chunks of 4 are 4 + 3 + 3), and a picture of them."""

from __future__ import annotations

from pathlib import Path

from ..io.atomic import replacing
from .job import ShotJob
from .openjd import EXTENSIONS, job_template, parameter_values


def openjd_tasks(job: ShotJob) -> dict[str, list[str]]:
    """Step name → each task's frames (``""`` for a step run once for the whole shot)."""
    from openjd import model

    template = model.decode_job_template(template=job_template(job),
                                        supported_extensions=EXTENSIONS)
    here = Path(job.shot_dir)
    values = model.preprocess_job_parameters(
        job_template=template, job_parameter_values={
            k: str(v) for k, v in parameter_values(job).items()},
        job_template_dir=here, current_working_dir=here, environment_templates=[])
    created = model.create_job(job_template=template, job_parameter_values=values)
    out: dict[str, list[str]] = {}
    for step in created.steps:
        tasks = model.StepParameterSpaceIterator(space=step.parameterSpace)
        out[step.name] = [str(t["Frames"].value) if "Frames" in t else "" for t in tasks]
    return out


def draw_tasks(job: ShotJob, path: str) -> str:
    """A PNG of the job: one row per step, one box per task over the frames it renders."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from ..io.sequence import parse_frame_range

    tasks = openjd_tasks(job)
    frames = job.frame_list
    lo, hi = frames[0], frames[-1] + 1
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.9 * len(tasks)), dpi=100)
    colours = {"Extract": "#4c78a8", "Train": "#f58518", "Convert": "#54a24b",
               "NukeRender": "#b279a2"}
    for row, (name, chunks) in enumerate(tasks.items()):
        y = len(tasks) - 1 - row
        for i, chunk in enumerate(chunks):
            span = parse_frame_range(chunk) if chunk else frames
            a, b = span[0], span[-1] + 1
            ax.add_patch(FancyBboxPatch((a + 0.08, y + 0.18), b - a - 0.16, 0.64,
                                        boxstyle="round,pad=0.0,rounding_size=0.15",
                                        color=colours.get(name, "#888888")))
            label = chunk or ("one task: train on the face sets" if name == "Train"
                              else f"one task: the whole shot {job.frames}")
            ax.text((a + b) / 2, y + 0.5, label, ha="center", va="center", color="white",
                    fontsize=8 if chunk else 9)
        ax.text(lo - 0.3, y + 0.5, f"{name}\n{len(chunks)} task{'s' * (len(chunks) != 1)}",
                ha="right", va="center", fontsize=9)
    ax.set_xlim(lo - 0.2, hi + 0.2)
    ax.set_ylim(-0.2, len(tasks) + 0.1)
    ax.set_yticks([])
    ax.set_xlabel("frame")
    total = sum(len(c) for c in tasks.values())
    ax.set_title(f"{job.name}: {total} tasks; the chunked render step waits for the steps above "
                 "it; each session starts its own engine", fontsize=10)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    try:
        with replacing(path, ".tmp.png") as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
    return path
