"""Training and evaluation: face sets in memory (``data``), augmentation on the device
(``augment``), masked losses (``loss``), atomic resumable checkpoints (``checkpoint``), the
loop (``trainer``), previews and loss plots (``preview``), multi-process data parallel
(``distributed``) and held-out evaluation (``evaluate``).
"""
