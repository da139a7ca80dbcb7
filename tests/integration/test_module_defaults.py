"""module_defaults set the login options once for a play, through the action groups of meta/runtime.yml: with the
aliases other PostgreSQL modules use (group `all`), and with the login_* names next to a module that takes none of
them (group `login`). Real ansible-playbook runs against a loopback server; the server is asked what happened."""

import json
import os
import subprocess

from pglab import ANSIBLE, AS_ROOT, BIN_DIR, MODULE_PYTHON, SERVER_USER, SUPERUSER_PASSWORD, ansible_environment


def run_play(workdir: str, name: str, play: dict) -> list:
    """Run one play on localhost; the result of each task, in order, as the json callback reports it."""
    play = dict(play, hosts="localhost", gather_facts=False)
    if AS_ROOT:
        play.update(become=True, become_method="ansible.builtin.su", become_user=SERVER_USER)
    path = os.path.join(workdir, name + ".json")
    with open(path, "w") as playbook:
        json.dump([play], playbook)
    completed = subprocess.run(
        [ANSIBLE + "-playbook", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + MODULE_PYTHON, path],
        capture_output=True,
        text=True,
        env=ansible_environment(ANSIBLE_PIPELINING="True", ANSIBLE_INVENTORY_UNPARSED_WARNING="false"),
        cwd=workdir,
        check=False,
    )
    assert "'secret'" not in completed.stdout + completed.stderr, "the login password was shown"
    try:
        report = json.loads(completed.stdout)
    except ValueError as error:
        raise AssertionError("no JSON report (%s): %s %s" % (error, completed.stdout[-2000:], completed.stderr[-2000:])) from error
    results = [task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]]
    assert len(results) == len(play["tasks"]), completed.stdout[-3000:]
    return results


def slots(instance) -> dict:
    return dict(instance.query("SELECT slot_name, restart_lsn IS NOT NULL FROM pg_replication_slots"))


def test_group_defaults_with_the_aliases_reach_two_modules(lab):
    primary = lab.primary()
    # Over TCP with a password: had `host`, `port` or `db` not reached the modules, they would have tried the
    # default Unix socket on port 5432.
    defaults = dict(host="127.0.0.1", port=primary.port, login_user="postgres", login_password=SUPERUSER_PASSWORD, db="postgres")
    slot = {"pgops.replication.pg_replication_slot": dict(name="defaults_slot")}
    created, facts, again, other_db, missing_ca = run_play(
        primary.home,
        "aliases",
        {
            "module_defaults": {"group/pgops.replication.all": defaults},
            "tasks": [
                slot,
                {"pgops.replication.pg_replication_facts": {}},
                slot,
                # A task's own option replaces the default given under the same name.
                {"pgops.replication.pg_replication_slot": dict(name="other_slot", db="no_such_db"), "ignore_errors": True},
                {"pgops.replication.pg_replication_slot": dict(name="other_slot", ca_cert="/nonexistent/ca.crt"), "ignore_errors": True},
            ],
        },
    )

    assert created.get("failed") is not True and created["changed"] is True, created
    assert slots(primary) == {"defaults_slot": True}
    pg_replication = facts["ansible_facts"]["pg_replication"]
    assert pg_replication["role"] == "primary"
    assert pg_replication["system_identifier"] == str(primary.value("SELECT system_identifier FROM pg_control_system()"))
    assert [entry["slot_name"] for entry in pg_replication["slots"]] == ["defaults_slot"]
    assert again.get("failed") is not True and again["changed"] is False, again
    assert other_db["failed"] is True and 'database "no_such_db" does not exist' in other_db["msg"], other_db
    assert missing_ca["failed"] is True and missing_ca["msg"] == "ssl_rootcert /nonexistent/ca.crt does not exist or is not a file"
    assert slots(primary) == {"defaults_slot": True}


def test_group_login_leaves_other_modules_alone(lab):
    primary = lab.primary()
    primary.query("SELECT pg_create_physical_replication_slot('old_slot', true)")
    defaults = dict(login_unix_socket=primary.home, login_port=primary.port, login_user="postgres", login_db="postgres")
    stop, dropped = run_play(
        primary.home,
        "login",
        {
            "module_defaults": {"group/pgops.replication.login": defaults},
            "tasks": [
                # pg_shutdown takes no login_user or login_db: a default for it would fail the task.
                {
                    "pgops.replication.pg_shutdown": dict(
                        data_dir=primary.data_dir, bin_dir=BIN_DIR, login_port=primary.port, login_unix_socket=primary.home
                    ),
                    "check_mode": True,
                },
                {"pgops.replication.pg_replication_slot": dict(name="old_slot", state="absent")},
            ],
        },
    )

    assert stop.get("failed") is not True and stop["was_running"] is True, stop
    assert primary.running()
    assert dropped.get("failed") is not True and dropped["changed"] is True, dropped
    assert slots(primary) == {}
