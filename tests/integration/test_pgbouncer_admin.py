"""pgbouncer_admin against a real PgBouncer (transaction pooling, SCRAM secrets in its user list, the admin console over
its Unix socket with peer authentication) in front of servers on loopback: a pause that waits for a running
transaction, one that gives up and names its holder, clients that wait through a pause and a re-pointing and see no
error, and what is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time

import psycopg
import pytest
from pglab import BIN_DIR, as_server_user, assert_clean_failure, chown_to_server_user, free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
APP_PASSWORD = "app pass"


class Bouncer:
    """One PgBouncer run by the server's OS user, configured in `home`."""

    def __init__(self, home: str, servers: dict):
        self.home = home
        self.port = free_port()
        self.servers = servers
        self.ini = os.path.join(home, "pgbouncer.ini")
        self.process = None

    def write(self) -> None:
        databases = "\n".join("%s = host=127.0.0.1 port=%d dbname=appdb" % (name, port) for name, port in self.servers.items())
        files = {
            self.ini: "[databases]\n%s\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %d\nunix_socket_dir = %s\n"
            "auth_type = hba\nauth_hba_file = %s/hba.txt\nauth_file = %s/userlist.txt\nadmin_users = %s\n"
            "pool_mode = transaction\nlogfile = %s/pgbouncer.log\npidfile = %s/pgbouncer.pid\n"
            % (databases, self.port, self.home, self.home, self.home, self.admin_user, self.home, self.home),
            os.path.join(self.home, "hba.txt"): "local pgbouncer %s peer\nhost all app 127.0.0.1/32 scram-sha-256\n" % self.admin_user,
            os.path.join(self.home, "userlist.txt"): '"app" "%s"\n"%s" ""\n' % (self.secret, self.admin_user),
        }
        for path, text in files.items():
            with open(path, "w") as handle:
                handle.write(text)
            chown_to_server_user(path)

    def start(self, primary) -> Bouncer:
        self.admin_user = primary.value("SELECT current_user")
        self.secret = primary.value("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")
        self.write()
        self.process = subprocess.Popen(as_server_user([PGBOUNCER, self.ini]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(self.home, ".s.PGSQL.%d" % self.port)):
            assert time.monotonic() < deadline and self.process.poll() is None, "PgBouncer did not start"
            time.sleep(0.05)
        return self

    def repoint(self, name: str, port: int) -> None:
        self.servers[name] = port
        self.write()

    def client(self, application_name: str = "test"):
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname="appdb",
            user="app",
            password=APP_PASSWORD,
            application_name=application_name,
            autocommit=True,
            # Transaction pooling hands each transaction any server connection: no server-side prepared statements.
            prepare_threshold=None,
        )

    def admin(self, statement: str, paused_only: bool = False) -> list:
        """The admin console's answer, asked as the admin user over the socket (peer authentication)."""
        command = [
            "psql",
            "-XAt",
            "-F",
            "|",
            "-h",
            self.home,
            "-p",
            str(self.port),
            "-U",
            self.admin_user,
            "-d",
            "pgbouncer",
            "-c",
            statement,
        ]
        rows = [
            line.split("|")
            for line in subprocess.run(as_server_user(command), capture_output=True, text=True, check=True).stdout.splitlines()
        ]
        return [row[0] for row in rows if row[11] == "1"] if paused_only else rows

    def args(self, command: str, **extra) -> dict:
        options = dict(command=command, socket_dir=self.home, port=self.port, admin_user=self.admin_user)
        options.update(extra)
        return options

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def app_primary(lab):
    primary = lab.primary()
    with primary.connect() as connection:
        connection.execute(psycopg.sql.SQL("CREATE ROLE app LOGIN PASSWORD {}").format(psycopg.sql.Literal(APP_PASSWORD)))
        connection.execute("CREATE DATABASE appdb OWNER app")
    with primary.connect(dbname="appdb") as connection:
        connection.execute("CREATE TABLE t (id serial PRIMARY KEY, port int)")
        connection.execute("ALTER TABLE t OWNER TO app")
    return primary


@pytest.fixture
def bouncer(app_primary):
    # A short directory: a Unix socket's path must fit in 107 bytes, and the lab's test directories are long.
    home = tempfile.mkdtemp(prefix="pgb-", dir="/tmp")
    os.chmod(home, 0o755)
    chown_to_server_user(home)
    started = Bouncer(home, {"appdb": app_primary.port}).start(app_primary)
    yield started
    started.stop()
    shutil.rmtree(home, ignore_errors=True)


def paused(modules, bouncer) -> list:
    return modules.run("pgbouncer_admin", bouncer.args("resume", databases=["appdb"]), check=True)["paused"]


def test_a_client_authenticates_with_scram_through_the_pooler(bouncer, app_primary):
    with bouncer.client() as client:
        assert client.execute("SELECT current_user, inet_server_port()").fetchone() == ("app", app_primary.port)


def test_pause_waits_for_a_running_transaction_then_resume_lets_waiting_clients_go_on(bouncer, modules):
    holder = bouncer.client("holder")
    holder.execute("BEGIN")
    holder.execute("INSERT INTO t (port) VALUES (1)")

    # The transaction ends 1.5 s after the pause has started (PgBouncer shows the database paused while it waits).
    def commit_once_pausing():
        deadline = time.monotonic() + 30
        while "appdb" not in bouncer.admin("SHOW DATABASES", paused_only=True):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.5)
        holder.execute("COMMIT")

    committer = threading.Thread(target=commit_once_pausing)
    committer.start()
    result = modules.run("pgbouncer_admin", bouncer.args("pause", databases=["appdb"], pause_timeout=20))
    assert result["failed"] is False and result["changed"] is True, result
    committer.join(timeout=30)
    assert result["acted_on"] == ["appdb"] and result["paused"] == ["appdb"] and 1.5 <= result["waited_seconds"] < 20
    # A query sent while paused waits, and runs once resumed.
    answers = []
    waiting = threading.Thread(target=lambda: answers.append(holder.execute("SELECT count(*) FROM t").fetchone()[0]))
    waiting.start()
    time.sleep(0.5)
    assert answers == [] and paused(modules, bouncer) == ["appdb"]
    again = modules.run("pgbouncer_admin", bouncer.args("pause", databases=["appdb"]))
    assert again["changed"] is False and again["acted_on"] == []
    resumed = modules.run("pgbouncer_admin", bouncer.args("resume"))
    assert resumed["changed"] is True and resumed["acted_on"] == ["appdb"] and resumed["paused"] == []
    waiting.join(timeout=10)
    assert answers == [1]
    assert modules.run("pgbouncer_admin", bouncer.args("resume"))["changed"] is False
    holder.close()


def test_a_pause_that_outlasts_its_bound_resumes_and_names_the_holder(bouncer, modules):
    holder = bouncer.client("long_report")
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    result = modules.run("pgbouncer_admin", bouncer.args("pause", pause_timeout=1.5))
    assert_clean_failure(
        result, r"PgBouncer could not pause appdb within 1.5 s: a transaction was still running \(app@127.0.0.1:\d+ long_report appdb\)"
    )
    assert result["holders"][0].startswith("app@127.0.0.1:") and "long_report" in result["holders"][0]
    # Nothing is left paused, and the holder's transaction goes on.
    assert paused(modules, bouncer) == []
    assert holder.execute("SELECT 2").fetchone() == (2,)
    holder.execute("COMMIT")
    with bouncer.client() as other:
        assert other.execute("SELECT 3").fetchone() == (3,)
    holder.close()


def test_a_pause_told_to_keep_pending_past_its_bound_waits_for_the_holder_to_be_ended(bouncer, modules, app_primary):
    """What switchover.yml does with switchover_pause_cancel=true: the pause stays pending past its bound, and the fast
    stop of the primary ends the transaction that held it; the other clients wait, then go on once resumed."""
    holder = bouncer.client("long_report")
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    result = modules.run("pgbouncer_admin", bouncer.args("pause", pause_timeout=1.5, on_timeout="keep_pending"))
    assert result["failed"] is False and result["changed"] is True, result
    assert result["pending"] == ["appdb"] and "long_report" in result["holders"][0]
    assert 1.5 <= result["waited_seconds"] < 10
    # Still pending once the module's own admin connections have closed.
    assert "appdb" in bouncer.admin("SHOW DATABASES", paused_only=True)
    with bouncer.client("waiting") as waiting_client:
        answers = []
        waiting = threading.Thread(target=lambda: answers.append(waiting_client.execute("SELECT 4").fetchone()[0]))
        waiting.start()
        time.sleep(0.5)
        assert answers == []
        # The primary's fast stop ends every session: here, the holder's alone.
        app_primary.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'long_report'")
        with pytest.raises(psycopg.Error):
            holder.execute("SELECT 2")
        time.sleep(0.5)
        assert answers == []
        assert modules.run("pgbouncer_admin", bouncer.args("resume"))["acted_on"] == ["appdb"]
        waiting.join(timeout=10)
        assert answers == [4]
    holder.close()


def test_clients_see_no_error_across_a_pause_a_new_host_and_a_resume(bouncer, modules, lab, app_primary):
    """What a switchover does through the pooler, with a second server standing in for the new primary."""
    copy = lab.instance("copy")
    subprocess.run(
        as_server_user(
            [
                os.path.join(BIN_DIR, "pg_basebackup"),
                "-h",
                app_primary.home,
                "-p",
                str(app_primary.port),
                "-D",
                copy.data_dir,
                "-c",
                "fast",
                "-X",
                "stream",
                "-w",
            ]
        ),
        check=True,
        capture_output=True,
    )
    copy.start()
    errors, done, ports = [], threading.Event(), set()

    def write():
        with bouncer.client("writer") as client:
            while not done.is_set():
                try:
                    ports.add(client.execute("INSERT INTO t (port) VALUES (inet_server_port()) RETURNING port").fetchone()[0])
                except psycopg.Error as error:
                    errors.append(str(error))
                time.sleep(0.01)

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.5)
    assert modules.run("pgbouncer_admin", bouncer.args("pause", databases=["appdb"]))["changed"] is True
    bouncer.repoint("appdb", copy.port)
    reloaded = modules.run("pgbouncer_admin", bouncer.args("reload"))
    assert reloaded["changed"] is True and reloaded["paused"] == ["appdb"]
    time.sleep(0.5)
    assert modules.run("pgbouncer_admin", bouncer.args("resume", databases=["appdb"]))["changed"] is True
    time.sleep(0.5)
    done.set()
    writer.join(timeout=10)
    assert errors == [] and ports == {app_primary.port, copy.port}
    # New clients reach the new server too.
    with bouncer.client() as late:
        assert late.execute("SELECT inet_server_port()").fetchone()[0] == copy.port


def test_show_tells_each_database_host_and_pause(bouncer, modules, app_primary):
    shown = modules.run("pgbouncer_admin", bouncer.args("show"))
    assert shown["changed"] is False
    assert shown["databases"] == [dict(name="appdb", host="127.0.0.1", port=app_primary.port, database="appdb", paused=False)]
    modules.run("pgbouncer_admin", bouncer.args("pause"))
    assert modules.run("pgbouncer_admin", bouncer.args("show", databases=["appdb"]), check=True)["databases"][0]["paused"] is True
    modules.run("pgbouncer_admin", bouncer.args("resume"))


def test_check_mode_pauses_nothing(bouncer, modules):
    result = modules.run("pgbouncer_admin", bouncer.args("pause"), check=True)
    assert result["changed"] is True and result["acted_on"] == ["appdb"] and result["paused"] == []
    assert paused(modules, bouncer) == []


@pytest.mark.parametrize(
    "extra, message",
    [
        (dict(databases=["billing"]), r"databases: billing is not in PgBouncer's \[databases\] section \(it has appdb\)"),
        (dict(pause_timeout=0), r"pause_timeout must be more than 0 seconds, got 0"),
        (dict(pause_timeout=-5), r"pause_timeout must be more than 0 seconds, got -5"),
        (dict(port=0), r"port must be a TCP port between 1 and 65535, got 0"),
        (dict(command="stop"), r"value of command must be one of: pause, resume, reload, show, got: stop"),
        (dict(socket_dir="/nonexistent"), r"could not reach PgBouncer's admin console on /nonexistent port \d+ as \w+"),
        (dict(on_timeout="cancel"), r"value of on_timeout must be one of: resume, keep_pending, got: cancel"),
    ],
    ids=["unknown database", "zero timeout", "negative timeout", "port", "command", "no pooler there", "on_timeout"],
)
def test_bad_input_is_refused_before_anything_is_paused(bouncer, modules, extra, message):
    result = modules.run("pgbouncer_admin", dict(bouncer.args("pause"), **extra))
    assert_clean_failure(result, message)
    assert paused(modules, bouncer) == []
