"""Run a Faceplate publish headless (the ``shell`` host) and report it in plain words."""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import asdict, dataclass, field

import faceplate_pyblish as package
import pyblish.api  # type: ignore[import-untyped]
import pyblish.util  # type: ignore[import-untyped]

from . import shell_plugins

HOST = "shell"


@dataclass
class Failure:
    plugin: str
    instance: str
    message: str


@dataclass
class PublishReport:
    published: dict[str, str] = field(default_factory=dict)  # instance → version folder
    failures: list[Failure] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)  # "plugin: instance" in the order they ran
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.published)

    def to_dict(self) -> dict:
        return {"ok": self.ok, **asdict(self)}


def shell_plugins_list() -> list[type]:
    """Every plugin the shell host runs, in pyblish order."""
    chosen = package.plugins_for(HOST) + shell_plugins.PLUGINS
    return sorted(chosen, key=lambda p: p.order)


def publish(shot_dirs: list[str], publish_root: str, *, render: bool = False,
            resolution: int | None = None, review: bool = True) -> PublishReport:
    """Collect, validate, (render,) check and integrate the shots; never raises for a failed
    check — the report lists each failure with the plugin that found it."""
    pyblish.api.register_host(HOST)
    context = pyblish.api.Context()
    context.data.update(faceplateShots=list(shot_dirs), publishRoot=publish_root,
                        faceplateRender=render, faceplateResolution=resolution,
                        faceplateReview=review)
    # pyblish prints each error to stdout and logs its traceback; the report says it better.
    quiet = logging.getLogger("pyblish.plugin")
    level, quiet.level = quiet.level, logging.CRITICAL
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            pyblish.util.publish(context, plugins=shell_plugins_list())
    finally:
        quiet.setLevel(level)
    report = PublishReport()
    for result in context.data.get("results", []):
        name = result["instance"].name if result.get("instance") is not None else "context"
        report.ran.append(f"{result['plugin'].label}: {name}")
        if result.get("error") is not None:
            report.failures.append(Failure(result["plugin"].label, name, str(result["error"])))
    for instance in context:
        if instance.data.get("reviewProblem"):
            report.warnings.append(f"{instance.name}: no review sheet "
                                   f"({instance.data['reviewProblem']})")
        if instance.data.get("publishedDir"):
            report.published[instance.name] = instance.data["publishedDir"]
    return report
