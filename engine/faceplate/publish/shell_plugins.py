"""The shell host's own pyblish plugins: the steps that need the engine's heavy stack."""

from __future__ import annotations

from typing import ClassVar

import pyblish.api  # type: ignore[import-untyped]
from faceplate_client import layout
from faceplate_client.frames import format_frame_range
from faceplate_pyblish import shot

RENDERED_CHECK_ORDER = pyblish.api.ExtractorOrder + 0.35  # after the header checks


class ExtractRender(pyblish.api.InstancePlugin):
    """Render the frames the farm has not (or not validly) written, through the engine's
    ``convert_shot`` job; frames already finished are skipped by the engine."""

    label = "Render missing frames through the engine"
    order = pyblish.api.ExtractorOrder
    families: ClassVar[list[str]] = [shot.FAMILY]
    hosts: ClassVar[list[str]] = ["shell"]

    def process(self, instance):
        if not instance.data.get("render"):
            self.log.info("render not asked for: publishing the frames on disk")
            return
        from faceplate_client.client import EngineClient

        job = instance.data["job"]
        params = {"plate": job["plate"], "shot_dir": job["shot_dir"], "model": job["model_dir"],
                  "identity": job["identity"], "out": job["output"], "frames": job["frames"],
                  "settings": job.get("merge_settings") or {},
                  "colourspace": job.get("colourspace", "")}
        with EngineClient(client_name="faceplate publish") as client:
            reply = client.call("convert_shot", params, on_progress=lambda e: self.log.info(
                "%s %s/%s", e.get("stage"), e.get("done"), e.get("total")))
        instance.data["renderSummary"] = reply.params
        self.log.info("rendered through the engine: %s", reply.params)


class ValidateFramesDecode(pyblish.api.InstancePlugin):
    """Every pixel of every frame decodes (the header check cannot see corrupt data)."""

    label = "Validate output frames decode"
    order = RENDERED_CHECK_ORDER
    families: ClassVar[list[str]] = [shot.FAMILY]
    hosts: ClassVar[list[str]] = ["shell"]

    def process(self, instance):
        import os

        from faceplate.io.images import is_complete_image

        paths = {f: shot.frame_path(instance.data["output"], f) for f in instance.data["frames"]}
        bad = [f for f, path in paths.items()  # missing ones are the existence check's to report
               if os.path.exists(path) and not is_complete_image(path)]
        if bad:
            raise shot.PublishError(f"{instance.data['output']}: frames "
                                    f"{format_frame_range(bad)} do not decode: re-render them")


class ExtractReview(pyblish.api.InstancePlugin):
    """A contact sheet — plate, aligned face, swap, merged frame, matte for a few frames —
    written to ``SHOTDIR/review/review.png`` and published beside the frames. Best effort: a
    sheet that cannot be drawn is a warning in the report, not a failed publish."""

    label = "Extract review contact sheet"
    order = RENDERED_CHECK_ORDER + 0.1
    families: ClassVar[list[str]] = [shot.FAMILY]
    hosts: ClassVar[list[str]] = ["shell"]

    def process(self, instance):
        import os

        context = instance.context
        if not context.data.get("faceplateReview", True):
            return
        if any(r.get("error") for r in context.data.get("results", [])):
            self.log.info("no review: earlier checks failed")
            return
        job = instance.data["job"]
        colourspace = (job.get("colourspace")
                       or shot.alignments(instance.data["shotDir"]).get("colourspace")
                       or "ACEScg")
        try:  # a convenience for reviewers, not a check: never what stops a publish
            from faceplate.contact_sheet import contact_sheet

            path = contact_sheet(job["plate"], job["shot_dir"], job["output"],
                                 os.path.join(job["shot_dir"], "review", "review.png"),
                                 colourspace=colourspace)
        except Exception as exc:  # noqa: BLE001 - reported, and the frames still publish
            self.log.warning("no review sheet for %s: %s", instance.name, exc)
            instance.data["reviewProblem"] = str(exc)
            return
        instance.data.setdefault("extraFiles", []).append(path)


class ValidateReviewMedia(pyblish.api.InstancePlugin):
    """The shot's review media (``SHOTDIR/report``: the review movie, the QC report's pictures)
    carry intact Content Credentials that declare generated content from this model, signed by
    the studio (``$FACEPLATE_SIGN_TRUST``'s CAs when set); the report folder then publishes
    with the frames. A shot without a report publishes without one."""

    label = "Validate review media are signed"
    order = RENDERED_CHECK_ORDER
    families: ClassVar[list[str]] = [shot.FAMILY]
    hosts: ClassVar[list[str]] = ["shell"]

    def process(self, instance):
        import os

        from faceplate.media.certificate import studio_trust
        from faceplate.media.credentials import read_credentials
        from faceplate.media.review import report_files, review_media

        report = os.path.join(instance.data["shotDir"], layout.REPORT_DIR)
        files = report_files(report)
        if not files:
            self.log.info("no report in %s: the frames publish without one", report)
            return
        model_id = shot.model_card(instance.data["modelDir"]).get("model_id")
        trust = studio_trust()
        problems = []
        for path in review_media(report):
            verdict = read_credentials(path, trust)
            made_by = verdict.facts.get("model_id")
            if verdict.ok and made_by != model_id:
                verdict.problems.append(f"it shows model {made_by}'s frames, not {model_id}'s")
            problems += [f"{os.path.relpath(path, report)}: {p}" for p in verdict.problems]
        if problems:
            raise shot.PublishError("review media " + "; ".join(problems) + ": make and sign "
                                    f"them with `faceplate review {instance.data['shotDir']}` "
                                    "and the studio certificate")
        instance.data.update(reportDir=report, reportFiles=files)


PLUGINS = [ExtractRender, ValidateFramesDecode, ExtractReview, ValidateReviewMedia]
