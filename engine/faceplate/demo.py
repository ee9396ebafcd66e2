"""``faceplate demo``: the whole product on a sample shot, through the engine, as Nuke drives it.

Stages, each timed:

1. sample   – a scene-linear ACEScg EXR plate of identity A (the astronaut) with a push-in, roll,
              drift and turn, and a second shot of identity B (Grace Hopper) for her face set;
2. extract  – the engine detects, tracks, aligns and smooths A's plate (alignments.json) and writes
              both face sets;
3. train    – the engine trains a small model (shared encoder, decoders A and B) for a time budget,
              half at 64 px, then grown to 128 px (the faces' crops are ~300 px on the plate);
4. convert  – the engine swaps A → B and merges into the plate: EXRs with the ``facemask`` layer
              and provenance;
5. report   – the engine's QC report of the converted shot (``shot/report/index.html``);
6. review   – a contact sheet, and ``demo.nk`` wiring the four gizmos over the same shot.

A private engine is started in ``DIR/engine`` and shut down at the end, so the demo never
disturbs an engine a user already runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from faceplate_client.client import EngineClient
from faceplate_client.layout import ALIGNMENTS_FILE

from .errors import FaceplateError
from .progress import terminal_progress

CONSENT = ("Demo only: public-domain / freely licensed sample photographs bundled with "
           "scikit-image (astronaut Eileen Collins, NASA) and matplotlib (Grace Hopper, US Navy).")
IDENTITIES = {"A": "astronaut", "B": "grace_hopper"}
# The sizes the demo's model trains at, each for an equal share of the budget: 64 px, then
# grown to 128 px (the sample faces are ~300 px crops on the plate; docs/demo-sizes.png).
DEMO_LADDER = (64, 128)


@dataclass(frozen=True)
class DemoPaths:
    """Where every demo output lives, under one root folder."""

    root: str

    def _at(self, relative: str) -> str:
        return os.path.join(self.root, relative)

    plate_a = property(lambda self: self._at("plate/astronaut.####.exr"))
    plate_b = property(lambda self: self._at("plate_b/hopper.####.exr"))
    shot_a = property(lambda self: self._at("shot"))
    shot_b = property(lambda self: self._at("shot_b"))
    faceset_a = property(lambda self: self._at("facesets/A"))
    faceset_b = property(lambda self: self._at("facesets/B"))
    model = property(lambda self: self._at("model"))
    merged = property(lambda self: self._at("comp/merged.####.exr"))
    cache = property(lambda self: self._at("comp/swap_cache"))
    sheet = property(lambda self: self._at("contact_sheet.png"))
    nk = property(lambda self: self._at("demo.nk"))
    engine = property(lambda self: self._at("engine"))
    summary = property(lambda self: self._at("summary.json"))


@dataclass
class DemoOptions:
    out_dir: str = "demo_out"
    minutes: float = 3.0
    frames: int = 24
    seed: int = 0
    size: tuple[int, int] = (960, 540)


@dataclass
class DemoReport:
    paths: DemoPaths
    timings: dict[str, float] = field(default_factory=dict)
    results: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        p = self.paths
        return {"timings_s": {k: round(v, 2) for k, v in self.timings.items()},
                "outputs": {"merged": p.merged, "contact_sheet": p.sheet, "nuke_script": p.nk,
                            "alignments": os.path.join(p.shot_a, ALIGNMENTS_FILE),
                            "qc_report": self.results.get("report", {}).get("page"),
                            "model": p.model,
                            "training_preview": self.results.get("train", {}).get("preview"),
                            "loss_plot": self.results.get("train", {}).get("loss_plot")},
                "results": self.results}


def _progress_printer(stage: str) -> Callable[[dict], None]:
    """Show an engine job's progress events on stderr: a bar on a terminal, lines in a log."""
    bar = {}

    def show(event: dict) -> None:
        if "total" not in event:
            return
        if "bar" not in bar:
            bar["bar"] = terminal_progress(event.get("stage") or stage, int(event["total"] or 0),
                                           unit=event.get("unit", "items"))
        bar["bar"].update(int(event["done"]), int(event["total"] or 0),
                          str(event.get("message", "")))

    return show


def make_sample_data(paths: DemoPaths, options: DemoOptions) -> dict:
    from .samples import make_shot

    a = make_shot(IDENTITIES["A"], os.path.dirname(paths.plate_a), frames=options.frames,
                  size=options.size, face_px=170.0, seed=options.seed, name="astronaut")
    b = make_shot(IDENTITIES["B"], os.path.dirname(paths.plate_b), frames=options.frames,
                  size=options.size, face_px=170.0, seed=options.seed + 1, name="hopper")
    return {"plate_a": paths.plate_a, "plate_b": paths.plate_b, "frames": a.frames,
            "colourspace": a.colourspace, "size": list(a.size), "frames_b": len(b.frames)}


def _engine_client(paths: DemoPaths) -> EngineClient:
    folder = paths.engine
    os.makedirs(folder, mode=0o700, exist_ok=True)
    sock, token = os.path.join(folder, "engine.sock"), os.path.join(folder, "engine.token")
    command = [sys.executable, "-m", "faceplate.cli", "serve", "--socket", sock,
               "--token-file", token, "--log", os.path.join(folder, "engine.log")]
    return EngineClient(sock, token, start_command=command, client_name="faceplate demo")


def run_demo(options: DemoOptions) -> DemoReport:
    from faceplate_client.protocol import EngineError

    paths = DemoPaths(os.path.abspath(options.out_dir))
    os.makedirs(paths.root, exist_ok=True)
    report = DemoReport(paths)

    def stage(name: str, fn: Callable[[], dict]) -> dict:
        print(f"== {name}", file=sys.stderr, flush=True)
        start = time.monotonic()
        try:
            result = fn()
        except EngineError as exc:
            raise FaceplateError(f"demo stage {name!r} failed in the engine: {exc}") from None
        report.timings[name] = time.monotonic() - start
        report.results[name] = result
        return result

    stage("sample", lambda: make_sample_data(paths, options))
    client = _engine_client(paths)
    try:
        stage("engine", lambda: {"hello": {k: v for k, v in client.hello().items()
                                           if k in ("version", "device", "pid")}})
        stage("extract", lambda: {
            "A": client.call("extract_shot", {
                "plate": paths.plate_a, "shot_dir": paths.shot_a, "faceset_dir": paths.faceset_a,
                "select": "index:0"},
                on_progress=_progress_printer("extract A")).params,
            "B": client.call("extract_shot", {
                "plate": paths.plate_b, "shot_dir": paths.shot_b, "faceset_dir": paths.faceset_b,
                "select": "index:0"},
                on_progress=_progress_printer("extract B")).params})
        stage("train", lambda: client.call("train", {
            "facesets": {"A": paths.faceset_a, "B": paths.faceset_b}, "model_dir": paths.model,
            "preset": "demo", "consent": CONSENT,
            "time_budget_s": options.minutes * 60.0 / len(DEMO_LADDER),
            "overrides": {"seed": options.seed, "grow_to": DEMO_LADDER[-1]}},
            on_progress=_progress_printer("train")).params)
        stage("convert", lambda: client.call("convert_shot", {
            "plate": paths.plate_a, "shot_dir": paths.shot_a, "model": paths.model,
            "identity": "B", "out": paths.merged, "cache_dir": paths.cache},
            on_progress=_progress_printer("convert")).params)
        stage("report", lambda: {k: v for k, v in client.call("qc_report", {
            "shot_dir": paths.shot_a}, on_progress=_progress_printer("report")).params.items()
            if k in ("verdict", "page", "report", "failing")})
    finally:
        try:
            client.call("shutdown")
        except EngineError:
            pass
        client.close()
    stage("review", lambda: review(paths, report))
    with open(paths.summary, "w") as fh:
        json.dump(report.to_dict(), fh, indent=1, default=str)
    return report


def review(paths: DemoPaths, report: DemoReport) -> dict:
    from .contact_sheet import contact_sheet
    from .nk_script import write_demo_script

    colourspace = report.results["sample"]["colourspace"]
    contact_sheet(paths.plate_a, paths.shot_a, paths.merged, paths.sheet, colourspace=colourspace)
    frames = report.results["sample"]["frames"]
    write_demo_script(paths.nk, plate=paths.plate_a, frames=(frames[0], frames[-1]),
                      size=tuple(report.results["sample"]["size"]), colourspace=colourspace,
                      model=paths.model, identity="B", merged=paths.merged,
                      cache=os.path.join(paths.root, "nuke_cache"))
    return {"contact_sheet": paths.sheet, "nuke_script": paths.nk}


def describe(report: DemoReport) -> str:
    d = report.to_dict()
    lines = ["", "Faceplate demo finished. Stage times:"]
    lines += [f"  {k:<8} {v:8.1f} s" for k, v in d["timings_s"].items()]
    lines += ["", "Look at:"]
    lines += [f"  {k:<17} {v}" for k, v in d["outputs"].items() if v]
    return "\n".join(lines)
