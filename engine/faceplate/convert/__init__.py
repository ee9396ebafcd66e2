"""Convert: swap faces with a model and merge them back into the plate.

In data-path order: ``swap`` (the model's decoder on aligned crops), ``cache`` (swaps on disk
for cheap re-merges), ``masks`` and ``colour_match`` (the matte and the colour of each face),
``merge`` (back into the plate, face box by face box), ``provenance`` and ``writer`` (frames on
disk; ``files`` for the small atomic ones), ``pipeline`` (a frame and a whole shot).
``settings`` holds what a compositor can change.
"""
