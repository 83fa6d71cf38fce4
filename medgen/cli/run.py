"""`medgen run`: the main job, the whole platform end to end with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from medgen.cli.output import err, open_store, out


def run_main(
    profile: Annotated[str, typer.Option(
        help="demo: minutes on 2 CPU cores (small models, labelled demo quality); full: "
        "research-size budgets, a GPU when there is one")] = "demo",
    config: Annotated[Path | None, typer.Option(
        "--config", exists=True, dir_okay=False,
        help="A JSON or YAML file whose keys replace the profile's: graph, completion, "
        "explain_top, vae, analogue_seeds, analogues_per_seed, analogue_temperature, "
        "min_tanimoto, imaging, quality")] = None,
    report: Annotated[Path, typer.Option(
        "--report", file_okay=False, help="Folder for index.html, report.md and pictures")
    ] = Path("report"),
    force: Annotated[list[str] | None, typer.Option(
        "--force", help="Redo this stage even if it finished before (repeatable): graph, "
        "completion, explanations, molecules, candidates, imaging, report")] = None,
) -> None:
    """The main job: ensure Neo4j, build the medical knowledge graph, complete it with a
    trained model and explain its predictions, generate candidate molecules and link them
    into the graph, train the imaging GAN, and write a report.

    One line per stage. A rerun skips the stages that finished with the same settings;
    a run killed part-way and started again completes without duplicating anything in
    Neo4j. The report links to Neo4j Browser with ten queries to paste.
    """
    from medgen.mainjob import MainJob, load_profile
    from medgen.settings import Neo4jSettings

    chosen = load_profile(profile, config)
    store = open_store()
    browser = None
    if Neo4jSettings.from_env().managed:
        from medgen.neo4j_server import ManagedServer

        browser = ManagedServer().browser_url

    def log(line: str) -> None:
        out.print(escape(line), soft_wrap=True)

    server = store.driver.get_server_info()
    out.print(escape(f"medgen run --profile {chosen.name}: Neo4j {server.agent} at "
                     f"{server.address}"), soft_wrap=True)
    job = MainJob(chosen, store, report, force=tuple(force or ()), log=log,
                  browser_url=browser)
    job.run()
    index = (report / "index.html").resolve()
    out.print(escape(f"report: {index}"), soft_wrap=True)
    if browser:
        out.print(escape(f"Neo4j Browser: {browser} (user neo4j; `medgen neo4j status` says "
                         "where the password file is)"), soft_wrap=True)
    err.print("Research use only, not for clinical decisions.")
