"""Write the fault figures the Molecule scenarios recorded (tests/output/reliability/*.json) into docs/RELIABILITY.md.

    make molecule            # or: molecule test -s operations / quorum / sync
    .venv/bin/python bench/reliability_report.py

Only the section between the "fault figures" markers is replaced; a missing record is reported as not run.
"""

from __future__ import annotations

import json
import os
import statistics
import sys

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDS = os.path.join(CHECKOUT, "tests", "output", "reliability")
DOCUMENT = os.path.join(CHECKOUT, "docs", "RELIABILITY.md")
START = "<!-- fault figures: written by bench/reliability_report.py -->"
END = "<!-- end of fault figures -->"


def load(name: str):
    path = os.path.join(RECORDS, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as record:
        return json.load(record)


def switchovers(rounds: list | None) -> list:
    if not rounds:
        return ["Switchovers: not run (molecule test -s endpoints)."]
    seconds = [entry["playbook_seconds"] for entry in rounds]
    gaps = [entry["longest_gap_seconds"] for entry in rounds]
    p99 = [entry["write_seconds_p99"] for entry in rounds]
    lines = [
        "**%d consecutive switchovers** with a writer and a reader connected to PgBouncer only (`molecule test -s endpoints`, "
        "transaction pooling, a plain single-host connection string): %d acknowledged writes lost out of %d, %d failed writes, "
        "%d failed reads out of %d; after each, exactly one primary and every other member streaming from it."
        % (
            len(rounds),
            sum(entry["lost"] for entry in rounds),
            sum(entry["acknowledged"] for entry in rounds),
            sum(entry["failed_writes"] for entry in rounds),
            sum(entry["failed_reads"] for entry in rounds),
            sum(entry["reads"] for entry in rounds),
        ),
        "switchover.yml took %.1f s median (%.1f–%.1f s); the longest pause between acknowledged writes was %.2f s median, %.2f s "
        "at worst; a write's latency during the run (its wait in the paused pooler included) was %.2f s at p99 median, %.2f s "
        "at worst."
        % (
            statistics.median(seconds),
            min(seconds),
            max(seconds),
            statistics.median(gaps),
            max(gaps),
            statistics.median(p99),
            max(entry["write_seconds_max"] for entry in rounds),
        ),
        "",
        "| # | new primary | switchover.yml (s) | longest write pause (s) | write p50 / p99 / max (s) | writes acknowledged | reads "
        "| failed | lost |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in rounds:
        lines.append(
            "| %(round)d | %(new_primary)s | %(playbook_seconds).1f | %(longest_gap_seconds).2f | %(write_seconds_p50).3f / "
            "%(write_seconds_p99).2f / %(write_seconds_max).2f | %(acknowledged)d | %(reads)d | %(failed)d | %(lost)d |"
            % dict(entry, failed=entry["failed_writes"] + entry["failed_reads"])
        )
    return lines


def failover_endpoints(rows: list | None) -> list:
    if not rows:
        return ["Failover through the endpoints: not run (molecule test -s endpoints)."]
    return [
        "**The primary killed under two writers** (`molecule test -s endpoints`, test_failover.py): one with a libpq "
        "multi-host string, one connected to PgBouncer only. failover.yml re-pointed the pooler; HAProxy's write port "
        "followed the members' health checks. From the kill to the first acknowledged write: "
        + ", ".join("%s %.1f s" % (row["endpoint"], row["seconds_from_kill_to_first_write"]) for row in rows)
        + "."
    ]


def isolation(result: dict | None) -> list:
    if not result:
        return ["Failover with the old primary cut off: not run (molecule test -s quorum)."]
    text = (
        "**Failover with the old primary alive but cut off** (`molecule test -s quorum`): the checker polled every member"
        " %(checker_samples)d times; at most %(most_writable_at_once)d member accepted writes at any moment."
        " The old primary fenced itself %(seconds_from_cut_to_fence).1f s after the cut;"
        " the new primary took writes %(seconds_from_fence_to_promotion).1f s after that."
        " Back on the network for %(seconds_returned_before_rejoin).1f s before and during its rejoin (by %(rejoined_by)s),"
        " it never accepted a write. Writes acknowledged after the cut: %(acknowledged_after_the_cut)d,"
        " lost: %(lost_after_the_cut)d; acknowledged by the old primary before the cut and lost (asynchronous):"
        " %(lost_before_the_cut_async)d. The writer gives up a connection whose answer is stuck for 5 s"
        " (tcp_user_timeout), as applications should."
    )
    return [text % dict({"rejoined_by": "pg_rewind"}, **result)]


def clone(result: dict | None) -> list:
    if not result:
        return ["Clone killed midway: not run (molecule test -s quorum)."]
    return [
        "**pg_basebackup killed (-9)** after %(killed_after_mib)d MiB of a clone that replaced a data directory: the old "
        "directory was intact (same system identifier, a marker file still there) and re-running site.yml completed the "
        "standby, keeping the old directory aside." % result
    ]


def slot(result: dict | None) -> list:
    if not result:
        return ["Slot limit: not run (molecule test -s quorum)."]
    return [
        "**A standby down while the primary wrote %(wal_written_while_down_mib)d MiB of WAL** with max_slot_wal_keep_size "
        "= %(max_slot_wal_keep_size_mib)d MiB: its slot was invalidated and the primary's pg_wal held %(primary_pg_wal_mib)d MiB. "
        "status.yml warned while the slot was inactive, then reported the lost slot as critical; rejoin.yml re-cloned "
        "the standby, which then replayed new writes." % result
    ]


def sync_failover(result: dict | None) -> list:
    if not result:
        return ["Synchronous failover: not run (molecule test -s sync)."]
    return [
        "**Synchronous replication (quorum: ANY 1 of 3), primary killed under writes** (`molecule test -s sync`): failover.yml promoted "
        "%(new_primary)s; of %(acknowledged_before_the_kill)d writes acknowledged before the kill, %(lost)d were lost; "
        "%(acknowledged_after)d more were acknowledged by the new primary, the first %(seconds_from_kill_to_first_write).1f s after the "
        "kill (goal: 30 s)." % dict({"seconds_from_kill_to_first_write": float("nan")}, **result)
    ]


def quorum(refused: dict | None, booted: dict | None, cold: dict | None, asymmetric: dict | None = None) -> list:
    """The majority rule's cases in the quorum scenario (molecule/quorum/tests/test_quorum.py)."""
    lines = []
    if refused:
        lines.append(
            "**One standby cut off, the controller reaching only it** (`molecule test -s quorum`, test_quorum.py): failover.yml "
            "refused (1 of 3 members reached); the checker polled every member %(checker_samples)d times and saw at most "
            "%(most_writable_at_once)d member accepting writes, the primary throughout." % refused
        )
    else:
        lines.append("Minority refused: not run (molecule test -s quorum).")
    lines.append("")
    if asymmetric:
        lines.append(
            "**The asymmetric split: the primary and one standby cut off from each other only, both still reaching the third "
            "member, the controller reaching the two standbys** (`molecule test -s quorum`): the primary kept its majority (the "
            "third member streamed from it) and failover.yml refused. Forced with `failover_without_majority=true`, it detached "
            "both standbys; the primary, which still reached the third member, stopped itself, and the new primary took writes "
            "%(seconds_from_fence_to_promotion).1f s after that. The checker polled every member %(checker_samples)d times: at "
            "most %(most_writable_at_once)d member accepted writes at any moment. Writes acknowledged after the promotion: "
            "%(acknowledged_after_the_promotion)d, lost: %(lost_after_the_promotion)d. The override's cost, as documented: "
            "%(lost_before_the_promotion_override)d writes the old primary acknowledged before it stopped (after the detach, "
            "or not yet sent to the new primary) were lost." % asymmetric
        )
    else:
        lines.append("Asymmetric split: not run (molecule test -s quorum).")
    lines.append("")
    if booted:
        lines.append(
            "**A switchover, then the new primary killed under writes, failover.yml run at once, the killed primary then booted cut off "
            "from every peer** "
            "(`molecule test -s quorum`): the new primary was writable %(seconds_from_kill_to_promotion).1f s after the kill and "
            "acknowledged its first write %(seconds_from_kill_to_first_write).1f s after it (goal: 30 s). The old primary's guard "
            "waited for a majority and started it read-only after %(seconds_the_cut_off_boot_waited).1f s; rejoin.yml brought it "
            "back once healed. The checker polled every member %(checker_samples)d times: at most %(most_writable_at_once)d member "
            "accepted writes at any moment. Writes acknowledged after the kill: %(acknowledged_after_the_kill)d, lost: "
            "%(lost_after_the_kill)d; acknowledged by the killed primary and lost (asynchronous): %(lost_before_the_kill_async)d." % booted
        )
    else:
        lines.append("Kill, failover and a boot cut off: not run (molecule test -s quorum).")
    lines.append("")
    if cold:
        orders = "; ".join("%s %.1f s" % (order, seconds) for order, seconds in cold["seconds_to_streaming"].items())
        lines.append(
            "**Every member stopped and started again** (`molecule test -s quorum`), seconds from the stop until the same primary "
            "had every standby streaming: %s. The checker polled every member %d times: never two members accepted writes."
            % (orders, cold["checker_samples"])
        )
    else:
        lines.append("Cold starts: not run (molecule test -s quorum).")
    return lines


def two_members(result: dict | None) -> list:
    if not result:
        return ["Two members: not run (molecule test -s pg17)."]
    return [
        "**Two members, the primary powered off** (`molecule test -s pg17`, test_two_members.py): failover.yml refused "
        "without `failover_primary_unreachable_ok` and said that nothing stops a cut-off primary; with it, the standby "
        "was primary %(seconds_from_kill_to_promotion).1f s after the kill (both runs included; no fence to wait for). "
        "Powered on again, the former primary started read-only after %(seconds_the_former_primary_took_to_start).1f s "
        "(its start guard found the other member running as primary) and rejoin.yml made it a standby." % result
    ]


def rolling(result: dict | None) -> list:
    if not result or "lower_gap" not in result:
        return ["Rolling changes: not run (molecule test -s rolling)."]
    return [
        "**A minor update and restart-needed settings under writes** (`molecule test -s rolling`, a cluster built on "
        "PostgreSQL 15.18): update.yml to 15.20 (once stopped by a failing apt on a standby, with the primary kept and "
        "every member running, then run again) took %(update_seconds).1f s for %(members)d members; the writer's longest "
        "pause was %(update_gap).2f s against %(switchover_gap).2f s for a plain switchover.yml right after; %(update_writes)d "
        "writes acknowledged, 0 lost. max_connections raised through site.yml (the standbys one at a time, then a "
        "switchover): longest pause %(raise_gap).2f s, at least %(raise_fewest_streaming)d standby streaming in each of "
        "%(raise_samples)d samples, %(raise_writes)d writes, 0 lost; lowered (the primary first, in place): longest pause "
        "%(lower_gap).2f s, %(lower_writes)d writes, 0 lost. No standby logged insufficient parameter settings." % result
    ]


def backups(
    from_standby: dict | None,
    archive: dict | None,
    rewind: dict | None,
    caught_up: dict | None,
    rebuilt: dict | None,
    pitr: dict | None,
) -> list:
    if not (from_standby and archive and rewind and caught_up and rebuilt and pitr):
        return ["pgBackRest: not run (molecule test -s backup)."]
    mib = 1024 * 1024
    paragraphs = [
        "**A full backup from a standby** (`molecule test -s backup`, backup.yml): of %.0f MiB of data files, pgBackRest read "
        "%.0f MiB from the standby and %.3f MiB from the primary (by the repository host's log, a line per file), in %.1f s; "
        "no process showed the repository's passphrase while it ran. pgBackRest killed (-9) midway through the next backup: "
        "the one after it completed and `pgbackrest verify` passed."
        % (
            from_standby["database_bytes"] / mib,
            from_standby["read_on_standby_bytes"] / mib,
            from_standby["read_on_primary_bytes"] / mib,
            from_standby["seconds"],
        ),
        "**The archive across a switchover, a failover and a rejoin, under a writer**: `pgbackrest check` passed, and each of the "
        "%(segments_fetched)d WAL segments on the way from the first backup's start to the newest, across %(timelines)d timelines "
        "(each timeline's own up to its switch point), was fetched with archive-get; no acknowledged write was lost." % archive,
        "**A former primary whose WAL was recycled** (cut off, a row written on it alone, killed, a failover, then the "
        "%(recycled_segments)d segments before the one the timelines parted in removed from its pg_wal): without the archive "
        "rejoin.yml could not rewind and re-cloned it in %(reclone_seconds).1f s; with it, pg_rewind fetched them from the "
        "archive and rejoin.yml took %(rewind_from_archive_seconds).1f s (%(rewind_over_reclone).2f of the re-clone's time, for "
        "a %(database_mib).0f MiB database). Both times the row written on the old primary alone was gone."
        % dict(rewind, database_mib=rewind["database_bytes"] / mib),
        "**A standby down until its slot was lost** (%.0f MiB of WAL written meanwhile): started again, it fetched what the "
        "primary had removed from the archive and replayed a new row %.1f s later; rejoin.yml then had nothing to do."
        % (caught_up["wal_written_bytes"] / mib, caught_up["catch_up_seconds"]),
        "**A standby's data directory lost, built again by site.yml** (a %.0f MiB cluster): from the primary (pg_basebackup) the "
        "primary sent %.1f MiB in %.1f s; from the newest backup (`standby_clone_source=backup`) it sent %.1f kB (%.4f of it) "
        "in %.1f s."
        % (
            rebuilt["database_bytes"] / mib,
            rebuilt["pg_basebackup"]["primary_sent_bytes"] / mib,
            rebuilt["pg_basebackup"]["seconds"],
            rebuilt["backup"]["primary_sent_bytes"] / 1000,
            rebuilt["primary_bytes_ratio"],
            rebuilt["backup"]["seconds"],
        ),
        "**Point-in-time recovery between two batches of writes** (restore.yml to a time read from the server between them): "
        "all %(rows_kept)d rows of the first batch on every member, none of the %(rows_after_target)d of the second; "
        "restore.yml took %(restore_seconds).1f s, the standbys streamed from the restored primary, and site.yml then changed "
        "nothing." % pitr,
    ]
    # One paragraph each: Markdown joins lines that no blank line parts.
    return [line for paragraph in paragraphs for line in (paragraph, "")][:-1]


def main() -> int:
    lines = [START, ""]
    for part in (
        switchovers(load("switchovers")),
        failover_endpoints(load("failover_endpoints")),
        isolation(load("isolation_failover")),
        clone(load("clone_killed")),
        slot(load("slot_limit")),
        sync_failover(load("sync_failover")),
        quorum(
            load("quorum_minority_refused"),
            load("quorum_kill_and_boot_cut_off"),
            load("quorum_cold_starts"),
            load("quorum_asymmetric_split"),
        ),
        two_members(load("two_members")),
        rolling(load("rolling_update")),
        backups(
            load("backup_from_standby"),
            load("archive_across_roles"),
            load("rewind_from_archive"),
            load("standby_caught_up_from_archive"),
            load("standby_from_backup"),
            load("point_in_time_recovery"),
        ),
    ):
        lines += part + [""]
    lines.append(END)
    with open(DOCUMENT) as document:
        text = document.read()
    if START not in text or END not in text:
        print("docs/RELIABILITY.md has no fault figures markers", file=sys.stderr)
        return 1
    text = text[: text.index(START)] + "\n".join(lines) + text[text.index(END) + len(END) :]
    with open(DOCUMENT, "w") as document:
        document.write(text)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
