"""What the operations scenarios share: run a playbook as a user does, query a member, start the writer."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import testinfra
import testinfra.utils.ansible_runner
from writer import Reader, Writer, container_addresses

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
MEMBERS = sorted(RUNNER.get_hosts("postgres"))
# The endpoints scenario's PgBouncer hosts (group pgbouncer); none elsewhere.
POOLERS = sorted(RUNNER.get_hosts("pgbouncer"))
GROUP_VARS = RUNNER.get_variables(MEMBERS[0])
CHECKOUT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
WRITER_USER = (GROUP_VARS.get("postgresql_users") or [{}])[0]
# With postgresql_tls the pooler takes TLS clients only; its certificate comes from the CA site.yml generated beside the
# inventory.
TLS = bool(GROUP_VARS.get("postgresql_tls"))
CA_FILE = os.path.join(os.path.dirname(INVENTORY), ".pgops-tls", "ca.crt")


RECORDS = os.path.join(CHECKOUT, "tests", "output", "reliability")


def record(name, rows):
    """Keep a fault test's figures for docs/RELIABILITY.md (tests/reliability_report.py writes the tables)."""
    os.makedirs(RECORDS, exist_ok=True)
    with open(os.path.join(RECORDS, name + ".json"), "w") as output:
        json.dump(rows, output, indent=1)


def host_of(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


def psql(name, statement, check=True):
    result = host_of(name).run("runuser -u postgres -- psql -XAtq -d appdb -c %s", statement)
    if check:
        assert result.rc == 0, (name, statement, result.stderr)
    return result.stdout.strip() if check else result


def playbook_command(name, *extra):
    command = [
        os.path.join(CHECKOUT, ".venv", "bin", "ansible-playbook"),
        "-i",
        INVENTORY,
        os.path.join(CHECKOUT, "playbooks", name + ".yml"),
    ]
    for argument in extra:
        command += [argument] if argument.startswith("--") else ["-e", argument]
    environment = dict(os.environ, ANSIBLE_PIPELINING="True", ANSIBLE_COLLECTIONS_PATH=os.path.join(CHECKOUT, ".venv", "collections"))
    return command, environment


def playbook_reacting(name, trigger, action, *extra):
    """Run a playbook and call `action` as soon as a line of its output contains `trigger`, with the playbook paused
    (SIGSTOP to its process group) until `action` returns: on a loaded machine the next tasks would otherwise run while
    Docker carries the action out, and the action would come too late. Returns (status, output)."""
    command, environment = playbook_command(name, *extra)
    lines = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment, start_new_session=True
    ) as process:
        for line in process.stdout:
            lines.append(line)
            if trigger is not None and trigger in line:
                os.killpg(process.pid, signal.SIGSTOP)
                try:
                    action()
                finally:
                    os.killpg(process.pid, signal.SIGCONT)
                trigger = None
    return process.returncode, "".join(lines)


def unreachable(*names):
    """An extra inventory source that makes the named members unreachable for Ansible exactly as a host cut off from
    the network is: over SSH, whose connection is refused (port 1 on loopback). The lab otherwise reaches containers
    with docker exec, which no network cut stops. Pass it to playbook()."""
    path = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "unreachable-%s.yml" % "-".join(names))
    cut_off = dict(ansible_connection="ssh", ansible_host="127.0.0.1", ansible_port=1)
    with open(path, "w") as inventory:
        json.dump({"all": {"hosts": {name: cut_off for name in names}}}, inventory)
    return "--inventory=" + path


def playbook(name, *extra):
    """Run playbooks/<name>.yml against the scenario's inventory with extra variables (or --options); returns (exit status, output)."""
    command, environment = playbook_command(name, *extra)
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    return completed.returncode, completed.stdout + completed.stderr


def member_journals(since, lines=25):
    """What each member's guard and server wrote since `since` (a time.time()), for a failure's message: what stopped a
    server, and when. systemd's own lines about the guard's timer runs are left out."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(since))
    parts = []
    for name in MEMBERS:
        journal = "journalctl --no-pager -o short-precise --utc --since '%s' | grep -v -E 'systemd\\[1\\]|sudo\\[|pam_' | tail -n %d" % (
            stamp,
            lines,
        )
        server_log = "tail -n %d /var/log/postgresql/postgresql-*-main.log" % lines
        member = host_of(name)
        parts.append("--- %s journal\n%s\n--- %s server log\n%s" % (name, member.run(journal).stdout, name, member.run(server_log).stdout))
    return "\n".join(parts)


def changed_total(output):
    return sum(int(count) for count in re.findall(r"changed=(\d+)", output))


def primaries():
    found = []
    for name in MEMBERS:
        result = psql(name, "SELECT pg_is_in_recovery()", check=False)
        if result.rc == 0 and result.stdout.strip() == "f":
            found.append(name)
    return found


def the_primary():
    """The one member that runs as primary (the endpoints scenario's tests each start from where the last one left it)."""
    found = primaries()
    assert len(found) == 1, "expected exactly one primary, found %r" % found
    return found[0]


def next_member(name):
    """The member after `name` in inventory order, round the circle (A→B→C→A)."""
    return MEMBERS[(MEMBERS.index(name) + 1) % len(MEMBERS)]


def network_address(container):
    """The lab network a container is on and its address there, read from Docker (the scenario's own values)."""
    output = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True).stdout
    network, settings = next(iter(json.loads(output)[0]["NetworkSettings"]["Networks"].items()))
    return network, settings["IPAddress"]


def cut_off(container):
    """Disconnect a container from its network; returns the function that connects it again with the same address."""
    network, address = network_address(container)
    subprocess.run(["docker", "network", "disconnect", network, container], check=True, capture_output=True)

    def reconnect():
        subprocess.run(["docker", "network", "connect", "--ip", address, network, container], check=True, capture_output=True)

    return reconnect


def wait_streaming_from(primary, standbys, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        streaming = psql(primary, "SELECT string_agg(application_name, ',' ORDER BY 1) FROM pg_stat_replication WHERE state = 'streaming'")
        if set(streaming.split(",")) >= set(standbys):
            return
        assert time.monotonic() < deadline, "%s streams only to %r, expected %r" % (primary, streaming, standbys)
        time.sleep(0.5)


def writer():
    return Writer(container_addresses(MEMBERS), WRITER_USER["name"], WRITER_USER["password"], "appdb")


def pooler_conninfo(database="appdb"):
    """A plain single-host connection to the first pooler, as an application has: no member address in it."""
    return dict(
        host=container_addresses(POOLERS[:1])[0],
        port=6432,
        user=WRITER_USER["name"],
        password=WRITER_USER["password"],
        dbname=database,
        connect_timeout=5,
        application_name="pgops-reader" if database.endswith("_read") else "pgops-writer",
        # Transaction pooling hands each transaction any server connection: no server-side prepared statements.
        prepare_threshold=None,
        **pooler_tls(),
    )


def pooler_tls():
    """What a client of the pooler adds to verify it: its certificate, from the cluster's CA, names the address."""
    return dict(sslmode="verify-full", sslrootcert=CA_FILE) if TLS else {}


def pooler_writer():
    """The writer, connected to the pooler's write alias only, with a table of its own (a direct writer may run beside it)."""
    load = Writer(
        container_addresses(POOLERS[:1]), WRITER_USER["name"], WRITER_USER["password"], "appdb", port=6432, table="pgops_pooled_writer"
    )
    load.conninfo.update(prepare_threshold=None, target_session_attrs="any", **pooler_tls())
    return load


def pooler_reader():
    """A reader on the pooler's read alias only."""
    return Reader(pooler_conninfo("appdb_read"))
