"""`medgen cypher`: one Cypher query, read-only unless --write, values as parameters."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from medgen.cli.output import Format, open_store, print_rows
from training.errors import MedgenError


def _param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise typer.BadParameter(f"--param must look like NAME=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    try:
        return k, json.loads(v)  # numbers, lists, true/false, "quoted strings"
    except json.JSONDecodeError:
        return k, v


def cypher(
    query: Annotated[str, typer.Argument(help="A Cypher query; values go in $parameters")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="NAME=VALUE (VALUE read as JSON when it parses, else a string)")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    write: Annotated[bool, typer.Option("--write", help="Allow writes (read-only otherwise)")
                     ] = False,
) -> None:
    """Run one Cypher query against the graph and print its records."""
    from neo4j.exceptions import ClientError

    from kg.cypher import run_cypher

    params = dict(_param(p) for p in (param or []))
    graph = open_store()
    try:
        rows = run_cypher(graph.driver, query, params, write=write, database=graph.database)
    except ClientError as e:
        if e.code == "Neo.ClientError.Statement.AccessMode":
            raise MedgenError("this query writes to the graph and nothing was changed; "
                              "pass --write to allow writes") from e
        raise
    print_rows(rows, fmt)

