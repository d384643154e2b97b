#!/usr/bin/env python3
"""README.md's metric list, generated from the metric tables by `l2sweep --list-metrics`.

    python3 scripts/readme_metrics.py --write build/bin/l2sweep   # rewrite the list
    python3 scripts/readme_metrics.py --check build/bin/l2sweep   # exit 1 when it is stale

The list sits between the markers `<!-- l2sweep --list-metrics: begin -->` and `end -->`.
"""
import argparse
import pathlib
import subprocess
import sys

BEGIN = "<!-- l2sweep --list-metrics: begin -->\n"
END = "<!-- l2sweep --list-metrics: end -->\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the README's list")
    mode.add_argument("--check", action="store_true", help="exit 1 when the list is stale")
    parser.add_argument("l2sweep", help="the l2sweep binary")
    parser.add_argument("--readme", default=str(pathlib.Path(__file__).resolve().parent.parent
                                                / "README.md"))
    args = parser.parse_args()
    listing = subprocess.run([args.l2sweep, "--list-metrics"], check=True, capture_output=True,
                             text=True).stdout
    readme = pathlib.Path(args.readme)
    text = readme.read_text(encoding="utf-8")
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        sys.exit(f"{readme}: expected one '{BEGIN.strip()}' and one '{END.strip()}' after it")
    head, rest = text.split(BEGIN)
    current, tail = rest.split(END)
    if args.check:
        if current.strip() != listing.strip():
            sys.exit(f"{readme}: the metric list is not `l2sweep --list-metrics`'s; run "
                     f"python3 scripts/readme_metrics.py --write {args.l2sweep}")
        print(f"{readme}: the metric list is current")
        return
    readme.write_text(head + BEGIN + "\n" + listing.strip() + "\n\n" + END + tail, encoding="utf-8")
    print(f"rewrote {readme}'s metric list")


if __name__ == "__main__":
    main()
