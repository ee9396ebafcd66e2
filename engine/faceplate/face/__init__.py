"""Face geometry shared by every stage: the 68-point mean face, alignment to it, landmark masks,
pixel boxes (``box``) and the one plate → aligned network-space crop (``crop``).

Extraction fits alignments with it, training masks its crops with it, convert warps faces back
with it; it imports nothing of those stages.
"""
