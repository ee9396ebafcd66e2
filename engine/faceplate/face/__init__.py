"""Face geometry shared by every stage: the 68-point mean face, alignment to it, landmark masks.

Extraction fits alignments with it, training masks its crops with it, convert warps faces back
with it; it imports nothing of those stages.
"""
