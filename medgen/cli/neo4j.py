"""`medgen neo4j`: install, start, stop and inspect the Neo4j server the project runs itself."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from medgen.cli.output import Format, out, print_rows

app = typer.Typer(help="Manage the local Neo4j server the project runs itself.",
                  no_args_is_help=True)

@app.command("install")
def neo4j_install() -> None:
    """Fetch the Neo4j Community jars and Neo4j Browser from Maven Central into the cache
    (idempotent)."""
    from medgen.neo4j_server import install_browser, install_jars
    from medgen.settings import BROWSER_VERSION, NEO4J_VERSION

    lib = install_jars(NEO4J_VERSION)
    out.print(escape(f"Neo4j {NEO4J_VERSION} jars in {lib}"))
    browser = install_browser(BROWSER_VERSION)
    out.print(escape(f"Neo4j Browser {BROWSER_VERSION} in {browser}"))


@app.command("start")
def neo4j_start() -> None:
    """Start the managed server in the background and wait until Bolt answers."""
    from medgen.neo4j_server import ManagedServer

    st = ManagedServer().start()
    out.print(escape(f"Neo4j {st.version} running at {st.uri} (pid {st.pid}); log: {st.log}"))
    out.print(escape(f"Neo4j Browser: {st.browser} (user neo4j, password in "
                     f"{ManagedServer().password_file})"), soft_wrap=True)


@app.command("stop")
def neo4j_stop() -> None:
    """Stop the managed server cleanly."""
    from medgen.neo4j_server import ManagedServer

    out.print("stopped" if ManagedServer().stop() else "not running")


@app.command("status")
def neo4j_status(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """URI, pid, version and state folder of the managed server (or the NEO4J_URI in use)."""
    from medgen.neo4j_server import ManagedServer
    from medgen.settings import Neo4jSettings

    settings = Neo4jSettings.from_env()
    if not settings.managed:
        info = {"managed": False, "uri": settings.uri, "user": settings.user,
                "database": settings.database}
    else:
        st = ManagedServer().status()
        info = {"managed": True, "state": "running" if st.running else "stopped", "uri": st.uri,
                "browser": st.browser, "pid": st.pid, "version": st.version,
                "home": str(st.home), "log": str(st.log)}
    if fmt is Format.table:
        for k, v in info.items():
            out.print(escape(f"{k:>9}: {v}"), soft_wrap=True)
    else:
        print_rows([info], fmt)



def _managed(what: str):
    """The managed server, or a clear refusal when NEO4J_URI names another one."""
    from medgen.errors import ServerError
    from medgen.neo4j_server import ManagedServer
    from medgen.settings import Neo4jSettings

    if not Neo4jSettings.from_env().managed:
        raise ServerError(f"`medgen neo4j {what}` works on the managed server only (neo4j-admin "
                          "runs beside its files); unset NEO4J_URI, or use that server's own "
                          "tools")
    return ManagedServer()


@app.command("dump")
def neo4j_dump(
    file: Annotated[Path, typer.Argument(help="Dump file to write (mode 0600: it holds the graph)",
                                         dir_okay=False)],
) -> None:
    """Back up the graph with neo4j-admin database dump (the server is stopped around it
    and started again)."""
    size = _managed("dump").dump(file)
    out.print(escape(f"dumped the graph to {file} ({size / 1e6:.1f} MB)"), soft_wrap=True)


@app.command("load")
def neo4j_load(
    file: Annotated[Path, typer.Argument(help="A dump written by `medgen neo4j dump`",
                                         exists=True, dir_okay=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace a database that holds "
                                        "nodes")] = False,
) -> None:
    """Restore the graph from a dump with neo4j-admin database load; refuses to replace a
    non-empty database without --force."""
    server = _managed("load")
    server.load(file, force=force)
    out.print(escape(f"loaded {file}"), soft_wrap=True)


@app.command("reset")
def neo4j_reset(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete the whole graph of the managed server (users and the password stay)."""
    from medgen.errors import ServerError

    server = _managed("reset")
    if not yes and not typer.confirm(f"delete every node and relationship in {server.home}?"):
        raise ServerError("nothing deleted (pass --yes to reset without asking)")
    server.reset()
    out.print("the graph is empty")
