"""``mesosweep spec schema|docs``: the sweep spec's schema, for editors and for docs/spec.md."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Light (the schema and its reader, stdlib only): no need to defer it to run().
from mesosweep.ensemble.spec_docs import json_schema, render_tables

DOCS = Path("docs") / "spec.md"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "spec", help="the sweep spec's schema: a JSON Schema for editors, the tables of "
                     "docs/spec.md",
        description="Render the sweep spec's schema (declared once, in mesosweep.ensemble."
                    "schema) for a TOML editor or for the documentation.")
    actions = p.add_subparsers(dest="spec_action", required=True, metavar="ACTION")
    schema = actions.add_parser(
        "schema", help="print a JSON Schema (draft 2020-12) of a sweep file",
        description="Print a JSON Schema (draft 2020-12) of a sweep file, with each field's "
                    "description, unit, default, allowed values and bounds. TOML editors that "
                    "read JSON Schema (Taplo, Even Better TOML) use it to complete and check "
                    "sweep files: put '#:schema ./sweep.schema.json' on a file's first line.")
    schema.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write the schema to FILE instead of printing it")
    docs = actions.add_parser(
        "docs", help="rewrite the generated tables of docs/spec.md from the schema",
        description="Rewrite the tables between the '<!-- generated table: NAME -->' and "
                    "'<!-- end of generated table -->' markers of docs/spec.md from the schema; "
                    "the prose around them is kept.")
    docs.add_argument("file", nargs="?", type=Path, default=DOCS,
                      help=f"the Markdown file (default: {DOCS}, from the repository's top)")
    docs.add_argument("--check", action="store_true",
                      help="change nothing; exit with status 1 if the tables are out of step")


def run(args: argparse.Namespace) -> int:
    if args.spec_action == "schema":
        text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
        if args.output is None:
            sys.stdout.write(text)
        else:
            args.output.write_text(text, encoding="utf-8")
        return 0
    file = args.file
    try:
        old = file.read_text(encoding="utf-8")
        new = render_tables(old)
    except OSError as exc:
        print(f"mesosweep spec docs: cannot read {file} ({exc.strerror or exc}); run it from the "
              f"repository's top folder or give the file's path", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"mesosweep spec docs: {file}: {exc}", file=sys.stderr)
        return 2
    if new == old:
        print(f"{file}: the tables are in step with the schema")
        return 0
    if args.check:
        print(f"{file}: the tables are out of step with the schema; run: mesosweep spec docs "
              f"{file}", file=sys.stderr)
        return 1
    file.write_text(new, encoding="utf-8")
    print(f"{file}: tables rewritten from the schema")
    return 0
