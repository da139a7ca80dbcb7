"""Test lab: PostgreSQL servers on loopback, started with the distribution's server binaries, and a way to run
this collection's modules as a task's host runs them (the host's /usr/bin/python3 and its psycopg, the arguments
Ansible hands a module, as the PostgreSQL OS user when the tests run as root), without an `ansible` process for each."""

from __future__ import annotations

import difflib
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time

import psycopg
import pytest

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_PATH = os.path.join(CHECKOUT, ".venv", "collections")
# The ansible-core the modules run under: this checkout's venv, or another one's bin directory (make compat runs the
# module tests again with the oldest ansible-core meta/runtime.yml admits).
ANSIBLE = os.path.join(os.environ.get("PGOPS_ANSIBLE_BIN_DIR") or os.path.join(CHECKOUT, ".venv", "bin"), "ansible")
MODULE_PYTHON = os.environ.get("PGOPS_MODULE_PYTHON", "/usr/bin/python3")
AS_ROOT = os.geteuid() == 0
SERVER_USER = "postgres" if AS_ROOT else pwd.getpwuid(os.geteuid()).pw_name
SUPERUSER_PASSWORD = "super 'secret' \\pw"


def server_bin_dir() -> str:
    configured = os.environ.get("PGOPS_PG_BINDIR")
    if configured:
        return configured
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    if not found:
        pytest.fail("no PostgreSQL server binaries under /usr/lib/postgresql: install postgresql (bash .ci/run does)")
    return os.path.dirname(found[-1])


BIN_DIR = server_bin_dir()


def as_server_user(command: list) -> list:
    return ["runuser", "-u", SERVER_USER, "--"] + command if AS_ROOT else command


def run_as_server_user(command: list, check: bool = True) -> subprocess.CompletedProcess:
    completed = subprocess.run(as_server_user(command), capture_output=True, text=True, check=False)
    if check and completed.returncode != 0:
        raise RuntimeError("%s failed: %s%s" % (command, completed.stdout, completed.stderr))
    return completed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def chown_to_server_user(path: str) -> None:
    if AS_ROOT:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


class Instance:
    """One PostgreSQL server: its own data directory, Unix socket directory and TCP port on 127.0.0.1."""

    def __init__(self, base: str, name: str):
        self.name = name
        self.home = os.path.join(base, name)
        os.makedirs(self.home)
        os.chmod(self.home, 0o755)
        chown_to_server_user(self.home)
        self.data_dir = os.path.join(self.home, "data")
        self.port = free_port()
        self.log = os.path.join(self.home, "server.log")
        self.extra_options: list = []

    def initdb(self, checksums: bool = True, wal_log_hints: bool = False) -> Instance:
        command = [
            os.path.join(BIN_DIR, "initdb"),
            "-D",
            self.data_dir,
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
            "--no-instructions",
        ]
        if checksums:
            command.append("--data-checksums")
        run_as_server_user(command)
        self.append_config(
            "listen_addresses = '127.0.0.1'",
            "wal_level = replica",
            "max_wal_senders = 10",
            "max_replication_slots = 10",
            "hot_standby = on",
            "wal_keep_size = '256MB'",
            "fsync = off",
            "wal_log_hints = %s" % ("on" if wal_log_hints else "off"),
        )
        return self

    def append_config(self, *lines: str, path: str | None = None) -> None:
        with open(path or os.path.join(self.data_dir, "postgresql.conf"), "a") as config:
            config.write("\n".join(lines) + "\n")

    def start(self) -> Instance:
        options = "-p %d -k %s %s" % (self.port, self.home, " ".join(self.extra_options))
        run_as_server_user([os.path.join(BIN_DIR, "pg_ctl"), "-D", self.data_dir, "-l", self.log, "-o", options, "-w", "-t", "60", "start"])
        return self

    def stop(self, mode: str = "fast") -> None:
        run_as_server_user([os.path.join(BIN_DIR, "pg_ctl"), "-D", self.data_dir, "-m", mode, "-w", "stop"], check=False)

    def kill(self) -> None:
        """Simulate a crash: SIGKILL the postmaster, leaving the cluster 'in production'."""
        with open(os.path.join(self.data_dir, "postmaster.pid")) as pid_file:
            pid = int(pid_file.readline())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        # Children notice the dead postmaster and exit on their own; wait for the socket to be free.
        time.sleep(0.5)

    def running(self) -> bool:
        return run_as_server_user([os.path.join(BIN_DIR, "pg_ctl"), "-D", self.data_dir, "status"], check=False).returncode == 0

    def connect(self, **overrides):
        kwargs = dict(host=self.home, port=self.port, user="postgres", dbname="postgres", autocommit=True)
        kwargs.update(overrides)
        return psycopg.connect(**kwargs)

    def query(self, statement: str, params=None) -> list:
        with self.connect() as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def value(self, statement: str, params=None):
        return self.query(statement, params)[0][0]

    def wait_for(self, statement: str, expected, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                # No row yet (a standby not connected so far) is a value to wait past, not a failure.
                rows = self.query(statement)
                last = rows[0][0] if rows else None
                if last == expected:
                    return last
            except psycopg.Error as error:
                last = error
            time.sleep(0.1)
        raise AssertionError("%s: %r never became %r (last: %r)" % (self.name, statement, expected, last))

    def upstream(self, **extra) -> dict:
        """Module options that make another server follow this one."""
        options = dict(primary_host="127.0.0.1", primary_port=self.port)
        options.update(extra)
        return options

    def login(self, **extra) -> dict:
        options = dict(login_unix_socket=self.home, login_port=self.port)
        options.update(extra)
        return options


class Lab:
    """Creates servers for one test and removes them afterwards."""

    def __init__(self, base: str):
        self.base = base
        self.instances: list = []

    def instance(self, name: str) -> Instance:
        instance = Instance(self.base, name)
        self.instances.append(instance)
        return instance

    def primary(
        self, name: str = "primary", checksums: bool = True, wal_log_hints: bool = False, replication_password: str = "repl pass"
    ) -> Instance:
        instance = self.instance(name).initdb(checksums=checksums, wal_log_hints=wal_log_hints).start()
        instance.query("SET password_encryption = 'scram-sha-256'")
        with instance.connect() as connection:
            connection.execute(psycopg.sql.SQL("ALTER ROLE postgres PASSWORD {}").format(psycopg.sql.Literal(SUPERUSER_PASSWORD)))
            connection.execute(
                psycopg.sql.SQL("CREATE ROLE replicator LOGIN REPLICATION PASSWORD {}").format(psycopg.sql.Literal(replication_password))
            )
        instance.replication_password = replication_password
        return instance

    def clone(self, primary: Instance, name: str, modules, **options) -> Instance:
        standby = self.instance(name)
        args = primary.upstream(
            data_dir=standby.data_dir,
            replication_password=primary.replication_password,
            passfile=os.path.join(standby.home, "pgpass"),
            application_name=name,
            bin_dir=BIN_DIR,
        )
        args.update(options)
        result = modules.run("pg_basebackup", args)
        assert result.get("failed") is not True, result
        standby.clone_result = result
        return standby.start()

    def close(self) -> None:
        for instance in self.instances:
            if os.path.exists(os.path.join(instance.data_dir, "postmaster.pid")):
                instance.stop("immediate")


def module_import_path(base: str) -> str:
    """A directory with the `ansible` package of ANSIBLE's ansible-core alone in it, for the modules' imports: the host's
    python must not see the rest of that venv (its psycopg is built for another python)."""
    python = os.path.join(os.path.dirname(ANSIBLE), "python")
    package = subprocess.run(
        [python, "-c", "import ansible, os; print(os.path.dirname(ansible.__file__))"], capture_output=True, text=True, check=True
    ).stdout.strip()
    directory = os.path.join(base, "module-imports")
    os.makedirs(directory, exist_ok=True)
    link = os.path.join(directory, "ansible")
    if not os.path.islink(link):
        os.symlink(package, link)
    return directory


def rendered_diff(diffs) -> str:
    """A module's diff as Ansible's default callback prints it: a header per file, then the changed lines."""
    lines = []
    for diff in diffs if isinstance(diffs, list) else [diffs]:
        before, after = diff.get("before", ""), diff.get("after", "")
        lines += difflib.unified_diff(
            before.splitlines(keepends=True) if isinstance(before, str) else [json.dumps(before)],
            after.splitlines(keepends=True) if isinstance(after, str) else [json.dumps(after)],
            "before: %s" % diff.get("before_header", ""),
            "after: %s" % diff.get("after_header", ""),
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class ModuleRunner:
    """Runs pgops.replication modules on localhost as a task's host runs them: the host's python, the arguments Ansible
    hands a module (check mode, diff), as the PostgreSQL OS user; the result as Ansible reads it from the module's
    output. One python process per call, where an `ansible` run costs about six times its CPU (docs/BENCHMARKS.md). The
    molecule scenarios run the modules through Ansible itself."""

    def __init__(self, base: str):
        self.tree = os.path.join(base, "ansible-results")
        self.work = os.path.join(base, "module-runs")
        os.makedirs(self.work, exist_ok=True)
        chown_to_server_user(self.work)
        os.chmod(self.work, 0o700)
        self.import_path = module_import_path(base)
        self.calls: list = []

    def run(self, module: str, args: dict, check: bool = False, diff: bool = False) -> dict:
        arguments = dict(
            args,
            _ansible_check_mode=check,
            _ansible_diff=diff,
            _ansible_module_name="pgops.replication." + module,
            _ansible_no_log=False,
            _ansible_debug=False,
            _ansible_verbosity=0,
            _ansible_keep_remote_files=False,
            _ansible_tmpdir=self.work,
        )
        path = os.path.join(self.work, "args.json")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": arguments}, handle)
        chown_to_server_user(path)
        command = as_server_user([MODULE_PYTHON, "-m", "ansible_collections.pgops.replication.plugins.modules." + module, path])
        home = pwd.getpwnam(SERVER_USER).pw_dir
        environment = dict(os.environ, PYTHONPATH=self.import_path + os.pathsep + COLLECTIONS_PATH, HOME=home, LC_ALL="C.UTF-8")
        completed = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=self.work, check=False)
        result = None
        for line in reversed(completed.stdout.splitlines()):
            if line.startswith("{"):
                try:
                    result = json.loads(line)
                except ValueError:
                    result = None
                break
        if result is None:
            # What Ansible reports for a module that printed no result (a crash).
            result = dict(
                failed=True, msg="MODULE FAILURE", module_stdout=completed.stdout, module_stderr=completed.stderr, rc=completed.returncode
            )
        output = completed.stdout + completed.stderr
        if "diff" in result:
            # Ansible prints the diff and leaves it out of the result it stores.
            output += rendered_diff(result.pop("diff"))
        output += "".join("[WARNING]: %s\n" % warning for warning in result.get("warnings", []))
        result["_output"] = output
        result.setdefault("failed", completed.returncode != 0)
        # Ansible's task result always says whether it changed something.
        result.setdefault("changed", False)
        self.calls.append((module, result))
        return result

    def run_with_ansible(self, module: str, args: dict, check: bool = False, diff: bool = False) -> dict:
        """The same call through `ansible` itself (AnsiballZ, become with su, the tree callback)."""
        shutil.rmtree(self.tree, ignore_errors=True)
        command = [
            ANSIBLE,
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-m",
            "pgops.replication." + module,
            "-a",
            json.dumps(args),
            "--tree",
            self.tree,
            "-e",
            "ansible_python_interpreter=" + MODULE_PYTHON,
        ]
        if AS_ROOT:
            command += ["--become", "--become-method", "ansible.builtin.su", "--become-user", SERVER_USER]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        environment = dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH,
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_PIPELINING="True",
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            ANSIBLE_DEPRECATION_WARNINGS="false",
        )
        environment.pop("ANSIBLE_CONFIG", None)
        completed = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=os.path.dirname(self.tree), check=False)
        path = os.path.join(self.tree, "localhost")
        if not os.path.exists(path):
            raise AssertionError("ansible produced no result (rc %d): %s %s" % (completed.returncode, completed.stdout, completed.stderr))
        with open(path) as result_file:
            result = json.load(result_file)
        result["_output"] = completed.stdout + completed.stderr
        # The tree callback leaves out `failed`; ansible's exit status (2 for a failed task) says it.
        result.setdefault("failed", completed.returncode != 0)
        # Ansible's task result always says whether it changed something.
        result.setdefault("changed", False)
        self.calls.append((module, result))
        return result


def follow_args(standby: Instance, upstream: Instance, **extra) -> dict:
    """pg_follow's options that make `standby` stream from `upstream`."""
    args = upstream.upstream(
        data_dir=standby.data_dir,
        replication_password="repl pass",
        passfile=os.path.join(standby.home, "pgpass"),
        application_name=standby.name,
        login_port=standby.port,
        login_unix_socket=standby.home,
    )
    args.update(extra)
    return args


def assert_clean_failure(result: dict, pattern: str) -> None:
    """The module failed through fail_json with a message matching `pattern`, not with a traceback."""
    assert result.get("failed") is True, result
    # ansible-core 2.21 reports a fail_json without traceback as exception="(traceback unavailable)".
    assert result.get("exception", "(traceback unavailable)") == "(traceback unavailable)" and "module_stderr" not in result, result
    assert "Traceback" not in result["_output"], result["_output"]
    assert re.search(pattern, result["msg"]), "message %r does not match %r" % (result["msg"], pattern)


def run_module_batch(calls: list, workdir: str) -> list:
    """Run many module calls (module, args), each as a task's host runs it (ModuleRunner, one python process per call);
    a module with an action plugin (which runs on the controller) runs in one ansible-playbook batch with the others of
    its kind. Returns each call's result as Ansible reports it, in order; `workdir` holds the runs' files."""
    os.makedirs(workdir, exist_ok=True)
    chown_to_server_user(workdir)
    by_ansible = [
        index for index, (module, _args) in enumerate(calls) if os.path.exists(os.path.join(CHECKOUT, "plugins", "action", module + ".py"))
    ]
    results: list = [None] * len(calls)
    if by_ansible:
        for index, result in zip(by_ansible, run_playbook_batch([calls[index] for index in by_ansible], workdir)):
            results[index] = result
    runner = ModuleRunner(workdir)
    for index, (module, args) in enumerate(calls):
        if results[index] is None:
            results[index] = runner.run(module, args)
    return results


def run_playbook_batch(calls: list, workdir: str) -> list:
    """Run many module calls (module, args) in one ansible-playbook run, each as its own task that may fail; returns
    each call's result as the json callback reports it, in order."""
    tasks = [
        {"name": "call %d" % index, "pgops.replication." + module: args, "ignore_errors": True}
        for index, (module, args) in enumerate(calls)
    ]
    play = {"hosts": "localhost", "gather_facts": False, "tasks": tasks}
    if AS_ROOT:
        play.update(become=True, become_method="ansible.builtin.su", become_user=SERVER_USER)
    path = os.path.join(workdir, "batch.yml")
    with open(path, "w") as playbook:
        json.dump([play], playbook)
    command = [ANSIBLE + "-playbook", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + MODULE_PYTHON, path]
    environment = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH,
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_PIPELINING="True",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_DEPRECATION_WARNINGS="false",
    )
    environment.pop("ANSIBLE_CONFIG", None)
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=workdir, check=False)
    try:
        report = json.loads(completed.stdout)
    except ValueError as error:
        raise AssertionError(
            "ansible-playbook gave no JSON report (%s): %s %s" % (error, completed.stdout[-2000:], completed.stderr[-2000:])
        ) from error
    results = [task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]]
    assert len(results) == len(calls), completed.stderr[-2000:]
    for result in results:
        result["_output"] = json.dumps(result)
    return results


def ansible_environment(**settings: str) -> dict:
    """What ansible-playbook runs with in the bad-input batches: this checkout as the collection, the json callback,
    no ansible.cfg from the caller's directory; `settings` adds or overrides ANSIBLE_* variables."""
    environment = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH,
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_DEPRECATION_WARNINGS="false",
    )
    environment.pop("ANSIBLE_CONFIG", None)
    environment.update(settings)
    return environment


def check_generated_section(document: str, start_marker: str, end_marker: str, generated: str, test_file: str) -> None:
    """Fail when the generated part of `document` (markers included) differs from `generated`;
    with PGOPS_WRITE_DOCS=1, rewrite it first."""
    with open(document) as handle:
        text = handle.read()
    if os.environ.get("PGOPS_WRITE_DOCS") == "1":
        start, end = text.index(start_marker), text.index(end_marker) + len(end_marker)
        text = text[:start] + generated + text[end:]
        with open(document, "w") as handle:
            handle.write(text)
    assert generated in text, "%s is out of date: run PGOPS_WRITE_DOCS=1 .venv/bin/pytest %s" % (
        os.path.relpath(document, CHECKOUT),
        test_file,
    )
