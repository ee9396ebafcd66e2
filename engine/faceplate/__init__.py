"""Faceplate engine: face replacement for VFX compositing.

The data path, one subpackage per stage:
plate (``io``) → faces (``extract``) → aligned crops (``face.align``) → model (``model``,
``train``) → merged plate (``convert``). ``server`` exposes those stages over the wire protocol
defined once in ``faceplate_client.protocol``.
"""

__version__ = "0.1.0"
