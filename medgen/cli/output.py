"""What every command group shares: the two consoles, the output formats, the
table/JSON/CSV printer, progress displays and the graph store the commands use.

Cells are data, never rich markup: a value such as ``[/x]`` prints verbatim.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from collections.abc import Iterator
from enum import Enum
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def open_store():
    """The graph store of the configured Neo4j (the managed server, started if needed)."""
    from kg.store import GraphStore
    from medgen.db import connect
    from medgen.settings import Neo4jSettings

    settings = Neo4jSettings.from_env()
    return GraphStore(connect(settings), database=settings.database)


def say(text: str) -> None:
    """One line of plain text on stdout (never read as markup)."""
    out.print(escape(text), soft_wrap=True)


def warn(text: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(text)}", soft_wrap=True)


@contextlib.contextmanager
def progress() -> Iterator[Any]:
    """A rich progress display on stderr, drawn on a terminal only."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  disable=not err.is_terminal) as bar:
        yield bar


def print_rows(rows: list[dict], fmt: Format, title: str | None = None) -> None:
    if fmt is Format.json:
        out.print_json(json.dumps(rows, default=str)) if rows else print("[]")
        return
    columns = list(rows[0]) if rows else []
    if fmt is Format.csv:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        for r in rows:
            w.writerow([json.dumps(v, default=str) if isinstance(v, (dict, list)) else v
                        for v in r.values()])
        sys.stdout.write(buf.getvalue())
        return
    table = Table(title=title)
    for c in columns:
        table.add_column(Text(str(c)))
    for r in rows:
        table.add_row(*[Text(cell(v)) for v in r.values()])
    out.print(table)
    if not rows:
        out.print("(no rows)")


def cell(value) -> str:
    """A value as a table shows it: floats to 4 decimals (JSON and CSV keep them whole)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, float) and 1e-3 <= abs(value) < 1e6:
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, float) and value != 0.0:
        return f"{value:.4g}"
    return str(value)


def write_with_progress(graph_store, sources, label: str):
    """Write the sources' tables into the graph with a row-count progress bar."""
    from medgen.pipeline import build_online, total_rows

    with progress() as bar:
        task = bar.add_task(label, total=total_rows(sources))
        return build_online(graph_store, sources, progress=lambda n: bar.advance(task, n))


def print_build(report) -> None:
    out.print(f"[bold]{report.path} write[/bold] in {report.seconds:.1f} s")
    rows = [{"kind": "nodes", "name": k, "rows": v} for k, v in report.written.nodes.items()]
    rows += [{"kind": "relationships", "name": k, "rows": v}
             for k, v in report.written.relationships.items()]
    print_rows(rows, Format.table, title="rows written (merged)")
    if report.skipped:
        print_rows([{"skipped": k, "rows": v} for k, v in report.skipped.items()], Format.table)


def print_stats(graph_store, fmt: Format) -> None:
    counts = graph_store.counts()
    # one type can join several pairs of labels (HAS_PHENOTYPE: Disease and Gene)
    counts["patterns"] = graph_store.patterns()
    if fmt is Format.json:
        print(json.dumps(counts, indent=2))
        return
    rows = [{"label": k, "nodes": v} for k, v in counts["nodes"].items()]
    print_rows(rows, fmt, title="nodes")
    rows = [{"type": k, "relationships": v} for k, v in counts["relationships"].items()]
    print_rows(rows, fmt, title="relationships")
    print_rows(counts["patterns"], fmt, title="relationships by pattern")
