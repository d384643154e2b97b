#!/usr/bin/env python3
"""The generated parts of README.md and docs/*.md, rewritten or checked from the binary.

    python3 scripts/docs.py --write build/bin/l2sweep   # rewrite every generated block
    python3 scripts/docs.py --check build/bin/l2sweep   # exit 1 when one is stale

A generated block is what an l2sweep command prints, between the lines

    <!-- generated: l2sweep ARGUMENTS -->
    <!-- end generated -->

so the option and exit-code reference (`l2sweep --list-options`) and the metric list
(`l2sweep --list-metrics`) come from the tables in the code, and CTest's docs.generated fails
when a table changes and the page does not. --check also fails on a relative link or #anchor
that leads nowhere (GitHub's anchor rules), in README.md or in docs/.
"""
import argparse
import pathlib
import re
import shlex
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- generated: l2sweep (?P<args>[^>]*?) -->\n)(?P<body>.*?)(<!-- end generated -->\n)",
                   re.DOTALL)


def pages():
    """README.md and every page in docs/."""
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def render(binary, args):
    """The block's body: the command's output, with a blank line either side."""
    output = subprocess.run([binary] + shlex.split(args), check=True, capture_output=True,
                            text=True).stdout
    return "\n" + output.strip() + "\n\n"


def prose(path):
    """The page's lines with fenced code blanked and inline code masked: where links live."""
    lines, fence = [], False
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.lstrip().startswith("```"):
            fence = not fence
            lines.append("")
            continue
        lines.append("" if fence else re.sub(r"`[^`]*`", lambda m: "x" * len(m.group()), line))
    return lines


def anchors(path):
    """The #anchors GitHub gives the page's headings (duplicates numbered -1, -2...)."""
    found, counts, fence = set(), {}, False
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        heading = None if fence else re.match(r"(#{1,6}) +(.*?) *#*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", re.sub(r"[`*]", "", heading.group(2)).strip().lower())
            slug = slug.replace(" ", "-")
            n = counts.get(slug, 0)
            counts[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def broken_links(page):
    """Each relative link of `page` whose file or #anchor does not exist, as a message."""
    text = "\n".join(prose(page))
    broken = []
    for match in re.finditer(r"!?\[(?:[^\[\]]|\n)*?\]\(([^)\s]+)\)", text):
        target = match.group(1)
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        line = text.count("\n", 0, match.start()) + 1
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        where = f"{page.relative_to(ROOT)}:{line}: {target}"
        if not dest.exists():
            broken.append(f"{where}: no such file")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{where}: no heading #{anchor} in {dest.name}")
    return broken


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite every generated block")
    mode.add_argument("--check", action="store_true", help="exit 1 when a block is stale")
    parser.add_argument("l2sweep", help="the l2sweep binary")
    args = parser.parse_args()
    stale, blocks = [], 0
    for page in pages():
        text = page.read_text(encoding="utf-8")
        found = []

        def replace(match):
            found.append(match)
            body = render(args.l2sweep, match.group("args"))
            if body != match.group("body"):
                stale.append(f"{page.relative_to(ROOT)} (l2sweep {match.group('args')})")
            return match.group(1) + body + match.group(4)

        new = BLOCK.sub(replace, text)
        blocks += len(found)
        if args.write and new != text:
            page.write_text(new, encoding="utf-8")
            print(f"rewrote {page.relative_to(ROOT)}")
    if blocks == 0:
        sys.exit("docs.py: no generated block found; expected '<!-- generated: l2sweep ... -->'")
    if args.check and stale:
        sys.exit("stale generated docs: " + ", ".join(stale) +
                 f"; run python3 scripts/docs.py --write {args.l2sweep}")
    broken = [message for page in pages() for message in broken_links(page)]
    if args.check and broken:
        sys.exit("broken links:\n  " + "\n  ".join(broken))
    print(f"{blocks} generated blocks {'current' if args.check else 'written'}")


if __name__ == "__main__":
    main()
