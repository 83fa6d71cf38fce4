"""The Neo4j server the project manages itself.

Neo4j Community is resolved from Maven Central with Maven (``org.neo4j:neo4j``
and its dependencies, copied into a cache folder outside the repository),
configured in a state folder (Bolt on 127.0.0.1 only, auth on with a
generated password in a file of mode 0600, small heap and page cache) and run
as ``org.neo4j.server.CommunityEntryPoint`` in the background. Neo4j Browser
(``org.neo4j.client:neo4j-browser``, resolved into its own cache folder) is on
the classpath and served by the HTTP connector on 127.0.0.1 only. The same jars
give ``neo4j-admin`` (``org.neo4j.cli.AdminTool``) for the bulk import and for
dumps and loads.

The password never reaches a process command line (``/proc/<pid>/cmdline`` is
readable by every user): ``neo4j-admin`` reads it from an argument file of mode
0600 that is removed straight after. The server is only ever signalled after
``/proc/<pid>/cmdline`` shows it is this home's Neo4j, so a stale pid file whose
pid the kernel gave to another program is dropped, not obeyed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kg.bulk import ARRAY_DELIMITER_ARG
from medgen.errors import ServerError
from medgen.settings import (
    BROWSER_VERSION,
    NEO4J_VERSION,
    ManagedServerSettings,
    cache_dir,
    state_dir,
)

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


def _resolve(pom: str, lib: Path, what: str, marker_text: str, *, quiet: bool = True) -> Path:
    """Run Maven's copy-dependencies on ``pom`` into ``lib``; idempotent through a marker."""
    marker = lib.parent / "complete"
    if marker.exists():
        return lib
    mvn = shutil.which("mvn")
    if not mvn:
        raise ServerError(
            "Maven (mvn) is needed to fetch the Neo4j jars from Maven Central: install it "
            "(e.g. apt-get install maven), or point NEO4J_URI at an existing server"
        )
    with tempfile.TemporaryDirectory() as tmp:
        # copy-dependencies writes into the folder it is given; fill a fresh one and
        # move it into place so an interrupted install is never taken for a finished one
        staging = Path(tmp) / "lib"
        (Path(tmp) / "pom.xml").write_text(pom)
        cmd = [
            mvn, "-B", *(["-q"] if quiet else []), "-f", str(Path(tmp) / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            raise ServerError(f"Maven could not resolve {what}:\n" + "\n".join(tail))
        if lib.exists():
            shutil.rmtree(lib)
        lib.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), lib)
    marker.write_text(marker_text + "\n")
    return lib


def install_jars(version: str = NEO4J_VERSION, *, quiet: bool = True) -> Path:
    """Resolve Neo4j ``version`` and its dependencies into the cache; return the lib folder.

    Idempotent: a finished install leaves a marker file and is reused.
    """
    pom = (resources.files("medgen") / "resources" / "neo4j-pom.xml").read_text()
    pom = pom.replace("${neo4j.version}", version)
    return _resolve(pom, cache_dir() / "neo4j" / version / "lib", f"org.neo4j:neo4j:{version}",
                    version, quiet=quiet)


def install_browser(version: str = BROWSER_VERSION, *, quiet: bool = True) -> Path:
    """Resolve Neo4j Browser into its own cache folder (kept apart from the server's lib so
    adding it never rewrites jars a running server has open)."""
    pom = (resources.files("medgen") / "resources" / "neo4j-browser-pom.xml").read_text()
    pom = pom.replace("${browser.version}", version)
    return _resolve(pom, cache_dir() / "neo4j-browser" / version / "lib",
                    f"org.neo4j.client:neo4j-browser:{version}", version, quiet=quiet)


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


def _die_with_parent() -> None:
    """In a neo4j-admin child: be killed when the medgen process that ran it dies, so a
    killed import or load never goes on writing alone (Linux PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the child may outlive a killed parent
        pass


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


@dataclass
class ServerStatus:
    running: bool
    uri: str
    pid: int | None
    version: str
    home: Path
    log: Path
    browser: str | None = None  # Neo4j Browser's URL while running


class ManagedServer:
    """A Neo4j Community server living under ``home`` (default: the state folder)."""

    def __init__(
        self,
        home: Path | None = None,
        port: int | None = None,
        version: str = NEO4J_VERSION,
        heap: str | None = None,
        pagecache: str | None = None,
        http_port: int | None = None,
    ):
        env = ManagedServerSettings.from_env()
        # absolute: the pid check compares it with the server's --home-dir argument
        self.home = Path(home).absolute() if home else state_dir() / "neo4j"
        self.port = port or env.port
        self.http_port = http_port or env.http_port
        self.version = version
        self.heap = heap or env.heap
        self.pagecache = pagecache or env.pagecache

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

    @property
    def browser_url(self) -> str:
        """Where Neo4j Browser answers (log in with user neo4j and the password file's
        password; the connect URL is :attr:`uri`)."""
        return f"http://127.0.0.1:{self.http_port}/browser/"

    # state ---------------------------------------------------------------------------
    def owns(self, pid: int) -> bool:
        """Whether ``pid`` is this home's Neo4j: its command line runs the entry point
        with this home folder. Anything else (a pid reused by another program) is not."""
        args = _cmdline(pid)
        return ENTRY_POINT in args and f"--home-dir={self.home}" in args

    def pid(self) -> int | None:
        """The running server's pid, or None (no pid file, a dead pid, or a pid that now
        belongs to another program)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) and self.owns(pid) else None

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
        return ServerStatus(running, self.uri, pid, self.version, self.home, self.console_log,
                            self.browser_url if running else None)

    # lifecycle -----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {**os.environ, "NEO4J_HOME": str(self.home), "NEO4J_CONF": str(self.conf_dir)}

    def _classpath(self) -> str:
        return f"{install_jars(self.version) / '*'}:{install_browser() / '*'}"

    def _conf(self, data_dir: Path) -> str:
        return f"""# written by medgen; edit MEDGEN_NEO4J_* environment variables instead
server.default_listen_address=127.0.0.1
server.bolt.listen_address=127.0.0.1:{self.port}
server.bolt.advertised_address=127.0.0.1:{self.port}
# Neo4j Browser, on loopback only (auth stays on: it logs in over Bolt)
server.http.enabled=true
server.http.listen_address=127.0.0.1:{self.http_port}
server.http.advertised_address=127.0.0.1:{self.http_port}
server.https.enabled=false
dbms.security.auth_enabled=true
server.memory.pagecache.size={self.pagecache}
server.directories.data={data_dir}
server.directories.logs={self.logs_dir}
server.directories.plugins={self.home / "plugins"}
server.directories.import={self.home / "import"}
server.directories.run={self.pid_file.parent}
dbms.usage_report.enabled=false
db.tx_log.rotation.retention_policy=1 files
"""

    def configure(self) -> None:
        try:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            for d in (self.conf_dir, self.data_dir, self.logs_dir, self.pid_file.parent):
                d.mkdir(parents=True, exist_ok=True)
            (self.home / "plugins").mkdir(exist_ok=True)
        except OSError as err:
            raise ServerError(
                f"cannot create the Neo4j state folder {self.home}: {err.strerror}; set "
                "MEDGEN_STATE_DIR to a folder you can write") from err
        (self.conf_dir / "neo4j.conf").write_text(self._conf(self.data_dir))
        self._finish_swap()
        if not self.password_file.exists():
            # hex: a url-safe token may start with '-', which neo4j-admin reads as an option
            password = secrets.token_hex(18)
            # the admin tool sets the initial password only before the first start; it
            # reads it from an argument file, never from its command line
            self._admin("dbms set-initial-password", ["dbms", "set-initial-password"],
                        secret_args=[password])
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")

    @contextlib.contextmanager
    def _argfile(self, args: list[str]) -> Iterator[str]:
        """A picocli ``@file`` of mode 0600 holding ``args`` (each quoted), removed after."""
        fd, name = tempfile.mkstemp(prefix=".args-", dir=self.pid_file.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write("\n".join(f'"{a}"' for a in args) + "\n")
            yield "@" + name
        finally:
            os.unlink(name)

    def _admin(self, what: str, args: list[str], *, secret_args: list[str] = (),
               conf_dir: Path | None = None, stdin=None, stdout=None
               ) -> subprocess.CompletedProcess:
        """Run neo4j-admin; ``what`` names the command in errors. ``secret_args`` go through
        an argument file, so they never show in /proc/<pid>/cmdline. ``stdin``/``stdout``:
        open binary files for a dump or load through the tool's own streams."""
        env = self._env() if conf_dir is None else {**self._env(), "NEO4J_CONF": str(conf_dir)}
        with contextlib.ExitStack() as stack:
            extra = [stack.enter_context(self._argfile(secret_args))] if secret_args else []
            cmd = [_java(), "-Xmx1g", "-cp", self._classpath(), ADMIN_TOOL, *args, *extra]
            proc = subprocess.run(
                cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=stdout if stdout is not None else subprocess.PIPE,
                stderr=subprocess.PIPE, env=env, preexec_fn=_die_with_parent)
        out = (proc.stdout or b"").decode(errors="replace") if stdout is None else ""
        errtext = proc.stderr.decode(errors="replace")
        if proc.returncode != 0:
            text = (out + errtext).strip()
            raise ServerError(f"neo4j-admin {what} failed:\n{text[-3000:]}")
        return subprocess.CompletedProcess(cmd, proc.returncode, out, errtext)

    def start(self, timeout: float = 180.0) -> ServerStatus:
        """Start in the background unless already running; wait until Bolt answers."""
        st = self.status()
        if st.running:
            return st
        # a killed server (its pid file left behind) may still be closing its sockets for
        # a moment after its pid is gone: give the ports a few seconds before calling them
        # taken
        deadline = time.monotonic() + (10 if self.pid_file.exists() else 0)
        while (st.pid is None and time.monotonic() < deadline
               and (port_is_open("127.0.0.1", self.port)
                    or port_is_open("127.0.0.1", self.http_port))):
            time.sleep(0.2)
        if st.pid is None and port_is_open("127.0.0.1", self.port):
            raise ServerError(
                f"port {self.port} is taken by another program: set MEDGEN_NEO4J_PORT to a free "
                "port, or NEO4J_URI to use that server"
            )
        if st.pid is None and port_is_open("127.0.0.1", self.http_port):
            raise ServerError(
                f"port {self.http_port} (Neo4j Browser) is taken by another program: set "
                "MEDGEN_NEO4J_HTTP_PORT to a free port"
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
        """Stop cleanly (SIGTERM, then SIGKILL after ``timeout``); False if it was not running.

        Only a process whose command line shows it is this home's Neo4j is signalled; a
        pid file naming any other process is stale and just removed."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(pid) and self.owns(pid):
            time.sleep(0.2)
        if _pid_alive(pid) and self.owns(pid):
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _pid_alive(pid) and self.owns(pid):
                time.sleep(0.05)
        # reap it if it is our child (tests start it in-process)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        self.pid_file.unlink(missing_ok=True)
        return True

    # offline work: bulk import, dump, load, reset --------------------------------------
    @contextlib.contextmanager
    def offline(self) -> Iterator[bool]:
        """Stop the server for work Community only does on a stopped database; start it
        again afterwards if it was running (also when the work fails). Yields whether it
        was running."""
        was_running = self.stop()
        try:
            yield was_running
        finally:
            if was_running:
                self.start()

    def _database_dirs(self, data_dir: Path, database: str) -> list[Path]:
        return [data_dir / "databases" / database, data_dir / "transactions" / database]

    @property
    def _staging(self) -> Path:
        return self.home / "staging"

    def _finish_swap(self) -> None:
        """Complete or discard a bulk import that was interrupted.

        The import writes into ``staging/``; only once it finished is ``staging/complete``
        written and the staged store renamed over the live one. A kill before that leaves
        the user's database untouched (the staging folder is discarded here); a kill during
        the renames is finished here, before the server next starts."""
        staging = self._staging
        if not staging.exists():
            return
        marker = staging / "complete"
        if marker.exists():
            database = marker.read_text().strip()
            staged = self._database_dirs(staging / "data", database)
            live = self._database_dirs(self.data_dir, database)
            old = staging / "replaced"
            old.mkdir(exist_ok=True)
            for new, cur in zip(staged, live, strict=True):
                if new.exists():
                    if cur.exists():
                        cur.rename(old / f"{cur.parent.name}-{cur.name}")
                    cur.parent.mkdir(parents=True, exist_ok=True)
                    new.rename(cur)
        shutil.rmtree(staging)

    def import_full(self, nodes: list[tuple[str, Path]], relationships: list[tuple[str, Path]],
                    database: str = "neo4j") -> str:
        """Bulk-load CSV files with ``neo4j-admin database import full``, replacing ``database``.

        The server must be stopped (Community cannot take a database offline while
        serving it); the caller restarts it. The tool writes into a staging folder of its
        own; the live store is replaced only when the import has finished, so an
        interrupted import leaves the database the user had. Returns the tool's report.
        """
        if self.pid() is not None:
            raise ServerError("stop the server before a bulk import (`medgen neo4j stop`)")
        self.configure()
        staging = self._staging
        (staging / "conf").mkdir(parents=True)
        (staging / "conf" / "neo4j.conf").write_text(self._conf(staging / "data"))
        # the database name goes first: --nodes/--relationships take several files each
        args = ["database", "import", "full", database, "--overwrite-destination=true",
                "--multiline-fields=true", f"--array-delimiter={ARRAY_DELIMITER_ARG}",
                "--skip-duplicate-nodes=false", f"--report-file={self.logs_dir / 'import.report'}",
                "--threads=2"]
        args += [f"--nodes={label}={path}" for label, path in nodes]
        args += [f"--relationships={rtype}={path}" for rtype, path in relationships]
        report = self._admin("database import full", args, conf_dir=staging / "conf").stdout
        (staging / "complete").write_text(database + "\n")
        self._finish_swap()
        return report

    def node_count(self) -> int:
        """Nodes in the default database of the running server."""
        import neo4j

        with neo4j.GraphDatabase.driver(self.uri, auth=("neo4j", self.password())) as driver:
            return driver.execute_query("MATCH (n) RETURN count(n) AS n").records[0]["n"]

    def dump(self, path: Path, database: str = "neo4j") -> int:
        """Write ``database`` to the dump file ``path`` (mode 0600: it holds the graph) with
        ``neo4j-admin database dump``, the server stopped around it. Returns its size.

        Written beside ``path`` and renamed, so ``path`` is never a half-written dump."""
        path = Path(path)
        if path.is_dir():
            raise ServerError(f"{path} is a folder: give the dump file's name, e.g. "
                              f"{path / 'neo4j.dump'}")
        partial = path.with_name(path.name + ".partial")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as err:
            raise ServerError(f"cannot write {path}: {err.strerror}") from err
        try:
            with os.fdopen(fd, "wb") as fh, self.offline():
                self.configure()
                self._admin("database dump", ["database", "dump", database, "--to-stdout"],
                            stdout=fh)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return path.stat().st_size

    # a Neo4j 5 dump starts with its compression format's magic: zstd or gzip
    _DUMP_MAGIC = (b"DZV1", b"DGV1")

    def load(self, path: Path, *, force: bool = False, database: str = "neo4j") -> None:
        """Replace ``database`` with the dump file ``path`` (``neo4j-admin database load``).

        Refuses a database that holds nodes unless ``force``; checks the file looks like a
        dump before anything is stopped or replaced. The server ends as it was found
        (running or not)."""
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                magic = fh.read(4)
        except OSError as err:
            raise ServerError(f"cannot read {path}: {err.strerror}") from err
        if magic not in self._DUMP_MAGIC:
            raise ServerError(f"{path} is not a Neo4j 5 dump (it does not start like one); "
                              "make one with `medgen neo4j dump FILE`")
        if not force:
            running = self.status().running
            if not running:
                self.start()
            try:
                n = self.node_count()
            finally:
                if not running:
                    self.stop()
            if n:
                raise ServerError(
                    f"the database holds {n} nodes and load would replace them: run "
                    "`medgen neo4j dump FILE` to keep them, then load with --force")
        with open(path, "rb") as fh, self.offline():
            self.configure()
            self._admin("database load", ["database", "load", database, "--from-stdin",
                                          "--overwrite-destination=true"], stdin=fh)

    def reset(self, database: str = "neo4j") -> None:
        """Delete ``database``'s store (users and the password stay); Neo4j creates it
        empty at the next start. The server ends as it was found."""
        with self.offline():
            for folder in self._database_dirs(self.data_dir, database):
                if folder.exists():
                    shutil.rmtree(folder)
