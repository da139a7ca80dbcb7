"""What a user expects of a freshly provisioned cluster, checked on the hosts themselves (testinfra)."""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest
import testinfra.utils.ansible_runner
import yaml

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
    """Debian's major release, from /etc/os-release: one command in the container, where Ansible's setup module would
    gather every fact (seconds of CPU) for each test that asks."""
    return host.system_info.release.split(".")[0]


def major(host):
    """The PostgreSQL major the postgresql role installs on this host's release (its one map)."""
    with open(os.path.join(CHECKOUT, "roles", "postgresql", "vars", "main.yml")) as variables:
        return yaml.safe_load(variables)["postgresql_debian_versions"][version(host)]


def service_name(host):
    return "postgresql@%s-main" % major(host)


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


def test_every_member_runs_the_same_wal_senders_and_slots_enough_for_every_standby_and_clones():
    variables = RUNNER.get_variables(PRIMARY)
    parallel = int(variables.get("postgresql_clone_parallel", 4))
    standbys = len(STANDBYS)
    # One sender per standby, one more per clone at once, 2 spare; one slot per standby, 2 spare; 10 unless raised.
    senders = max(int(variables.get("postgresql_max_wal_senders", 10)), standbys + min(parallel, standbys) + 2)
    slots = max(int(variables.get("postgresql_max_replication_slots", 10)), standbys + 2)
    running = {
        name: sql(name, "SELECT current_setting('max_wal_senders'), current_setting('max_replication_slots')").stdout.strip()
        for name in HOSTS
    }
    # A standby needs at least its primary's values to replay its WAL, and any member may become the primary.
    assert len(set(running.values())) == 1, running
    sent, kept = (int(value) for value in running[PRIMARY].split("|"))
    assert sent >= senders and kept >= slots, running


# What a proxy does: ask each member's health check over the network, from another host.
ASK_HEALTH = (
    "import sys, urllib.error, urllib.request\n"
    "try:\n"
    "    print(urllib.request.urlopen(sys.argv[1], timeout=10).status)\n"
    "except urllib.error.HTTPError as error:\n"
    "    print(error.code)\n"
)


def health_status(asker, member, path):
    variables = RUNNER.get_variables(member)
    url = "http://%s:%s%s" % (member, variables.get("postgresql_health_port", 8008), path)
    command = host_of(asker).run("python3 -c %s %s", ASK_HEALTH, url)
    assert command.rc == 0, command.stderr
    return int(command.stdout.strip())


def test_the_health_check_tells_the_primary_from_the_standbys_and_leaves_nothing_running():
    for member in HOSTS:
        asker = next(name for name in HOSTS if name != member)
        expected = (200, 503) if member == PRIMARY else (503, 200)
        assert (health_status(asker, member, "/primary"), health_status(asker, member, "/replica")) == expected, member
        assert health_status(asker, member, "/health") == 200
    for member in HOSTS:
        deadline = time.monotonic() + 10
        # Each request's run ends with its answer: no process and no unit of the health check stays. The bracket keeps
        # pgrep from finding the shell that runs it, whose command line holds the pattern.
        while (
            host_of(member).run("pgrep -f '[p]gops-guard health'").rc == 0
            or host_of(member).run("systemctl list-units --no-legend --state=active,activating 'pgops-health-*@*'").stdout.strip()
        ):
            assert time.monotonic() < deadline, "%s: a health check run outlived its request" % member
            time.sleep(0.5)
        assert host_of(member).service("pgops-health-%s.socket" % service_name(host_of(member)).split("@")[1]).is_running


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
    hba = host.file("/etc/postgresql/%s/main/pg_hba.conf" % major(host)).content_string
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


def files_with_secrets(host, list_files, canary, mode="0600"):
    """Files that `list_files` (a shell command printing NUL-separated paths) names and that contain a secret. A
    canary file holding one secret is planted first and must be found: the search cannot pass by finding nothing."""
    host.run("printf %s %s > " + canary + " && chmod " + mode + " " + canary, "%s", SECRETS[-1])
    patterns = " ".join(["-e %s"] * len(SECRETS))
    try:
        found = host.run("{ %s; } 2>/dev/null | xargs -0 -r grep -lF %s --" % (list_files, patterns), *SECRETS).stdout.split()
    finally:
        host.run("rm -f " + canary)
    assert canary in found, "the search missed its canary %s" % canary
    return [path for path in found if path != canary]


def test_secrets_not_in_process_list(host):
    processes = host.check_output("ps -eo args")
    assert not [secret for secret in SECRETS if secret in processes]


def test_secrets_in_no_file_readable_by_others(host):
    # /usr is the distribution's (only /usr/local is ours); /proc, /sys and /dev hold no files.
    list_files = (
        "find / \\( -path /proc -o -path /sys -o -path /dev -o -path /usr \\) -prune -o -type f -perm -o=r -size -20M -print0;"
        " find /usr/local -type f -perm -o=r -print0"
    )
    assert files_with_secrets(host, list_files, "/var/tmp/pgops-canary", mode="0644") == []


def test_secrets_not_in_logs_configuration_or_data_directory(host):
    """Whatever their mode: server logs, configuration, the data directory (postgresql.auto.conf, WAL), the journal."""
    list_files = "find /var/log /etc/postgresql /var/lib/postgresql -type f -not -name .pgpass -print0"
    assert files_with_secrets(host, list_files, "/var/log/pgops-canary") == []
    journal = host.run("journalctl --no-pager -o cat").stdout
    assert not [secret for secret in SECRETS if secret in journal]


@pytest.mark.parametrize("name", STANDBYS)
def test_replication_user_cannot_log_in_to_a_database(name):
    """pg_hba.conf admits the replication role for replication only: a regular database refuses it before any password."""
    primary_host = RUNNER.get_variables(PRIMARY).get("postgresql_connect_host", PRIMARY)
    databases = ["postgres"] + [database["name"] for database in RUNNER.get_variables(PRIMARY).get("postgresql_databases", [])]
    for database in databases:
        result = host_of(name).run(
            "runuser -u postgres -- psql -w -XAtq -c 'SELECT 1' %s",
            "host=%s dbname='%s' user=replicator connect_timeout=5" % (primary_host, database.replace("\\", "\\\\").replace("'", "\\'")),
        )
        assert result.rc != 0 and "no pg_hba.conf entry" in result.stderr, (database, result.stderr)


def run_site(*options):
    """site.yml on the scenario's cluster, as a user runs it; returns the exit status and everything it printed."""
    environment = dict(
        os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="True", ANSIBLE_COLLECTIONS_PATH=os.path.join(CHECKOUT, ".venv", "collections")
    )
    command = [
        os.path.join(CHECKOUT, ".venv", "bin", "ansible-playbook"),
        *options,
        "-i",
        INVENTORY,
        os.path.join(CHECKOUT, "playbooks", "site.yml"),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    # Molecule forces colours on (ANSIBLE_FORCE_COLOR wins over ANSIBLE_NOCOLOR): strip them to compare whole lines.
    return completed.returncode, re.sub(r"\x1b\[[0-9;]*m", "", completed.stdout + completed.stderr)


def test_check_diff_shows_a_drifted_setting_and_changes_nothing():
    """The dry run MIGRATING.md starts with: --check --diff names what the real run would undo, and touches nothing."""
    target = host_of(STANDBYS[0])
    settings = "/etc/postgresql/%s/main/conf.d/pgops.conf" % service_name(target).split("@")[1].split("-")[0]
    original = target.file(settings).content_string
    drift = "work_mem = '7MB'  # set by hand"
    target.run("printf '%%s\\n' %s >> %s", drift, settings)
    before = {name: sql(name, "SELECT pg_postmaster_start_time(), pg_conf_load_time()").stdout for name in HOSTS}
    drifted = target.file(settings).content_string
    try:
        returncode, output = run_site("--check", "--diff")
        assert returncode == 0, output[-3000:]
        assert "-" + drift in output.splitlines(), output[-3000:]
        assert re.search(r"^%s\s+: ok=\d+\s+changed=[1-9]" % re.escape(STANDBYS[0]), output, re.MULTILINE), output[-2000:]
        assert target.file(settings).content_string == drifted
        assert {name: sql(name, "SELECT pg_postmaster_start_time(), pg_conf_load_time()").stdout for name in HOSTS} == before
        assert sql(STANDBYS[0], "SHOW work_mem").stdout.strip() != "7MB"
    finally:
        target.run("printf '%%s' %s > %s", original, settings)
    assert target.file(settings).content_string == original


def test_verbose_rerun_is_idempotent_and_never_shows_the_password():
    returncode, output = run_site("-vvv")
    assert returncode == 0, output[-3000:]
    assert not [secret for secret in SECRETS if secret in output]
    assert re.findall(r"changed=(\d+)", output) and set(re.findall(r"changed=(\d+)", output)) == {"0"}
