"""The `medgen` command line: one module per command group, printing in ``output``.

Commands parse arguments and call library functions or the jobs in ``medgen``;
heavy imports stay inside the commands so ``--help`` is instant. Errors are
:class:`~training.errors.MedgenError` subclasses, which :func:`main` turns into
one clear line and exit status 1.
"""

from __future__ import annotations

import re
import sys

import typer
from rich.markup import escape

from medgen.cli import cypher, img, kg, mol, neo4j, run, runs
from medgen.cli.output import err
from training.errors import MedgenError

app = typer.Typer(
    help="medgen: a medical knowledge graph in Neo4j, graph-neural completion, "
    "molecule and image generation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(neo4j.app, name="neo4j")
app.add_typer(kg.app, name="kg")
app.add_typer(mol.app, name="mol")
app.add_typer(runs.app, name="runs")
app.add_typer(img.app, name="img")
app.command("cypher")(cypher.cypher)
app.command("run")(run.run_main)


def _one_line(error: BaseException) -> str:
    """The error's text on one line: the driver's messages carry line breaks (a refused
    connection is two lines), and an error is one line on stderr."""
    return re.sub(r"\s*\n\s*", " ", str(error).strip())


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns known errors into one clear line and a non-zero exit."""
    import logging

    from neo4j.exceptions import DriverError, Neo4jError, ServiceUnavailable, SessionExpired

    # the driver logs a failed connection itself ("Unable to retrieve routing information");
    # the error below says it once, with what to do. Handlers a user configures still get it.
    driver_log = logging.getLogger("neo4j")
    if not driver_log.handlers:
        driver_log.addHandler(logging.NullHandler())
    # the driver's DEBUG records carry every query's parameters (a patient's phenotypes
    # given to `kg diagnose`, say): never emitted unless someone set its level on purpose
    if driver_log.level == logging.NOTSET:
        driver_log.setLevel(logging.INFO)
    try:
        # standalone mode handles usage errors and --help itself (exit 2 / 0)
        app(args=argv, prog_name="medgen")
    except MedgenError as e:
        err.print(f"[red]error:[/red] {escape(_one_line(e))}", soft_wrap=True)
        sys.exit(1)
    except Neo4jError as e:
        # Neo4j's syntax errors point at the query over several lines: the first says it
        first = (e.message or "").strip().splitlines()[0] if (e.message or "").strip() else ""
        err.print(f"[red]error:[/red] Neo4j: {escape(f'{e.code}: {first}')}", soft_wrap=True)
        sys.exit(1)
    except (ServiceUnavailable, SessionExpired) as e:
        # the server went away mid-command (killed, restarted, network): writes are batched
        # MERGEs, so what was committed is whole and a rerun completes the rest
        err.print(f"[red]error:[/red] lost the connection to Neo4j ({escape(_one_line(e))}); check "
                  "that it is up (`medgen neo4j status`) and rerun: the writes are idempotent",
                  soft_wrap=True)
        sys.exit(1)
    except DriverError as e:
        err.print(f"[red]error:[/red] Neo4j driver: {escape(_one_line(e))}", soft_wrap=True)
        sys.exit(1)
    except OSError as e:  # a full disk, a file-size limit, a folder that cannot be made
        where = f"{e.filename}: " if e.filename else ""
        err.print(f"[red]error:[/red] {escape(where + (e.strerror or _one_line(e)))}",
                  soft_wrap=True)
        sys.exit(1)
