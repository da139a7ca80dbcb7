"""A host added to the inventory becomes one more standby; the running members are not restarted or re-cloned.
When it leaves the inventory again, status.yml reports the slot it left on the primary until that slot is dropped."""

from __future__ import annotations

import os
import subprocess
import time

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


def run_playbook(name, *inventories, succeed=True):
    """Run playbooks/<name>.yml; with succeed=False it must fail. Returns what it printed."""
    command = [os.path.join(CHECKOUT, ".venv", "bin", "ansible-playbook")]
    for inventory in inventories:
        command += ["-i", inventory]
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


def test_new_host_joins_as_standby_without_touching_the_others(tmp_path):
    started = {name: psql(name, "SELECT pg_postmaster_start_time()") for name in MEMBERS}
    identifiers = {name: psql(name, "SELECT system_identifier FROM pg_control_system()") for name in MEMBERS}
    extra = with_new_member(tmp_path)
    try:
        run_playbook("site", INVENTORY, extra)
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
    finally:
        # The member leaves the inventory again; its slot stays on the primary for the next test.
        host_of(NEW).run("systemctl stop postgresql@15-main")
        run_playbook("site", INVENTORY)


def test_the_slot_a_removed_member_left_is_reported_until_it_is_dropped():
    warning = "slot %s on the primary belongs to no member and is inactive" % NEW
    assert psql(PRIMARY, "SELECT active FROM pg_replication_slots WHERE slot_name = '%s'" % NEW) == "f"
    output = run_playbook("status", INVENTORY)
    assert "WARNING %s: %s" % (PRIMARY, warning) in output, output[-3000:]
    assert "pg_drop_replication_slot('%s')" % NEW in output
    psql(PRIMARY, "SELECT pg_drop_replication_slot('%s')" % NEW)
    output = run_playbook("status", INVENTORY)
    assert warning not in output, output[-3000:]


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
