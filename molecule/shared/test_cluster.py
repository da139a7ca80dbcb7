"""What a user expects of a freshly provisioned cluster, checked on the hosts themselves (testinfra)."""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
HOSTS = RUNNER.get_hosts("postgres")
PRIMARY = next(name for name in HOSTS if RUNNER.get_variables(name).get("postgresql_role") == "primary")
STANDBYS = [name for name in HOSTS if name != PRIMARY]
PASSWORD = RUNNER.get_variables(PRIMARY)["postgresql_replication_password"]
# Every secret the inventory holds: the replication password and the application users' passwords.
SECRETS = [PASSWORD] + [user["password"] for user in RUNNER.get_variables(PRIMARY).get("postgresql_users", []) if "password" in user]
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

testinfra_hosts = ["ansible://%s?ansible_inventory=%s" % (name, INVENTORY) for name in HOSTS]


def host_of(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


def sql(name, statement, check=True):
    command = host_of(name).run("runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -c %s", statement)
    if check:
        assert command.rc == 0, command.stderr
    return command


def version(host):
    return host.ansible("setup", "filter=ansible_distribution_major_version")["ansible_facts"]["ansible_distribution_major_version"]


def service_name(host):
    return "postgresql@%s-main" % {"12": "15", "13": "17"}[version(host)]


def test_service_active_and_enabled(host):
    service = host.service(service_name(host))
    assert service.is_running and service.is_enabled


def test_primary_and_standbys_roles():
    assert sql(PRIMARY, "SELECT pg_is_in_recovery()").stdout.strip() == "f"
    for name in STANDBYS:
        assert sql(name, "SELECT pg_is_in_recovery()").stdout.strip() == "t"


def test_standbys_stream_through_active_slots():
    rows = sql(PRIMARY, "SELECT application_name, state FROM pg_stat_replication ORDER BY 1").stdout.split()
    expected = ["%s|streaming" % re.sub(r"[^a-z0-9_]", "_", name.lower()) for name in sorted(STANDBYS)]
    assert rows == expected
    slots = sql(PRIMARY, "SELECT slot_name, active FROM pg_replication_slots ORDER BY 1").stdout.split()
    assert slots == ["%s|t" % row.split("|")[0] for row in expected]


def test_row_written_on_primary_is_read_on_every_standby():
    marker = "row-%d" % time.time_ns()
    sql(PRIMARY, "CREATE TABLE IF NOT EXISTS molecule_check (marker text)")
    sql(PRIMARY, "INSERT INTO molecule_check VALUES ('%s')" % marker)
    for name in STANDBYS:
        deadline = time.monotonic() + 30
        while sql(name, "SELECT count(*) FROM molecule_check WHERE marker = '%s'" % marker, check=False).stdout.strip() != "1":
            assert time.monotonic() < deadline, "%s never received %s" % (name, marker)
            time.sleep(0.2)


@pytest.mark.parametrize("name", STANDBYS)
def test_write_on_standby_fails_read_only(name):
    result = sql(name, "CREATE TABLE must_fail (id int)", check=False)
    assert result.rc != 0 and "read-only transaction" in result.stderr


def test_pg_hba_has_no_open_rule(host):
    hba = host.file("/etc/postgresql/%s/main/pg_hba.conf" % {"12": "15", "13": "17"}[version(host)]).content_string
    assert "0.0.0.0/0" not in hba and "::/0" not in hba
    replication_rules = [line.split() for line in hba.splitlines() if line.startswith("host") and "replication" in line.split()]
    assert len(replication_rules) == len(HOSTS)
    assert all(rule[3].endswith("/32") or rule[3].endswith("/128") for rule in replication_rules)


def test_replication_user_is_not_superuser():
    assert sql(PRIMARY, "SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = 'replicator'").stdout.strip() == "f|t"


@pytest.mark.parametrize("name", STANDBYS)
def test_passfile_is_private(name):
    passfile = host_of(name).file("/var/lib/postgresql/.pgpass")
    assert passfile.mode == 0o600 and passfile.user == "postgres"


def test_password_not_in_process_list_or_config(host):
    assert PASSWORD not in host.check_output("ps -eo args")
    found = host.run("grep -rlF -- %s /etc/postgresql /var/lib/postgresql --exclude=.pgpass", PASSWORD)
    assert found.stdout.strip() == ""


def test_verbose_rerun_is_idempotent_and_never_shows_the_password():
    environment = dict(
        os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="True", ANSIBLE_COLLECTIONS_PATH=os.path.join(CHECKOUT, ".venv", "collections")
    )
    completed = subprocess.run(
        [
            os.path.join(CHECKOUT, ".venv", "bin", "ansible-playbook"),
            "-vvv",
            "-i",
            INVENTORY,
            os.path.join(CHECKOUT, "playbooks", "site.yml"),
        ],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert not [secret for secret in SECRETS if secret in output]
    assert re.findall(r"changed=(\d+)", output) and set(re.findall(r"changed=(\d+)", output)) == {"0"}
