"""The guard's decisions (roles/postgresql/files/pgops_guard.py), branch by branch: no server, no network."""

from __future__ import annotations

import importlib.util
import os
import sys
import time

import pytest

GUARD_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "postgresql", "files", "pgops_guard.py")
spec = importlib.util.spec_from_file_location("pgops_guard", GUARD_PATH)
guard = importlib.util.module_from_spec(spec)
# Registered as an import would register it.
sys.modules["pgops_guard"] = guard
spec.loader.exec_module(guard)

SYSTEM = "7400000000000000001"
OTHER_SYSTEM = "7400000000000000999"
ARMED = guard.GuardState(system=SYSTEM, armed=True)


def standby(name, timeline=1, system=SYSTEM, follows=True):
    return guard.PeerAnswer(name, True, primary=False, system=system, timeline=timeline, follows=follows)


def primary(name, timeline=1, system=SYSTEM):
    return guard.PeerAnswer(name, True, primary=True, system=system, timeline=timeline)


def silent(name):
    return guard.PeerAnswer(name, False, error="timeout expired")


@pytest.mark.parametrize(
    "votes, members, expected",
    [(1, 1, True), (1, 2, False), (2, 2, True), (1, 3, False), (2, 3, True), (2, 4, False), (3, 4, True), (3, 5, True), (2, 5, False)],
)
def test_majority_is_more_than_half(votes, members, expected):
    assert guard.majority(votes, members) is expected


# start


def test_start_as_standby_when_a_member_runs_as_primary_of_this_cluster():
    verdict = guard.start_verdict(SYSTEM, 1, [standby("b"), primary("c", timeline=2)], 3, ARMED)
    assert verdict.action == guard.STANDBY
    assert "c runs as primary of this cluster (timeline 2)" in verdict.reason


def test_start_as_standby_even_when_not_armed():
    assert guard.start_verdict(SYSTEM, 1, [primary("b")], 3, guard.GuardState()).action == guard.STANDBY


def test_a_primary_of_another_cluster_is_not_ours_to_follow():
    verdict = guard.start_verdict(SYSTEM, 1, [primary("b", system=OTHER_SYSTEM), standby("c")], 3, ARMED)
    assert verdict.action == guard.START


def test_start_unarmed_needs_no_majority():
    # A primary built before its standbys, or restarted before any standby streamed from it.
    verdict = guard.start_verdict(SYSTEM, 1, [silent("b"), silent("c")], 3, guard.GuardState())
    assert verdict.action == guard.START


def test_armed_for_another_cluster_does_not_count():
    verdict = guard.start_verdict(SYSTEM, 1, [silent("b"), silent("c")], 3, guard.GuardState(system=OTHER_SYSTEM, armed=True))
    assert verdict.action == guard.START


def test_two_members_need_no_majority():
    assert guard.start_verdict(SYSTEM, 1, [silent("b")], 2, ARMED).action == guard.START


def test_start_with_a_majority_of_standbys_on_this_timeline_or_older():
    verdict = guard.start_verdict(SYSTEM, 3, [standby("b", timeline=3), silent("c")], 3, ARMED)
    assert verdict.action == guard.START
    assert verdict.reason == "2 of 3 members agree (itself, b)"
    assert guard.start_verdict(SYSTEM, 3, [standby("b", timeline=2), silent("c")], 3, ARMED).action == guard.START


def test_wait_when_too_few_members_answer():
    verdict = guard.start_verdict(SYSTEM, 1, [silent("b"), silent("c")], 3, ARMED)
    assert verdict.action == guard.WAIT
    assert verdict.reason == (
        "1 of 3 members agree, a majority needs 2: b does not answer (timeout expired); c does not answer (timeout expired)"
    )


def test_wait_when_the_standbys_follow_a_newer_timeline():
    # A failover happened while this server was down: the member that promoted is cut off, the others follow it.
    verdict = guard.start_verdict(SYSTEM, 1, [standby("b", timeline=2), silent("c")], 3, ARMED)
    assert verdict.action == guard.WAIT
    assert "b is on timeline 2, newer than this server's 1" in verdict.reason


def test_wait_when_the_answers_come_from_another_cluster():
    verdict = guard.start_verdict(SYSTEM, 1, [standby("b", system=OTHER_SYSTEM), silent("c")], 3, ARMED)
    assert verdict.action == guard.WAIT
    assert "b holds another cluster (system identifier %s)" % OTHER_SYSTEM in verdict.reason


def test_wait_when_the_standbys_were_detached_by_a_failover():
    verdict = guard.start_verdict(SYSTEM, 1, [standby("b", follows=False), silent("c")], 3, ARMED)
    assert verdict.action == guard.WAIT
    assert "b follows no primary (primary_slot_name is empty: detached by a failover)" in verdict.reason


def test_wait_when_this_server_timeline_is_unknown():
    assert guard.start_verdict(SYSTEM, None, [standby("b"), standby("c")], 3, ARMED).action == guard.WAIT


def test_five_members_need_three():
    answers = [standby("b"), silent("c"), silent("d"), silent("e")]
    assert guard.start_verdict(SYSTEM, 1, answers, 5, ARMED).action == guard.WAIT
    answers[1] = standby("c")
    assert guard.start_verdict(SYSTEM, 1, answers, 5, ARMED).action == guard.START


# watch


def watch(streaming, state=ARMED, answers=(), members=3, now=1000.0, timeout=10, primary_=True, timeline=1, system=SYSTEM):
    return guard.watch_verdict(primary_, system, timeline, streaming, list(answers), members, state, now, timeout)


def test_a_standby_only_forgets_its_minority():
    verdict = watch({}, state=guard.GuardState(system=SYSTEM, armed=True, minority_since=5.0, replies={"b": "x"}), primary_=False)
    assert verdict.action == guard.IDLE
    assert verdict.state.minority_since is None and verdict.state.replies == {}
    assert verdict.state.armed


def test_fewer_than_three_members_never_fence():
    assert watch({}, members=2, state=guard.GuardState(system=SYSTEM, armed=True, minority_since=0.0)).action == guard.IDLE


def test_a_majority_arms_and_clears_the_minority():
    verdict = watch({"b": "t1"}, state=guard.GuardState(system=SYSTEM, minority_since=990.0))
    assert verdict.action == guard.OK
    assert verdict.state.armed and verdict.state.minority_since is None
    assert verdict.state.replies == {"b": "t1"}


def test_a_reply_seen_before_is_not_a_vote():
    # A standby cut off keeps its pg_stat_replication row until wal_sender_timeout, with its last reply frozen.
    state = guard.GuardState(system=SYSTEM, armed=True, replies={"b": "t1", "c": "t7"})
    verdict = watch({"b": "t1", "c": "t7"}, state=state)
    assert verdict.action == guard.MINORITY
    assert verdict.state.minority_since == 1000.0
    assert watch({"b": "t2", "c": "t7"}, state=state).action == guard.OK


def test_a_standby_that_answers_and_follows_a_primary_is_a_vote_while_it_restarts():
    # Both standbys restarted at once (a setting that needs a restart): they answer before they stream again.
    verdict = watch({}, answers=[standby("b"), silent("c")])
    assert verdict.action == guard.OK
    assert verdict.reason == "2 of 3 members vote for this primary (itself, b)"


@pytest.mark.parametrize(
    "answer",
    [standby("b", follows=False), standby("b", timeline=2), standby("b", system=OTHER_SYSTEM), silent("b")],
    ids=["detached", "on a newer timeline", "another cluster", "no answer"],
)
def test_an_answer_that_does_not_stand_by_this_primary_is_no_vote(answer):
    assert watch({}, answers=[answer, silent("c")]).action == guard.MINORITY


def test_a_fresh_reply_and_an_answer_from_the_same_member_count_once():
    state = guard.GuardState(system=SYSTEM, armed=True, replies={"b": "t0"})
    assert watch({"b": "t1"}, answers=[standby("b")], members=5, state=state).action == guard.MINORITY


def test_a_member_with_no_reply_yet_is_not_a_vote():
    assert watch({"b": None}, state=ARMED).action == guard.MINORITY


def test_not_armed_never_fences():
    verdict = watch({}, state=guard.GuardState(system=SYSTEM))
    assert verdict.action == guard.OK
    assert "arms once a majority has" in verdict.reason
    assert not verdict.state.armed


def test_members_added_to_an_armed_primary_do_not_fence_it_before_they_have_streamed():
    # Three members, armed; six hosts added at once: the two standbys streaming are 3 votes of 9 while the six are
    # cloned. No member can be promoted by a majority of the nine before the fence arms again.
    state = guard.GuardState(system=SYSTEM, armed=True, armed_members=3, minority_since=900.0, replies={"b": "t0", "c": "t0"})
    verdict = watch({"b": "t1", "c": "t1"}, state=state, members=9, now=1000.0)
    assert verdict.action == guard.OK
    assert verdict.reason == "3 of 9 members vote for this primary; the fence arms once a majority of the 9 has"
    assert verdict.state.minority_since is None
    # Once five of the nine vote, it is armed for nine.
    armed = watch({"b": "t2", "c": "t2", "d": "t1", "e": "t1"}, state=verdict.state, members=9).state
    assert armed.armed and armed.armed_members == 9
    assert watch({}, state=armed, members=9).action == guard.MINORITY


def test_members_taken_out_keep_the_fence_armed():
    state = guard.GuardState(system=SYSTEM, armed=True, armed_members=5)
    assert watch({}, state=state, members=3).action == guard.MINORITY
    assert watch({"b": "t1"}, state=state, members=3).state.armed_members == 3


def test_a_state_armed_before_it_counted_its_members_stays_armed():
    assert watch({}, state=guard.GuardState(system=SYSTEM, armed=True), members=9).action == guard.MINORITY


def test_start_after_members_were_added_needs_no_majority_until_armed_again():
    grown = guard.GuardState(system=SYSTEM, armed=True, armed_members=3)
    assert guard.start_verdict(SYSTEM, 1, [silent(name) for name in "bcdefghi"], 9, grown).action == guard.START
    assert guard.start_verdict(SYSTEM, 1, [silent("b"), silent("c")], 3, grown).action == guard.WAIT


def test_armed_for_an_earlier_cluster_is_forgotten():
    verdict = watch({}, state=guard.GuardState(system=OTHER_SYSTEM, armed=True, minority_since=0.0))
    assert verdict.action == guard.OK
    assert verdict.state == guard.GuardState(system=SYSTEM)


def test_a_minority_shorter_than_the_timeout_waits():
    state = guard.GuardState(system=SYSTEM, armed=True, minority_since=995.0)
    verdict = watch({}, state=state, now=1004.0, timeout=10)
    assert verdict.action == guard.MINORITY
    assert verdict.state.minority_since == 995.0
    assert verdict.reason == "1 of 3 members vote for this primary; it stops in 1 s unless a majority returns"


def test_a_minority_for_the_timeout_fences():
    state = guard.GuardState(system=SYSTEM, armed=True, minority_since=995.0)
    verdict = watch({}, state=state, now=1005.0, timeout=10)
    assert verdict.action == guard.FENCE
    assert verdict.reason == "only 1 of 3 members voted for this primary (a majority needs 2) for 10 s"
    assert verdict.state.minority_since is None


def test_a_newer_primary_of_this_cluster_fences_at_once():
    verdict = watch({}, answers=[primary("b", timeline=2), silent("c")], timeline=1)
    assert verdict.action == guard.FENCE
    assert verdict.reason == "b runs as primary on timeline 2, newer than this server's 1"


@pytest.mark.parametrize(
    "answer",
    [primary("b", timeline=1), primary("b", timeline=2, system=OTHER_SYSTEM), standby("b", timeline=2), silent("b")],
    ids=["same timeline", "another cluster", "a standby", "no answer"],
)
def test_only_a_newer_primary_of_this_cluster_fences_at_once(answer):
    assert watch({}, answers=[answer], state=guard.GuardState(system=SYSTEM, armed=True)).action == guard.MINORITY


def test_five_members_keep_a_primary_with_two_voters():
    assert watch({"b": "1", "c": "1"}, members=5, state=guard.GuardState(system=SYSTEM, armed=True)).action == guard.OK
    assert watch({"b": "1"}, members=5, state=guard.GuardState(system=SYSTEM, armed=True)).action == guard.MINORITY


# what the data directory tells a stopped server


def test_timeline_of_files_takes_the_newest_segment_or_history():
    names = ["000000010000000000000003", "00000002.history", "000000020000000000000004", "archive_status", "00000003.history"]
    assert guard.timeline_of_files(names) == 3
    assert guard.timeline_of_files(["archive_status", "xlogtemp.123"]) is None
    assert guard.timeline_of_files(["0000000A0000000000000001"]) == 10


def test_parse_controldata():
    text = (
        "pg_control version number:            1300\n"
        "Database system identifier:           7400000000000000001\n"
        "Latest checkpoint's TimeLineID:       2\n"
    )
    values = guard.parse_controldata(text)
    assert values["Database system identifier"] == SYSTEM
    assert values["Latest checkpoint's TimeLineID"] == "2"


def test_config_and_state_round_trip(tmp_path):
    config_path = tmp_path / "guard.json"
    config_path.write_text(
        '{"member": "a", "data_dir": "/d", "bin_dir": "/b", "port": 5432, "socket_dir": "/s", "replication_user": "r",'
        ' "passfile": "/p", "state_file": "%s", "isolation_timeout": 10, "start_timeout": 60,'
        ' "peers": [{"name": "b", "host": "h b", "port": "5433"},'
        ' {"name": "c", "host": "c.example", "address": "192.0.2.3", "port": 5432}]}' % (tmp_path / "state.json")
    )
    config = guard.load_config(str(config_path))
    assert config.peers == (guard.Peer("b", "h b", 5433), guard.Peer("c", "c.example", 5432, "192.0.2.3"))
    assert config.members == 3
    assert guard.load_state(config.state_file) == guard.GuardState()
    state = guard.GuardState(system=SYSTEM, armed=True, armed_members=3, minority_since=12.5, replies={"b": "t"})
    guard.save_state(config.state_file, state)
    assert guard.load_state(config.state_file) == state
    (tmp_path / "state.json").write_text("not json")
    assert guard.load_state(config.state_file) == guard.GuardState()


def test_peer_connection_keywords_leave_unset_tls_out():
    config = guard.Config(
        member="a", data_dir="/d", bin_dir="/b", port=5432, socket_dir="/s", peers=(), replication_user="rep$(id)",
        passfile="/p", state_file="/x", isolation_timeout=10, start_timeout=60,
    )  # fmt: skip
    kwargs = guard.peer_connection_kwargs(config, guard.Peer("b", "b.example", 5433))
    assert kwargs["user"] == "rep$(id)"
    assert "sslmode" not in kwargs and "sslrootcert" not in kwargs and "hostaddr" not in kwargs
    assert kwargs["replication"] == "true" and kwargs["dbname"] == "replication"
    # At its address, under its name: nothing is resolved, and the certificate and the password file see the name.
    by_address = guard.peer_connection_kwargs(config, guard.Peer("b", "b.example", 5433, "192.0.2.2"))
    assert (by_address["host"], by_address["hostaddr"], by_address["port"]) == ("b.example", "192.0.2.2", 5433)


def test_primary_state_from_psql_output():
    output = "f\x1f7401\x1f000000030000000000000004\nb\x1f2026-12-06 03:00:01+00\nclone\x1f2026-12-06 03:00:01+00\n"
    assert guard.parse_primary_state(output, {"b", "c"}) == (True, "7401", 3, {"b": "2026-12-06 03:00:01+00"})


def test_primary_state_of_a_standby_or_of_nothing():
    assert guard.parse_primary_state("t\x1f7401\x1f\n", {"b"}) == (False, "7401", None, {})
    assert guard.parse_primary_state("", {"b"}) == (False, None, None, {})
    assert guard.parse_primary_state("f\x1f7401\x1f\n", {"b"}) == (False, "7401", None, {})


def test_run_program_returns_the_exit_status_and_standard_output():
    assert guard.run_program([sys.executable, "-c", "import sys; print('out ü'); print('err', file=sys.stderr); sys.exit(3)"]) == (
        3,
        "out ü\n",
    )


def test_run_program_passes_the_environment_it_is_given():
    status, output = guard.run_program([sys.executable, "-c", "import os; print(os.environ['PROBE'])"], {"PROBE": "x y"})
    assert (status, output) == (0, "x y\n")


def test_run_program_gives_its_program_no_standard_input():
    # The health check's own standard input is the client's connection: a program it runs must not read from it.
    read_end, write_end = os.pipe()
    os.write(write_end, b"the client's request")
    os.close(write_end)
    saved = os.dup(0)
    os.dup2(read_end, 0)
    try:
        result = guard.run_program([sys.executable, "-c", "import sys; print(repr(sys.stdin.read()))"], timeout=10)
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(read_end)
    assert result == (0, "''\n")


def test_run_program_that_cannot_start_gives_none():
    assert guard.run_program(["/nonexistent/psql", "-c", "SELECT 1"]) == (None, "")


def test_run_program_kills_a_program_past_its_timeout_and_leaves_no_child(tmp_path):
    marker = tmp_path / "pid"
    started = time.monotonic()
    program = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); print('partial', flush=True); time.sleep(30)"
    assert guard.run_program([sys.executable, "-c", program, str(marker)], timeout=1.0) == (None, "")
    assert time.monotonic() - started < 10
    with pytest.raises(ChildProcessError):
        os.waitpid(int(marker.read_text()), os.WNOHANG)


def test_the_program_imports_neither_typing_nor_subprocess():
    """What a run imports is paid on every health check and every fence run (see the comment above its imports)."""
    probe = "import sys; exec(open(sys.argv[1]).read(), {'__name__': 'probe'}); print(' '.join(sorted(sys.modules)))"
    status, output = guard.run_program([sys.executable, "-I", "-S", "-c", probe, GUARD_PATH])
    assert status == 0
    loaded = set(output.split())
    assert "json" in loaded
    assert not loaded & {"typing", "subprocess", "dataclasses", "psycopg", "threading", "socket", "urllib.parse"}


class SlowImportOfADriver:
    """A meta path finder that gives `psycopg` as a stand-in module after `seconds`: the guard's own import of its
    driver, slow on a busy host, must not eat the time its peers have to answer."""

    def __init__(self, seconds, connect_seconds=0.0):
        self.seconds = seconds
        self.connect_seconds = connect_seconds

    def find_spec(self, name, path=None, target=None):
        if name != "psycopg":
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        time.sleep(self.seconds)

        class Session:
            def __enter__(self):
                return self

            def __exit__(self, *_exc):
                return False

            def execute(self, statement):
                rows = {"SHOW in_hot_standby": ("on",), "SHOW primary_slot_name": ("b",), "IDENTIFY_SYSTEM": (SYSTEM, 1, "0/1", None)}
                return type("Rows", (), {"fetchone": lambda _self: rows[statement]})()

        module.Error = type("Error", (Exception,), {})
        module.ClientCursor = object
        module.connect = lambda **_kwargs: time.sleep(self.connect_seconds) or Session()


def config_with_one_peer(connect_timeout):
    return guard.Config(
        member="a", data_dir="/d", bin_dir="/b", port=5432, socket_dir="/s", peers=(guard.Peer("b", "b.example", 5432),),
        replication_user="rep", passfile="/p", state_file="/x", isolation_timeout=10, start_timeout=60,
        connect_timeout=connect_timeout,
    )  # fmt: skip


def test_a_slow_import_of_the_driver_does_not_count_against_the_peers_time(monkeypatch):
    monkeypatch.delitem(sys.modules, "psycopg", raising=False)
    monkeypatch.setattr(sys, "meta_path", [SlowImportOfADriver(1.5)] + sys.meta_path)
    config = config_with_one_peer(connect_timeout=1)
    assert guard.ask_peers(config) == [standby("b")]


def test_a_slow_import_of_the_driver_never_delays_the_end_of_a_minority(monkeypatch):
    """`within` is when a minority's timeout ends: counted from the call, import included, so a fence comes on time."""
    monkeypatch.delitem(sys.modules, "psycopg", raising=False)
    monkeypatch.setattr(sys, "meta_path", [SlowImportOfADriver(1.0, connect_seconds=0.3)] + sys.meta_path)
    config = config_with_one_peer(connect_timeout=2)
    started = time.monotonic()
    answers = guard.ask_peers(config, within=0.5)
    assert time.monotonic() - started < 1.3
    assert [answer.answered for answer in answers] == [False]
