"""Publishing a shot with pyblish-base: the ``shell`` host (headless, ``faceplate publish``).

The plugins themselves are standard-library code in ``nuke_plugin/faceplate_pyblish`` so the
same collect/validate/integrate steps run inside Nuke; this package adds what only the engine
can do (render through the engine, decode every pixel with OpenImageIO) and runs a publish.
"""
