"""Make a converted shot's review media, signed with Content Credentials, or check them.

  faceplate review SHOTDIR --sign-cert studio_chain.pem --sign-key studio_key.pem
  faceplate review SHOTDIR            # the certificate from $FACEPLATE_SIGN_CERT/_KEY
  faceplate review SHOTDIR --verify   # check the signatures of what is there

Writes SHOTDIR/report/review.mp4 (H.264: the plate and the merged frame side by side, frame
numbers burnt in, at most --width wide) from the shot's newest convert (SHOTDIR/runs.json), and
signs it and the QC report's pictures in SHOTDIR/report (`faceplate report` makes them) with a
C2PA manifest: generated content (IPTC trainedAlgorithmicMedia), the model, its identities and
consent note, the SHA-256 of the source plate and of report.json. The certificate is the
studio's (an end-entity certificate its CA issued, with that CA after it in the PEM); without
one the command stops, unless --unsigned (the movie is then written without Content
Credentials, which `faceplate publish` refuses). See docs/td-pipeline.md.

exit status: 0 done (--verify: every file signed and intact); 1 --verify found unsigned or
invalid media; 2 could not run (no convert recorded, no or a bad certificate).
"""

from __future__ import annotations

import argparse

HELP = "write the shot's review movie and sign it and the QC report's pictures (C2PA)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shot_dir", metavar="SHOTDIR", help="shot folder (with runs.json)")
    sign = parser.add_argument_group("signing (Content Credentials)")
    sign.add_argument("--sign-cert", metavar="PEM",
                      help="studio signing certificate chain (default $FACEPLATE_SIGN_CERT)")
    sign.add_argument("--sign-key", metavar="PEM",
                      help="its private key, unencrypted (default $FACEPLATE_SIGN_KEY)")
    sign.add_argument("--unsigned", action="store_true",
                      help="write the movie without signing anything (publish refuses it)")
    sign.add_argument("--verify", action="store_true",
                      help="only check the Content Credentials of the media in SHOTDIR/report")
    sign.add_argument("--trust", metavar="PEM",
                      help="--verify: root CAs a signature must chain to (default "
                           "$FACEPLATE_SIGN_TRUST; none: any CA's signature is valid)")
    movie = parser.add_argument_group("movie")
    movie.add_argument("--colourspace", default="",
                       help="plate colourspace (default: the alignments')")
    movie.add_argument("--fps", type=float, default=24.0, help="frame rate (default 24)")
    movie.add_argument("--width", type=int, default=1920,
                       help="largest width of the two frames side by side (default 1920)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    return _verify(args) if args.verify else _review(args)


def _review(args: argparse.Namespace) -> int:
    import json

    from ..errors import ExitCode, FaceplateError
    from ..media.certificate import CERT_ENV, KEY_ENV, signing_certificate
    from ..media.review import make_review, review_shot
    from ..progress import terminal_progress

    certificate = None if args.unsigned else signing_certificate(args.sign_cert, args.sign_key)
    if certificate is None and not args.unsigned:
        raise FaceplateError(f"no signing certificate: give --sign-cert and --sign-key (or set "
                             f"${CERT_ENV} and ${KEY_ENV}) to the studio's, or --unsigned for "
                             "media that cannot be published")
    shot = review_shot(args.shot_dir, args.colourspace)
    review = make_review(shot, certificate, fps=args.fps, max_width=args.width,
                         progress=terminal_progress("review", len(shot.frames)))
    if args.json:
        print(json.dumps(review.to_dict(), indent=1))
        return int(ExitCode.OK)
    signed = f"signed by {review.signer}" if review.signer else \
        "UNSIGNED: faceplate publish refuses it"
    print(f"review movie {review.movie}: {review.frames} frames, plate | merged, {signed}")
    if not review.pictures:
        print(f"no report pictures in {shot.report_dir} yet: run `faceplate report "
              f"{args.shot_dir}` first, then faceplate review again to sign them")
    else:
        print(f"{'signed' if review.signer else 'left unsigned'} {len(review.pictures)} report "
              f"picture(s) in {shot.report_dir}")
    return int(ExitCode.OK)


def _verify(args: argparse.Namespace) -> int:
    import json
    import os

    from faceplate_client import layout

    from ..errors import FaceplateError
    from ..media.certificate import studio_trust
    from ..media.credentials import read_credentials
    from ..media.review import review_media

    report = os.path.join(args.shot_dir, layout.REPORT_DIR)
    trust = studio_trust(args.trust)
    verdicts = [read_credentials(path, trust) for path in review_media(report)]
    if not verdicts:
        raise FaceplateError(f"no review media in {report}: run faceplate review first")
    if args.json:
        print(json.dumps([v.to_dict() for v in verdicts], indent=1))
    else:
        for v in verdicts:
            print(f"{v.path}: signed ({v.state}) by {v.signer}, generated content, model "
                  f"{v.facts.get('model_id')}" if v.ok else
                  f"{v.path}: REFUSED ({v.state}): {'; '.join(v.problems)}")
    return 0 if all(v.ok for v in verdicts) else 1
