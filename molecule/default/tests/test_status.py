"""status.yml as a monitoring check reads it, through the pgops.replication.status stdout callback: plain lines, the
verdict first, and the exit status 0 healthy, 1 warnings only, 2 critical, 3 unknown; the report as JSON with
-e status_json=PATH; and without the callback, exit 2 on a critical problem. Each state is made for real on the
cluster (an unused slot on the primary, a standby's server stopped) and undone."""

from __future__ import annotations

import json
import os
import subprocess
import time

import testinfra
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
MEMBERS = sorted(RUNNER.get_hosts("postgres"))
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def host_of(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


def psql(name, statement):
    result = host_of(name).run("runuser -u postgres -- psql -XAtq -c %s", statement)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def primary():
    (found,) = [name for name in MEMBERS if psql(name, "SELECT pg_is_in_recovery()") == "f"]
    return found


def status(*extra, callback=True):
    """Run status.yml as a monitoring check would; returns (exit status, stdout lines)."""
    command = [
        os.path.join(CHECKOUT, ".venv", "bin", "ansible-playbook"),
        "-i",
        INVENTORY,
        os.path.join(CHECKOUT, "playbooks", "status.yml"),
    ]
    for variable in extra:
        command += ["-e", variable]
    environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(CHECKOUT, ".venv", "collections"))
    if callback:
        environment["ANSIBLE_STDOUT_CALLBACK"] = "pgops.replication.status"
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    return completed.returncode, completed.stdout.splitlines()


def service(name):
    return "postgresql@%s-main" % host_of(name).check_output("ls /etc/postgresql")


def test_a_healthy_cluster_exits_0_with_the_verdict_first_and_the_report_as_json(tmp_path):
    leader = primary()
    report_path = tmp_path / "status.json"
    code, lines = status("status_json=%s" % report_path)
    assert code == 0, lines
    assert lines[0] == "OK: %s is primary, 2 of 2 standbys streaming" % leader, lines
    header = lines[2]
    assert header.split() == ["host", "role", "tli", "lsn", "lag", "replay", "lag", "sync", "slot", "upstream"], lines
    assert sorted(line.split()[0] for line in lines[3:6]) == MEMBERS and not any(
        line.startswith(("[", '"', "TASK", "PLAY")) for line in lines
    )
    report = json.loads(report_path.read_text())
    assert report["state"] == "ok" and report["exit_code"] == 0 and report["primary"] == leader and report["problems"] == []
    assert report["lines"] == lines


def test_warnings_only_exit_1():
    leader = primary()
    psql(leader, "SELECT pg_create_physical_replication_slot('left_behind', true)")
    try:
        code, lines = status()
    finally:
        psql(leader, "SELECT pg_drop_replication_slot('left_behind')")
    assert code == 1, lines
    assert lines[0].startswith("WARNING: 1 warning; %s is primary, 2 of 2 standbys streaming; first: " % leader), lines
    assert lines[-1].startswith("WARNING %s: slot left_behind on the primary belongs to no member" % leader), lines


def test_a_stopped_standby_is_critical_with_and_without_the_callback():
    leader = primary()
    standby = next(name for name in MEMBERS if name != leader)
    host_of(standby).check_output("systemctl stop %s" % service(standby))
    try:
        code, lines = status()
        plain_code, _output = status(callback=False)
    finally:
        host_of(standby).check_output("systemctl start %s" % service(standby))
    assert code == 2 and plain_code == 2, lines
    assert lines[0].startswith("CRITICAL: 1 critical problem") and "1 of 2 standbys streaming" in lines[0], lines
    problems = [line for line in lines if line.startswith(("CRITICAL ", "WARNING "))]
    assert problems[0] == "CRITICAL %s: no server runs (stopped)" % standby, problems
    deadline = time.monotonic() + 60
    while status()[0] != 0:
        assert time.monotonic() < deadline, "the standby did not stream again"
        time.sleep(2)


def test_a_run_that_cannot_judge_the_cluster_is_unknown():
    code, lines = status("status_max_lag_bytes=-1")
    assert code == 3 and lines[-1].startswith("UNKNOWN: ") and "status_max_lag_bytes must be a whole number" in lines[-1], lines
    code, lines = status("postgresql_group=databases")
    assert code == 3 and "The inventory has no host in group 'databases'" in lines[-1], lines
