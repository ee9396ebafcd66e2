"""Settings declared once: op params and settings share one value check, one helper reads
settings from an op's params, and ``faceplate train``'s and ``faceplate convert``'s output flags
are generated from TrainConfig's and OutputSettings' declarations (same flags as before)."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
from faceplate.cli import build_parser
from faceplate.convert.output_settings import OutputSettings
from faceplate.convert.settings import MergeSettings
from faceplate.convert.writer import OutputSettings as WriterOutputSettings
from faceplate.coverage.report import CoverageSettings
from faceplate.extract.settings import ExtractSettings
from faceplate.occlusion.train import OcclusionTrainSettings
from faceplate.server.ops import Param, settings_from_params, settings_params
from faceplate.settings import Settings, SettingsError
from faceplate.train.config import Augment, LossWeights, TrainConfig
from faceplate.train.trainer import TrainConfig as TrainerTrainConfig
from faceplate_client.protocol import BAD_PARAMS, EngineError

REQUIRED = {TrainConfig: {"facesets": {"a": "/a", "b": "/b"}, "model_dir": "/m"},
            OutputSettings: {"pattern": "/out/o.####.exr"}}
CLASSES = (MergeSettings, ExtractSettings, CoverageSettings, OcclusionTrainSettings,
           TrainConfig, Augment, LossWeights, OutputSettings)


def _param_error(param: Param, value) -> str:
    with pytest.raises(EngineError) as err:
        param.validate(value)
    assert err.value.code == BAD_PARAMS
    return err.value.message


@pytest.mark.parametrize("name, value, words", [
    ("blur", 1e6, "must be between 0 and 400, got 1e+06"),
    ("blur", math.nan, "must be between 0 and 400, got nan"),
    ("blur", "soft", "must be a number, got 'soft'"),
    ("erode", True, "must be a number, got True"),
    ("mask", "everything", "cannot be 'everything': use one of"),
    ("mask_channel", 3, "must be a string, got 3"),
])
def test_op_params_and_settings_refuse_a_value_with_the_same_check(name, value, words):
    """The merge op's params are generated from MergeSettings; a bad value gets the same
    verdict and words from both (one implementation, settings.check_value)."""
    param = {p.name: p for p in settings_params(MergeSettings)}[name]
    from_op = _param_error(param, value)
    with pytest.raises(SettingsError) as err:
        MergeSettings(**{name: value})
    assert words in from_op
    assert from_op.split(name + "'", 1)[1] == str(err.value).split(name, 1)[1]


def test_the_shared_check_accepts_alike():
    param = Param("x", float, 0.0, min=0.0, max=2.0)
    assert param.validate(1) == 1.0 and type(param.validate(1)) is float
    assert MergeSettings(scale=1).scale == 1.0 and type(MergeSettings(scale=1).scale) is float
    assert "between -2147483647 and 2147483647" in _param_error(Param("n", int, 0), 2**40)
    assert "must be a number" in _param_error(Param("y", float, 0.0), 2**60)  # inexact
    assert "between -inf and inf" in _param_error(Param("z", float, 0.0), math.inf)


def test_settings_are_read_from_an_ops_params_by_one_helper():
    params = {"plate": "/p.####.exr", "frames": "", "smoothing": 0.25, "backend": "dlib"}
    extract = settings_from_params(ExtractSettings, params)
    assert (extract.smoothing, extract.backend) == (0.25, "dlib")
    assert extract.min_face == ExtractSettings().min_face
    occlusion = settings_from_params(OcclusionTrainSettings, {"steps": 5}, device="cpu")
    assert (occlusion.steps, occlusion.device) == (5, "cpu")
    merge = settings_from_params(MergeSettings, {"settings": {"colour": "none"}}, "settings")
    assert merge == MergeSettings(colour="none")
    output = settings_from_params(OutputSettings, {"out": "/o.####.exr", "overwrite": True},
                                  pattern="/o.####.exr")
    assert output == OutputSettings("/o.####.exr", overwrite=True)
    for cls, params, key, words in (
            (MergeSettings, {"settings": {"colour": "sepia"}}, "settings", "use one of"),
            (MergeSettings, {"settings": {"color": "none"}}, "settings",
             "unknown merge settings color"),
            (MergeSettings, {"mask": "image"}, "", "needs a matte"),
            (OcclusionTrainSettings, {"size": 100}, "", "multiple of 8"),
            (OutputSettings, {}, "", "output settings need pattern"),
            (OutputSettings, {"pattern": "/o.exr"}, "", "no frame number"),
            (CoverageSettings, {"pose_step": 0.0}, "", "between 0.1 and 90")):
        with pytest.raises(EngineError) as err:
            settings_from_params(cls, params, key)
        assert err.value.code == BAD_PARAMS and words in err.value.message, err.value.message


@pytest.mark.parametrize("cls", CLASSES)
def test_every_setting_is_declared_with_help_and_round_trips(cls):
    assert issubclass(cls, Settings)
    for d in cls.declared():
        assert d.help, f"{cls.__name__}.{d.name} has no help"
    settings = cls.from_dict(dict(REQUIRED.get(cls, {})))
    assert cls.from_dict(settings.to_dict()) == settings
    import argparse

    cls.add_flags(argparse.ArgumentParser(), prefix="x_")  # no clashing flags


def test_the_public_names_stay():
    assert TrainerTrainConfig is TrainConfig and WriterOutputSettings is OutputSettings
    from faceplate.train.augment import Augment as A
    from faceplate.train.loss import LossWeights as L

    assert (A, L) == (Augment, LossWeights)


def _train_args(*flags: str):
    return build_parser(only="train").parse_args(
        ["train", "--faceset", "a=/sets/a", "--faceset", "b=/sets/b", "-m", "/models/ab",
         *flags])


def _train_config(*flags: str) -> TrainConfig:
    args = _train_args(*flags)
    return TrainConfig.from_flags(args, base={"facesets": dict(args.faceset)})


def test_train_flags_come_from_the_declaration_with_their_old_spellings():
    config = _train_config(
        "--consent", "ok", "--preset", "fast", "--steps", "7", "--time", "1h30m",
        "--loss-target", "0.01", "--clock", "cpu", "--resolution", "96",
        "--encoder-widths", "8,16", "--latent", "32", "--bridge", "16",
        "--decoder-widths", "16,8", "--decoder-blocks", "1", "--no-face-prior",
        "--batch-size", "2", "--augment", "flip=0.5,warp_grid=3", "--loss", "l1=2",
        "--lr", "0.002", "--warmup-steps", "5", "--schedule", "constant", "--min-lr", "0.2",
        "--grad-clip", "0", "--ema", "0.9", "--holdout", "20", "--seed", "3",
        "--colour-match", "a", "--precision", "fp32", "--channels-last", "--compile",
        "--device", "cpu", "--preview-every", "11", "--checkpoint-every", "12",
        "--checkpoint-every-time", "20m", "--keep", "4", "--log-every", "5")
    assert config == TrainConfig(
        facesets={"a": "/sets/a", "b": "/sets/b"}, model_dir="/models/ab", consent="ok",
        preset="fast", max_steps=7, time_budget_s=5400.0, loss_target=0.01, clock="cpu",
        resolution=96, encoder_widths=[8, 16], latent=32, bridge=16, decoder_widths=[16, 8],
        decoder_blocks=1, face_prior=False, batch_size=2, learning_rate=0.002,
        warmup_steps=5, schedule="constant", min_lr=0.2, grad_clip=0.0, ema=0.9,
        holdout=20.0, seed=3, colour_match="a", precision="fp32", channels_last=True,
        compile=True, device="cpu", preview_every=11, checkpoint_every=12,
        checkpoint_every_s=1200.0, keep_checkpoints=4, log_every=5,
        augment=Augment(flip=0.5, warp_grid=3), loss=LossWeights(l1=2.0))
    # Unset flags keep the preset's values, else the declared defaults.
    fast = _train_config("--preset", "fast", "--face-prior")
    assert fast == TrainConfig.from_preset("fast", facesets={"a": "/sets/a", "b": "/sets/b"},
                                           model_dir="/models/ab")
    assert (fast.resolution, fast.face_prior, fast.warmup_steps) == (64, True, 20)
    for bad in (["--schedule", "linear"], ["--time", "soon"], ["--holdout", "1.5"],
                ["--augment", "tilt=3"], ["--encoder-widths", "8,x"]):
        with pytest.raises(SystemExit):
            _train_args(*bad)


def test_train_help_says_each_setting_from_its_declaration(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # unwrapped
    with pytest.raises(SystemExit):
        build_parser(only="train").parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for d in TrainConfig.declared():
        if d.name not in ("facesets", "preset"):
            assert d.help in text, d.name
    assert "crop size, 64-512 in steps of 32 (set by the preset)" in text
    assert "(default 20)" in text and "augmentation, over the preset's: rotation_deg (0)" in text


def test_the_train_op_reads_its_overrides_with_the_declaration(tmp_path):
    from faceplate.server.engine import REGISTRY
    from faceplate.server.handlers.shots import _decode_train

    op = REGISTRY["train"]

    def decode(**params):
        clean, _ = op.validate({"facesets": {"a": "/sets/a", "b": "/sets/b"},
                                "model_dir": str(tmp_path / "m"), "consent": "ok",
                                "preset": "fast", **params}, {})
        req = SimpleNamespace(op=op, params=clean, engine=None, progress=None,
                              cancel_event=None)
        return _decode_train(req).config

    config = decode(max_steps=5, overrides={"augment": {"flip": 0.5}, "seed": 3})
    assert (config.preset, config.resolution, config.max_steps, config.time_budget_s,
            config.seed) == ("fast", 64, 5, None, 3)
    assert config.augment == Augment(flip=0.5)
    for overrides, words in (({"schedule": "linear"}, "use one of cosine, constant"),
                             ({"lr": 1.0}, "unknown training option(s) lr"),
                             ({"augment": {"tilt": 1.0}}, "unknown augment settings tilt"),
                             ({"encoder_widths": "wide"}, "must be a list")):
        with pytest.raises(EngineError) as err:
            decode(overrides=overrides)
        assert err.value.code == BAD_PARAMS and words in err.value.message, err.value.message


def test_convert_output_flags_come_from_output_settings():
    base = ["convert", "plate.####.exr", "--alignments", "shot", "-m", "model", "--to", "B"]
    parser = build_parser(only="convert")
    args = parser.parse_args([*base, "-o", "out.####.exr"])
    assert OutputSettings.from_flags(args, prefix="output_") == OutputSettings("out.####.exr")
    args = parser.parse_args([*base, "--output", "out.####.exr", "--compression", "piz",
                              "--pixel-type", "half", "--face-out", "face.####.exr",
                              "--overwrite", "--single-part"])
    assert OutputSettings.from_flags(args, prefix="output_") == OutputSettings(
        "out.####.exr", compression="piz", pixel_type="half", face_pattern="face.####.exr",
        overwrite=True, single_part=True)
    for bad in (["-o", "out.####.exr", "--compression", "jpeg"], []):
        with pytest.raises(SystemExit):
            parser.parse_args([*base, *bad])
    assert OutputSettings("o.####.exr").compression == "plate"
    with pytest.raises(SettingsError, match="cannot write .jpg"):
        OutputSettings("o.####.jpg")


def test_the_train_and_convert_parsers_import_no_heavy_stack():
    code = ("import sys; from faceplate.cli import build_parser; "
            "[build_parser(only=c) for c in ('train', 'convert')]; "
            "print([m for m in ('torch', 'OpenImageIO', 'numpy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
