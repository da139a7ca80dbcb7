"""The majority rule, tried on the quorum scenario's cluster after test_faults.py (each test starts from whichever member
is primary), with a checker asking every member inside the containers whether it accepts writes:

1. One standby cut off, the controller reaching only it: failover.yml refuses (1 of 3 members), the primary keeps its
   majority (the other standby) and stays up; once healed there is nothing to repair.
2. The controller cut off from a primary the standbys still stream from: failover.yml reads them twice and refuses.
2b. The asymmetric split: the primary and one standby cut off from each other only, both still reaching the third
   member, the controller reaching the two standbys. The primary keeps its majority (the third streams from it) and
   failover.yml refuses; forced with the disaster-recovery override, it detaches the standbys, and the primary, which
   still reaches the third member, stops itself before the promotion: never two writable.
3. Every member stopped and started again, in three orders: the same primary, every standby streaming, no action.
4. Under writes, a switchover, then the new primary killed and failover.yml run at once (kill-to-first-write
   measured): the most advanced standby is promoted although it has had no restartpoint on the new timeline. The
   killed primary then boots cut off from every peer (no network, so no peer name resolves): its guard waits for a
   majority, then starts it read-only; rejoin.yml brings it back once healed.
"""

from __future__ import annotations

import time

from ops import MEMBERS, playbook, primaries, psql, record, the_primary, unreachable, wait_streaming_from, writer
from test_faults import ADDRESSES, NETWORK, docker, in_container, wait_for
from watch import WritableWatch

START_GUARD_TIMEOUT = 30  # postgresql_start_guard_timeout in molecule.yml


def cut(name):
    docker("network", "disconnect", NETWORK, name)


def heal(name):
    docker("network", "connect", "--ip", ADDRESSES[name], NETWORK, name)


def cut_between(first, second, action="add"):
    """Cut (or, with action="del", heal) the network between two members only: a blackhole route to each other in each
    one's network namespace, set by a throw-away container of the lab image that joins it. Both keep reaching every
    other member."""
    for name, other in ((first, second), (second, first)):
        image = docker("inspect", "-f", "{{.Config.Image}}", name).stdout.strip()
        docker(
            "run", "--rm", "--network", "container:" + name, "--cap-add", "NET_ADMIN", "--entrypoint", "ip", image,
            "route", action, "blackhole", ADDRESSES[other] + "/32",
        )  # fmt: skip


def assert_never_two_writable(watch):
    assert watch.samples, "the checker took no sample"
    assert watch.most_writable_at_once() == 1, [sample for sample in watch.samples if len(sample[1]) > 1][:5]


def test_a_standby_alone_with_the_controller_cannot_fail_over():
    primary = the_primary()
    kept, lone = [name for name in MEMBERS if name != primary]
    watch = WritableWatch(MEMBERS).start()
    cut(lone)
    try:
        refused, output = playbook("failover", unreachable(primary, kept), "new_primary=" + lone, "failover_primary_unreachable_ok=true")
        assert refused != 0, output[-3000:]
        assert "only 1 of the 3 members can be reached (%s), and promoting needs a majority (2)" % lone in output, output[-3000:]
        # Longer than the fence's timeout (10 s) and two checks: the primary keeps the kept standby's vote.
        time.sleep(15)
        assert primaries() == [primary]
    finally:
        heal(lone)
    # The primary's old walsender for the cut-off standby lingers until wal_sender_timeout: ask the standby itself.
    wait_for(lambda: psql(lone, "SELECT status FROM pg_stat_wal_receiver", check=False).stdout.strip() == "streaming", 60, "no stream")
    wait_streaming_from(primary, [kept, lone])
    watch.stop()
    assert_never_two_writable(watch)
    assert all(names == [primary] for _at, names in watch.samples), "the primary stopped taking writes"
    status, output = playbook("status")
    assert status == 0, output[-3000:]
    record("quorum_minority_refused", dict(checker_samples=watch.polls(), most_writable_at_once=watch.most_writable_at_once()))


def test_a_controller_cut_off_from_a_running_primary_does_not_fail_over():
    primary = the_primary()
    refused, output = playbook("failover", unreachable(primary), "failover_primary_unreachable_ok=true")
    assert refused != 0, output[-3000:]
    assert "still stream from %s, which this controller cannot reach" % primary in output, output[-3000:]
    assert primaries() == [primary]


def test_the_asymmetric_split_never_leaves_two_writable():
    primary = the_primary()
    cut_standby, bridge = [name for name in MEMBERS if name != primary]
    load = writer().start()
    watch = WritableWatch(MEMBERS).start()
    cut_between(primary, cut_standby)
    cut_at = time.monotonic()
    try:
        wait_for(
            lambda: psql(cut_standby, "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'") == "0", 30, "still streams"
        )
        refused, output = playbook("failover", unreachable(primary), "failover_primary_unreachable_ok=true")
        assert refused != 0, output[-3000:]
        assert "%s still streams from %s" % (bridge, primary) in output, output[-3000:]
        # Longer than the fence's timeout and two checks: the bridge's vote keeps the primary up.
        time.sleep(15)
        assert primaries() == [primary]
        status, output = playbook(
            "failover", unreachable(primary), "failover_primary_unreachable_ok=true", "failover_without_majority=true"
        )
        assert status == 0, output[-4000:]
        assert "WARNING: failover_without_majority=true" in output, output[-4000:]
        new_primary = primaries()
        assert len(new_primary) == 1 and new_primary[0] != primary, new_primary
        new_primary = new_primary[0]
        # The old primary still reaches the bridge, but the bridge no longer follows it: it stopped itself, fenced.
        assert in_container(primary, "test -e /var/lib/postgresql/15/main/standby.signal && echo fenced") == "fenced"
        journal = in_container(primary, "journalctl --no-pager -u pgops-isolation-fence-15-main.service")
        assert "members voted for this primary (a majority needs 2)" in journal, journal[-2000:]
    finally:
        cut_between(primary, cut_standby, "del")
    status, output = playbook("rejoin", "rejoin_host=" + primary)
    assert status == 0, output[-4000:]
    wait_streaming_from(new_primary, [name for name in MEMBERS if name != new_primary])
    load.stop()
    watch.stop()
    assert_never_two_writable(watch)
    fenced_at = watch.last_writable(primary)
    promoted_at = watch.first_writable_after(new_primary, cut_at)
    assert fenced_at is not None and promoted_at is not None and fenced_at < promoted_at
    address = load.conninfo["host"].split(",")[MEMBERS.index(new_primary)]
    missing = load.missing_on(address)
    after_promotion = [write_id for write_id, at, _took in load.acknowledged if at > promoted_at]
    assert after_promotion and not set(missing) & set(after_promotion)
    result = dict(
        checker_samples=watch.polls(),
        most_writable_at_once=watch.most_writable_at_once(),
        seconds_from_fence_to_promotion=round(promoted_at - fenced_at, 1),
        acknowledged=len(load.acknowledged),
        acknowledged_after_the_promotion=len(after_promotion),
        lost_after_the_promotion=len(set(missing) & set(after_promotion)),
        lost_before_the_promotion_override=len(missing),
    )
    record("quorum_asymmetric_split", result)
    print("asymmetric split:", result)


def test_every_member_restarted_at_once_in_any_order_keeps_the_primary():
    primary = the_primary()
    standbys = [name for name in MEMBERS if name != primary]
    watch = WritableWatch(MEMBERS).start()
    orders = {
        "all at once": [MEMBERS],
        "primary first": [[primary], standbys],
        "standbys first": [standbys, [primary]],
    }
    took = {}
    for order, waves in orders.items():
        docker("stop", "-t", "30", *MEMBERS)
        stopped_at = time.monotonic()
        for wave in waves:
            docker("start", *wave)
            time.sleep(5)
        wait_for(lambda: primaries() == [primary], 120, "%s: %s never came back as the primary" % (order, primary))
        wait_streaming_from(primary, standbys, timeout=120)
        took[order] = round(time.monotonic() - stopped_at, 1)
        assert primaries() == [primary], order
    watch.stop()
    assert_never_two_writable(watch)
    record("quorum_cold_starts", dict(seconds_to_streaming=took, checker_samples=watch.polls()))
    print("cold starts:", took)


def test_after_a_switchover_the_primary_killed_then_booted_cut_off():
    """A switchover, then the new primary killed under writes and failover.yml run at once. The most advanced standby
    has had no restartpoint since the switchover's timeline switch (its control file still names the old timeline),
    the other one has: the choice follows what each received. The killed primary then boots cut off from every peer
    (no network, so no peer name resolves): its guard waits for a majority, then starts it read-only."""
    old_primary = the_primary()
    new_primary, ahead = [name for name in MEMBERS if name != old_primary]
    behind = old_primary
    load = writer().start()
    watch = WritableWatch(MEMBERS).start()
    status, output = playbook("switchover", "new_primary=" + new_primary)
    assert status == 0, output[-3000:]
    wait_streaming_from(new_primary, [ahead, behind])
    # A restartpoint on the member that will fall behind, at a checkpoint of the new timeline: its control file moves
    # to the new timeline. The other standby's last restartpoint was at the cold starts' stop, minutes ago.
    psql(new_primary, "CHECKPOINT")
    position = psql(new_primary, "SELECT pg_current_wal_lsn()")
    replayed = "SELECT pg_last_wal_replay_lsn() >= '%s'" % position
    wait_for(lambda: psql(behind, replayed) == "t", 30, "the checkpoint was not replayed")
    psql(behind, "CHECKPOINT")
    psql(behind, "ALTER SYSTEM SET primary_conninfo = ''")
    psql(behind, "SELECT pg_reload_conf()")
    wait_for(lambda: psql(behind, "SELECT count(*) FROM pg_stat_wal_receiver") == "0", 30, "the WAL receiver did not stop")
    psql(new_primary, "CREATE TABLE received_most AS SELECT g FROM generate_series(1, 100000) AS g")
    wait_for(lambda: psql(ahead, "SELECT count(*) FROM received_most", check=False).stdout.strip() == "100000", 60, "no rows")
    # The condition that misled the choice before: by their control files, the one behind looks newer.
    checkpoint_timeline = "SELECT timeline_id FROM pg_control_checkpoint()"
    assert int(psql(ahead, checkpoint_timeline)) < int(psql(behind, checkpoint_timeline))

    docker("kill", new_primary)
    killed_at = time.monotonic()
    status, output = playbook("failover", "failover_primary_unreachable_ok=true")
    assert status == 0, output[-4000:]
    assert "promote %s (ranking: %s > %s)" % (ahead, ahead, behind) in output, output[-4000:]
    assert primaries() == [ahead]
    assert psql(ahead, "SELECT count(*) FROM received_most") == "100000"
    promoted_at = watch.first_writable_after(ahead, killed_at)

    # Powered on again while its network is still down: no peer answers, no peer name resolves.
    cut(new_primary)
    try:
        docker("start", new_primary)
        booted_at = time.monotonic()
        wait_for(lambda: psql(new_primary, "SELECT 1", check=False).rc == 0, 120, "the killed primary's server never started")
        started_after = time.monotonic() - booted_at
        assert psql(new_primary, "SELECT pg_is_in_recovery()") == "t"
        journal = in_container(new_primary, "journalctl -b --no-pager -u postgresql@15-main")
        assert "starting read-only with standby.signal after waiting %d s for a majority" % START_GUARD_TIMEOUT in journal, journal[-3000:]
        assert "does not answer" in journal, journal[-3000:]
    finally:
        heal(new_primary)
    status, output = playbook("rejoin", "rejoin_host=" + new_primary)
    assert status == 0, output[-4000:]
    wait_streaming_from(ahead, [behind, new_primary])
    load.stop()
    watch.stop()

    assert_never_two_writable(watch)
    address = load.conninfo["host"].split(",")[MEMBERS.index(ahead)]
    missing = load.missing_on(address)
    after_kill = [write_id for write_id, at, _took in load.acknowledged if at > killed_at]
    assert after_kill and not set(missing) & set(after_kill)
    first_write = min(at for _write_id, at, _took in load.acknowledged if at > killed_at)
    result = dict(
        checker_samples=watch.polls(),
        most_writable_at_once=watch.most_writable_at_once(),
        seconds_from_kill_to_promotion=round(promoted_at - killed_at, 1),
        seconds_from_kill_to_first_write=round(first_write - killed_at, 1),
        seconds_the_cut_off_boot_waited=round(started_after, 1),
        acknowledged=len(load.acknowledged),
        acknowledged_after_the_kill=len(after_kill),
        lost_after_the_kill=len(set(missing) & set(after_kill)),
        lost_before_the_kill_async=len(missing),
    )
    record("quorum_kill_and_boot_cut_off", result)
    print("switchover, kill, failover, boot cut off:", result)
