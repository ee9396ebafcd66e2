"""Farm jobs for a shot: one description (:class:`~faceplate.farm.job.ShotJob`) written out as an
Open Job Description bundle (AWS Deadline Cloud, ``openjd run``) or an OpenCue PyOutline spec.

Every task is independent and idempotent: extraction and training are single tasks, frames are
chunked, and ``faceplate convert`` skips frames already written, so a dead task is simply re-run.
"""
