"""The model card: everything a model folder says about itself, as ``card.json``.

Responsible use: the card records the consent note the model was trained under, the training
sets' fingerprints and the identities, and is copied into every swapped frame's provenance.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field, fields

from faceplate_client import documents, layout

from .. import __version__
from ..errors import FaceplateError
from ..io.atomic import write_json_atomic

SCHEMA = layout.MODEL_SCHEMA
VERSION = layout.MODEL_VERSION  # 2: decoder_blocks, ema, holdout; 3: face_prior; 4: ladder,
                                # grow_widths, grown_at, fade_steps. Older cards read as without
UNGROWN_VERSION = 3  # what a model never grown is written as: older Faceplates read it
MIN_RESOLUTION, MAX_RESOLUTION, RESOLUTION_STEP = 64, 512, 32


class ModelError(FaceplateError):
    """A model folder is missing, damaged or does not fit the request."""


# Bounds on what a card may declare, checked before anything is allocated for it.
MAX_IDENTITIES = 64
MAX_STAGES = 8
MAX_WIDTH = 4096  # channels of any layer, the latent and the bridge
MAX_PARAMETERS = 1_000_000_000  # the network a card describes, estimated (4 GB of float32)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_plain_name(value, what: str) -> str:
    """``value`` if it is a plain file name (letters, digits, ``._-``, at most 64, not
    starting with a dot), else :class:`ModelError`: names like ``model_id`` become folders."""
    if not isinstance(value, str) or not _PLAIN_NAME.fullmatch(value):
        raise ModelError(f"{what} {str(value)[:80]!r} is not a plain name: use up to 64 "
                         "letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


def check_card_values(card: ModelCard) -> None:
    """Types and bounds of every value a card declares, and the size of the network it
    describes, before any of it is trusted (a card is a file anyone could have edited)."""
    ints = {"resolution": [card.resolution], "latent": [card.latent], "bridge": [card.bridge],
            "iterations": [card.iterations], "decoder_blocks": [card.decoder_blocks],
            "grown_at": [card.grown_at], "fade_steps": [card.fade_steps]}
    for name in ("encoder_widths", "decoder_widths", "ladder", "grow_widths"):
        widths = getattr(card, name)
        least = 0 if name in ("ladder", "grow_widths") else 1
        if not isinstance(widths, list) or not least <= len(widths) <= MAX_STAGES:
            raise ModelError(f"{name} must be a list of {least} to {MAX_STAGES} whole numbers")
        ints[name] = widths
    for name, values in ints.items():
        if not all(type(v) is int for v in values):
            raise ModelError(f"{name} must be whole numbers, got {values!r:.80}")
    if type(card.face_prior) is not bool:
        raise ModelError(f"face_prior must be true or false, got {card.face_prior!r:.80}")
    for name in ("iterations", "grown_at", "fade_steps"):
        if getattr(card, name) < 0:
            raise ModelError(f"{name} cannot be negative ({getattr(card, name)})")
    for v in [*card.encoder_widths, *card.decoder_widths, *card.grow_widths, card.latent,
              card.bridge]:
        if not 1 <= v <= MAX_WIDTH:
            raise ModelError(f"layer width {v} is outside 1 to {MAX_WIDTH}")
    if not isinstance(card.identities, list) or not all(isinstance(i, str)
                                                        for i in card.identities):
        raise ModelError("identities must be a list of names")
    if len(card.identities) > MAX_IDENTITIES:
        raise ModelError(f"{len(card.identities)} identities; a model holds at most "
                         f"{MAX_IDENTITIES}")
    for identity in card.identities:
        check_plain_name(identity, "identity")
    check_plain_name(card.model_id, "model_id")
    if not MIN_RESOLUTION <= card.base_resolution <= MAX_RESOLUTION:
        return  # validate() names the supported resolutions
    grid = card.base_resolution // 2 ** len(card.encoder_widths)
    enc, dec = card.encoder_widths, [*card.decoder_widths, *card.grow_widths]
    estimate = (grid * grid * (enc[-1] + card.bridge) * card.latent
                + 25 * sum(a * b for a, b in zip([3, *enc], enc))
                + len(card.identities) * 36 * sum(a * b for a, b in zip([card.bridge, *dec], dec)))
    if estimate > MAX_PARAMETERS:
        raise ModelError(f"the card describes a network of about {estimate / 1e9:.1f} billion "
                         f"parameters (at most {MAX_PARAMETERS / 1e9:.0f} billion): is it "
                         "damaged?")


def default_widths(resolution: int) -> dict:
    """Layer widths for a resolution: four stride-2 stages up to 128 px, five above.

    Decoder widths shrink as the resolution grows: the last upscales run at the largest
    feature maps, where width costs most (see bench/train.py).
    """
    if resolution <= 96:
        return {"encoder_widths": [64, 128, 256, 512], "latent": 512, "bridge": 256,
                "decoder_widths": [256, 128, 64]}
    if resolution <= 128:
        return {"encoder_widths": [64, 128, 256, 512], "latent": 512, "bridge": 256,
                "decoder_widths": [192, 96, 48]}
    return {"encoder_widths": [48, 96, 192, 384, 512], "latent": 512, "bridge": 256,
            "decoder_widths": [256, 128, 64, 32]}


@dataclass
class ModelCard:
    identities: list[str]
    resolution: int = 128
    face_type: str = "whole_face"
    encoder_widths: list[int] = field(default_factory=lambda: default_widths(128)["encoder_widths"])
    latent: int = 512
    bridge: int = 256  # channels after the encoder's own upscale, fed to every decoder
    decoder_widths: list[int] = field(default_factory=lambda: default_widths(128)["decoder_widths"])
    decoder_blocks: int = 0  # residual blocks after each decoder upscale
    face_prior: bool = False  # each decoder adds its identity's learned mean face (version 3)
    ema: float = 0.0  # decay of the weight average the saved weights are (0: the raw weights)
    holdout: float = 0.1  # share (or count, when ≥ 1) of each face set training held out
    held_out: dict[str, int] = field(default_factory=dict)  # identity → faces held out
    iterations: int = 0
    fingerprints: dict[str, str] = field(default_factory=dict)  # identity → face-set digest
    facesets: dict[str, str] = field(default_factory=dict)  # identity → face-set folder trained on
    consent: str = ""
    model_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    faceplate_version: str = __version__
    preset: str = ""
    # A model grown from a smaller one (version 4; see network.py): the sizes it trained at,
    # first to last (empty: never grown; one: made to grow, at its first size), the channels of
    # each added rung, the step its newest rung was added at and how many steps it fades in over.
    ladder: list[int] = field(default_factory=list)
    grow_widths: list[int] = field(default_factory=list)
    grown_at: int = 0
    fade_steps: int = 0

    @property
    def base_resolution(self) -> int:
        """The size the network before any growth was built for."""
        return self.ladder[0] if self.ladder else self.resolution

    def fade(self, step: int | None = None) -> float:
        """How far the newest rung is faded in once the model has trained ``step`` steps (its
        iterations by default): 0 when it was added, 1 after ``fade_steps``; 1 if never grown."""
        if not self.ladder or self.fade_steps <= 0:
            return 1.0
        done = self.iterations if step is None else step
        return min(1.0, max(0.0, (done - self.grown_at) / self.fade_steps))

    @classmethod
    def for_resolution(cls, identities: list[str], resolution: int = 128, **kw) -> ModelCard:
        """A card whose widths are the defaults for ``resolution`` unless given in ``kw``."""
        return cls(identities=list(identities), resolution=resolution,
                   **{**default_widths(resolution), **kw})

    def validate(self) -> ModelCard:
        check_card_values(self)
        for r in {self.resolution, self.base_resolution}:
            if not (MIN_RESOLUTION <= r <= MAX_RESOLUTION and r % RESOLUTION_STEP == 0):
                raise ModelError(f"resolution {r} is not supported: use {MIN_RESOLUTION} to "
                                 f"{MAX_RESOLUTION} in steps of {RESOLUTION_STEP}")
        sizes = [self.ladder[0] * 2 ** k for k in range(len(self.ladder))]
        if self.ladder and (self.ladder != sizes or self.ladder[-1] != self.resolution):
            raise ModelError(f"ladder {self.ladder} must double from its first size up to the "
                             f"resolution {self.resolution}")
        if len(self.grow_widths) != max(len(self.ladder) - 1, 0):
            raise ModelError(f"a ladder of {len(self.ladder)} sizes needs "
                             f"{max(len(self.ladder) - 1, 0)} grow widths, got "
                             f"{len(self.grow_widths)}")
        r = self.base_resolution
        if len(self.identities) < 2 or len(set(self.identities)) != len(self.identities):
            raise ModelError(f"a model needs two or more distinct identities, got "
                             f"{self.identities!r}")
        stages = len(self.encoder_widths)
        if stages < 2 or r % (2 ** stages):
            raise ModelError(f"{stages} encoder stages do not divide resolution {r}: give "
                             f"encoder widths whose count n has {r} divisible by 2**n")
        if len(self.decoder_widths) != stages - 1:
            raise ModelError(f"{stages} encoder stages need {stages - 1} decoder widths, got "
                             f"{len(self.decoder_widths)}")
        if min([*self.encoder_widths, *self.decoder_widths, self.latent, self.bridge]) < 1:
            raise ModelError("layer widths must be positive")
        if not 0 <= self.decoder_blocks <= 8:
            raise ModelError(f"decoder_blocks {self.decoder_blocks} is out of range 0-8")
        return self

    def identity_index(self, identity: str | int) -> int:
        if isinstance(identity, int) and 0 <= identity < len(self.identities):
            return identity
        if identity in self.identities:
            return self.identities.index(str(identity))
        raise ModelError(f"model {self.model_id} has no identity {identity!r}; it has "
                         f"{', '.join(self.identities)}")

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "version": VERSION if self.ladder else UNGROWN_VERSION,
                **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict, source: str = "") -> ModelCard:
        """From a card's object (``source``: its path, for messages); schema and version are
        checked by ``documents.read_document``; a field an older card lacks takes its
        default."""
        try:
            d = documents.read_document(d, SCHEMA, VERSION, name=source)
        except documents.DocumentError as exc:
            raise ModelError(str(exc)) from None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known}).validate()

    def save(self, path: str) -> None:
        write_json_atomic(path, self.to_dict(), fsync=True)

    @classmethod
    def load(cls, path: str) -> ModelCard:
        try:
            data = documents.read_document(path, SCHEMA, VERSION)
        except documents.DocumentError as exc:
            if exc.problem is documents.Problem.MISSING:
                raise ModelError(f"{path} not found: is this a Faceplate model folder?") from None
            raise ModelError(str(exc)) from None
        try:
            return cls.from_dict(data, path)
        except TypeError as exc:
            raise ModelError(f"model card {path} is damaged ({exc})") from None

