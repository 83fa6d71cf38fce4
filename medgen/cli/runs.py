"""`medgen runs`: the runs on disk (completion, imaging, cached molecular models), listed and
removed with what they wrote into Neo4j."""

from __future__ import annotations

from typing import Annotated

import typer

from medgen.cli.output import Format, open_store, print_rows, say

app = typer.Typer(help="List and remove trained runs and cached models.", no_args_is_help=True)


@app.command("list")
def runs_list(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Every run: kind (kg, img, mol), id, date, status, headline metric, size and folder."""
    from medgen.runs import list_runs

    print_rows([r.row() for r in list_runs()], fmt, title="runs")


@app.command("rm")
def runs_rm(
    run: Annotated[str, typer.Argument(help="Run id, folder name or path (`medgen runs list`)")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
) -> None:
    """Remove a run: its folder and, for a completion run, its PREDICTED_ links and the node
    embeddings it wrote in Neo4j (other runs' stay)."""
    from medgen.runs import find_run, remove_run

    found = find_run(run)
    if not yes and not typer.confirm(f"remove {found.kind} run {found.run_id} "
                                     f"({found.path}, {found.size_mb:.1f} MB)?"):
        raise typer.Exit(1)
    remove_run(found, open_store() if found.kind == "kg" else None)
    say(f"removed {found.kind} run {found.run_id} ({found.path})")
