"""The standby role's clone step, run for real by ansible-playbook on localhost against a loopback primary: the clone
runs in the background, pg_clone prints its progress from the controller, and the copy is the primary's cluster.
Then the same step on a host that holds the copy already (foreground, nothing printed), a clone stopped by its
timeout (the failure message, and a data directory left as it was), and pg_basebackup's count of what a clone has
written, which pg_clone's lines show."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from pglab import ANSIBLE, AS_ROOT, BIN_DIR, MODULE_PYTHON, SERVER_USER, ansible_environment, chown_to_server_user, free_port

MIB = 1024 * 1024
PROGRESS = re.compile(r"^\[standby\] clone from primary: (\d+)% \((\d+) MiB of about (\d+) MiB\)(?: at ([0-9.]+) MiB/s)?$", re.MULTILINE)
DONE = re.compile(r"^\[standby\] clone from primary: done, (\d+) MiB in ([0-9.]+) s$", re.MULTILINE)


def controldata(data_dir: str) -> dict:
    completed = subprocess.run(
        [os.path.join(BIN_DIR, "pg_controldata"), data_dir], capture_output=True, text=True, check=True, env=dict(os.environ, LC_ALL="C")
    )
    return dict(line.split(":", 1) for line in completed.stdout.splitlines() if ":" in line)


def system_identifier(data_dir: str) -> str:
    return controldata(data_dir)["Database system identifier"].strip()


def run_step(workdir: str, primary, data_dir: str, **variables) -> tuple[int, str, dict]:
    """Gather the facts of both hosts, then run the standby role's clone entry point for the host `standby`; returns
    ansible-playbook's exit status, its output and what the step registered."""
    registered = os.path.join(workdir, "standby_clone.json")
    if os.path.exists(registered):
        os.remove(registered)
    become = dict(become=True, become_method="ansible.builtin.su", become_user=SERVER_USER) if AS_ROOT else {}
    plays = [
        {
            "name": "Facts of both hosts, as playbooks gather them",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                {
                    "pgops.replication.pg_replication_facts": {
                        "login_unix_socket": "{{ facts_socket }}",
                        "login_port": "{{ facts_port }}",
                        "data_dir": "{{ facts_data_dir }}",
                    },
                    **become,
                }
            ],
        },
        {
            "name": "The clone step",
            "hosts": "standby",
            "gather_facts": False,
            # The role writes the passfile to the postgres user's home: keep it in the lab.
            "module_defaults": {"pgops.replication.pg_clone": {"passfile": os.path.join(workdir, "pgpass")}},
            "tasks": [
                {"ansible.builtin.include_role": {"name": "pgops.replication.standby", "tasks_from": "clone"}, "vars": variables},
            ],
        },
        {
            "name": "Hand what the step registered to the test",
            "hosts": "standby",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.copy": {"content": "{{ standby_clone | to_json }}", "dest": registered, "mode": "0644"},
                    "delegate_to": "localhost",
                }
            ],
        },
    ]
    playbook = os.path.join(workdir, "clone.json")
    with open(playbook, "w") as handle:
        json.dump(plays, handle)
    login_socket = os.path.dirname(data_dir)
    inventory = {
        "all": {
            # No sudo here: the role's become to postgres goes through su when the tests run as root.
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": MODULE_PYTHON,
                "ansible_become_method": "ansible.builtin.su",
            },
            "hosts": {
                "primary": {
                    "postgresql_connect_host": "127.0.0.1",
                    "postgresql_port": primary.port,
                    "facts_socket": primary.home,
                    "facts_port": primary.port,
                    "facts_data_dir": primary.data_dir,
                },
                "standby": {
                    "postgresql_data_dir": data_dir,
                    "postgresql_bin_dir": BIN_DIR,
                    "postgresql_member_name": "standby1",
                    "postgresql_replication_password": primary.replication_password,
                    "standby_primary": "primary",
                    # Nothing listens there: the facts of a host whose server does not run, from its data directory.
                    "facts_socket": login_socket,
                    "facts_port": free_port(),
                    "facts_data_dir": data_dir,
                },
            },
        }
    }
    with open(os.path.join(workdir, "inventory.json"), "w") as handle:
        json.dump(inventory, handle)
    # Pipelining as ansible.cfg turns it on: one process per look at the job instead of a copied module each time.
    environment = ansible_environment(
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_PIPELINING="True",
    )
    completed = subprocess.run(
        [ANSIBLE + "-playbook", "-i", "inventory.json", playbook], capture_output=True, text=True, env=environment, cwd=workdir, check=False
    )
    output = completed.stdout + completed.stderr
    result = {}
    if os.path.exists(registered):
        with open(registered) as handle:
            result = json.load(handle)
    return completed.returncode, output, result


@pytest.fixture
def workdir(lab):
    directory = os.path.join(lab.base, "controller")
    os.makedirs(directory)
    chown_to_server_user(directory)
    return directory


def test_clone_prints_its_progress_then_a_second_run_copies_nothing(lab, workdir):
    primary = lab.primary()
    # About 40 MiB to copy at 5 MiB/s: several seconds, so that progress lines come while it runs.
    primary.query("CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 80000) AS g")
    primary.query("CHECKPOINT")
    databases_size = primary.value("SELECT sum(pg_database_size(oid))::bigint FROM pg_database")
    standby_home = os.path.join(lab.base, "standby")
    os.makedirs(standby_home)
    chown_to_server_user(standby_home)
    data_dir = os.path.join(standby_home, "data")

    status, output, result = run_step(workdir, primary, data_dir, standby_clone_max_rate="5M", standby_clone_progress_interval=1)

    assert status == 0, output[-4000:]
    lines = PROGRESS.findall(output)
    assert len(lines) >= 2, output[-4000:]
    written = [int(line[1]) for line in lines]
    assert written == sorted(written) and written[-1] > written[0], lines
    # The total is the primary's databases plus one WAL segment, as the facts gathered before the clone give it.
    assert {int(line[2]) for line in lines} == {round((databases_size + 16 * MIB) / MIB)}, (lines, databases_size)
    assert all(0 <= int(line[0]) <= 99 for line in lines)
    # The first line has nothing to compare with; the later ones give the rate since the one before.
    assert lines[0][3] == "" and all(line[3] for line in lines[1:]), lines
    done = DONE.findall(output)
    assert len(done) == 1, output[-4000:]

    # What the step registered is pg_basebackup's own result, as if it had run in the foreground.
    assert result["action"] == "cloned" and result["changed"] is True and "kept_aside" not in result, result
    assert "ansible_job_id" not in result and "finished" not in result
    assert int(done[0][0]) == round(result["size_bytes"] / MIB) and float(done[0][1]) == round(result["duration_seconds"], 1)
    # Real state: a copy of the primary's cluster, made a standby, and nothing left of the staging directory.
    assert system_identifier(data_dir) == str(primary.value("SELECT system_identifier FROM pg_control_system()"))
    assert result["system_identifier"] == system_identifier(data_dir)
    assert os.path.exists(os.path.join(data_dir, "standby.signal"))
    assert sorted(os.listdir(standby_home)) == ["data"]
    assert primary.value("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'standby1'") == 1

    status, output, again = run_step(workdir, primary, data_dir, standby_clone_progress_interval=1)

    assert status == 0, output[-4000:]
    # The facts say it holds a copy of the primary's cluster: no module run at all.
    assert again.get("skipped") is True and again["changed"] is False, again
    assert "clone from primary" not in output, output[-4000:]
    assert system_identifier(data_dir) == result["system_identifier"]
    assert sorted(os.listdir(standby_home)) == ["data"]


def test_a_clone_past_its_timeout_is_stopped_and_leaves_the_data_directory_alone(lab, workdir):
    primary = lab.primary()
    standby_home = os.path.join(lab.base, "standby")
    os.makedirs(standby_home)
    chown_to_server_user(standby_home)
    data_dir = os.path.join(standby_home, "data")

    # At 32 kB/s the 20-odd MiB of an empty cluster take minutes: the 2-second timeout stops it.
    status, output, _result = run_step(
        workdir, primary, data_dir, standby_clone_max_rate="32k", standby_clone_timeout=2, standby_clone_progress_interval=1
    )

    assert status == 2, output[-4000:]
    expected = (
        "The clone of standby from primary failed: Timeout exceeded (it ran longer than its timeout, 2 s, and was stopped)."
        " pg_basebackup copies into a directory of its own and moves the copy into place only once it is complete, so %s"
        " holds what it held before; the next run clones again." % data_dir
    )
    assert expected in " ".join(output.split()), output[-4000:]
    assert not os.path.exists(data_dir)


def test_report_progress_counts_the_staging_directory_and_connects_to_nothing(lab, modules):
    home = os.path.join(lab.base, "standby")
    os.makedirs(home)
    chown_to_server_user(home)
    data_dir = os.path.join(home, "data")
    # Nothing listens on the port: a module that tried to connect would fail.
    args = dict(
        data_dir=data_dir,
        primary_host="127.0.0.1",
        primary_port=free_port(),
        replication_password="repl pass",
        passfile=os.path.join(home, "pgpass"),
        bin_dir=BIN_DIR,
        report_progress=True,
    )

    before = modules.run("pg_basebackup", args)
    assert before["failed"] is False and before["changed"] is False and before["written_bytes"] == 0, before

    staging = os.path.join(home, ".data.pgops-clone")
    os.makedirs(os.path.join(staging, "base", "1"))
    with open(os.path.join(staging, "base", "1", "1259"), "wb") as relation:
        relation.write(b"\0" * 3 * MIB)
    with open(os.path.join(staging, "PG_VERSION"), "w") as version:
        version.write("15\n")
    for path in (staging, os.path.join(staging, "base"), os.path.join(staging, "base", "1")):
        chown_to_server_user(path)

    during = modules.run("pg_basebackup", args)
    assert during["written_bytes"] == 3 * MIB + 3, during
    assert isinstance(during["measured_at"], float) and "action" not in during
    # Counting changed nothing: no data directory, the staging directory as it was, no passfile written.
    assert sorted(os.listdir(home)) == [".data.pgops-clone"] and os.path.exists(os.path.join(staging, "PG_VERSION"))
