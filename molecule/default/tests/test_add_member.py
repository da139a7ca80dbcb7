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


def run_playbook(name, *inventories):
    command = [os.path.join(CHECKOUT, ".venv", "bin", "ansible-playbook")]
    for inventory in inventories:
        command += ["-i", inventory]
    command.append(os.path.join(CHECKOUT, "playbooks", "%s.yml" % name))
    environment = dict(os.environ, ANSIBLE_PIPELINING="True", ANSIBLE_COLLECTIONS_PATH=os.path.join(CHECKOUT, ".venv", "collections"))
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    return completed.stdout


def test_new_host_joins_as_standby_without_touching_the_others(tmp_path):
    started = {name: psql(name, "SELECT pg_postmaster_start_time()") for name in MEMBERS}
    identifiers = {name: psql(name, "SELECT system_identifier FROM pg_control_system()") for name in MEMBERS}
    extra = tmp_path / "extra.yml"
    extra.write_text("postgres:\n  hosts:\n    %s: {}\n" % NEW)
    try:
        run_playbook("site", INVENTORY, str(extra))
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
