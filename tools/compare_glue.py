"""Compare the glued values of two runs of the book: did a change alter what the book says?

Every number, phrase, table and figure a chapter glues (myst-nb ``glue``) is an output of its
executed notebook. This script reads two folders of executed notebooks (e.g. a copy of
``book/_executed`` made before a refactoring, and the folder after it) and compares each
glued value by name, chapter by chapter: text, Markdown and HTML exactly; images (PNG, SVG) by
their bytes. A value glued in several forms is compared in the forms the page shows (a table's
HTML, not the ``text/plain`` repr beside it, which holds a memory address).

    python tools/compare_glue.py BEFORE_DIR AFTER_DIR [--rename OLD_PREFIX=NEW_PREFIX ...]

``--rename`` maps glue names of the first run whose name starts with ``OLD_PREFIX`` to the
second run's names (a value renamed on purpose is then compared by value, not reported as
missing).

Prints one line per chapter and, for every value that differs or exists on one side only, its
name; exits 1 if anything differs, 0 if every glued value is identical.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def glued(path):
    """``{name: {mime type: content}}`` of the values glued in one executed notebook."""
    nb = json.loads(Path(path).read_text())
    out = {}
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            meta = o.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            prefix = meta.get("mime_prefix", "")
            data = {k[len(prefix):]: v for k, v in o.get("data", {}).items()}
            value = {k: "".join(v) if isinstance(v, list) else v for k, v in data.items()}
            if len(value) > 1:  # what the page shows; the text/plain beside it is a repr
                value.pop("text/plain", None)  # with a memory address (a table's Styler)
            out[meta["name"]] = value
    return out


def renamed(values, renames):
    out = {}
    for name, value in values.items():
        for old, new in renames:
            if name.startswith(old):
                name = new + name[len(old):]
                break
        out[name] = value
    return out


def compare(before_dir, after_dir, renames=()):
    """Per chapter: (number of glued values, names that differ, names on one side only)."""
    before_dir, after_dir = Path(before_dir), Path(after_dir)
    names = sorted({p.name for p in before_dir.glob("*.ipynb")}
                   | {p.name for p in after_dir.glob("*.ipynb")})
    report = {}
    for name in names:
        a_path, b_path = before_dir / name, after_dir / name
        if not (a_path.exists() and b_path.exists()):
            report[name] = (0, [], ["(the whole chapter)"])
            continue
        a, b = renamed(glued(a_path), renames), glued(b_path)
        differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
        alone = sorted(set(a) ^ set(b))
        report[name] = (len(set(a) | set(b)), differ, alone)
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", help="folder of executed notebooks (the reference run)")
    ap.add_argument("after", help="folder of executed notebooks (the run to check)")
    ap.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                    help="compare the first run's names starting with OLD as starting with NEW")
    args = ap.parse_args(argv)
    renames = [tuple(r.split("=", 1)) for r in args.rename]
    report = compare(args.before, args.after, renames)
    total = same = 0
    for name, (n, differ, alone) in report.items():
        total += n
        same += n - len(differ) - len(alone)
        status = "identical" if not (differ or alone) else "DIFFERS"
        print(f"{name:28s} {n:4d} glued values  {status}")
        for k in differ:
            print(f"    differs: {k}")
        for k in alone:
            print(f"    on one side only: {k}")
    print(f"{same} of {total} glued values identical in {len(report)} chapters")
    return 0 if same == total else 1


if __name__ == "__main__":
    sys.exit(main())
