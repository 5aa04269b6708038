"""python -m pagegen OUT_DIR --pages N --seed S [--camera-share F] [--no-damage] [--label-variant holdout]
[--register-extra N] [--register-duplicates N] [--dpi D]"""

from __future__ import annotations

import argparse
import sys

from pagegen.batch import make_batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pagegen", description="Write a synthetic hukou scan batch.")
    parser.add_argument("out_dir")
    parser.add_argument("--pages", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--camera-share", type=float, default=0.0)
    parser.add_argument("--no-damage", action="store_true")
    parser.add_argument("--label-variant", choices=("dev", "holdout"), default="dev")
    parser.add_argument("--register-extra", type=int, default=50)
    parser.add_argument("--register-duplicates", type=int, default=0)
    parser.add_argument("--dpi", type=int, default=300)
    args = parser.parse_args(argv)
    truths = make_batch(args.out_dir, pages=args.pages, seed=args.seed, camera_share=args.camera_share,
                        damage=not args.no_damage, label_variant=args.label_variant,
                        register_extra=args.register_extra, register_duplicates=args.register_duplicates,
                        dpi=args.dpi)
    print(f"wrote {len(truths)} pages to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
