"""Stand-in for ``nuke.curvelib``: animated control points (positions keyed per frame)."""

from __future__ import annotations

from typing import Any


class CVec3:
    def __init__(self, *args, **kwargs) -> None:
        self.x, self.y, self.z = (list(args) + [0.0, 0.0, 0.0])[:3]

    def __getitem__(self, index: int) -> float:
        return (self.x, self.y, self.z)[index]


class Flag:
    def __init__(self, *args, **kwargs) -> None:
        self._flags: dict[Any, bool] = {}

    def getFlag(self, flag) -> bool:
        return self._flags.get(flag, False)

    def setFlag(self, flag, value) -> None:
        self._flags[flag] = bool(value)


class AnimControlPoint(Flag):
    """A point whose position is keyed per frame; between keys it holds the nearer earlier key
    (Roto interpolates smoothly; the tests only read keyed frames)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        self._keys: dict[float, tuple[float, float]] = {}
        self._static = (float(args[0]), float(args[1])) if len(args) >= 2 else (0.0, 0.0)

    def addPositionKey(self, time, positionOrDim, view) -> None:
        x, y = positionOrDim[0], positionOrDim[1]
        self._keys[float(time)] = (float(x), float(y))

    def removePositionKey(self, time: float, view: str = "") -> None:
        self._keys.pop(float(time), None)

    def getControlPointKeyTimes(self, view: str = "") -> list[float]:
        return sorted(self._keys)

    def setPosition(self, position, view) -> None:
        self._static = (float(position[0]), float(position[1]))

    def getPosition(self, time: float, view: str = "") -> CVec3:
        if not self._keys:
            return CVec3(*self._static)
        times = sorted(self._keys)
        t = float(time)
        before = [k for k in times if k <= t]
        key = before[-1] if before else times[0]
        return CVec3(*self._keys[key])
