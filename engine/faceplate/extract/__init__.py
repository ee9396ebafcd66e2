"""Face extraction: plate → detections with landmarks → tracked, smoothed, aligned faces.

Modules, in data-path order: ``backends`` (detect + 68 landmarks), ``track`` (faces across
frames), ``select`` (which faces to keep), ``smooth`` (landmarks over the shot), ``align``
(similarity to the mean face, crops), ``mask`` (hull mattes), ``alignments`` (the per-shot file),
``faceset`` and ``curate`` (training crops), ``pipeline`` (the whole shot).
"""
