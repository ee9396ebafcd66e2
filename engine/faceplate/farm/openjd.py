"""A shot as an Open Job Description job bundle: what AWS Deadline Cloud submits and what
``openjd run`` runs locally.

Bundle layout (Deadline Cloud's)::

    BUNDLE/template.yaml            the job template (jobtemplate-2023-09 + TASK_CHUNKING)
    BUNDLE/parameter_values.yaml    this shot's values, Deadline's {parameterValues: [...]} form
    BUNDLE/asset_references.yaml    folders job attachments upload and download
    BUNDLE/openjd_parameters.json   the same values as a flat map for `openjd run -p file://...`

Paths are PATH parameters so Deadline's path mapping rewrites them between operating systems.
Frames are one CHUNK[INT] task parameter; the template's job environments set
``FACEPLATE_PROGRESS=openjd`` (progress as ``openjd_progress``/``openjd_status`` lines),
``TORCH_HOME`` and ``OCIO``, and start ``faceplate serve`` in the background for the session,
shutting it down on exit.
"""

from __future__ import annotations

import json
import os

import yaml

from ..io.atomic import write_text_atomic
from ..progress import MODE_ENV
from .job import ShotJob
from .steps import Step, plan

SPEC_VERSION = "jobtemplate-2023-09"
EXTENSIONS = ["TASK_CHUNKING"]
CHUNK_PARAM = "Frames"
OPENJD_PARAMS = "openjd_parameters.json"

# job field → (parameter name, definition without the name)
_PARAMS: dict[str, tuple[str, dict]] = {
    "plate": ("Plate", {"type": "PATH", "objectType": "FILE", "dataFlow": "IN",
                        "description": "The plate sequence, e.g. /shots/sh010/plate.####.exr",
                        "userInterface": {"control": "CHOOSE_INPUT_FILE", "label": "Plate"}}),
    "shot_dir": ("ShotDir", {"type": "PATH", "objectType": "DIRECTORY", "dataFlow": "INOUT",
                             "description": "Shot folder: alignments.json is written here",
                             "userInterface": {"control": "CHOOSE_DIRECTORY",
                                               "label": "Shot folder"}}),
    "model_dir": ("ModelDir", {"type": "PATH", "objectType": "DIRECTORY", "dataFlow": "IN",
                               "description": "Faceplate model folder (card.json + weights)",
                               "userInterface": {"control": "CHOOSE_DIRECTORY",
                                                 "label": "Model"}}),
    "identity": ("Identity", {"type": "STRING", "minLength": 1,
                              "description": "Identity whose decoder renders the face"}),
    "output": ("Output", {"type": "PATH", "objectType": "FILE", "dataFlow": "OUT",
                          "description": "Output sequence, e.g. /shots/sh010/swap.####.exr",
                          "userInterface": {"control": "CHOOSE_OUTPUT_FILE",
                                            "label": "Output"}}),
    "frames": ("Frames", {"type": "STRING", "minLength": 1,
                          "description": "Frames to process, e.g. 1001-1100"}),
    "faceplate_cmd": ("Faceplate", {"type": "STRING", "default": "faceplate",
                                    "description": "The faceplate command on the workers"}),
    "nuke_cmd": ("Nuke", {"type": "STRING", "default": "nuke",
                          "description": "The Nuke executable on the workers"}),
    "nuke_script": ("NukeScript", {"type": "PATH", "objectType": "FILE", "dataFlow": "IN",
                                   "description": "Nuke script to render"}),
    "nuke_write": ("NukeWrite", {"type": "STRING", "minLength": 1,
                                 "description": "Write node to execute"}),
    "torch_home": ("TorchHome", {"type": "PATH", "objectType": "DIRECTORY", "dataFlow": "IN",
                                 "description": "Weights folder on the workers ($TORCH_HOME)"}),
    "ocio": ("OcioConfig", {"type": "PATH", "objectType": "FILE", "dataFlow": "IN",
                            "description": "OCIO config on the workers ($OCIO)"}),
}
_CHUNK_SIZE = ("ChunkSize", {"type": "INT", "minValue": 1,
                             "description": "Frames per task; a dead task re-runs only its chunk"})


def _used_fields(job: ShotJob) -> list[str]:
    used = ["plate", "shot_dir", "model_dir", "identity", "output", "frames", "faceplate_cmd"]
    if job.renders_with_nuke:
        used += ["nuke_cmd", "nuke_script", "nuke_write"]
    used += [f for f in ("torch_home", "ocio") if getattr(job, f)]
    return used


def _ref(field_name: str) -> str:
    return "{{Param." + _PARAMS[field_name][0] + "}}"


def job_template(job: ShotJob) -> dict:
    """The OpenJD job template for ``job``: parameters, environments and chunked steps."""
    used = _used_fields(job)
    parameters = [{"name": _PARAMS[f][0], **_PARAMS[f][1]} for f in used]
    if job.trains:  # the Train step writes the model the render step reads
        next(p for p in parameters if p["name"] == "ModelDir")["dataFlow"] = "INOUT"
    parameters.append({"name": _CHUNK_SIZE[0], **_CHUNK_SIZE[1], "default": job.chunk_size})
    refs = {f: _ref(f) for f in _PARAMS if f in used}
    refs.setdefault("nuke_cmd", "nuke")
    refs.setdefault("nuke_script", "")
    refs.setdefault("nuke_write", "")
    steps = [_step(s, job.gpus) for s in plan(job, refs, "{{Task.Param." + CHUNK_PARAM + "}}")]
    return {
        "specificationVersion": SPEC_VERSION,
        "extensions": list(EXTENSIONS),
        "name": job.name,
        "description": f"Faceplate: {'Nuke render' if job.renders_with_nuke else 'convert'} of "
                       f"{os.path.basename(os.path.normpath(job.shot_dir))} to {job.identity}",
        "parameterDefinitions": parameters,
        "jobEnvironments": _environments(job),
        "steps": steps,
    }


def _environments(job: ShotJob) -> list[dict]:
    envs: list[dict] = [{
        "name": "FaceplateProgress",
        "description": "Progress as openjd_progress/openjd_status lines: the task's progress "
                       "in Deadline Cloud",
        "variables": {MODE_ENV: "openjd"},
    }]
    variables = {}
    if job.torch_home:
        variables["TORCH_HOME"] = _ref("torch_home")
    if job.ocio:
        variables["OCIO"] = _ref("ocio")
    if variables:
        envs.append({"name": "FaceplateSettings",
                     "description": "Weights and colour configuration for every task",
                     "variables": variables})
    faceplate = _ref("faceplate_cmd")
    envs.append({
        "name": "FaceplateEngine",
        "description": "One engine per session on the worker host: `faceplate serve` starts in "
                       "the background and exports FACEPLATE_SOCKET; exit shuts it down.",
        "script": {"actions": {
            "onEnter": {"command": faceplate, "args": ["farm", "engine", "start"],
                        "timeout": 300},
            "onExit": {"command": faceplate, "args": ["farm", "engine", "stop"],
                       "timeout": 120},
        }},
    })
    return envs


def _step(step: Step, gpus: int) -> dict:
    out: dict = {"name": step.name}
    if gpus:  # the farm schedules the task only on workers with that many GPUs
        out["hostRequirements"] = {"amounts": [{"name": "amount.worker.gpu", "min": gpus}]}
    if step.chunked:
        out["parameterSpace"] = {"taskParameterDefinitions": [{
            "name": CHUNK_PARAM, "type": "CHUNK[INT]", "range": "{{Param.Frames}}",
            "chunks": {"defaultTaskCount": "{{Param.ChunkSize}}",
                       "rangeConstraint": "CONTIGUOUS"},
        }]}
    if step.depends_on:
        out["dependencies"] = [{"dependsOn": name} for name in step.depends_on]
    command, *args = step.argv
    out["script"] = {"actions": {"onRun": {"command": command, "args": list(args)}}}
    return out


def parameter_values(job: ShotJob) -> dict[str, str | int]:
    """This shot's value for every template parameter, by parameter name."""
    values: dict[str, str | int] = {_PARAMS[f][0]: str(getattr(job, f)) for f in _used_fields(job)}
    values[_CHUNK_SIZE[0]] = job.chunk_size
    return values


def asset_references(job: ShotJob) -> dict:
    """Folders Deadline's job attachments move: plate and inputs up, outputs back."""
    inputs = {os.path.dirname(job.plate), job.model_dir, job.shot_dir}
    inputs |= set(job.facesets.values())
    if job.renders_with_nuke:
        inputs.add(job.nuke_script)
    outputs = {os.path.dirname(job.output), job.shot_dir}
    if job.trains:
        outputs.add(job.model_dir)
    files = sorted(p for p in inputs if os.path.isfile(p))
    return {"assetReferences": {
        "inputs": {"directories": sorted(p for p in inputs if p not in files), "filenames": files},
        "outputs": {"directories": sorted(outputs)},
    }}


def write_bundle(job: ShotJob, bundle_dir: str) -> str:
    """Write the bundle's four files (atomically, each); return the template's path."""
    job.validate()
    os.makedirs(bundle_dir, exist_ok=True)
    values = parameter_values(job)
    template = os.path.join(bundle_dir, "template.yaml")
    files = {
        template: _yaml(job_template(job)),
        os.path.join(bundle_dir, "parameter_values.yaml"): _yaml(
            {"parameterValues": [{"name": k, "value": v} for k, v in values.items()]}),
        os.path.join(bundle_dir, "asset_references.yaml"): _yaml(asset_references(job)),
        os.path.join(bundle_dir, OPENJD_PARAMS): json.dumps(values, indent=1) + "\n",
    }
    for path, text in files.items():
        write_text_atomic(path, text)
    return template


def check_template(template: dict) -> None:
    """Validate with the OpenJD model library (what `openjd check` does); raises on error."""
    from openjd.model import decode_job_template

    decode_job_template(template=template, supported_extensions=EXTENSIONS)


def _yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
