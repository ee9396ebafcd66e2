"""Will this face set cover this shot? Face descriptors (pose, expression, lighting, sharpness),
stored once per face beside the face set and the shot, compared nearest-neighbour.

``descriptors`` measures one face, ``store`` computes and caches them for a face set or a shot,
``report`` finds each shot face's nearest training face and words the gaps, ``picture`` draws
the sheet a supervisor reads, ``curate`` picks a balanced subset of a face set.
"""
