"""``python -m proactivebench_ext view RUN_DIR [RUN_DIR ...] --out DIR``: a static episode viewer.

Writes ``DIR/index.html`` (open it from disk: no server, no network): per run and task the counts,
outcomes and metrics, one page per task with every episode turn by turn, and a side-by-side page.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ...cli import command_parser
from ...data.errors import DataError
from ..read import ReportError
from .images import THUMB_EDGE
from .site import write_site


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("view", __doc__)
    parser.add_argument("paths", nargs="+", type=Path, metavar="RUN_DIR",
                        help="folders given to lmms_eval --output_path (searched recursively), or results files")
    parser.add_argument("--out", type=Path, default=Path("viewer"), help="folder to write the site into")
    parser.add_argument("--data-dir", help="data folder to read entries and images from (default: the one each "
                        "log records)")
    parser.add_argument("--copy-full", action="store_true",
                        help="copy full-size images into the site (default: link to the data folder's files)")
    parser.add_argument("--thumb-size", type=int, default=THUMB_EDGE, help="longest thumbnail edge in pixels")
    parser.add_argument("--jobs", type=int, default=None, help="processes writing thumbnails (default: all CPUs)")
    args = parser.parse_args(argv)
    if args.thumb_size < 16:
        parser.error("--thumb-size must be at least 16")
    try:
        summary = write_site(args.paths, args.out, data_dir=args.data_dir, copy_full=args.copy_full,
                             thumb_edge=args.thumb_size, jobs=args.jobs)
    except (ReportError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    missing = f", {summary.missing_images} missing" if summary.missing_images else ""
    print(f"wrote {summary.out / 'index.html'}: {summary.runs} run(s), {summary.tasks} task(s), "
          f"{summary.episodes} episodes, {summary.images} images{missing}, {summary.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
