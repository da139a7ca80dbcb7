"""A host added to the inventory becomes one more standby; the running members are not restarted or re-cloned.
remove.yml takes it out again: its server stopped for good, its slot dropped, the others no longer admitting or
counting it, none of them restarted."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import testinfra
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
MEMBERS = RUNNER.get_hosts("postgres")
PRIMARY = next(name for name in MEMBERS if RUNNER.get_variables(name).get("postgresql_role") == "primary")
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NEW = "node4"


def host_of(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


def psql(name, statement):
    result = host_of(name).run("runuser -u postgres -- psql -XAtq -c %s", statement)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def run_playbook(name, *arguments, succeed=True):
    """Run playbooks/<name>.yml with inventory sources (each after -i) and other arguments as they are given; with
    succeed=False it must fail. Returns what it printed."""
    command = [os.path.join(CHECKOUT, ".venv", "bin", "ansible-playbook")]
    extra = list(arguments)
    while extra and not extra[0].startswith("-"):
        command += ["-i", extra.pop(0)]
    command += extra
    command.append(os.path.join(CHECKOUT, "playbooks", "%s.yml" % name))
    environment = dict(os.environ, ANSIBLE_PIPELINING="True", ANSIBLE_COLLECTIONS_PATH=os.path.join(CHECKOUT, ".venv", "collections"))
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    assert (completed.returncode == 0) == succeed, (completed.stdout + completed.stderr)[-3000:]
    return completed.stdout + completed.stderr


def with_new_member(directory):
    """An extra inventory source that puts the spare host in group postgres."""
    extra = directory / "extra.yml"
    extra.write_text("postgres:\n  hosts:\n    %s: {}\n" % NEW)
    return str(extra)


@pytest.fixture(scope="module")
def new_member(tmp_path_factory):
    return with_new_member(tmp_path_factory.mktemp("inventory"))


def test_new_host_joins_as_standby_without_touching_the_others(new_member):
    started = {name: psql(name, "SELECT pg_postmaster_start_time()") for name in MEMBERS}
    identifiers = {name: psql(name, "SELECT system_identifier FROM pg_control_system()") for name in MEMBERS}
    run_playbook("site", INVENTORY, new_member)
    deadline = time.monotonic() + 60
    while psql(PRIMARY, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") != str(len(MEMBERS)):
        assert time.monotonic() < deadline, "not every standby streams after the new member joined"
        time.sleep(0.5)
    assert psql(PRIMARY, "SELECT active FROM pg_replication_slots WHERE slot_name = '%s'" % NEW) == "t"
    assert psql(NEW, "SELECT system_identifier FROM pg_control_system()") == identifiers[PRIMARY]
    psql(PRIMARY, "CREATE TABLE IF NOT EXISTS joined (id int); INSERT INTO joined VALUES (1)")
    deadline = time.monotonic() + 30
    while psql(NEW, "SELECT count(*) FROM joined") != "1":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # The running members were reloaded (pg_hba.conf now admits the new member), never restarted or re-cloned.
    assert {name: psql(name, "SELECT pg_postmaster_start_time()") for name in MEMBERS} == started
    assert {name: psql(name, "SELECT system_identifier FROM pg_control_system()") for name in MEMBERS} == identifiers


def guard_peers(name):
    config = json.loads(host_of(name).check_output("cat /etc/postgresql/15/main/pgops-guard.json"))
    return sorted(peer["name"] for peer in config["peers"])


def test_remove_takes_the_member_out_without_restarting_the_others(new_member):
    address = host_of(NEW).check_output("hostname -I").split()[0]
    started = {name: psql(name, "SELECT pg_postmaster_start_time()") for name in MEMBERS}
    assert all(NEW in guard_peers(name) for name in MEMBERS)

    output = run_playbook("remove", INVENTORY, new_member, "-e", "remove_member=%s" % PRIMARY, succeed=False)
    assert "Removal of %s refused, nothing was changed: %s runs as primary: switch over" % (PRIMARY, PRIMARY) in output, output[-3000:]

    output = run_playbook("remove", INVENTORY, new_member, "-e", "remove_member=%s" % NEW, "--check")
    assert "2. drop slot %s on the primary %s" % (NEW, PRIMARY) in output, output[-3000:]
    assert psql(PRIMARY, "SELECT active FROM pg_replication_slots WHERE slot_name = '%s'" % NEW) == "t"

    run_playbook("remove", INVENTORY, new_member, "-e", "remove_member=%s" % NEW)
    assert psql(PRIMARY, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'" % NEW) == "0"
    node = host_of(NEW)
    assert node.run("systemctl is-active postgresql@15-main").stdout.strip() != "active"
    assert node.run("systemctl is-enabled postgresql@15-main").stdout.strip() == "disabled"
    assert node.file("/etc/postgresql/15/main/start.conf").content_string == "manual\n"
    assert node.file("/var/lib/postgresql/15/main/standby.signal").exists and node.file("/var/lib/postgresql/15/main/PG_VERSION").exists
    assert not node.file("/etc/systemd/system/postgresql@15-main.service.d/pgops-start-guard.conf").exists
    for name in MEMBERS:
        rules = psql(name, "SELECT coalesce(string_agg(address, ' '), '') FROM pg_hba_file_rules WHERE address IS NOT NULL")
        assert address not in rules.split(), (name, rules)
        assert NEW not in guard_peers(name), name
    assert {name: psql(name, "SELECT pg_postmaster_start_time()") for name in MEMBERS} == started
    # Without it in the inventory the cluster is healthy: no slot left behind, nothing to warn about.
    output = run_playbook("status", INVENTORY)
    assert "WARNING" not in output and "CRITICAL" not in output, output[-3000:]


def test_a_new_host_that_runs_a_cluster_of_its_own_is_refused_without_calling_it_split_brain(tmp_path):
    """PostgreSQL installed on a host before it joins runs a primary of another cluster: site.yml must say so, and
    what to do, rather than report split brain; and it changes nothing."""
    data_dir = "/var/lib/postgresql/15/main"
    node = host_of(NEW)
    assert node.run("systemctl stop postgresql@15-main && mv %s %s.test-aside" % (data_dir, data_dir)).rc == 0
    try:
        assert node.run("runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D %s" % data_dir).rc == 0
        # Started outside systemd, as by hand, so that the start guard the join installed does not make it a standby.
        started = node.run("runuser -u postgres -- pg_ctlcluster --skip-systemctl-redirect 15 main start")
        assert started.rc == 0, started.stderr
        foreign = psql(NEW, "SELECT system_identifier FROM pg_control_system()")
        assert psql(NEW, "SELECT pg_is_in_recovery()") == "f"
        before = psql(PRIMARY, "SELECT pg_postmaster_start_time(), pg_conf_load_time()")
        output = run_playbook("site", INVENTORY, with_new_member(tmp_path), succeed=False)
        assert "run as primary of different clusters" in output and "Split brain" not in output, output[-3000:]
        assert foreign in output and "-e standby_rebuild=true" in output, output[-3000:]
        assert psql(NEW, "SELECT system_identifier FROM pg_control_system()") == foreign
        assert psql(PRIMARY, "SELECT pg_postmaster_start_time(), pg_conf_load_time()") == before
    finally:
        node.run("runuser -u postgres -- pg_ctlcluster --skip-systemctl-redirect 15 main stop")
        node.run("rm -rf %s && mv %s.test-aside %s" % (data_dir, data_dir, data_dir))
