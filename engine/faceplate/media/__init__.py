"""Review media: the side-by-side H.264 movie of a converted shot (:mod:`.movie`,
:mod:`.side_by_side`), and Content Credentials (C2PA) on it and the QC report's pictures
(:mod:`.credentials`, signed with the studio's certificate: :mod:`.certificate`), made by
:func:`.review.make_review` (``faceplate review``).
"""
