"""Farm jobs for a shot.

  faceplate farm bundle SHOTDIR --plate P --model M --to B --output OUT.####.exr --frames 1001-1100
      writes SHOTDIR/faceplate_job.json and an Open Job Description bundle (default
      SHOTDIR/farm/openjd): submit it with `deadline bundle submit DIR`, or run it here with
      `openjd run DIR/template.yaml -p file://DIR/openjd_parameters.json`.
  faceplate farm opencue SHOTDIR [...]   the same job as an OpenCue XML job spec (for Cuebot).
  faceplate farm engine start|stop|run   the worker side: the engine for one farm session.
  faceplate farm step --ok 0,1 -- CMD    run a task command, counting these exit codes as success.

Flags left out are taken from SHOTDIR/faceplate_job.json when it exists, so re-bundling a shot
after a change needs only the change.
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "write farm jobs for a shot (OpenJD/Deadline Cloud bundle, OpenCue spec)"

_JOB_FLAGS = {  # flag → ShotJob field
    "plate": "plate", "model": "model_dir", "to": "identity", "output": "output",
    "frames": "frames", "chunk": "chunk_size", "name": "name", "colourspace": "colourspace",
    "train_steps": "train_steps", "consent": "consent", "nuke_script": "nuke_script",
    "nuke_write": "nuke_write", "faceplate_cmd": "faceplate_cmd", "nuke_cmd": "nuke_cmd",
    "torch_home": "torch_home", "ocio": "ocio", "gpus": "gpus",
}
_PATH_FIELDS = ("plate", "model_dir", "output", "nuke_script", "torch_home", "ocio")


def _add_job_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shot_dir", metavar="SHOTDIR", help="shot folder (alignments.json goes here)")
    p.add_argument("--plate", help="plate sequence, e.g. plate.####.exr")
    p.add_argument("-m", "--model", help="model folder")
    p.add_argument("--to", help="identity to render the face as")
    p.add_argument("--output", help="output sequence, e.g. swap.####.exr")
    p.add_argument("--frames", help="frame range, e.g. 1001-1100")
    p.add_argument("--chunk", type=int, help="frames per farm task (default 10)")
    p.add_argument("--name", help="job name (default faceplate_<shot folder>)")
    p.add_argument("--colourspace", help="plate colourspace (default: by file type)")
    p.add_argument("--no-extract", dest="extract", action="store_false", default=None,
                   help="alignments.json is final: skip the extraction step")
    p.add_argument("--faceset", action="append", metavar="ID=DIR",
                   help="train on these face sets first (give one per identity)")
    p.add_argument("--train-steps", type=int, help="training steps (default: the trainer's)")
    p.add_argument("--consent", help="consent note recorded by the training step")
    p.add_argument("--settings", metavar="JSON",
                   help="merge settings for convert (a MergeSettings file, as `faceplate "
                        "convert --settings` reads)")
    p.add_argument("--occlusion", action="store_true", default=None,
                   help="predict the shot's occlusion mattes (faceplate occlusion) before the "
                        "render, for the 'occlusion' mask source")
    p.add_argument("--qc", action="store_true", default=None,
                   help="after the render, write the shot's QC report (faceplate report); a "
                        "failing check fails that task")
    p.add_argument("--nuke-script", help="render this Nuke script instead of running convert")
    p.add_argument("--nuke-write", help="the Write node the Nuke render executes")
    p.add_argument("--gpus", type=int, help="GPUs each task needs on a worker (default 0: any)")
    p.add_argument("--faceplate-cmd", help="faceplate command on the workers")
    p.add_argument("--nuke-cmd", help="Nuke executable on the workers")
    p.add_argument("--torch-home", default=os.environ.get("TORCH_HOME"),
                   help="weights folder on the workers (default: $TORCH_HOME)")
    p.add_argument("--ocio", default=os.environ.get("OCIO"),
                   help="OCIO config on the workers (default: $OCIO, else built-in ACES)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="farm_command", metavar="ACTION")
    p = sub.add_parser("bundle", help="write an OpenJD job bundle (Deadline Cloud, openjd run)")
    _add_job_arguments(p)
    p.add_argument("--bundle", help="bundle folder (default SHOTDIR/farm/openjd)")
    p = sub.add_parser("opencue", help="write an OpenCue XML job spec")
    _add_job_arguments(p)
    p.add_argument("--spec", help="spec file (default SHOTDIR/farm/opencue.xml)")
    p.add_argument("--show", default="faceplate", help="OpenCue show")
    p.add_argument("--cue-shot", default="", help="OpenCue shot (default: the job name)")
    p = sub.add_parser("engine", help="worker side: the engine for one farm session")
    p.add_argument("action", choices=("start", "stop", "run"))
    p.add_argument("--socket", help="socket (stop: default $FACEPLATE_SOCKET)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the engine")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND",
                   help="run: the command to run with the engine up (after --)")
    p = sub.add_parser("step", help="run a farm task's command; listed exit codes succeed")
    p.add_argument("--ok", default="0", help="exit codes that mean success (default 0)")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND",
                   help="the command (after --)")


def run(args: argparse.Namespace) -> int:
    from ..errors import FaceplateError

    if args.farm_command == "engine":
        return _engine(args)
    if args.farm_command == "step":
        return _step(args)
    if args.farm_command not in ("bundle", "opencue"):
        raise FaceplateError("say what to write: `faceplate farm bundle SHOTDIR ...`, "
                             "`faceplate farm opencue SHOTDIR ...` or `faceplate farm engine`")
    job = _job_from_args(args)
    for warning in _preflight(job):
        print(f"warning: {warning}", file=sys.stderr)
    job.save()
    if args.farm_command == "opencue":
        from ..farm import opencue

        path = opencue.write_spec(job, args.spec or os.path.join(job.shot_dir, "farm",
                                                                  "opencue.xml"),
                                  show=args.show, shot=args.cue_shot)
        print(f"wrote {path}\nsubmit with pycue: opencue.api.launchSpecAndWait(open({path!r})"
              ".read()), or outline.cuerun.launch(faceplate.farm.opencue.build_outline(job), "
              "use_pycuerun=False)")
        return 0
    from ..farm import openjd

    bundle = args.bundle or os.path.join(job.shot_dir, "farm", "openjd")
    try:
        openjd.check_template(openjd.job_template(job))
    except Exception as exc:  # noqa: BLE001 - the OpenJD model's own validation message
        raise FaceplateError(f"the job template does not validate: {exc}") from None
    template = openjd.write_bundle(job, bundle)
    from ..farm.tasks import draw_tasks, openjd_tasks

    for step, chunks in openjd_tasks(job).items():
        print(f"  {step}: {len(chunks)} task(s) " + (", ".join(chunks) if any(chunks)
                                                     else "(whole shot)"))
    draw_tasks(job, os.path.join(bundle, "job.png"))
    print(f"wrote {os.path.dirname(template)} (job.png shows its tasks)\n"
          f"submit: deadline bundle submit {bundle}\n"
          f"run here: openjd run {template} -p file://{bundle}/{openjd.OPENJD_PARAMS}")
    return 0


def _job_from_args(args: argparse.Namespace):
    from ..errors import FaceplateError
    from ..farm.job import JOB_FILE, SCHEMA, ShotJob

    shot_dir = os.path.abspath(args.shot_dir)
    existing = os.path.join(shot_dir, JOB_FILE)
    fields = ShotJob.load(existing).to_dict() if os.path.isfile(existing) else {}
    fields.update(shot_dir=shot_dir, schema=SCHEMA)
    for flag, name in _JOB_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            fields[name] = os.path.abspath(value) if name in _PATH_FIELDS and value else value
    if args.extract is not None:
        fields["extract"] = args.extract
    if args.occlusion:
        fields["occlusion"] = True
    if args.qc:
        fields["qc"] = True
    if args.settings:
        fields["merge_settings"] = _merge_settings(args.settings)
    if args.faceset:
        fields["facesets"] = dict(_identity_dir(item) for item in args.faceset)
    missing = [f"--{flag}" for flag, name in _JOB_FLAGS.items()
               if name in ("plate", "model_dir", "identity", "output", "frames")
               and not fields.get(name)]
    if missing:
        raise FaceplateError(f"{', '.join(missing)} needed (no {existing} to take them from)")
    return ShotJob.from_dict(fields).validate()


def _preflight(job) -> list[str]:
    """What looks wrong from this machine: errors for what cannot work anywhere, warnings for
    paths the farm may see differently."""
    from faceplate_client.layout import MODEL_CARD

    from ..errors import FaceplateError
    from ..io.sequence import SequencePattern
    from ..model.card import ModelCard

    warnings = []
    pattern = SequencePattern.parse(job.plate)
    if pattern is not None and not pattern.existing_frames():
        warnings.append(f"no plate frames at {pattern.hashes} on this machine "
                        "(fine if the workers see another path)")
    card_path = os.path.join(job.model_dir, MODEL_CARD)
    if os.path.isfile(card_path):
        identities = ModelCard.load(card_path).identities
        if job.identity not in identities and not job.trains:
            raise FaceplateError(f"model {job.model_dir} has no identity {job.identity!r} "
                                 f"(it has {', '.join(identities)}): fix --to")
    elif not job.trains:
        warnings.append(f"no model card at {card_path} on this machine")
    if job.renders_with_nuke and not os.path.isfile(job.nuke_script):
        warnings.append(f"Nuke script {job.nuke_script} not found on this machine")
    return warnings


def _merge_settings(path: str) -> dict:
    import json

    from ..convert.settings import MergeSettings
    from ..errors import FaceplateError

    try:
        with open(path) as fh:
            return MergeSettings.from_dict(json.load(fh)).to_dict()
    except (OSError, ValueError) as exc:
        raise FaceplateError(f"cannot read merge settings {path}: {exc}") from None


def _identity_dir(item: str) -> tuple[str, str]:
    from ..errors import FaceplateError

    identity, sep, folder = item.partition("=")
    if not sep or not identity or not folder:
        raise FaceplateError(f"--faceset {item!r}: write it as IDENTITY=FOLDER")
    return identity, os.path.abspath(folder)


def _command_after_dashes(args: argparse.Namespace) -> list[str]:
    from ..errors import FaceplateError

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        raise FaceplateError(f"run what? `faceplate farm {args.farm_command} -- COMMAND ...`")
    return command


def _step(args: argparse.Namespace) -> int:
    import subprocess

    from ..errors import FaceplateError

    try:
        ok = {int(code) for code in args.ok.split(",")}
    except ValueError:
        raise FaceplateError(f"--ok {args.ok!r}: give exit codes like 0,1") from None
    code = subprocess.call(_command_after_dashes(args))
    if code in ok and code != 0:
        print(f"faceplate farm step: exit status {code} counts as success here", file=sys.stderr)
    return 0 if code in ok else code


def _engine(args: argparse.Namespace) -> int:
    import subprocess

    from faceplate_client.paths import SOCKET_ENV, TOKEN_ENV

    from ..errors import FaceplateError
    from ..farm import engine_host

    if args.action == "start":
        sock = engine_host.start(args.socket, timeout_s=args.timeout)
        for name, value in ((SOCKET_ENV, sock), (TOKEN_ENV, engine_host.token_path(sock))):
            print(f"openjd_env: {name}={value}", flush=True)
        print(f"faceplate engine listening on {sock}", file=sys.stderr)
        return 0
    if args.action == "stop":
        target = args.socket or os.environ.get(SOCKET_ENV)
        if not target:
            raise FaceplateError(f"which engine? give --socket or set {SOCKET_ENV}")
        stopped = engine_host.stop(target)
        print(f"faceplate engine on {target} {'stopped' if stopped else 'was not running'}",
              file=sys.stderr)
        return 0
    command = _command_after_dashes(args)
    sock = engine_host.start(args.socket, timeout_s=args.timeout)
    try:
        return subprocess.call(command, env={**os.environ, SOCKET_ENV: sock,
                                             TOKEN_ENV: engine_host.token_path(sock)})
    finally:
        engine_host.stop(sock)
