"""Run the whole product on a sample shot built from bundled faces, offline, through the engine.

Writes merged EXRs with the facemask layer and provenance, a contact sheet, the training preview
and loss plot, the alignments, and demo.nk (the four gizmos over the same shot), then prints
where everything is and how long each stage took.
"""

HELP = "run extract → train → convert on a bundled sample shot (the main job, out of the box)"


def add_arguments(parser) -> None:
    parser.add_argument("-o", "--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--minutes", type=float, default=3.0,
                        help="training budget in CPU minutes per thread (wall minutes on an idle "
                             "machine); longer trains a better swap (default: 3)")
    parser.add_argument("--frames", type=int, default=24, help="frames in the sample shot")
    parser.add_argument("--seed", type=int, default=0, help="seed for motion and training")


def run(args) -> int:
    from ..demo import DemoOptions, describe, run_demo

    report = run_demo(DemoOptions(out_dir=args.out, minutes=args.minutes, frames=args.frames,
                                  seed=args.seed))
    print(describe(report))
    return 0
