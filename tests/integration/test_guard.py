"""The guard program (roles/postgresql/files/pgops_guard.py) run for real, as the server's OS user with the host's
Python and psycopg, against servers on loopback: its probes, the majority rule of a running primary, and the rule
before a start."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest
from pglab import BIN_DIR, MODULE_PYTHON, as_server_user, chown_to_server_user, follow_args, run_as_server_user

GUARD = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "postgresql", "files", "pgops_guard.py")
spec = importlib.util.spec_from_file_location("pgops_guard", GUARD)
guard = importlib.util.module_from_spec(spec)
sys.modules["pgops_guard"] = guard
spec.loader.exec_module(guard)

TIMEOUT = 3


def cluster(lab, modules, standbys=("b", "c")):
    primary = lab.primary("a")
    members = [primary]
    for name in standbys:
        member = lab.clone(primary, name, modules, slot_name=name, create_slot=True)
        # One status reply a second: the primary counts a standby's vote by a reply newer than at its last tick.
        member.query("ALTER SYSTEM SET wal_receiver_status_interval = '1s'")
        member.query("SELECT pg_reload_conf()")
        members.append(member)
    for member in members[1:]:
        primary.wait_for("SELECT string_agg(state, ',') FROM pg_stat_replication WHERE application_name = '%s'" % member.name, "streaming")  # noqa: S608 (a test's own name)
    return members


def write_config(member, members, **overrides) -> str:
    passfile = os.path.join(member.home, "guard.pgpass")
    with open(passfile, "w") as handle:
        for other in members:
            handle.write("127.0.0.1:%d:replication:replicator:%s\n" % (other.port, members[0].replication_password))
    os.chmod(passfile, 0o600)
    chown_to_server_user(passfile)
    config = dict(
        member=member.name,
        data_dir=member.data_dir,
        bin_dir=BIN_DIR,
        port=member.port,
        socket_dir=member.home,
        peers=[dict(name=other.name, host="127.0.0.1", port=other.port) for other in members if other is not member],
        replication_user="replicator",
        passfile=passfile,
        state_file=os.path.join(member.home, "guard-state.json"),
        isolation_timeout=TIMEOUT,
        start_timeout=TIMEOUT,
    )
    config.update(overrides)
    path = os.path.join(member.home, "guard.json")
    with open(path, "w") as handle:
        json.dump(config, handle)
    chown_to_server_user(path)
    return path


# The interpreter's flags each command runs with in its systemd unit (plugins/module_utils/guard.py): the watch without
# site-packages until it asks a peer.
FLAGS = {"start": [], "watch": ["-I", "-S"]}


def run_guard(command: str, config: str):
    return run_as_server_user([MODULE_PYTHON, *FLAGS[command], GUARD, command, config])


def state_of(member) -> dict:
    with open(os.path.join(member.home, "guard-state.json")) as handle:
        return json.load(handle)


def signal_of(member) -> bool:
    return os.path.exists(os.path.join(member.data_dir, "standby.signal"))


def wait_stopped(member, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while member.running():
        assert time.monotonic() < deadline, "%s still runs" % member.name
        time.sleep(0.2)


def tick(config, times: int) -> None:
    """Run the watch once a second, as the timer does."""
    for _tick in range(times):
        run_guard("watch", config)
        time.sleep(1)


def armed_cluster(lab, modules):
    """A primary and two standbys, the primary's guard armed (a majority streamed from it): (a, b, c, a's config)."""
    a, b, c = cluster(lab, modules)
    config = write_config(a, [a, b, c])
    tick_until(a, config, lambda: os.path.exists(os.path.join(a.home, "guard-state.json")) and state_of(a)["armed"])
    return a, b, c, config


def tick_until(member, config, action_seen, timeout: float = 20.0):
    """Run the watch once a second, as the timer does, until `action_seen()` holds."""
    deadline = time.monotonic() + timeout
    while not action_seen():
        assert time.monotonic() < deadline, "the watch never acted; state: %s" % state_of(member)
        run_guard("watch", config)
        time.sleep(1)


def test_probes_tell_a_primary_a_standby_a_stopped_server_and_a_name_that_does_not_resolve(lab, modules):
    a, b, c = cluster(lab, modules)
    c.stop()
    config = guard.load_config(write_config(a, [a, b, c], peers=[]))
    answer_a = guard.ask_peer(config, guard.Peer("a", "127.0.0.1", a.port))
    system = str(a.value("SELECT system_identifier FROM pg_control_system()"))
    assert answer_a == guard.PeerAnswer("a", True, primary=True, system=system, timeline=1)
    assert guard.ask_peer(config, guard.Peer("b", "127.0.0.1", b.port)) == guard.PeerAnswer(
        "b", True, primary=False, system=system, timeline=1, follows=True
    )
    assert not guard.ask_peer(config, guard.Peer("c", "127.0.0.1", c.port)).answered
    started = time.monotonic()
    lost = guard.ask_peer(config, guard.Peer("d", "pgops-no-such-member.invalid", 5432))
    assert not lost.answered and lost.error
    assert time.monotonic() - started < config.connect_timeout + 3


def test_peers_are_reached_at_their_address_and_their_names_are_never_resolved(lab, modules):
    """A name that does not resolve (or resolves slowly: a loaded DNS server) must not cost a vote: the guard connects
    to each peer's address, and its name serves only to check its certificate and to find its password."""
    a, b, c = cluster(lab, modules)
    names = {b.name: "pgops-peer-b.invalid", c.name: "pgops-peer-c.invalid"}
    path = write_config(
        a, [a, b, c], peers=[dict(name=other.name, host=names[other.name], address="127.0.0.1", port=other.port) for other in (b, c)]
    )
    config = guard.load_config(path)
    with open(config.passfile, "a") as handle:
        for other in (b, c):
            handle.write("%s:%d:replication:replicator:%s\n" % (names[other.name], other.port, a.replication_password))
    answers = guard.ask_peers(config)
    assert [(answer.name, answer.answered, answer.follows) for answer in answers] == [("b", True, True), ("c", True, True)], answers


def test_a_primary_left_in_a_minority_stops_itself_with_standby_signal(lab, modules):
    a, b, c, config = armed_cluster(lab, modules)
    assert a.running() and not signal_of(a)
    b.stop()
    c.stop()
    started = time.monotonic()
    tick_until(a, config, lambda: signal_of(a))
    wait_stopped(a)
    assert time.monotonic() - started >= TIMEOUT
    assert state_of(a)["armed"] and state_of(a)["minority_since"] is None


def test_one_standby_is_enough_in_three_members(lab, modules):
    a, b, c, config = armed_cluster(lab, modules)
    c.stop()
    tick(config, TIMEOUT + 3)
    assert a.running() and not signal_of(a)
    assert state_of(a)["minority_since"] is None


def test_a_wal_stream_that_replays_nothing_is_no_vote(lab, modules):
    # pg_basebackup -X stream (a clone in progress) and pg_receivewal stream under a member's name, but replay nothing.
    a = lab.primary("a")
    b, c = lab.instance("b"), lab.instance("c")
    receivers = []
    for name in ("b", "c"):
        target = os.path.join(a.home, "wal-" + name)
        os.makedirs(target)
        chown_to_server_user(target)
        command = ["env", "PGAPPNAME=" + name, "PGPASSWORD=" + a.replication_password, os.path.join(BIN_DIR, "pg_receivewal")]
        command += ["-h", "127.0.0.1", "-p", str(a.port), "-U", "replicator", "-D", target, "--no-loop"]
        receivers.append(subprocess.Popen(as_server_user(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        a.wait_for("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", 2)
        config = write_config(a, [a, b, c])
        for _tick in range(3):
            run_guard("watch", config)
            a.query("SELECT pg_switch_wal()")
            time.sleep(1)
        assert not state_of(a)["armed"]
    finally:
        for receiver in receivers:
            receiver.terminate()
            receiver.wait()


def test_standbys_restarting_together_keep_the_primary_up(lab, modules):
    # Both standbys down, then up again (a setting that needs a restart) while the primary's run is in its minority: as
    # soon as they answer as standbys that follow a primary, they vote, before they stream again.
    a, b, c, config = armed_cluster(lab, modules)
    config = write_config(a, [a, b, c], isolation_timeout=10)
    b.stop()
    c.stop()
    watching = subprocess.Popen(as_server_user([MODULE_PYTHON, *FLAGS["watch"], GUARD, "watch", config]), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while state_of(a).get("minority_since") is None:
            assert time.monotonic() < deadline and watching.poll() is None, "the run never began a minority"
            time.sleep(0.2)
        b.append_config("primary_conninfo = ''", path=os.path.join(b.data_dir, "postgresql.auto.conf"))
        b.start()
        assert watching.wait(timeout=30) == 0, watching.stderr.read()
    finally:
        if watching.poll() is None:
            watching.kill()
    assert a.running() and not signal_of(a)
    assert state_of(a)["minority_since"] is None
    tick(config, 3)
    assert a.running() and not signal_of(a)


def test_a_primary_whose_standbys_were_detached_stops(lab, modules):
    a, b, c, config = armed_cluster(lab, modules)
    for standby in (b, c):
        assert modules.run("pg_follow", dict(data_dir=standby.data_dir, detach=True, wait_timeout=30, **standby.login()))["changed"]
    started = time.monotonic()
    tick_until(a, config, lambda: signal_of(a))
    wait_stopped(a)
    took = time.monotonic() - started
    # failover.yml waits timeout + interval + 4 s after the detach (the runs here are a second apart, as an interval of 1).
    assert TIMEOUT <= took <= TIMEOUT + 1 + 4, took
    assert b.value("SELECT pg_is_in_recovery()") is True


def test_a_primary_whose_standbys_stream_from_another_standby_without_a_slot_stops(lab, modules):
    # failover.yml's step 2 past a primary out of reach: the candidate detached, the other standby streaming from the
    # candidate without a slot. Neither streams from the primary nor answers as a standby that follows a primary.
    a, b, c, config = armed_cluster(lab, modules)
    assert modules.run("pg_follow", dict(data_dir=c.data_dir, detach=True, wait_timeout=30, **c.login()))["changed"]
    assert modules.run("pg_follow", follow_args(b, c, wait_timeout=30))["streaming"] is True
    tick_until(a, config, lambda: signal_of(a))
    wait_stopped(a)
    assert b.value("SELECT sender_port FROM pg_stat_wal_receiver") == c.port


@pytest.mark.parametrize(
    "other_standby, keeps_running",
    [("streams from the candidate", True), ("detached", False)],
    ids=["streaming from the candidate", "detached"],
)
def test_a_standby_promoted_past_a_dead_primary_keeps_running_while_the_other_standby_streams_from_it(
    lab, modules, other_standby, keeps_running
):
    """The failover past a primary out of reach, whose candidate's guard is armed from an earlier term as primary (a
    switchover made it primary before). Promoted, it must have a majority at once: the steps that follow its promotion
    (slots, the other standby's follow) may take longer than the isolation timeout on a loaded machine. With the other
    standby detached (failover.yml before this test) it had one vote of three and stopped itself: no primary."""
    a, b, c, config_a = armed_cluster(lab, modules)
    config_c = write_config(c, [a, b, c])
    with open(os.path.join(c.home, "guard-state.json"), "w") as handle:
        json.dump(dict(state_of(a), replies={}, minority_since=None), handle)
    chown_to_server_user(os.path.join(c.home, "guard-state.json"))
    a.kill()
    assert modules.run("pg_follow", dict(data_dir=c.data_dir, detach=True, wait_timeout=30, **c.login()))["changed"]
    if keeps_running:
        assert modules.run("pg_follow", follow_args(b, c, wait_timeout=30))["streaming"] is True
    else:
        assert modules.run("pg_follow", dict(data_dir=b.data_dir, detach=True, wait_timeout=30, **b.login()))["changed"]
    assert c.value("SELECT pg_promote()") is True
    assert state_of(c)["armed"]
    tick(config_c, TIMEOUT + 3)
    assert (c.running() and not signal_of(c)) is keeps_running
    if keeps_running:
        assert c.value("SELECT pg_is_in_recovery()") is False
        assert state_of(c)["minority_since"] is None
        c.wait_for("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'b' AND state = 'streaming'", 1)


def test_a_primary_that_sees_a_newer_primary_stops_at_once(lab, modules):
    a, b, c = cluster(lab, modules)
    config = write_config(a, [a, b, c], isolation_timeout=3600)
    tick_until(a, config, lambda: os.path.exists(os.path.join(a.home, "guard-state.json")) and state_of(a)["armed"])
    c.stop()
    b.query("SELECT pg_promote()")
    b.wait_for("SELECT pg_is_in_recovery()", False)
    b.wait_for("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)", "00000002")
    completed = run_guard("watch", config)
    assert signal_of(a)
    wait_stopped(a)
    assert "b runs as primary on timeline 2, newer than this server's 1" in completed.stderr


def test_start_as_primary_with_a_majority_then_wait_and_start_read_only_without_one(lab, modules):
    a, b, c, config = armed_cluster(lab, modules)
    a.stop()
    started = time.monotonic()
    run_guard("start", config)
    assert time.monotonic() - started < 2
    assert not signal_of(a)
    # Standbys a failover detached (no primary_slot_name) do not count.
    assert modules.run("pg_follow", dict(data_dir=b.data_dir, detach=True, wait_timeout=30, **b.login()))["changed"]
    assert modules.run("pg_follow", dict(data_dir=c.data_dir, detach=True, wait_timeout=30, **c.login()))["changed"]
    completed = run_guard("start", config)
    assert signal_of(a)
    assert "b follows no primary (primary_slot_name is empty: detached by a failover)" in completed.stderr
    os.remove(os.path.join(a.data_dir, "standby.signal"))
    b.stop()
    c.stop()
    started = time.monotonic()
    completed = run_guard("start", config)
    assert time.monotonic() - started >= TIMEOUT
    assert signal_of(a)
    assert "starting read-only with standby.signal after waiting 3 s for a majority: 1 of 3 members agree" in completed.stderr


def test_start_read_only_when_another_member_runs_as_primary(lab, modules):
    a, b, c = cluster(lab, modules)
    config = write_config(a, [a, b, c])
    a.stop()
    b.query("SELECT pg_promote()")
    b.wait_for("SELECT pg_is_in_recovery()", False)
    completed = run_guard("start", config)
    assert signal_of(a)
    assert "b runs as primary of this cluster" in completed.stderr


def test_start_waits_while_the_standbys_follow_a_newer_timeline(lab, modules):
    a, b, c, config = armed_cluster(lab, modules)
    a.stop()
    b.query("SELECT pg_promote()")
    b.wait_for("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)", "00000002")
    # c follows b on timeline 2; b itself is cut off from a (stopped here).
    assert modules.run("pg_follow", follow_args(c, b, wait_timeout=30))["streaming"] is True
    c.wait_for("SELECT received_tli FROM pg_stat_wal_receiver", 2)
    b.stop()
    completed = run_guard("start", config)
    assert signal_of(a)
    assert "c is on timeline 2, newer than this server's 1" in completed.stderr


@pytest.mark.parametrize("command", ["start", "watch"])
def test_a_standby_is_left_alone(lab, modules, command):
    a, b, c = cluster(lab, modules)
    config = write_config(b, [a, b, c])
    run_guard(command, config)
    assert b.running()
    assert not os.path.exists(os.path.join(b.home, "guard-state.json")) or not state_of(b)["armed"]
