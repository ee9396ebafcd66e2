"""Occlusion mattes learned per shot from a few frames the artist paints.

The artist marks what covers the face (a hand, a microphone, hair) on a handful of frames. In
aligned-crop space the face stands still, so a small segmentation network learns the occluder
from those few labels in minutes on a CPU (:mod:`.train`), then predicts a plate-sized matte
for every frame (:mod:`.predict`); on the labelled frames the artist's matte is used as it is.
Convert's ``occlusion`` mask source cuts the occluder out of the face matte.

``SHOTDIR/occlusion/vNNN/`` holds one version: ``occlusion.safetensors`` (weights),
``occlusion.json`` (labels, steps, scores) and, after prediction, ``matte.####.exr``.
"""
