"""Damaged plate frames, as a fuzzer or a failed copy leaves them: a real shot of the astronaut
with one frame truncated, one with garbage in its pixel chunks, one whose channel list holds
bytes that are not UTF-8 (OpenImageIO's own error text then is not either) and one empty.

Extract and convert go on with the other frames and write their results; each damaged frame
is one line naming its file, the skipped frames are listed as ranges at the end, nothing prints
a traceback, and the exit codes tell "frames skipped" from "no face" from "could not run".
"""

import os
import shutil

import numpy as np
import OpenImageIO as oiio
import pytest
from faceplate.cli import main
from faceplate.errors import ExitCode
from faceplate.extract import alignments as alignments_io
from faceplate.io.images import ImageError, read_image, write_image
from faceplate.samples import make_shot
from faceplate_client.exr import read_layout

FIRST, FRAMES = 1001, 8
TRUNCATED, GARBLED, NOT_UTF8, EMPTY = 1003, 1004, 1005, 1006
DAMAGED = (TRUNCATED, GARBLED, NOT_UTF8, EMPTY)
GOOD = [f for f in range(FIRST, FIRST + FRAMES) if f not in DAMAGED]
BAD_TEXT = b"\xff\xfe\xc3\x28"  # not UTF-8 (0xff never is; 0xc3 0x28 is a broken pair)


def _truncate(path: str) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) // 2)


def _garble_chunks(path: str) -> None:
    """Garbage over the middle of every chunk's compressed pixels (their headers, the line
    number and size, kept): the file looks whole, and no band of rows decodes."""
    offsets = read_layout(path).parts[0].offsets
    ends = sorted(offsets[1:]) + [os.path.getsize(path)]
    rng = np.random.default_rng(7)
    with open(path, "r+b") as fh:
        for start, end in zip(offsets, ends):
            fh.seek(start + 8 + 4)  # line number and data size, then 4 bytes of data kept
            fh.write(rng.integers(0, 256, end - start - 16, np.uint8).tobytes())


def _corrupt_channel_list(path: str) -> None:
    """The first channel's name in the header becomes bytes that are not UTF-8."""
    with open(path, "r+b") as fh:
        data = fh.read(4096)
        at = data.index(b"channels\0chlist\0") + len(b"channels\0chlist\0") + 4
        fh.seek(at)
        fh.write(BAD_TEXT)


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    """The shot's frame pattern (``plate.####.exr``) with frames 1003-1006 damaged."""
    root = tmp_path_factory.mktemp("damaged")
    sample = make_shot("astronaut", str(root / "plate"), frames=FRAMES, first=FIRST,
                       size=(640, 360), face_px=130.0)
    _truncate(sample.path(TRUNCATED))
    _garble_chunks(sample.path(GARBLED))
    _corrupt_channel_list(sample.path(NOT_UTF8))
    open(sample.path(EMPTY), "wb").close()
    return sample.pattern.replace("%04d", "####")


def _frame_path(pattern: str, frame: int) -> str:
    return pattern.replace("####", f"{frame:04d}")


def _lines_naming(text: str, path: str) -> list[str]:
    return [line for line in text.splitlines() if os.path.basename(path) in line]


def test_the_damage_is_what_a_studio_saw(plate):
    """What the old read made of these files: OpenImageIO refuses every one, and for the
    broken channel list its error text is not UTF-8, so asking for it raised."""
    inp = oiio.ImageInput.open(_frame_path(plate, NOT_UTF8))
    assert inp is None
    with pytest.raises(UnicodeDecodeError):
        oiio.geterror()
    for frame in (TRUNCATED, GARBLED):
        inp = oiio.ImageInput.open(_frame_path(plate, frame))
        spec = inp.spec()
        assert inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT) is None
        inp.geterror()
        inp.close()
    assert oiio.ImageInput.open(_frame_path(plate, EMPTY)) is None
    oiio.geterror()


@pytest.mark.parametrize("frame, why", [
    (TRUNCATED, "file is truncated"), (GARBLED, "missing or corrupted"),
    (NOT_UTF8, "damaged header"), (EMPTY, "file is empty")])
def test_each_damaged_frame_is_one_clear_image_error(plate, frame, why):
    path = _frame_path(plate, frame)
    with pytest.raises(ImageError) as caught:
        read_image(path)
    message = str(caught.value)
    assert message.startswith(f"cannot read {path} (") and why in message
    assert "\n" not in message
    with pytest.raises(ImageError, match="cannot read"):  # a band of rows only, as convert reads
        read_image(path, rows=(140, 220))


def test_extract_skips_damaged_frames_and_writes_the_rest(plate, tmp_path, capsys):
    shot_dir = str(tmp_path / "faces")
    code = main(["extract", plate, "-o", shot_dir, "--backend", "dlib",
                 "--faceset", str(tmp_path / "set")])
    out, err = capsys.readouterr()
    print(out, err)
    assert code == ExitCode.FRAMES_SKIPPED == 3
    assert "Traceback" not in out + err
    for frame in DAMAGED:
        lines = _lines_naming(out + err, _frame_path(plate, frame))
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"frame {frame}: skipped: cannot read ")
    assert "skipped 4 frame(s) that could not be used: 1003-1006" in out
    found = alignments_io.load(shot_dir).frames
    assert sorted(found) == GOOD and all(len(found[f]) == 1 for f in GOOD)
    assert os.path.isfile(os.path.join(shot_dir, "preview.png"))
    assert len(os.listdir(tmp_path / "set")) > len(GOOD)  # the good frames' crops


def _extracted_copy(plate: str, tmp_path, frames: str, code: ExitCode) -> tuple[str, str]:
    """``plate``'s faces extracted (exiting ``code``), and a copy of the plate to damage after
    extraction: (shot folder, the copy's pattern)."""
    shot_dir = str(tmp_path / "faces")
    assert main(["extract", plate, "-o", shot_dir, "--backend", "dlib", "--no-preview",
                 "--frames", frames]) == code
    moved = str(tmp_path / "plate")
    shutil.copytree(os.path.dirname(plate), moved)
    return shot_dir, os.path.join(moved, os.path.basename(plate))


def test_convert_skips_damaged_frames_and_writes_the_rest(plate, tmp_path, capsys):
    """Over the whole sequence, temporal smoothing on (its first pass reads the neighbours
    too), with one frame replaced since extraction by a frame of another size."""
    shot_dir, plate = _extracted_copy(plate, tmp_path, "1001-1008", ExitCode.FRAMES_SKIPPED)
    stray = _frame_path(plate, 1008)
    write_image(stray, np.zeros((90, 160, 3), np.float32), ["R", "G", "B"], pixel_type="half")
    capsys.readouterr()
    out_pattern = str(tmp_path / "out" / "merged.####.exr")
    code = main(["convert", plate, "--alignments", shot_dir, "--null-swap", "--to", "plate",
                 "-o", out_pattern, "--temporal", "2"])
    out, err = capsys.readouterr()
    print(out, err)
    assert code == ExitCode.FRAMES_SKIPPED
    assert "Traceback" not in out + err
    for frame in DAMAGED:
        lines = _lines_naming(out + err, _frame_path(plate, frame))
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"frame {frame}: skipped: cannot read ")
    lines = _lines_naming(out + err, stray)
    assert len(lines) == 1 and "160×90 but the alignments are for 640×360" in lines[0]
    assert "skipped 5 frame(s) that could not be converted: 1003-1006,1008" in err
    for frame in range(FIRST, FIRST + FRAMES):
        written = os.path.isfile(_frame_path(out_pattern, frame))
        assert written == (frame in GOOD and frame != 1008), frame
    merged = read_image(_frame_path(out_pattern, 1002))
    assert merged.metadata["faceplate/synthetic"] == "1"


def test_exit_codes_tell_no_face_from_could_not_run(tmp_path, capsys):
    faceless = str(tmp_path / "wall.%04d.exr")
    rng = np.random.default_rng(3)
    for frame in (1, 2):
        write_image(faceless % frame, rng.random((180, 320, 3), np.float32) * 0.2 + 0.4,
                    ["R", "G", "B"], pixel_type="half")
    assert main(["extract", str(tmp_path / "wall.####.exr"), "-o", str(tmp_path / "w"),
                 "--backend", "dlib", "--no-preview"]) == ExitCode.NO_FACE == 1
    out, err = capsys.readouterr()
    assert "no face in 2 frame(s): 1-2" in out and "skipped" not in out + err
    missing = str(tmp_path / "nowhere" / "plate.####.exr")
    assert main(["extract", missing, "-o", str(tmp_path / "m"), "--backend",
                 "dlib"]) == ExitCode.COULD_NOT_RUN == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and err.count("\n") == 1 and "nowhere" in err
    assert main(["convert", missing, "--alignments", str(tmp_path / "w"), "--null-swap",
                 "--to", "plate", "-o", str(tmp_path / "o.####.exr")]) == ExitCode.COULD_NOT_RUN
    assert "nowhere" in capsys.readouterr().err


def test_a_frame_that_stops_reading_after_the_first_pass_is_skipped_alone(
        plate, tmp_path, capsys, monkeypatch):
    """The face set and the preview read frames again: one that no longer reads (replaced on
    disk meanwhile) is left out of them; the alignments keep it."""
    from faceplate.extract import pipeline, preview

    reads: dict[int, int] = {}

    def flaky(real):
        """``real`` (a frame reader) as if frame 1002 were replaced after its first read."""
        def read(source, frame, *args, **kwargs):
            reads[frame] = reads.get(frame, 0) + 1
            if frame == 1002 and reads[frame] > 1:
                raise ImageError(f"cannot read {source.frame_path(frame)} (file is truncated: "
                                 "replaced on disk)")
            return real(source, frame, *args, **kwargs)
        return read

    monkeypatch.setattr(pipeline, "network_frame", flaky(pipeline.network_frame))
    monkeypatch.setattr(pipeline, "read_plate_frame", flaky(pipeline.read_plate_frame))
    monkeypatch.setattr(preview, "network_frame", flaky(preview.network_frame))
    shot_dir = str(tmp_path / "faces")
    code = main(["extract", plate, "-o", shot_dir, "--backend", "dlib", "--frames", "1001-1002",
                 "--faceset", str(tmp_path / "set")])
    out, err = capsys.readouterr()
    assert code == ExitCode.FRAMES_SKIPPED and "Traceback" not in out + err
    lines = _lines_naming(out + err, _frame_path(plate, 1002))
    path = _frame_path(plate, 1002)
    expected = f"frame 1002: skipped: face set: cannot read {path} (file is truncated: replaced"
    assert lines == [expected + " on disk)"]
    found = alignments_io.load(shot_dir).frames
    assert len(found[1001]) == len(found[1002]) == 1
    assert os.path.isfile(os.path.join(shot_dir, "preview.png"))


def test_stabilise_skips_a_frame_that_does_not_read(plate, tmp_path, capsys):
    shot_dir, plate = _extracted_copy(plate, tmp_path, "1001-1002", ExitCode.OK)
    _truncate(_frame_path(plate, 1001))  # damaged since extraction
    capsys.readouterr()
    out = str(tmp_path / "stab" / "face.####.exr")
    code = main(["stabilise", shot_dir, "-o", out, "--size", "64", "--plate", plate])
    text = "\n".join(capsys.readouterr())
    assert code == ExitCode.FRAMES_SKIPPED and "Traceback" not in text
    lines = _lines_naming(text, _frame_path(plate, 1001))
    assert len(lines) == 1 and lines[0].startswith("frame 1001: skipped: cannot read ")
    assert "skipped 1 frame(s) that could not be read or written: 1001" in text
    assert [os.path.isfile(_frame_path(out, f)) for f in (1001, 1002)] == [False, True]
