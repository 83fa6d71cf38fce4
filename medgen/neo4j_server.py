"""The Neo4j server the project manages itself.

Neo4j Community is resolved from Maven Central with Maven (``org.neo4j:neo4j``
and its dependencies, copied into a cache folder outside the repository),
configured in a state folder (Bolt on 127.0.0.1 only, auth on with a
generated password in a file of mode 0600, small heap and page cache) and run
as ``org.neo4j.server.CommunityEntryPoint`` in the background. The same jars
give ``neo4j-admin`` (``org.neo4j.cli.AdminTool``) for the bulk import.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kg.bulk import ARRAY_DELIMITER_ARG
from medgen.errors import ServerError
from medgen.settings import NEO4J_VERSION, bolt_port, cache_dir, state_dir

ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise ServerError("Java 17 or newer is needed to run Neo4j: install a JDK or set JAVA_HOME")
    return found


def install_jars(version: str = NEO4J_VERSION, *, quiet: bool = True) -> Path:
    """Resolve Neo4j ``version`` and its dependencies into the cache; return the lib folder.

    Idempotent: a finished install leaves a marker file and is reused.
    """
    lib = cache_dir() / "neo4j" / version / "lib"
    marker = lib.parent / "complete"
    if marker.exists():
        return lib
    mvn = shutil.which("mvn")
    if not mvn:
        raise ServerError(
            "Maven (mvn) is needed to fetch the Neo4j jars from Maven Central: install it "
            "(e.g. apt-get install maven), or point NEO4J_URI at an existing server"
        )
    pom = resources.files("medgen") / "resources" / "neo4j-pom.xml"
    with tempfile.TemporaryDirectory() as tmp:
        # copy-dependencies writes into the folder it is given; fill a fresh one and
        # move it into place so an interrupted install is never taken for a finished one
        staging = Path(tmp) / "lib"
        (Path(tmp) / "pom.xml").write_text(pom.read_text())
        cmd = [
            mvn, "-B", *(["-q"] if quiet else []), "-f", str(Path(tmp) / "pom.xml"),
            f"-Dneo4j.version={version}", "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            raise ServerError(
                f"Maven could not resolve org.neo4j:neo4j:{version}:\n" + "\n".join(tail)
            )
        if lib.exists():
            shutil.rmtree(lib)
        lib.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), lib)
    marker.write_text(version + "\n")
    return lib


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); treat it as gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class ServerStatus:
    running: bool
    uri: str
    pid: int | None
    version: str
    home: Path
    log: Path


class ManagedServer:
    """A Neo4j Community server living under ``home`` (default: the state folder)."""

    def __init__(
        self,
        home: Path | None = None,
        port: int | None = None,
        version: str = NEO4J_VERSION,
        heap: str | None = None,
        pagecache: str | None = None,
    ):
        self.home = Path(home) if home else state_dir() / "neo4j"
        self.port = port or bolt_port()
        self.version = version
        self.heap = heap or os.environ.get("MEDGEN_NEO4J_HEAP", "1g")
        self.pagecache = pagecache or os.environ.get("MEDGEN_NEO4J_PAGECACHE", "256m")

    # paths ---------------------------------------------------------------------------
    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / "neo4j.pid"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def console_log(self) -> Path:
        return self.logs_dir / "console.log"

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    # state ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def password(self) -> str:
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            raise ServerError(
                f"no password file at {self.password_file}: start the server once with "
                "`medgen neo4j start`"
            ) from None

    def status(self) -> ServerStatus:
        pid = self.pid()
        running = pid is not None and port_is_open("127.0.0.1", self.port)
        return ServerStatus(running, self.uri, pid, self.version, self.home, self.console_log)

    # lifecycle -----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {**os.environ, "NEO4J_HOME": str(self.home), "NEO4J_CONF": str(self.conf_dir)}

    def _classpath(self) -> str:
        return str(install_jars(self.version) / "*")

    def configure(self) -> None:
        for d in (self.conf_dir, self.data_dir, self.logs_dir, self.pid_file.parent):
            d.mkdir(parents=True, exist_ok=True)
        (self.home / "plugins").mkdir(exist_ok=True)
        conf = f"""# written by medgen; edit MEDGEN_NEO4J_* environment variables instead
server.default_listen_address=127.0.0.1
server.bolt.listen_address=127.0.0.1:{self.port}
server.bolt.advertised_address=127.0.0.1:{self.port}
server.http.enabled=false
server.https.enabled=false
dbms.security.auth_enabled=true
server.memory.pagecache.size={self.pagecache}
server.directories.data={self.data_dir}
server.directories.logs={self.logs_dir}
server.directories.plugins={self.home / "plugins"}
server.directories.import={self.home / "import"}
server.directories.run={self.pid_file.parent}
dbms.usage_report.enabled=false
db.tx_log.rotation.retention_policy=1 files
"""
        (self.conf_dir / "neo4j.conf").write_text(conf)
        if not self.password_file.exists():
            # hex: a url-safe token may start with '-', which neo4j-admin reads as an option
            password = secrets.token_hex(18)
            # the admin tool sets the initial password only before the first start
            self._admin("dbms set-initial-password", ["dbms", "set-initial-password", password])
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")

    def _admin(self, what: str, args: list[str]) -> subprocess.CompletedProcess:
        """Run neo4j-admin; ``what`` names the command in errors (``args`` may hold secrets)."""
        cmd = [_java(), "-Xmx1g", "-cp", self._classpath(), ADMIN_TOOL, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self._env())
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).strip()
            raise ServerError(f"neo4j-admin {what} failed:\n{out[-3000:]}")
        return proc

    def start(self, timeout: float = 180.0) -> ServerStatus:
        """Start in the background unless already running; wait until Bolt answers."""
        st = self.status()
        if st.running:
            return st
        if st.pid is None and port_is_open("127.0.0.1", self.port):
            raise ServerError(
                f"port {self.port} is taken by another program: set MEDGEN_NEO4J_PORT to a free "
                "port, or NEO4J_URI to use that server"
            )
        self.configure()
        cmd = [
            _java(), f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC",
            "-Dfile.encoding=UTF-8", "-cp", self._classpath(), ENTRY_POINT,
            f"--home-dir={self.home}", f"--config-dir={self.conf_dir}",
        ]
        with open(self.console_log, "ab") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self._env(), start_new_session=True,  # survives the CLI process
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServerError(
                    f"Neo4j exited with code {proc.returncode} while starting; "
                    f"see {self.console_log} and {self.logs_dir / 'neo4j.log'}"
                )
            if port_is_open("127.0.0.1", self.port):
                return self.status()
            time.sleep(0.5)
        raise ServerError(f"Neo4j did not open Bolt on port {self.port} in {timeout:.0f} s; "
                          f"see {self.console_log}")

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop cleanly (SIGTERM, then SIGKILL after ``timeout``); False if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.2)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        # reap it if it is our child (tests start it in-process)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        self.pid_file.unlink(missing_ok=True)
        return True

    def import_full(self, nodes: list[tuple[str, Path]], relationships: list[tuple[str, Path]],
                    database: str = "neo4j") -> str:
        """Bulk-load CSV files with ``neo4j-admin database import full``, replacing ``database``.

        The server must be stopped (Community cannot take a database offline while
        serving it); the caller restarts it. Returns the tool's report.
        """
        if self.pid() is not None:
            raise ServerError("stop the server before a bulk import (`medgen neo4j stop`)")
        self.configure()
        # the database name goes first: --nodes/--relationships take several files each
        args = ["database", "import", "full", database, "--overwrite-destination=true",
                "--multiline-fields=true", f"--array-delimiter={ARRAY_DELIMITER_ARG}",
                "--skip-duplicate-nodes=false", f"--report-file={self.logs_dir / 'import.report'}",
                "--threads=2"]
        args += [f"--nodes={label}={path}" for label, path in nodes]
        args += [f"--relationships={rtype}={path}" for rtype, path in relationships]
        return self._admin("database import full", args).stdout
