"""The Faceplate publish: pyblish-base plugins, standard library only (they also run in Nuke).

Order of a publish, one ``faceplate.render`` instance per shot output:

1. collect   the shot's job (shell host: ``SHOTDIR/faceplate_job.json``; Nuke host: the Write
             nodes fed by Faceplate nodes, see :mod:`faceplate_pyblish.nuke_collect`);
2. validate  the inputs: the model exists and fits the shot (face type, resolution, identity),
             it carries a consent note, the alignments cover the frame range. A failure here
             stops the publish before anything is rendered (pyblish's own rule);
3. extract   render missing frames through the engine, when the instance asks to (host plugins:
             the shell host's in :mod:`faceplate.publish`, Nuke's executes the Write node);
4. validate  the rendered frames (order just after extraction): every frame is there and whole,
             has RGB and the ``facemask`` layer, and provenance naming the model; the shot's
             QC report, when it has one, passes;
5. integrate into ``ROOT/<job>/<identity>/vNNN`` with a manifest of SHA-256 hashes — refused
             when any earlier plugin failed, so nothing unvalidated is ever published. The
             shell host also publishes the shot's QC report and signed review media (into
             ``vNNN/report``) once its engine-side validator has checked their Content
             Credentials (:class:`faceplate.publish.shell_plugins.ValidateReviewMedia`).

pyblish does not raise: read ``context.data["results"]`` for each ``r["error"]``.
"""

from __future__ import annotations

import datetime
import getpass
import hashlib
import json
import os
import shutil
import socket
from typing import Any, ClassVar

import pyblish.api  # type: ignore[import-untyped]
from faceplate_client import layout
from faceplate_client.exr import ExrError, read_exr
from faceplate_client.frames import format_frame_range

from .shot import (
    FACEMASK,
    FAMILY,
    JOB_FILE,
    PROVENANCE,
    RGB,
    PublishError,
    alignments,
    frame_path,
    load_json,
    model_card,
    parse_frames,
)

RENDERED_CHECK_ORDER = pyblish.api.ExtractorOrder + 0.3  # after rendering, before integrating


# -- collect -------------------------------------------------------------------------------

class CollectShotFolders(pyblish.api.ContextPlugin):
    """Shot folders named in ``context.data["faceplateShots"]``, one instance each."""

    label = "Collect Faceplate shot folders"
    order = pyblish.api.CollectorOrder
    hosts: ClassVar[list[str]] = ["shell"]

    def process(self, context):
        for shot_dir in context.data.get("faceplateShots", []):
            job = load_json(os.path.join(shot_dir, JOB_FILE), "job description",
                            layout.JOB_SCHEMA)
            instance = context.create_instance(job["name"], family=FAMILY)
            instance.data.update(
                job=job, shotDir=job["shot_dir"], modelDir=job["model_dir"],
                identity=job["identity"],
                output=job["output"], frames=parse_frames(job["frames"]),
                resolution=context.data.get("faceplateResolution"),
                render=bool(context.data.get("faceplateRender")))
            self.log.info("collected %s: %s frames %s", job["name"], job["output"],
                          job["frames"])


# -- validate inputs -----------------------------------------------------------------------

class ValidateModel(pyblish.api.InstancePlugin):
    """The model folder is complete and made for this shot: identity, face type, resolution."""

    label = "Validate model fits the shot"
    order = pyblish.api.ValidatorOrder
    families: ClassVar[list[str]] = [FAMILY]

    def process(self, instance):
        model_dir = instance.data["modelDir"]
        card = model_card(model_dir)
        if not os.path.isfile(os.path.join(model_dir, layout.MODEL_WEIGHTS)):
            raise PublishError(f"model {model_dir} has no {layout.MODEL_WEIGHTS}: train it or point "
                               "the job at a complete model folder")
        problems = []
        if instance.data["identity"] not in card.get("identities", []):
            problems.append(f"has no identity {instance.data['identity']!r} (it has "
                            f"{', '.join(card.get('identities', []))})")
        shot_face_type = alignments(instance.data["shotDir"]).get("face_type")
        if card.get("face_type") != shot_face_type:
            problems.append(f"was trained on face type {card.get('face_type')!r} but the shot "
                            f"was aligned as {shot_face_type!r}: re-extract with --face-type "
                            f"{card.get('face_type')} or use a matching model")
        wanted = instance.data.get("resolution")
        if wanted and int(card.get("resolution", 0)) != int(wanted):
            problems.append(f"works at {card.get('resolution')} px, not the {wanted} px asked "
                            "for")
        if problems:
            raise PublishError(f"model {card.get('model_id')} ({model_dir}) " +
                               "; ".join(problems))
        instance.data["modelCard"] = card


class ValidateConsent(pyblish.api.InstancePlugin):
    """Responsible use: no publish from a model without the consent note it was trained under."""

    label = "Validate model consent note"
    order = pyblish.api.ValidatorOrder
    families: ClassVar[list[str]] = [FAMILY]

    def process(self, instance):
        card = model_card(instance.data["modelDir"])
        if not str(card.get("consent", "")).strip():
            raise PublishError(f"model {card.get('model_id')} carries no consent note: record "
                               "who agreed to their likeness being used (train with --consent)")


class ValidateAlignmentCoverage(pyblish.api.InstancePlugin):
    """Extraction ran on every frame to publish (a frame with no face still has its entry)."""

    label = "Validate alignments cover the frame range"
    order = pyblish.api.ValidatorOrder
    families: ClassVar[list[str]] = [FAMILY]

    def process(self, instance):
        done = {int(f) for f in alignments(instance.data["shotDir"]).get("frames", {})}
        missing = [f for f in instance.data["frames"] if f not in done]
        if missing:
            raise PublishError(f"alignments in {instance.data['shotDir']} lack frames "
                               f"{format_frame_range(missing)}: run `faceplate extract` on them")


# -- extract (Nuke host; the shell host's renderer lives in the engine package) ---------------

class ExtractNukeRender(pyblish.api.InstancePlugin):
    """Render the instance's Write node; Faceplate nodes ask the engine for each frame."""

    label = "Render Write node through the engine"
    order = pyblish.api.ExtractorOrder
    families: ClassVar[list[str]] = [FAMILY]
    hosts: ClassVar[list[str]] = ["nuke"]

    def process(self, instance):
        if not instance.data.get("render"):
            return
        import nuke  # only inside Nuke

        write = nuke.toNode(instance.data["writeNode"])
        if write is None:
            raise PublishError(f"Write node {instance.data['writeNode']} is gone from the script")
        frames = instance.data["frames"]
        nuke.execute(write, frames[0], frames[-1], 1)


# -- validate what was rendered --------------------------------------------------------------

def _frames(instance):
    """(frame, path, ExrInfo) for every frame on disk; remembers missing/unreadable ones."""
    if "exrInfo" not in instance.data:
        found, absent = [], []
        for frame in instance.data["frames"]:
            path = frame_path(instance.data["output"], frame)
            try:
                found.append((frame, path, read_exr(path)))
            except (FileNotFoundError, ExrError):
                absent.append(frame)
        instance.data["exrInfo"], instance.data["framesAbsent"] = found, absent
    return instance.data["exrInfo"]


class ValidateFramesComplete(pyblish.api.InstancePlugin):
    """Every output frame exists and every pixel chunk it promises is on disk."""

    label = "Validate output frames exist and are whole"
    order = RENDERED_CHECK_ORDER
    families: ClassVar[list[str]] = [FAMILY]

    def process(self, instance):
        infos = _frames(instance)
        problems = []
        if instance.data["framesAbsent"]:
            problems.append(f"frames {format_frame_range(instance.data['framesAbsent'])} are missing "
                            "or not EXR")
        problems += [f"frame {f} is incomplete ({i.problem})" for f, _, i in infos
                     if i.complete is False]
        if problems:
            raise PublishError(f"{instance.data['output']}: " + "; ".join(problems) +
                               ": re-run those frames (convert skips the good ones)")


class ValidateFacemaskChannels(pyblish.api.InstancePlugin):
    """Compositors need the colour channels and the ``facemask`` layer (face, learned, hull) in
    every frame (alpha only where the plate has one: the output keeps the plate's channels)."""

    label = "Validate colour and facemask channels"
    order = RENDERED_CHECK_ORDER
    families: ClassVar[list[str]] = [FAMILY]

    def process(self, instance):
        bad: dict[str, list[int]] = {}
        for frame, _, info in _frames(instance):
            lacking = [c for c in RGB + FACEMASK if c not in info.channels]
            if lacking:
                bad.setdefault(", ".join(lacking), []).append(frame)
        if bad:
            raise PublishError("; ".join(f"frames {format_frame_range(fr)} lack channels {names}"
                                         for names, fr in bad.items()) +
                               ": render them with `faceplate convert` (it writes the facemask "
                               "layer)")


class ValidateProvenance(pyblish.api.InstancePlugin):
    """Every frame says it is synthetic and which model made it — the model being published."""

    label = "Validate provenance metadata"
    order = RENDERED_CHECK_ORDER
    families: ClassVar[list[str]] = [FAMILY]

    def process(self, instance):
        model_id = model_card(instance.data["modelDir"]).get("model_id")
        lacking: dict[str, list[int]] = {}
        foreign: dict[str, list[int]] = {}
        for frame, _, info in _frames(instance):
            keys = [k for k in PROVENANCE if k not in info.attributes]
            if keys:
                lacking.setdefault(", ".join(keys), []).append(frame)
            elif info.attributes["faceplate/model"] != model_id:
                foreign.setdefault(str(info.attributes["faceplate/model"]), []).append(frame)
        problems = [f"frames {format_frame_range(fr)} have no provenance ({keys})"
                    for keys, fr in lacking.items()]
        problems += [f"frames {format_frame_range(fr)} were made by model {other}, not {model_id}"
                     for other, fr in foreign.items()]
        if problems:
            raise PublishError("; ".join(problems) + ": re-render them with this job's model")


class ValidateQcReport(pyblish.api.InstancePlugin):
    """The shot's QC report (``SHOTDIR/report/report.json``, from ``faceplate report``), when
    there is one, is of these frames and passes: a failing check stops the publish, naming the
    checks and their frames. A shot without a report publishes without one."""

    label = "Validate the QC report passes"
    order = RENDERED_CHECK_ORDER
    families: ClassVar[list[str]] = [FAMILY]

    def process(self, instance):
        path = os.path.join(instance.data["shotDir"], layout.REPORT_DIR, layout.REPORT_JSON)
        if not os.path.isfile(path):
            self.log.info("no QC report in %s (faceplate report %s)", os.path.dirname(path),
                          instance.data["shotDir"])
            return
        report = load_json(path, "QC report", layout.REPORT_SCHEMA)
        reported, output = report.get("merged", ""), instance.data["output"]
        if frame_path(reported, 1) != frame_path(output, 1):
            raise PublishError(f"the QC report {path} is of {reported}, not {output}: run "
                               f"`faceplate report {instance.data['shotDir']}` again")
        failing = [f"{c['title']} (frames {c['fail_frames'] or 'all'})"
                   for c in report.get("checks", []) if c.get("status") == "fail"]
        if failing:
            raise PublishError(f"the QC report fails: {', '.join(failing)}; see "
                               f"{os.path.join(os.path.dirname(path), layout.REPORT_PAGE)}")
        self.log.info("QC report: %s", report.get("verdict"))


# -- integrate -----------------------------------------------------------------------------

class IntegrateVersion(pyblish.api.InstancePlugin):
    """Copy the frames into the next ``vNNN`` folder with a manifest of hashes, atomically."""

    label = "Integrate versioned publish"
    order = pyblish.api.IntegratorOrder
    families: ClassVar[list[str]] = [FAMILY]

    def process(self, instance):
        context = instance.context
        failed = [r for r in context.data.get("results", []) if r.get("error")]
        if failed:
            raise PublishError(f"not published: {len(failed)} check(s) failed (see above)")
        root = context.data.get("publishRoot")
        if not root:
            raise PublishError("no publish root: give one (faceplate publish --to ROOT)")
        folder = os.path.join(root, instance.name, instance.data["identity"])
        os.makedirs(folder, exist_ok=True)
        staging = os.path.join(folder, f".staging-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        try:
            paths = [path for _, path, _ in _frames(instance)]
            paths += instance.data.get("extraFiles", [])  # e.g. the shell host's review sheet
            files = {os.path.basename(path): _copy_hashed(path, staging) for path in paths}
            for name in instance.data.get("reportFiles", []):  # relative to reportDir
                files[f"{layout.REPORT_DIR}/{name}"] = _copy_hashed(
                    os.path.join(instance.data["reportDir"], name),
                    os.path.join(staging, layout.REPORT_DIR, os.path.dirname(name)))
            manifest = _manifest(instance, files)
            with open(os.path.join(staging, "manifest.json"), "w") as fh:
                json.dump(manifest, fh, indent=1)
            version_dir = _claim_version(folder, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        instance.data["publishedDir"] = version_dir
        self.log.info("published %s files to %s", len(files), version_dir)


def _copy_hashed(src: str, folder: str) -> dict:
    digest = hashlib.sha256()
    dst = os.path.join(folder, os.path.basename(src))
    os.makedirs(folder, exist_ok=True)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        for block in iter(lambda: fin.read(1 << 20), b""):
            digest.update(block)
            fout.write(block)
    os.chmod(dst, 0o444)  # a publish is never edited in place
    return {"sha256": digest.hexdigest(), "bytes": os.path.getsize(dst)}


def _manifest(instance, files: dict) -> dict:
    card = instance.data.get("modelCard") or model_card(instance.data["modelDir"])
    return {
        "schema": "faceplate.publish", "version": 1,
        "name": instance.name, "identity": instance.data["identity"],
        "frames": format_frame_range(instance.data["frames"]),
        "files": files,
        "model": {k: card.get(k) for k in ("model_id", "identities", "resolution", "face_type",
                                            "iterations", "consent", "faceplate_version")},
        "source": {k: instance.data[k] for k in ("shotDir", "modelDir", "output")},
        "user": getpass.getuser(), "host": socket.gethostname(),
        "published_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
    }


def _claim_version(folder: str, staging: str) -> str:
    """Rename the staging folder to the next free vNNN; a racing publisher gets the next one."""
    while True:
        taken = [int(n[1:]) for n in os.listdir(folder) if n[:1] == "v" and n[1:].isdigit()]
        target = os.path.join(folder, f"v{max(taken, default=0) + 1:03d}")
        try:
            os.rename(staging, target)  # fails if target appeared meanwhile (non-empty dir)
            return target
        except OSError:
            if not os.path.isdir(target):
                raise


PLUGINS: list[Any] = [CollectShotFolders, ValidateModel, ValidateConsent, ValidateAlignmentCoverage,
                      ExtractNukeRender, ValidateFramesComplete, ValidateFacemaskChannels,
                      ValidateProvenance, ValidateQcReport, IntegrateVersion]
