"""Rolling changes, tried on a cluster built on PostgreSQL 15.18 (postgresql_minor_version) while the mirror also has
15.20. The tests run in order, each from where the last one left the cluster:

1. The build installed the release asked for, on every member.
2. Bad input changes nothing: a release apt does not have, another major release, a release older than the members
   run, an unknown restart policy. update.yml --check prints each member's release before and after.
3. An update whose package installation fails on a standby (an apt hook that fails) stops there, names the member,
   and leaves one primary with every member running; run again, it completes under the recording writer: every member
   on 15.20 (server and package), no acknowledged write lost, and the writer's longest gap set against a plain
   switchover's, measured right after. site.yml then changes nothing.
4. max_connections raised: site.yml --check prints the order of the restarts and changes nothing. Then through
   site.yml under the writer, the primary's restart left to report: the standbys restart
   one at a time (one of them always streams); restart.yml --check prints the switchover and changes nothing;
   restart.yml switches over, and run again changes nothing. Then lowered: the primary restarts first, in place, and
   each standby only once it has replayed the primary's new values. Each time no standby stops or pauses replay on the
   parameter check, no acknowledged write is lost; site.yml run again changes nothing.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

from ops import (
    MEMBERS,
    changed_total,
    host_of,
    playbook,
    playbook_command,
    primaries,
    psql,
    record,
    the_primary,
    wait_streaming_from,
    writer,
)
from writer import container_addresses

OLD, NEW = "15.18", "15.20"
# The inventory builds on OLD; a user moving the cluster sets postgresql_minor_version to NEW and runs update.yml.
TO_NEW = "postgresql_minor_version=" + NEW
FAILING_APT_HOOK = "/etc/apt/apt.conf.d/99pgops-test-fails"
# What a standby logs when its settings are below the primary's: its replay pauses, or it stops.
PARAMETER_CHECK_FAILURES = ("insufficient parameter settings", "recovery has paused", "hot standby is not possible")
FIGURES: dict = {}


def releases():
    """{member: (the release its server runs, the version of its postgresql-15 package)}."""
    return {
        name: (
            psql(name, "SHOW server_version").split(" ")[0],
            host_of(name).run("dpkg-query --show --showformat='${Version}' postgresql-15").stdout.strip(),
        )
        for name in MEMBERS
    }


def settings(name):
    return json.loads(psql(name, "SELECT json_object_agg(name, setting) FROM pg_settings WHERE name IN ('max_connections')"))


def log_lines_since(name, marker):
    """The server log of `name` after the line that holds `marker` (a statement the test ran and the log recorded)."""
    log = host_of(name).run("cat /var/log/postgresql/postgresql-15-main.log").stdout
    return log.split(marker, 1)[-1] if marker in log else log


def mark_logs():
    """A line in every member's server log to read the log from (a failing statement is always logged)."""
    marker = "pgops-test-mark-%d" % time.time_ns()
    for name in MEMBERS:
        psql(name, "SELECT '%s'::int" % marker, check=False)
    return marker


def parameter_check_failures(marker):
    return {
        name: [line for line in log_lines_since(name, marker).splitlines() if any(text in line for text in PARAMETER_CHECK_FAILURES)]
        for name in MEMBERS
    }


class StreamingWatch:
    """Counts, every 0.3 s, the standbys that stream from `primary`: the fewest seen is what a rolling restart left."""

    def __init__(self, primary):
        self.primary, self.counts = primary, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        query = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        while not self._stop.is_set():
            answer = subprocess.run(
                ["docker", "exec", "-u", "postgres", self.primary, "psql", "-XAtqc", query], capture_output=True, text=True, check=False
            )
            if answer.returncode == 0:
                self.counts.append(int(answer.stdout.strip()))
            time.sleep(0.3)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc):
        self._stop.set()
        self._thread.join(timeout=10)


def under_load(operation):
    """Run `operation` under the recording writer; returns (its result, the writer, the seconds it took)."""
    load = writer().start()
    time.sleep(1)
    began = time.monotonic()
    result = operation()
    took = time.monotonic() - began
    load.stop()
    return result, load, took


def assert_nothing_lost(load):
    primary = the_primary()
    address = container_addresses([primary])[0]
    missing = load.missing_on(address)
    assert load.acknowledged and not missing, "%d acknowledged writes missing on %s: %r" % (len(missing), primary, missing[:10])


def assert_site_changes_nothing(*extra):
    status, output = playbook("site", *extra)
    assert status == 0, output[-3000:]
    assert changed_total(output) == 0, output[-4000:]


def pause_bound():
    """The longest write pause allowed for an operation with one switchover: twice the plain switchover's, plus 2 s."""
    return 2 * FIGURES["switchover_gap"] + 2.0


def test_the_cluster_runs_the_release_it_was_built_on():
    assert releases() == {name: (OLD, OLD + "-0+deb12u1") for name in MEMBERS}


def test_bad_input_changes_nothing_and_says_why():
    before = releases()
    cases = [
        ("update", "postgresql_minor_version=15.99", "PostgreSQL 15.99 is not available from apt here"),
        ("update", "postgresql_minor_version=17.2", "another major release than the members run"),
        ("update", "postgresql_minor_version=15.10", "a minor update never goes back"),
        ("update", "postgresql_minor_version=fifteen", "a minor release is written MAJOR.MINOR"),
        ("restart", "restart_primary=sometimes", "restart_primary"),
        ("site", "restart_primary=sometimes", "restart_primary"),
    ]
    # All at once: each stops in its first plays, before any change.
    running = []
    for name, variable, _message in cases:
        command, environment = playbook_command(name, variable)
        running.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment))
    for (name, variable, message), process in zip(cases, running):
        output = process.communicate()[0]
        assert process.returncode != 0 and message in output, (name, variable, output[-3000:])
        assert changed_total(output) == 0, (name, variable, output[-3000:])
    assert releases() == before


def test_update_check_mode_prints_each_members_release_before_and_after_and_changes_nothing():
    before = releases()
    status, output = playbook("update", TO_NEW, "--check")
    assert status == 0, output[-3000:]
    for name in MEMBERS:
        assert "%s: %s -> %s" % (name, OLD, NEW) in output, output[-3000:]
    assert "switch over to node2" in output, output[-3000:]
    assert releases() == before


def test_an_update_that_fails_on_a_standby_names_it_and_leaves_the_cluster_serving():
    failing = MEMBERS[2]
    host_of(failing).run("echo 'DPkg::Pre-Invoke {\"/bin/false\";};' > %s", FAILING_APT_HOOK)
    try:
        status, output = playbook("update", TO_NEW)
    finally:
        host_of(failing).run("rm -f %s", FAILING_APT_HOOK)
    assert status != 0, output[-3000:]
    assert "The update stopped at %s (%s -> %s)" % (failing, OLD, NEW) in output, output[-3000:]
    assert primaries() == [MEMBERS[0]]
    after = releases()  # every member answers
    assert after[MEMBERS[1]] == (NEW, NEW + "-0+deb12u1")
    assert after[MEMBERS[0]][0] == OLD and after[failing] == (OLD, OLD + "-0+deb12u1")
    wait_streaming_from(MEMBERS[0], MEMBERS[1:])


def test_the_update_run_again_completes_under_load_with_one_switchover():
    (status, output), load, took = under_load(lambda: playbook("update", TO_NEW))
    assert status == 0, output[-4000:]
    assert releases() == {name: (NEW, NEW + "-0+deb12u1") for name in MEMBERS}
    assert_nothing_lost(load)
    primary = the_primary()
    assert primary == MEMBERS[1], "the update switches over to the first standby in inventory order"
    wait_streaming_from(primary, [name for name in MEMBERS if name != primary])
    update_gap = load.longest_gap()
    # A plain switchover, measured on the same cluster right after: what one switchover costs the writer here.
    (status, output), baseline, _took = under_load(lambda: playbook("switchover", "new_primary=%s" % MEMBERS[0]))
    assert status == 0, output[-3000:]
    assert_nothing_lost(baseline)
    FIGURES.update(
        update_gap=update_gap,
        update_writes=len(load.acknowledged),
        switchover_gap=baseline.longest_gap(),
        update_seconds=took,
        members=len(MEMBERS),
    )
    record("rolling_update", FIGURES)
    # One switchover, and standby restarts the writer never sees. One switchover's pause against another's varies by
    # up to three times under CI's load (bench/rolling.py: 5.1 to 14.4 s in one run), so the bound is loose: twice a
    # plain switchover's pause, plus 2 s. It catches a pause much longer than a switchover's (the primary stopped
    # while its packages are upgraded, say); it does not count pauses.
    assert update_gap <= pause_bound(), FIGURES
    assert_site_changes_nothing()


RAISED = '{"postgresql_settings": {"max_connections": 130}}'


def test_a_raised_max_connections_restarts_the_standbys_one_at_a_time_then_switches_over():
    primary = the_primary()
    standbys = [name for name in MEMBERS if name != primary]
    # site.yml --check prints the order the real run takes, from what its files would change, and changes nothing.
    status, output = playbook("site", RAISED, "--check")
    assert status == 0, output[-3000:]
    for number, name in enumerate(standbys, start=1):
        assert "%d. %s: restart (max_connections 100 -> 130)" % (number, name) in output, output[-3000:]
    assert "3. switch over to %s; %s starts again as its standby" % (standbys[0], primary) in output, output[-3000:]
    assert {name: settings(name)["max_connections"] for name in MEMBERS} == {name: "100" for name in MEMBERS}
    assert psql(primary, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    marker = mark_logs()

    def raise_then_switch_over():
        with StreamingWatch(primary) as watch:
            site = playbook("site", RAISED, "restart_primary=report")
        pending = {name: settings(name)["max_connections"] for name in MEMBERS}
        check = playbook("restart", "--check")
        checked = ({name: settings(name)["max_connections"] for name in MEMBERS}, the_primary())
        restart = playbook("restart")
        return site, watch.counts, pending, check, checked, restart

    (site, counts, pending, check, checked, restart), load, _took = under_load(raise_then_switch_over)
    assert site[0] == 0, site[1][-4000:]
    assert "waits for a restart (max_connections 100 -> 130), left as is" in site[1], site[1][-3000:]
    assert pending == dict({name: "130" for name in standbys}, **{primary: "100"})
    # One standby restarts at a time: the other always streams.
    assert counts and min(counts) >= 1, counts
    assert check[0] == 0 and "switch over to %s" % standbys[0] in check[1], check[1][-3000:]
    assert checked == (pending, primary), "restart.yml --check changed something"
    assert restart[0] == 0, restart[1][-4000:]
    assert the_primary() == standbys[0]
    assert {name: settings(name)["max_connections"] for name in MEMBERS} == {name: "130" for name in MEMBERS}
    assert parameter_check_failures(marker) == {name: [] for name in MEMBERS}
    assert_nothing_lost(load)
    FIGURES.update(
        raise_gap=load.longest_gap(), raise_writes=len(load.acknowledged), raise_fewest_streaming=min(counts), raise_samples=len(counts)
    )
    record("rolling_update", FIGURES)
    assert load.longest_gap() <= pause_bound(), FIGURES
    # Nothing waits for a restart any more: restart.yml again changes nothing (site.yml again: after the next test).
    status, output = playbook("restart")
    assert status == 0 and changed_total(output) == 0, output[-3000:]


def test_a_lowered_max_connections_restarts_the_primary_first_in_place():
    primary = the_primary()
    marker = mark_logs()
    (status, output), load, _took = under_load(lambda: playbook("site"))
    assert status == 0, output[-4000:]
    assert "%s (primary): restart in place first (max_connections 130 -> 100)" % primary in output, output[-3000:]
    assert the_primary() == primary
    wait_streaming_from(primary, [name for name in MEMBERS if name != primary])
    assert {name: settings(name)["max_connections"] for name in MEMBERS} == {name: "100" for name in MEMBERS}
    assert parameter_check_failures(marker) == {name: [] for name in MEMBERS}
    assert_nothing_lost(load)
    FIGURES.update(lower_gap=load.longest_gap(), lower_writes=len(load.acknowledged))
    record("rolling_update", FIGURES)
    assert load.longest_gap() <= pause_bound(), FIGURES
    assert_site_changes_nothing()
