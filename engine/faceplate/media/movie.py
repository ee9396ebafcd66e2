"""H.264 MP4 from 8-bit RGB frames, through the ffmpeg that imageio-ffmpeg ships.

Frames are piped to ffmpeg raw; the movie is yuv420p (what every player takes; an odd width or
height is padded by a pixel to even), tagged Rec.709 primaries and matrix with the sRGB curve
(the frames are display-referred sRGB), with its index at the front so it plays as it loads.
It is written to a temporary file beside ``path`` and moved into place when ffmpeg succeeded:
never half a movie.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterable

import numpy as np

from ..errors import FaceplateError
from ..io.atomic import replacing

_VIDEO = ["-vf", ("pad=ceil(iw/2)*2:ceil(ih/2)*2,scale=out_color_matrix=bt709:out_range=tv,"
                 "setparams=color_primaries=bt709:color_trc=iec61966-2-1:colorspace=bt709"),
          "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p",
          "-movflags", "+faststart"]


def write_h264(path: str, frames: Iterable[np.ndarray], fps: float = 24.0) -> int:
    """Encode ``frames`` (H×W×3 uint8, all one size) into the MP4 ``path``; return how many."""
    from imageio_ffmpeg import get_ffmpeg_exe  # type: ignore[import-untyped]

    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise FaceplateError(f"no frames to write into {path}")
    height, width = first.shape[:2]
    with replacing(path, suffix=".tmp.mp4") as tmp:
        command = [get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo",
                   "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
                   *_VIDEO, tmp]
        ffmpeg = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        assert ffmpeg.stdin is not None
        count = 0
        try:
            for frame in itertools.chain([first], frames):
                if frame.shape != first.shape or frame.dtype != np.uint8:
                    raise FaceplateError(f"frame {count + 1} of {path} is {frame.shape} "
                                         f"{frame.dtype}, not {first.shape} uint8 as the first")
                ffmpeg.stdin.write(np.ascontiguousarray(frame).tobytes())
                count += 1
        except BrokenPipeError:
            pass  # ffmpeg stopped: its message follows
        finally:
            _, errors = ffmpeg.communicate()
        if ffmpeg.returncode:
            raise FaceplateError(f"ffmpeg could not write {path}: "
                                 f"{errors.decode(errors='replace').strip()}")
    return count
