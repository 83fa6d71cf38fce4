"""`medgen run`: the main job."""

from __future__ import annotations

import json

from medgen.cli.output import (
    Format,
    open_store,
    out,
    print_build,
    print_rows,
    print_stats,
    write_with_progress,
)


def run_main() -> None:
    """The main job: ensure Neo4j, build the default graph, show stats and example queries."""
    from kg.cypher import run_cypher
    from medgen.pipeline import EXAMPLE_QUERIES, default_sources

    store = open_store()
    out.rule("building the default knowledge graph (HPO + ChEMBL approved drugs)")
    print_build(write_with_progress(store, default_sources(), "building"))
    out.rule("graph statistics")
    print_stats(store, Format.table)
    out.rule("example Cypher queries")
    for title, query, params in EXAMPLE_QUERIES:
        out.print(f"[bold]{title}[/bold]\n  {query}\n  params: {json.dumps(params)}")
        print_rows(run_cypher(store.driver, query, params, database=store.database),
                   Format.table)

