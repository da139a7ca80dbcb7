"""pgBackRest: the repository host (repo) and three members, in order; each test starts where the last one left it.

1. Files and secrets: the repository and the configuration are their owner's only, and the passphrase is nowhere else,
   not even in site.yml's output at -vvv (which changes nothing).
2. A full backup from a standby (backup.yml, after its --check took none): what it read from each member, from the
   repository host's log.
3. pgBackRest killed mid-backup: the next backup completes and the repository verifies; the timers start a scheduled
   backup, and retention keeps two full backups.
4. The archive across a switchover and a failover with a rejoin: pgBackRest's check passes, and every WAL segment on
   the way from the first backup to now, timeline after timeline, can be fetched with archive-get.
5. A former primary whose WAL was recycled: rejoin.yml re-clones it without the archive, rewinds it with the archive.
6. A standby that stayed down until its slot lost the WAL it needs catches up from the archive by itself.
7. A standby whose data directory is lost, built again by site.yml from the primary (pg_basebackup) and then from the
   newest backup: what the primary sent each time, measured on its network interface.
8. Bad input for restore.yml: no repository host, an unknown stanza, a target before the first backup, in the future,
   and a time without its zone; and a restore refused while a client is connected.
9. Point-in-time recovery to a time between two known batches of writes: every row of the first batch is there and
   none of the second, the standbys stream from the restored primary, and site.yml then changes nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

import psycopg
import pytest
from ops import (
    MEMBERS,
    RUNNER,
    changed_total,
    container_addresses,
    cut_off,
    next_member,
    playbook,
    psql,
    record,
    the_primary,
    wait_streaming_from,
    writer,
)

REPOSITORY = sorted(RUNNER.get_hosts("pgbackrest"))[0]
REPOSITORY_VARS = RUNNER.get_variables(REPOSITORY)
PASSPHRASE = REPOSITORY_VARS["pgbackrest_cipher_pass"]
STANZA = "postgres"
# From the running server, so that the scenario runs unchanged on Debian 13's PostgreSQL 17.
DATA_DIR = psql(MEMBERS[0], "SHOW data_directory")
SERVICE = "postgresql@%d-main" % (int(psql(MEMBERS[0], "SHOW server_version_num")) // 10000)
SEGMENT_BYTES = 16 * 1024 * 1024


def docker(*arguments, check=True):
    return subprocess.run(["docker", *arguments], capture_output=True, text=True, check=check)


def in_container(name, *command, check=True, user=None):
    completed = docker("exec", *(["-u", user] if user else []), name, *command, check=False)
    if check:
        assert completed.returncode == 0, (name, command, completed.stdout, completed.stderr)
    return completed.stdout.strip() if check else completed


def pgbackrest(*arguments, check=True):
    """pgBackRest on the repository host, as the repository's owner."""
    return in_container(REPOSITORY, "pgbackrest", "--stanza=" + STANZA, *arguments, check=check, user="pgbackrest")


def repository_info():
    return json.loads(pgbackrest("--output=json", "info"))[0]


def sent_bytes(name):
    """Bytes the member has sent on its network interfaces but loopback (a network cut and reconnection renames them)."""
    counters = in_container(
        name, "sh", "-c", 'for link in /sys/class/net/*; do [ "${link##*/}" = lo ] || cat "$link/statistics/tx_bytes"; done'
    )
    return sum(int(value) for value in counters.split())


def wait_for(condition, timeout, message):
    """Wait until `condition()`; `message` is a text, or a function that reads the state worth showing when it fails."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message() if callable(message) else message
        time.sleep(0.5)


def test_repository_and_configuration_belong_to_their_owner_and_the_passphrase_is_nowhere_else():
    listing = in_container(
        REPOSITORY, "stat", "-c", "%U %a %n", "/etc/pgbackrest.conf", "/var/lib/pgbackrest", "/etc/pgbackrest/tls/host.key"
    )
    assert listing.splitlines() == [
        "pgbackrest 600 /etc/pgbackrest.conf",
        "pgbackrest 750 /var/lib/pgbackrest",
        "pgbackrest 600 /etc/pgbackrest/tls/host.key",
    ]
    # Nothing under the repository is open to other users (links aside, whose mode means nothing).
    assert in_container(REPOSITORY, "find", "/var/lib/pgbackrest", "!", "-type", "l", "-perm", "/o=rwx") == ""
    for name in MEMBERS:
        assert in_container(name, "stat", "-c", "%U %a", "/etc/pgbackrest.conf") == "postgres 600"
    # The passphrase (a canary with quotes, a backslash and a dollar) is in the repository host's configuration only:
    # in no other file, log or journal of any host, and no process shows it while a backup runs.
    for name in [*MEMBERS, REPOSITORY]:
        found = in_container(
            name,
            "grep",
            "-rlF",
            "--",
            PASSPHRASE,
            "/etc",
            "/var/log",
            "/var/lib/pgbackrest",
            "/var/lib/postgresql",
            "/tmp",
            "/run",
            check=False,
        )
        expected = "/etc/pgbackrest.conf\n" if name == REPOSITORY else ""
        assert found.stdout == expected, (name, found.stdout)
        assert PASSPHRASE not in in_container(name, "journalctl", "--no-pager", "-q")
    # Nor in what Ansible prints at its most verbose, and site.yml run again changes nothing.
    status, output = playbook("site", "--verbose", "--verbose", "--verbose")
    assert status == 0 and changed_total(output) == 0, output[-3000:]
    assert PASSPHRASE not in output


SIZE = re.compile(r"backup file (\S+?):\S+ \(([0-9.]+)(B|KB|MB|GB)")
UNITS = dict(B=1, KB=1024, MB=1024**2, GB=1024**3)


def bytes_read_per_member():
    """What the last backup read from each member, from the repository host's log (a line per file at level detail)."""
    log = in_container(REPOSITORY, "cat", "/var/log/pgbackrest/%s-backup.log" % STANZA)
    last = log[log.rindex("backup command begin") :]
    read: dict = {}
    for host, size, unit in SIZE.findall(last):
        read[host] = read.get(host, 0) + float(size) * UNITS[unit]
    return read


def test_backup_from_a_standby_reads_the_data_files_there():
    primary = the_primary()
    psql(
        primary, "CREATE TABLE IF NOT EXISTS ballast AS SELECT g AS id, repeat(md5(g::text), 4) AS pad FROM generate_series(1, 300000) AS g"
    )
    processes = []
    stop = threading.Event()

    def watch_processes():
        while not stop.is_set():
            processes.append(in_container(REPOSITORY, "ps", "-eo", "args", check=False).stdout)
            time.sleep(0.2)

    # --check prints the plan and takes no backup.
    status, output = playbook("backup", "backup_type=full", "--check")
    assert status == 0 and "data files from a standby that streams" in output, output[-3000:]
    assert repository_info().get("backup", []) == []
    watcher = threading.Thread(target=watch_processes, daemon=True)
    watcher.start()
    started = time.monotonic()
    status, output = playbook("backup", "backup_type=full")
    took = time.monotonic() - started
    stop.set()
    watcher.join()
    assert status == 0, output[-3000:]
    newest = repository_info()["backup"][-1]
    assert newest["type"] == "full" and not newest["error"]
    read = bytes_read_per_member()
    database_bytes = newest["info"]["size"]
    # pgBackRest reads from the primary only the few files a standby cannot give (pg_control, the backup label).
    copied_from = max(read, key=read.get)
    assert copied_from != primary and read[copied_from] > 0.95 * database_bytes, (read, database_bytes)
    assert read.get(primary, 0) < 0.01 * database_bytes, (read, database_bytes)
    assert not [listing for listing in processes if PASSPHRASE in listing]
    record(
        "backup_from_standby",
        dict(
            database_bytes=database_bytes,
            read_on_primary_bytes=int(read.get(primary, 0)),
            read_on_standby_bytes=int(read[copied_from]),
            seconds=round(took, 1),
        ),
    )


def test_a_backup_killed_midway_is_followed_by_one_that_completes_and_verifies():
    killed = []

    def kill_the_backup():
        # The backup process of the repository host, once it has started copying files.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            found = in_container(REPOSITORY, "pgrep", "-f", "pgbackrest.* backup$", check=False).stdout.split()
            if found:
                time.sleep(1)
                in_container(REPOSITORY, "pkill", "-KILL", "-f", "pgbackrest.*--stanza=%s" % STANZA, check=False)
                killed.append(found)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_backup, daemon=True)
    killer.start()
    status, output = playbook("backup", "backup_type=full")
    killer.join()
    assert killed and status != 0, output[-3000:]
    status, output = playbook("backup", "backup_type=full")
    assert status == 0, output[-3000:]
    assert repository_info()["backup"][-1]["error"] is False
    verified = pgbackrest("verify", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_timers_take_the_scheduled_backups_and_retention_keeps_two_full_ones():
    timers = in_container(REPOSITORY, "systemctl", "list-timers", "--all", "--no-legend", "pgops-backup-*")
    # The default schedule: a full backup on Sundays, a differential one on the other days, no incremental one.
    assert "pgops-backup-full.timer" in timers and "pgops-backup-diff.timer" in timers and "pgops-backup-incr.timer" not in timers
    first_full = repository_info()["backup"][0]["label"]
    # A third full backup (the two before it by backup.yml), then a differential one, as the timers start them.
    in_container(REPOSITORY, "systemctl", "start", "pgops-backup@full.service")
    in_container(REPOSITORY, "systemctl", "start", "pgops-backup@diff.service")
    backups = repository_info()["backup"]
    assert backups[-1]["type"] == "diff" and not backups[-1]["error"]
    labels = [backup["label"] for backup in backups]
    # pgbackrest_retention_full: 2 full backups kept, the oldest expired.
    assert len([backup for backup in backups if backup["type"] == "full"]) == 2 and first_full not in labels, labels


def timeline_history(name, timeline):
    """The switch points of the timelines before `timeline`, from its history file in the archive: [(tli, lsn)]."""
    if timeline == 1:
        return []
    path = "/tmp/%08X.history" % timeline
    in_container(
        name, "pgbackrest", "--stanza=" + STANZA, "--no-archive-async", "archive-get", "%08X.history" % timeline, path, user="postgres"
    )
    entries = []
    for line in in_container(name, "cat", path).splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            entries.append((int(fields[0]), lsn_value(fields[1])))
    return entries


def lsn_value(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def segment_name(timeline, position):
    number = position // SEGMENT_BYTES
    return "%08X%08X%08X" % (timeline, number // 0x100, number % 0x100)


def segment_number(name):
    return int(name[8:16], 16) * 0x100 + int(name[16:], 16)


def segments_on_the_way(history, timeline, start, end):
    """The WAL segments recovery reads from position `start` to `end` on `timeline`: each timeline's own segments up to
    its switch point, then the next timeline's from the segment that holds it."""
    switches = [*history, (timeline, None)]
    names, position = [], start
    for tli, switch in switches:
        stop = end if switch is None else switch
        if stop < position:
            continue
        first, last = position // SEGMENT_BYTES, stop // SEGMENT_BYTES
        # A timeline that ends at a switch point leaves the segment holding it to the next timeline.
        last = last if switch is None else last - 1
        names += [segment_name(tli, number * SEGMENT_BYTES) for number in range(first, last + 1)]
        position = max(position, first * SEGMENT_BYTES) if switch is None else max(position, stop)
    return names


def test_segments_on_the_way_follow_each_timeline_to_its_switch_point():
    history = [(1, lsn_value("0/3000100")), (2, lsn_value("0/5000028"))]
    assert segments_on_the_way(history, 3, lsn_value("0/1000000"), lsn_value("0/6000000")) == [
        "000000010000000000000001",
        "000000010000000000000002",
        "000000020000000000000003",
        "000000020000000000000004",
        "000000030000000000000005",
        "000000030000000000000006",
    ]


def test_the_archive_has_every_segment_across_a_switchover_and_a_failover():
    first_backup = repository_info()["backup"][0]
    load = writer().start()
    primary = the_primary()
    candidate = next_member(primary)
    status, output = playbook("switchover", "new_primary=" + candidate)
    assert status == 0, output[-3000:]
    time.sleep(2)
    # The failover: the new primary's server is killed, another member takes over, and the old one rejoins.
    old = candidate
    in_container(old, "systemctl", "kill", "--signal=KILL", SERVICE)
    status, output = playbook("failover", "failover_primary_unreachable_ok=true")
    assert status == 0, output[-3000:]
    new_primary = the_primary()
    status, output = playbook("rejoin", "rejoin_host=" + old)
    assert status == 0, output[-3000:]
    load.stop()
    wait_streaming_from(new_primary, [name for name in MEMBERS if name != new_primary])
    # pgBackRest's own check: the primary's WAL reaches the archive, the stanza matches the cluster.
    checked = pgbackrest("check", check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # A write, then a switch, so that the segment that holds the newest WAL is complete and goes to the archive.
    psql(new_primary, "CREATE TABLE IF NOT EXISTS archived_marker (at timestamptz); INSERT INTO archived_marker VALUES (now())")
    end = lsn_value(psql(new_primary, "SELECT pg_switch_wal()")) - 1
    timeline = int(psql(new_primary, "SELECT timeline_id FROM pg_control_checkpoint()"))
    assert timeline >= 3, timeline
    history = timeline_history(new_primary, timeline)
    wanted = segments_on_the_way(history, timeline, lsn_value(first_backup["lsn"]["start"]), end)
    wait_for(
        lambda: (
            in_container(
                new_primary,
                "pgbackrest",
                "--stanza=" + STANZA,
                "--no-archive-async",
                "archive-get",
                wanted[-1],
                "/tmp/last",
                user="postgres",
                check=False,
            ).returncode
            == 0
        ),
        60,
        "the last segment %s never reached the archive" % wanted[-1],
    )
    fetched = in_container(
        new_primary,
        "sh",
        "-c",
        'for segment in "$@"; do pgbackrest --stanza=%s --no-archive-async archive-get "$segment" /tmp/fetched '
        '|| echo "missing $segment"; done' % STANZA,
        "fetch",
        *wanted,
        user="postgres",
    )
    assert "missing" not in fetched, fetched
    missing = load.missing_on(container_addresses([new_primary])[0])
    assert not missing, missing[:10]
    record("archive_across_roles", dict(timelines=timeline, segments_fetched=len(wanted)))


def archive_fetches(name):
    """How many times this member has had pgBackRest fetch WAL from the archive (a restore_command of the running server
    or of pg_rewind), by its logs."""
    counted = in_container(
        name,
        "sh",
        "-c",
        "cat /var/log/pgbackrest/%s-archive-get*.log 2>/dev/null | grep -c 'WAL file(s) from archive\\|found .* in the'" % STANZA,
        check=False,
    )
    return int(counted.stdout.strip() or 0)


def diverge_and_recycle():
    """The primary writes on after the others last heard from it (cut off, a checkpoint, then it crashes), a failover
    promotes another member, and the old primary's WAL from its last checkpoint before the timelines parted, which
    pg_rewind must read, is no longer in its pg_wal but only in the archive, as after recycling. Returns (old primary, new primary, the
    segments removed)."""
    primary = the_primary()
    psql(primary, "CREATE TABLE IF NOT EXISTS wal_filler (pad text)")
    psql(primary, "CHECKPOINT")
    # The last checkpoint the two timelines will share: pg_rewind reads the old primary's WAL from there on.
    common_checkpoint = psql(primary, "SELECT pg_walfile_name(redo_lsn) FROM pg_control_checkpoint()")
    # WAL after the checkpoint, streamed and archived: the part pg_rewind reads back from the archive.
    psql(primary, "INSERT INTO wal_filler SELECT repeat('z', 500) FROM generate_series(1, 60000)")
    switched = psql(primary, "SELECT pg_walfile_name(pg_switch_wal())")
    wait_for(
        lambda: psql(primary, "SELECT last_archived_wal FROM pg_stat_archiver") >= switched,
        180,
        lambda: (
            "not archived: %s; pg_stat_archiver: %s; archive-push log: %s"
            % (
                switched,
                psql(primary, "SELECT row(s.*) FROM pg_stat_archiver s"),
                in_container(primary, "sh", "-c", "tail -n 20 /var/log/pgbackrest/%s-archive-push-async.log" % STANZA, check=False).stdout,
            )
        ),
    )
    position = psql(primary, "SELECT pg_current_wal_lsn()")
    for name in MEMBERS:
        if name != primary:
            wait_for(lambda name=name: psql(name, "SELECT pg_last_wal_replay_lsn() >= '%s'" % position) == "t", 60, name)
    reconnect = cut_off(primary)
    try:
        psql(primary, "INSERT INTO wal_filler VALUES ('only on the old primary')")
        # A checkpoint after the timelines parted: recycling may then remove what came before it, which pg_rewind
        # needs and crash recovery does not.
        psql(primary, "CHECKPOINT")
        in_container(primary, "systemctl", "kill", "--signal=KILL", SERVICE)
    finally:
        reconnect()
    status, output = playbook("failover", "failover_primary_unreachable_ok=true")
    assert status == 0, output[-3000:]
    new_primary = the_primary()
    # The test's premise: what the old primary wrote after the cut is on it alone.
    assert psql(new_primary, "SELECT count(*) FROM wal_filler WHERE pad = 'only on the old primary'") == "0", new_primary
    timeline = int(psql(new_primary, "SELECT timeline_id FROM pg_control_checkpoint()"))
    diverged_in = segment_name(timeline - 1, timeline_history(new_primary, timeline)[-1][1])
    segments = in_container(primary, "sh", "-c", "ls %s/pg_wal | grep -E '^[0-9A-F]{24}$' | sort" % DATA_DIR).split()
    # The checkpoint after the cut let the old primary recycle what came before it; whatever it kept of that goes too.
    kept = [name for name in segments if name < diverged_in]
    if kept:
        in_container(primary, "rm", *["%s/pg_wal/%s" % (DATA_DIR, name) for name in kept])
    # What pg_rewind must read back from the archive: from the last shared checkpoint's segment to the parting one.
    recycled = [
        segment_name(timeline - 1, number * SEGMENT_BYTES)
        for number in range(segment_number(common_checkpoint), segment_number(diverged_in))
    ]
    assert recycled and not set(recycled) & set(segments) - set(kept), (common_checkpoint, diverged_in, segments)
    return primary, new_primary, recycled


def rejoined(old, new_primary, *extra):
    """rejoin.yml for the old primary, until every other member streams from the new one; returns (output, seconds)."""
    started = time.monotonic()
    status, output = playbook("rejoin", "rejoin_host=" + old, *extra)
    assert status == 0, output[-4000:]
    wait_streaming_from(new_primary, [name for name in MEMBERS if name != new_primary])
    assert psql(old, "SELECT count(*) FROM wal_filler WHERE pad = 'only on the old primary'") == "0", output[-6000:]
    return output, round(time.monotonic() - started, 1)


def test_a_former_primary_whose_wal_was_recycled_rewinds_from_the_archive_instead_of_a_reclone():
    """The same fault twice: rejoin.yml with the archive hidden from it (-e pgbackrest_group=nowhere: pg_rewind without
    --restore-target-wal) cannot rewind and re-clones; with the archive, pg_rewind fetches the recycled WAL from it."""
    old, new_primary, recycled = diverge_and_recycle()
    output, reclone_seconds = rejoined(old, new_primary, "pgbackrest_group=nowhere")
    assert "clone from %s: done" % new_primary in output, output[-4000:]
    in_container(old, "sh", "-c", "rm -rf %s.pgops-old-*" % DATA_DIR)

    old, new_primary, recycled = diverge_and_recycle()
    fetches_before = archive_fetches(old)
    output, rewind_seconds = rejoined(old, new_primary)
    assert "clone from %s: done" % new_primary not in output, output[-4000:]
    assert in_container(old, "sh", "-c", "ls -d %s.pgops-old-* 2>/dev/null || true" % DATA_DIR) == ""
    # pg_rewind read the recycled segments through the member's restore_command.
    assert archive_fetches(old) > fetches_before
    record(
        "rewind_from_archive",
        dict(
            recycled_segments=len(recycled),
            database_bytes=int(psql(new_primary, "SELECT sum(pg_database_size(oid)) FROM pg_database")),
            reclone_seconds=reclone_seconds,
            rewind_from_archive_seconds=rewind_seconds,
            rewind_over_reclone=round(rewind_seconds / reclone_seconds, 2),
        ),
    )


def test_a_standby_that_lost_its_wal_catches_up_from_the_archive_by_itself():
    """The faults scenario's slot test with an archive: the slot is lost, the standby started again fetches what the
    primary recycled with its restore_command and streams again, with no playbook and no re-clone."""
    primary = the_primary()
    target = next_member(primary)
    in_container(target, "systemctl", "stop", SERVICE)
    written = 0
    limit = int(psql(primary, "SELECT pg_size_bytes(current_setting('max_slot_wal_keep_size'))"))
    psql(primary, "CREATE TABLE IF NOT EXISTS wal_filler (pad text)")
    while psql(primary, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '%s'" % target) != "lost":
        before = psql(primary, "SELECT pg_current_wal_lsn()")
        psql(primary, "INSERT INTO wal_filler SELECT repeat('y', 500) FROM generate_series(1, 100000)")
        psql(primary, "TRUNCATE wal_filler")
        psql(primary, "CHECKPOINT")
        written += int(psql(primary, "SELECT pg_current_wal_lsn() - '%s'" % before))
        assert written < 20 * limit, "the slot was never invalidated after %d bytes of WAL" % written
    # The oldest segment of the primary's own timeline (files of older timelines may linger there).
    oldest_on_primary = psql(
        primary,
        "SELECT min(name) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' AND left(name, 8) = "
        "(SELECT upper(lpad(to_hex(timeline_id), 8, '0')) FROM pg_control_checkpoint())",
    )
    needed = in_container(target, "sh", "-c", "ls %s/pg_wal | grep -E '^[0-9A-F]{24}$' | sort | tail -1" % DATA_DIR)
    assert needed[8:] < oldest_on_primary[8:], (needed, oldest_on_primary)
    fetches_before = archive_fetches(target)
    started = time.monotonic()
    in_container(target, "systemctl", "start", SERVICE)
    psql(primary, "INSERT INTO wal_filler VALUES ('after the restart')")
    wait_for(
        lambda: psql(target, "SELECT count(*) FROM wal_filler WHERE pad = 'after the restart'", check=False).stdout.strip() == "1",
        120,
        "the standby does not catch up",
    )
    took = time.monotonic() - started
    wait_streaming_from(primary, [name for name in MEMBERS if name != primary])
    # What it replayed came from the archive (its restore_command asked pgBackRest for it).
    assert archive_fetches(target) > fetches_before
    status, output = playbook("rejoin", "rejoin_host=" + target)
    assert status == 0 and "Nothing to do: %s streams from %s." % (target, primary) in output, output[-3000:]
    record("standby_caught_up_from_archive", dict(wal_written_bytes=written, catch_up_seconds=round(took, 1)))


def rebuild_standby(name, source):
    """The member's data directory is lost (a new disk), and site.yml builds it again from `source`: what the primary
    sent meanwhile, and how long the build took until the member streamed."""
    primary = the_primary()
    in_container(name, "systemctl", "stop", SERVICE)
    in_container(name, "rm", "-rf", DATA_DIR)
    before = sent_bytes(primary)
    started = time.monotonic()
    status, output = playbook("site", "standby_clone_source=" + source)
    assert status == 0, output[-4000:]
    wait_streaming_from(primary, [member for member in MEMBERS if member != primary])
    return dict(primary_sent_bytes=sent_bytes(primary) - before, seconds=round(time.monotonic() - started, 1)), output


def test_a_standby_built_from_a_backup_takes_almost_nothing_from_the_primary():
    primary = the_primary()
    target = next_member(primary)
    database_bytes = int(psql(primary, "SELECT sum(pg_database_size(oid)) FROM pg_database"))
    from_primary, output = rebuild_standby(target, "basebackup")
    assert "clone from %s: done" % primary in output, output[-3000:]
    # A backup on the current timeline: one from before the last promotion is never restored as a standby.
    status, output = playbook("backup", "backup_type=incr")
    assert status == 0, output[-3000:]
    from_backup, output = rebuild_standby(target, "backup")
    assert "clone from %s: done" % primary not in output and "Restore the backup set into it" in output, output[-3000:]
    # It holds what the primary holds, written after the backup too.
    psql(primary, "CREATE TABLE IF NOT EXISTS after_backup (at timestamptz); INSERT INTO after_backup VALUES (now())")
    wait_for(lambda: psql(target, "SELECT count(*) FROM after_backup", check=False).stdout.strip() == "1", 60, "no replay")
    assert from_primary["primary_sent_bytes"] > 0.5 * database_bytes, (from_primary, database_bytes)
    assert from_backup["primary_sent_bytes"] < 0.1 * from_primary["primary_sent_bytes"], (from_backup, from_primary)
    record(
        "standby_from_backup",
        dict(
            database_bytes=database_bytes,
            pg_basebackup=from_primary,
            backup=from_backup,
            primary_bytes_ratio=round(from_backup["primary_sent_bytes"] / from_primary["primary_sent_bytes"], 4),
        ),
    )


def time_target(text):
    """The extra variables of a restore to a time: as JSON, since key=value pairs end at the space inside the time."""
    return json.dumps(dict(restore_target_type="time", restore_target=text))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["pgbackrest_group=nowhere"], "the one host of inventory group nowhere"),
        (["pgbackrest_stanza=nosuch"], "stanza nosuch"),
        ([time_target("2001-01-01 00:00:00+00")], "before the first backup"),
        ([time_target("2100-01-01 00:00:00+00")], "in the future"),
        ([time_target("2026-12-07 10:00:00")], "zone"),
        (["restore_target_type=lsn", "restore_target=0/1"], "before the first backup"),
    ],
)
def test_restore_refuses_bad_input_and_changes_nothing(arguments, message):
    primary = the_primary()
    status, output = playbook("restore", *arguments)
    assert status != 0 and message in output, output[-3000:]
    assert the_primary() == primary


def test_restore_is_refused_while_a_client_is_connected():
    primary = the_primary()
    address = container_addresses([primary])[0]
    conninfo = dict(writer().conninfo, host=address, port="5432", target_session_attrs="any")
    with psycopg.connect(**conninfo):
        status, output = playbook("restore")
    assert status != 0 and "client session" in output and "restore_while_writing=true" in output, output[-3000:]
    assert the_primary() == primary


def test_point_in_time_recovery_between_two_batches_of_writes():
    primary = the_primary()
    before = writer().start()
    time.sleep(3)
    before.stop()
    time.sleep(1)
    target = psql(primary, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    time.sleep(1)
    after = writer().start()
    time.sleep(3)
    after.stop()
    kept = {write_id for write_id, _at, _took in before.acknowledged}
    lost = {write_id for write_id, _at, _took in after.acknowledged}
    assert kept and lost and max(kept) < min(lost)
    status, output = playbook("restore", "--check", time_target(target))
    assert status == 0 and "restore %s" % primary in output, output[-3000:]
    assert the_primary() == primary and int(psql(primary, "SELECT count(*) FROM pgops_writer WHERE id >= %d" % min(lost))) == len(lost)

    started = time.monotonic()
    status, output = playbook("restore", time_target(target))
    took = time.monotonic() - started
    assert status == 0, output[-4000:]
    assert the_primary() == primary
    standbys = [name for name in MEMBERS if name != primary]
    wait_streaming_from(primary, standbys)
    for name in MEMBERS:
        present = {int(value) for value in psql(name, "SELECT id FROM pgops_writer").split()}
        assert kept <= present and not (lost & present), (name, sorted(kept - present)[:5], sorted(lost & present)[:5])
        # No recovery target is left where a clone or a rewind would copy it.
        assert "recovery_target" not in in_container(name, "cat", DATA_DIR + "/postgresql.auto.conf")
    # The data directories before the restore are kept aside.
    for name in MEMBERS:
        assert in_container(name, "sh", "-c", "ls -d %s.pgops-old-*" % DATA_DIR), name
    status, output = playbook("site")
    assert status == 0 and changed_total(output) == 0, output[-3000:]
    record("point_in_time_recovery", dict(rows_kept=len(kept), rows_after_target=len(lost), restore_seconds=round(took, 1)))
