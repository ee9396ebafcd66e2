"""A TD makes a converted shot's review media with `faceplate review`: an H.264 movie (plate |
merged) that ffprobe plays, and Content Credentials on it and the report's pictures, signed with
a studio certificate (a throwaway CA and its leaf here) and read back with c2pa's own reader:
generated content from this model under its consent note, of this plate. One flipped byte
breaks them, and the publish refuses an unsigned movie."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import c2pa
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from engine_helpers import SAMPLE_CONSENT, engine_env, sample_and_model
from faceplate.cli import main
from faceplate.farm.job import ShotJob
from faceplate.io.images import write_image
from faceplate.media.credentials import FACTS_LABEL, GENERATED, read_credentials
from faceplate.model.card import ModelCard
from faceplate.publish.run import publish
from faceplate.samples import write_true_alignments
from faceplate_client.layout import REPORT_DIR, REVIEW_MOVIE

FRAMES = 3
VALIDATOR = "Validate review media are signed"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Studio")])


def _certificate(subject, key, issuer, issuer_key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = dict.fromkeys(("content_commitment", "key_encipherment", "data_encipherment",
                           "key_agreement", "encipher_only", "decipher_only"), False)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca,
                                            crl_sign=ca, **usage), critical=True))
    if not ca:  # what C2PA asks of a signing certificate: a use, and the key of who issued it
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_studio(folder) -> SimpleNamespace:
    """A throwaway CA and the end-entity certificate it issued: cert (leaf + CA), key, ca."""
    folder.mkdir()
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(_name("Test Studio CA"), ca_key, _name("Test Studio CA"), ca_key, True)
    leaf = _certificate(_name("Faceplate review"), key, ca.subject, ca_key, False)
    pem = serialization.Encoding.PEM
    paths = SimpleNamespace(cert=folder / "chain.pem", key=folder / "key.pem", ca=folder / "ca.pem")
    paths.cert.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    paths.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    paths.ca.write_bytes(ca.public_bytes(pem))
    return paths


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return make_studio(tmp_path_factory.mktemp("studio") / "pki")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """The astronaut plate (3 frames) converted with an untrained tiny model, and one report
    picture (the QC report's own is not needed to sign one)."""
    root = tmp_path_factory.mktemp("review")
    sample, model = sample_and_model(root, frames=FRAMES)
    shot_dir = root / "sh010"
    write_true_alignments(sample, str(shot_dir))
    plate, out = sample.pattern.replace("%04d", "####"), str(root / "comp" / "merged.####.exr")
    assert main(["convert", plate, "--alignments", str(shot_dir), "-m", model, "--to", "other",
                 "-o", out, "--no-cache", "--device", "cpu"]) == 0
    picture = shot_dir / REPORT_DIR / "flicker.png"
    write_image(str(picture), np.random.default_rng(0).random((48, 64, 3), np.float32),
                ["R", "G", "B"], pixel_type="uint8")
    return SimpleNamespace(dir=shot_dir, sample=sample, model=model, plate=plate, out=out,
                           movie=shot_dir / REPORT_DIR / REVIEW_MOVIE, picture=picture)


@pytest.fixture(scope="module")
def reviewed(shot, studio):
    """`faceplate review` run for real, the certificate from the environment."""
    env = {**engine_env(), "FACEPLATE_SIGN_CERT": str(studio.cert),
           "FACEPLATE_SIGN_KEY": str(studio.key)}
    done = subprocess.run([sys.executable, "-m", "faceplate.cli", "review", str(shot.dir)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "signed by" in done.stdout and "signed 1 report picture" in done.stdout
    return shot


def _manifest(path) -> tuple[dict, dict]:
    """The file's manifest store and its active manifest, as c2pa's Reader gives them."""
    mime = "video/mp4" if str(path).endswith(".mp4") else "image/png"
    with open(path, "rb") as fh:
        store = json.loads(c2pa.Reader(mime, fh).json())
    return store, store["manifests"][store["active_manifest"]]


def test_review_movie_plays(reviewed):
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        pytest.skip("no ffprobe (Debian's ffmpeg package)")
    probe = json.loads(subprocess.run(
        [ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,nb_read_frames,width,height,pix_fmt", "-of", "json",
         str(reviewed.movie)], capture_output=True, text=True, check=True).stdout)
    stream = probe["streams"][0]
    assert stream["codec_name"] == "h264" and stream["pix_fmt"] == "yuv420p"
    assert int(stream["nb_read_frames"]) == FRAMES
    assert (stream["width"], stream["height"]) == (2 * 320, 240)  # plate | merged
    assert not [n for n in os.listdir(reviewed.dir / REPORT_DIR) if n.startswith(".")]


def test_media_declare_generated_content_of_this_model_and_plate(reviewed):
    card = ModelCard.load(os.path.join(reviewed.model, "card.json"))
    plate = hashlib.sha256(b"".join(Path(reviewed.sample.path(f)).read_bytes()
                                    for f in reviewed.sample.frames)).hexdigest()
    for path in (reviewed.movie, reviewed.picture):
        store, active = _manifest(path)
        assert store["validation_state"] == "Valid", store.get("validation_results")
        assert active["claim_generator_info"][0]["name"] == "Faceplate"
        assertions = {a["label"]: a["data"] for a in active["assertions"]}
        actions = next(d["actions"] for label, d in assertions.items()
                       if label.startswith("c2pa.actions"))
        assert actions[0]["action"] == "c2pa.created"
        assert actions[0]["digitalSourceType"] == GENERATED
        assert GENERATED.endswith("/trainedAlgorithmicMedia")
        facts = assertions[FACTS_LABEL]
        assert facts["model_id"] == card.model_id and facts["consent"] == SAMPLE_CONSENT
        assert facts["identities"] == card.identities and facts["to_identity"] == "other"
        assert facts["frames"] == "1001-1003" and facts["plate"]["sha256"] == plate
        assert active["signature_info"]["issuer"] == "Test Studio"


def test_one_flipped_byte_breaks_validation(reviewed, tmp_path):
    for path, payload in ((reviewed.movie, b"mdat"), (reviewed.picture, b"IDAT")):
        data = bytearray(path.read_bytes())
        assert read_credentials(str(path)).ok
        data[data.index(payload) + 16] ^= 0x01
        tampered = tmp_path / path.name
        tampered.write_bytes(bytes(data))
        store, _ = _manifest(tampered)
        assert store["validation_state"] == "Invalid"
        verdict = read_credentials(str(tampered))
        assert not verdict.ok and any("mismatch" in p for p in verdict.problems), verdict


def test_verify_checks_against_the_studio_ca(reviewed, studio, tmp_path, capsys):
    assert main(["review", str(reviewed.dir), "--verify", "--trust", str(studio.ca)]) == 0
    assert capsys.readouterr().out.count("signed (Trusted)") == 2
    stranger = make_studio(tmp_path / "elsewhere")
    assert main(["review", str(reviewed.dir), "--verify", "--trust", str(stranger.ca)]) == 1
    assert "signingCredential.untrusted" in capsys.readouterr().out


def test_no_or_bad_certificate_stops_with_a_message(reviewed, studio, tmp_path, monkeypatch,
                                                    capsys):
    monkeypatch.delenv("FACEPLATE_SIGN_CERT", raising=False)
    monkeypatch.delenv("FACEPLATE_SIGN_KEY", raising=False)
    movie = reviewed.movie.read_bytes()
    assert main(["review", str(reviewed.dir)]) == 2
    assert "no signing certificate" in capsys.readouterr().err
    other = make_studio(tmp_path / "other")
    assert main(["review", str(reviewed.dir), "--sign-cert", str(studio.cert),
                 "--sign-key", str(other.key)]) == 2
    assert "does not belong to the certificate" in capsys.readouterr().err
    assert reviewed.movie.read_bytes() == movie  # nothing was rewritten


def test_publish_takes_signed_review_media_and_refuses_an_unsigned_movie(reviewed, tmp_path):
    def job(shot_dir):
        ShotJob(str(shot_dir), reviewed.plate, reviewed.model, "other", reviewed.out,
                "1001-1003", name="sh010").save()

    job(reviewed.dir)
    report = publish([str(reviewed.dir)], str(tmp_path / "publish"), review=False)
    assert report.ok, report.failures
    version = report.published["sh010"]
    manifest = json.loads(Path(version, "manifest.json").read_text())
    assert {f"{REPORT_DIR}/{REVIEW_MOVIE}", f"{REPORT_DIR}/flicker.png"} <= set(manifest["files"])
    assert read_credentials(os.path.join(version, REPORT_DIR, REVIEW_MOVIE)).ok

    unsigned = tmp_path / "sh010_unsigned"
    shutil.copytree(reviewed.dir, unsigned)
    assert main(["review", str(unsigned), "--unsigned"]) == 0
    job(unsigned)
    report = publish([str(unsigned)], str(tmp_path / "refused"), review=False)
    failed = {f.plugin: f.message for f in report.failures}
    assert set(failed) == {VALIDATOR, "Integrate versioned publish"}, failed
    assert f"{REVIEW_MOVIE}: it has no Content Credentials (unsigned)" in failed[VALIDATOR]
    assert "flicker.png" not in failed[VALIDATOR]  # still signed: only the movie is refused
    assert not report.published


def test_publish_stops_on_a_failing_qc_report(reviewed, tmp_path):
    """A real QC report whose confidence check every frame fails (thresholds above any face's
    figure) stops the publish, naming the check and its frames."""
    shot_dir = tmp_path / "sh010_qc"
    shutil.copytree(reviewed.dir, shot_dir)
    assert main(["report", str(shot_dir), "--confidence-warn", "1", "--confidence-fail",
                 "1"]) == 1
    ShotJob(str(shot_dir), reviewed.plate, reviewed.model, "other", reviewed.out, "1001-1003",
            name="sh010").save()
    report = publish([str(shot_dir)], str(tmp_path / "publish"), review=False)
    failed = {f.plugin: f.message for f in report.failures}
    assert "the QC report fails: Confidence (frames 1001-1003)" in \
        failed["Validate the QC report passes"]
    assert not report.published
