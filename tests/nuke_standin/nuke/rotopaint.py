"""Stand-in for ``nuke.rotopaint``: the Roto curves knob, layers, shapes and control points.

Shapes are rasterised into the Roto node's alpha (filled polygons through the control points,
Nuke's y-up coordinates), so an exported, edited Roto can feed FaceMerge's mask input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import nuke

from .curvelib import AnimControlPoint


class Element:
    def __init__(self, *args, **kwargs) -> None:
        object.__setattr__(self, "name", kwargs.get("name", ""))
        object.__setattr__(self, "locked", False)
        object.__setattr__(self, "_hidden", set())

    def getVisible(self, time: float) -> bool:
        return float(time) not in self._hidden

    def setVisible(self, time: float, value: bool) -> None:
        (self._hidden.discard if value else self._hidden.add)(float(time))


class ShapeControlPoint:
    def __init__(self, *args, **kwargs) -> None:
        self.center = AnimControlPoint(*args)
        self.leftTangent = AnimControlPoint()
        self.rightTangent = AnimControlPoint()
        self.featherCenter = AnimControlPoint()
        self.featherLeftTangent = AnimControlPoint()
        self.featherRightTangent = AnimControlPoint()


class Shape(Element):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "_points", [])

    def append(self, shapeControlPoint) -> None:
        self._points.append(shapeControlPoint)

    def insert(self, index: int, shapeControlPoint) -> None:
        self._points.insert(index, shapeControlPoint)

    def remove(self, index: int) -> None:
        del self._points[index]

    def __getitem__(self, index: int) -> ShapeControlPoint:
        return self._points[index]

    def __len__(self) -> int:
        return len(self._points)

    def __iter__(self) -> Iterator[ShapeControlPoint]:
        return iter(self._points)


class Layer(Element):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "_elements", [])

    def append(self, element: Element) -> None:
        self._elements.append(element)

    def insert(self, index: int, element: Element) -> None:
        self._elements.insert(index, element)

    def remove(self, index: int) -> None:
        del self._elements[index]

    def removeAll(self) -> None:
        self._elements.clear()

    def __getitem__(self, index: int) -> Element:
        return self._elements[index]

    def __len__(self) -> int:
        return len(self._elements)

    def __iter__(self) -> Iterator[Element]:
        return iter(self._elements)


class CurveKnob(nuke.Knob):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rootLayer = Layer(name="Root")

    def changed(self) -> None:
        nuke._knob_changed(self)

    def toElement(self, path: str) -> Element | None:
        element: Any = self.rootLayer
        for part in path.split("/"):
            element = next((e for e in element if e.name == part), None)
            if element is None:
                return None
        return element

    def toScript(self, quote: bool = False, context: Any = None) -> str:
        return json.dumps(_layer_dict(self.rootLayer), separators=(",", ":"))

    def fromScript(self, script: str) -> None:
        self.rootLayer = _layer_from(json.loads(script)) if script else Layer(name="Root")


def _layer_dict(layer: Layer) -> dict:
    out: dict = {"name": layer.name, "children": []}
    for e in layer:
        if isinstance(e, Layer):
            out["children"].append(_layer_dict(e))
        elif isinstance(e, Shape):
            out["children"].append({"name": e.name, "shape": [
                {str(t): list(p.center._keys[t]) for t in p.center._keys} for p in e]})
    return out


def _layer_from(d: dict) -> Layer:
    layer = Layer(name=d["name"])
    for c in d["children"]:
        if "shape" in c:
            shape = Shape(name=c["name"])
            for keys in c["shape"]:
                point = ShapeControlPoint()
                for t, xy in keys.items():
                    point.center.addPositionKey(float(t), xy)
                shape.append(point)
            layer.append(shape)
        else:
            layer.append(_layer_from(c))
    return layer


def _shapes(layer: Layer) -> Iterator[Shape]:
    for e in layer:
        if isinstance(e, Shape):
            yield e
        elif isinstance(e, Layer):
            yield from _shapes(e)


def _rasterise(node, frame: float) -> tuple:
    """The Roto's alpha at ``frame``: every visible shape filled (y flipped to image rows)."""
    import cv2
    import numpy as np

    src = node.input(0)
    fmt = src.format() if src is not None else nuke.root().format()
    w, h = fmt.width(), fmt.height()
    alpha = np.zeros((h, w), np.float32)
    for shape in _shapes(node["curves"].rootLayer):
        if not shape.getVisible(frame) or len(shape) < 3:
            continue
        pts = [p.center.getPosition(frame) for p in shape]
        poly = np.array([[p.x, h - p.y] for p in pts], np.float32)
        cv2.fillPoly(alpha, [np.round(poly * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    return alpha[..., None], ["rgba.alpha"], {}
