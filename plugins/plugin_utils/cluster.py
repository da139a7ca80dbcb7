# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judgements on the cluster from every member's pg_replication facts: its status, the standby to promote, the
switchover pre-checks, whether a member's WAL is gone, and the one verdict on two or more running primaries.

Pure functions of the variables they are given: they contact nothing, so the playbooks run them on the controller."""

from __future__ import annotations

import time

from ansible_collections.pgops.replication.plugins.module_utils.lsn import InvalidLsn, parse_lsn
from ansible_collections.pgops.replication.plugins.plugin_utils.members import member_name

CRITICAL = "critical"
WARNING = "warning"
UNREACHABLE = "no facts: the host cannot be reached"
SILENT = "no facts: the host answers but its server does not (pg_replication_facts failed there); it may still run as primary"
OK = "ok"
SEVERITY_ORDER = {CRITICAL: 0, WARNING: 1}
# The monitoring convention (Nagios and its heirs); 3, unknown, is for a run that could not judge the cluster.
EXIT_CODES = {OK: 0, WARNING: 1, CRITICAL: 2}
UNKNOWN_EXIT_CODE = 3
TABLE_COLUMNS = ("host", "role", "tli", "lsn", "lag", "replay lag", "sync", "slot", "upstream")


def human_bytes(count) -> str:
    """A WAL distance as people read it: bytes up to 1 KiB, then KiB, MiB, GiB with one decimal."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return "%d B" % value if unit == "B" else "%.1f %s" % (value, unit)
        value /= 1024
    return "%.1f GiB" % value  # pragma: no cover - the loop returns at GiB


def human_seconds(seconds) -> str:
    if seconds is None:
        return "-"
    value = float(seconds)
    if value < 60:
        return "%.1f s" % value
    if value < 3600:
        return "%dm %02ds" % divmod(int(value), 60)
    hours, rest = divmod(int(value), 3600)
    return "%dh %02dm" % (hours, rest // 60)


def table_lines(rows: list) -> list:
    """The members as a table whose columns are as wide as their longest value."""
    cells = [
        [
            row["host"],
            row["role"] or "-",
            "-" if row["timeline"] is None else str(row["timeline"]),
            row["lsn"] or "-",
            human_bytes(row["lag_bytes"]),
            human_seconds(row["lag_seconds"]),
            row["sync"] or "-",
            row["slot"] or "-",
            row["upstream"] or "-",
        ]
        for row in rows
    ]
    widths = [max(len(value) for value in column) for column in zip(TABLE_COLUMNS, *cells)]
    return ["  ".join(value.ljust(width) for value, width in zip(line, widths)).rstrip() for line in [list(TABLE_COLUMNS)] + cells]


def verdict_line(state: str, primary, rows: list, problems: list) -> str:
    """One line first, for a pager or a monitoring check: the state, the primary, how many standbys stream."""
    # Every member but the primary should be a streaming standby, whatever it is now (stopped, out of reach).
    standbys = [row for row in rows if not primary or row["host"] != primary["host"]]
    streaming = [row for row in standbys if row["role"] == "standby" and (row["upstream"] or "").endswith("(streaming)")]
    shape = (
        "%s is primary, %d of %d standbys streaming" % (primary["host"], len(streaming), len(standbys)) if primary else "no single primary"
    )
    if state == OK:
        return "OK: %s" % shape
    counts = [
        "%d %s" % (count, name if count == 1 else name + "s")
        for name, count in (
            ("critical problem", sum(p["severity"] == CRITICAL for p in problems)),
            ("warning", sum(p["severity"] == WARNING for p in problems)),
        )
        if count
    ]
    return "%s: %s; %s; first: %s" % (state.upper(), ", ".join(counts), shape, problems[0]["message"])


class PlanError(ValueError):
    """The input cannot describe a cluster (a name that is no member, say): a mistake of the caller, not a refusal."""


def describe_members(hosts, hostvars) -> list:
    """One plain dict per inventory host: its identity and its pg_replication facts (None when unknown)."""
    if isinstance(hosts, str) or not hasattr(hosts, "__iter__"):
        raise PlanError("the members must be a list of inventory host names, got %r" % (hosts,))
    members = []
    for host in hosts:
        if host not in hostvars:
            raise PlanError("%s is not an inventory host" % host)
        variables = hostvars[host]
        facts = (variables.get("ansible_facts") or {}).get("pg_replication")
        members.append(
            dict(
                host=host,
                name=member_name(host, variables),
                connect_host=str(variables.get("postgresql_connect_host") or host),
                port=int(variables.get("postgresql_port") or 5432),
                priority=int(variables.get("postgresql_failover_priority") or 0),
                facts=dict(facts) if facts else None,
                # Inspected over SSH (tasks/inspect.yml published its identity), whether or not its server answered.
                reached=bool(facts) or bool(variables.get("postgresql_host_reached")),
            )
        )
    return members


def running_primaries(members: list) -> list:
    return [member for member in members if member["facts"] and member["facts"].get("role") == "primary"]


def joined_hosts(hosts: list) -> str:
    return hosts[0] if len(hosts) == 1 else "%s and %s" % (", ".join(hosts[:-1]), hosts[-1])


def judge_primaries(members: list) -> dict | None:
    """The one verdict on two or more running primaries, which every playbook and the status report print as it is.

    Primaries that share a system identifier are a split brain: only a person can tell which one holds the data to keep.
    Primaries that share none are different clusters, usually a host where PostgreSQL ran before it joined: no data
    diverged, and calling that split brain would send the operator the wrong way. None when at most one primary runs.
    """
    primaries = running_primaries(members)
    if len(primaries) < 2:
        return None
    identifiers = [member["facts"].get("system_identifier") for member in primaries]
    shared = [member["host"] for member, identifier in zip(primaries, identifiers) if identifiers.count(identifier) > 1]
    if shared:
        pair = len(shared) == 2
        return dict(
            check="split-brain",
            hosts=shared,
            message="Split brain: %s %s run as primary of the same cluster. Decide which one holds the data to keep, stop the %s "
            "and rejoin %s (ansible-playbook pgops.replication.rejoin -e rejoin_host=HOST; RUNBOOK.md of the collection, split brain)."
            % (joined_hosts(shared), "both" if pair else "all", "other" if pair else "others", "it" if pair else "them"),
        )
    hosts = [member["host"] for member in primaries]
    return dict(
        check="clusters",
        hosts=hosts,
        message="%s run as primary of different clusters (system identifiers %s). If one of them should become a standby and "
        "runs a cluster of its own (PostgreSQL was installed there before), stop that server, then run pgops.replication.site with "
        "-e standby_rebuild=true: it re-clones the host and keeps the old data directory aside."
        % (joined_hosts(hosts), ", ".join("%s: %s" % pair for pair in zip(hosts, identifiers))),
    )


def lsn_of(facts: dict) -> str | None:
    if facts.get("current_lsn"):
        return facts["current_lsn"]
    if facts.get("received_lsn") or facts.get("replayed_lsn"):
        return _later(facts.get("received_lsn"), facts.get("replayed_lsn"))
    return (facts.get("controldata") or {}).get("checkpoint_lsn")


def _later(first: str | None, second: str | None) -> str | None:
    if not first or not second:
        return first or second
    return first if parse_lsn(first) >= parse_lsn(second) else second


def _problem(problems: list, host: str, severity: str, check: str, message: str) -> None:
    problems.append(dict(host=host, severity=severity, check=check, message="%s: %s" % (host, message)))


def _standby_checks(member: dict, primary: dict | None, senders: dict, slots: dict, limits: dict, problems: list) -> dict:
    """Check one standby against the primary; returns the row fields only the primary knows."""
    facts, host, name = member["facts"], member["host"], member["name"]
    receiver = facts.get("wal_receiver") or {}
    sender = senders.get(name)
    slot = slots.get(name)
    if primary is not None and facts.get("system_identifier") != primary["facts"].get("system_identifier"):
        _problem(
            problems,
            host,
            CRITICAL,
            "cluster",
            "belongs to cluster %s, not the primary's %s: rebuild it"
            % (facts.get("system_identifier"), primary["facts"].get("system_identifier")),
        )
    if receiver.get("status") != "streaming":
        _problem(
            problems, host, CRITICAL, "streaming", "standby is not streaming (WAL receiver: %s)" % (receiver.get("status") or "not running")
        )
    elif primary is not None and (receiver.get("sender_host"), receiver.get("sender_port")) != (primary["connect_host"], primary["port"]):
        _problem(
            problems,
            host,
            CRITICAL,
            "upstream",
            "follows %s:%s, not the primary %s (%s:%d)"
            % (receiver.get("sender_host"), receiver.get("sender_port"), primary["host"], primary["connect_host"], primary["port"]),
        )
    if facts.get("replay_paused"):
        _problem(problems, host, WARNING, "replay", "WAL replay is paused (pg_wal_replay_resume() resumes it)")
    lag_bytes = sender.get("replay_lag_bytes") if sender else None
    if lag_bytes is not None and lag_bytes > limits["bytes"]:
        _problem(
            problems,
            host,
            WARNING,
            "lag",
            "replay lags the primary by %s (limit %s)" % (human_bytes(lag_bytes), human_bytes(limits["bytes"])),
        )
    lag_seconds = facts.get("replay_lag_seconds")
    if lag_seconds is not None and lag_seconds > limits["seconds"]:
        _problem(
            problems, host, WARNING, "lag", "replay lags by %s (limit %s)" % (human_seconds(lag_seconds), human_seconds(limits["seconds"]))
        )
    if primary is not None:
        _slot_checks(host, name, slots, problems)
    return dict(
        lag_bytes=lag_bytes,
        sync=sender.get("sync_state") if sender else None,
        slot=_slot_shown(slot),
    )


def _slot_shown(slot: dict | None) -> str | None:
    return None if slot is None else "active" if slot.get("active") else (slot.get("wal_status") or "inactive")


def _slot_checks(host: str, name: str, slots: dict, problems: list) -> None:
    """The member's slot on the primary: missing, lost, or inactive and holding WAL (how much more before it is lost)."""
    slot = slots.get(name)
    if slot is None:
        _problem(problems, host, WARNING, "slot", "the primary has no slot %s for it: WAL it needs may be removed" % name)
    elif slot.get("wal_status") == "lost":
        _problem(problems, host, CRITICAL, "slot", "slot %s on the primary has lost WAL this standby needs: rejoin it" % name)
    elif not slot.get("active"):
        left = slot.get("safe_wal_size")
        limit = "" if left is None else "; it is lost after %d MiB more WAL (max_slot_wal_keep_size)" % (max(left, 0) >> 20)
        _problem(
            problems,
            host,
            WARNING,
            "slot",
            "slot %s on the primary is inactive and holds WAL (%s)%s" % (name, slot.get("wal_status"), limit),
        )


def _foreign_slot_checks(primary: dict, member_names: set, problems: list) -> None:
    """Inactive slots on the primary that no member uses, such as a removed member's: they hold WAL until dropped.
    An active one belongs to a client that streams from the primary (a backup tool, say) and is left alone."""
    for slot in primary["facts"].get("slots") or []:
        name = slot.get("slot_name")
        if name in member_names or slot.get("active"):
            continue
        _problem(
            problems,
            primary["host"],
            WARNING,
            "slot",
            "slot %s on the primary belongs to no member and is inactive; it holds WAL (%s) from %s. If no client uses it, "
            "drop it: SELECT pg_drop_replication_slot('%s')" % (name, slot.get("wal_status"), slot.get("restart_lsn"), name),
        )


def _plural(count: int, noun: str) -> str:
    return "%d %s%s" % (count, noun, "" if count == 1 else "s")


def _archive_checks(primary: dict, max_archive_age: int, problems: list) -> list:
    """The primary's WAL archiving as pg_stat_archiver counts it: its line of the report, and a warning when
    archive_command fails still or the last segment archived is older than `max_archive_age` seconds. Standbys are left
    out: with archive_mode=on they do not archive."""
    archiver = primary["facts"].get("archiver")
    if not archiver:
        return []
    host = primary["host"]
    archived, failed = int(archiver.get("archived_count") or 0), int(archiver.get("failed_count") or 0)
    age = archiver.get("last_archived_age")
    if archiver.get("failing"):
        _problem(
            problems,
            host,
            WARNING,
            "archive",
            "archive_command fails: %s, the last for WAL %s %s ago, and it has not succeeded since"
            % (_plural(failed, "failure"), archiver.get("last_failed_wal"), human_seconds(archiver.get("last_failed_age"))),
        )
    elif age is not None and age > max_archive_age:
        _problem(
            problems,
            host,
            WARNING,
            "archive",
            "the last WAL segment archived was %s ago (limit %s, status_max_archive_age=%d). A segment is archived once it is "
            "full or switched: an idle primary with archive_timeout unset archives rarely"
            % (human_seconds(age), human_seconds(max_archive_age), max_archive_age),
        )
    last = "none yet" if age is None else "last %s ago" % human_seconds(age)
    failing = ", failing" if archiver.get("failing") else ""
    return ["%s: archive: %s archived, %s, %s%s" % (host, _plural(archived, "segment"), last, _plural(failed, "failure"), failing)]


def cluster_status(hosts, hostvars, max_lag_bytes: int = 16 * 1024 * 1024, max_lag_seconds: int = 60, max_archive_age: int = 3600) -> dict:
    """The cluster as its members report it: primary, table rows and lines, and problems by severity."""
    limits = dict(bytes=int(max_lag_bytes), seconds=int(max_lag_seconds))
    members = describe_members(hosts, hostvars)
    problems: list = []
    primaries = running_primaries(members)
    primary = primaries[0] if len(primaries) == 1 else None
    verdict = judge_primaries(members)
    if verdict is not None:
        problems.append(dict(host="cluster", severity=CRITICAL, check=verdict["check"], message="cluster: " + verdict["message"]))
    elif not primaries:
        _problem(problems, "cluster", CRITICAL, "primary", "no member runs as primary")
    senders = {row.get("application_name"): row for row in (primary["facts"].get("replication") or [])} if primary else {}
    slots = {slot.get("slot_name"): slot for slot in (primary["facts"].get("slots") or [])} if primary else {}
    rows = []
    for member in members:
        facts, host = member["facts"], member["host"]
        row = dict(
            host=host, role="unknown", timeline=None, lsn=None, lag_bytes=None, lag_seconds=None, sync=None, slot=None, upstream=None
        )
        rows.append(row)
        if facts is None:
            _problem(problems, host, CRITICAL, "reachable", SILENT if member["reached"] else UNREACHABLE)
            continue
        receiver = facts.get("wal_receiver") or {}
        row.update(
            role=facts.get("role"),
            timeline=facts.get("timeline"),
            lsn=lsn_of(facts),
            # Replay lag is measured against what the standby received: without a stream it would read 0 however far behind.
            lag_seconds=facts.get("replay_lag_seconds") if receiver.get("status") == "streaming" else None,
            upstream="%s:%s (%s)" % (receiver.get("sender_host"), receiver.get("sender_port"), receiver.get("status"))
            if receiver
            else None,
        )
        if facts.get("pending_restart"):
            _problem(
                problems,
                host,
                WARNING,
                "pending-restart",
                "%s wait%s for a restart (playbooks/restart.yml restarts the members one at a time)"
                % (", ".join(facts["pending_restart"]), "s" if len(facts["pending_restart"]) == 1 else ""),
            )
        if facts.get("role") == "standby":
            row.update(_standby_checks(member, primary, senders, slots, limits, problems))
        elif facts.get("role") in ("stopped", "absent"):
            _problem(problems, host, CRITICAL, "running", "no server runs (%s)" % facts.get("role"))
            if primary is not None and facts.get("role") == "stopped":
                # A stopped standby's slot keeps WAL on the primary: say how long it can stay down.
                _slot_checks(host, member["name"], slots, problems)
                row.update(slot=_slot_shown(slots.get(member["name"])))
    archive = []
    if primary is not None:
        _foreign_slot_checks(primary, {member["name"] for member in members}, problems)
        archive = _archive_checks(primary, int(max_archive_age), problems)
    problems.sort(key=lambda problem: SEVERITY_ORDER[problem["severity"]])
    state = CRITICAL if any(p["severity"] == CRITICAL for p in problems) else WARNING if problems else OK
    verdict = verdict_line(state, primary, rows, problems)
    lines = [verdict, ""] + table_lines(rows) + ([""] + archive if archive else []) + [""] * bool(problems)
    lines += ["%s %s" % (problem["severity"].upper(), problem["message"]) for problem in problems]
    return dict(
        state=state,
        exit_code=EXIT_CODES[state],
        verdict=verdict,
        primary=primary["host"] if primary else None,
        primaries=[member["host"] for member in primaries],
        rows=rows,
        lines=lines,
        archive=archive,
        problems=problems,
        critical=[problem["message"] for problem in problems if problem["severity"] == CRITICAL],
        warnings=[problem["message"] for problem in problems if problem["severity"] == WARNING],
    )


def _received_position(facts: dict) -> tuple:
    """(timeline, position) a member can offer as a new primary: what it received, or for a stopped one its checkpoint."""
    position = lsn_of(facts)
    try:
        return int(facts.get("timeline") or 0), parse_lsn(position) if position else 0
    except InvalidLsn:
        return 0, 0


def failover_choice(hosts, hostvars, new_primary: str | None = None, max_lag_bytes: int = 0, force: bool = False) -> dict:
    """The standby to promote when the primary is gone: the one given, or the most advanced running standby.

    Most advanced means the latest timeline, then the highest received LSN, then the highest
    postgresql_failover_priority, then inventory order. `lag_bytes` is how far the choice is behind the best position any
    member reports; a choice further behind than `max_lag_bytes` (0: no limit) is refused unless `force`.
    """
    members = describe_members(hosts, hostvars)
    standbys = [member for member in members if member["facts"] and member["facts"].get("role") == "standby"]
    known = [member for member in members if member["facts"] and member["facts"].get("role") in ("standby", "primary", "stopped")]
    if not standbys:
        return dict(candidate=None, problems=["no running standby to promote"], lag_bytes=None, best_host=None, best_lsn=None)
    order = {member["host"]: index for index, member in enumerate(members)}
    ranked = sorted(
        standbys, key=lambda member: (_received_position(member["facts"]), member["priority"], -order[member["host"]]), reverse=True
    )
    best = max(known, key=lambda member: _received_position(member["facts"]))
    problems = []
    if new_primary:
        chosen = next((member for member in members if member["host"] == new_primary), None)
        if chosen is None:
            raise PlanError("new_primary %s is not a member of the cluster" % new_primary)
        if chosen not in standbys:
            problems.append(
                "new_primary %s is not a running standby (it is %s)" % (new_primary, (chosen["facts"] or {}).get("role", "unreachable"))
            )
    else:
        chosen = ranked[0]
    best_timeline, best_position = _received_position(best["facts"])
    chosen_timeline, chosen_position = _received_position(chosen["facts"] or {})
    lag = best_position - chosen_position if chosen_timeline == best_timeline else None
    if chosen_timeline < best_timeline:
        problems.append("%s is on timeline %d but %s reached timeline %d" % (chosen["host"], chosen_timeline, best["host"], best_timeline))
    elif lag and max_lag_bytes and lag > int(max_lag_bytes) and not force:
        problems.append(
            "%s is %d bytes behind %s, more than failover_max_lag_bytes=%d: wait for it, choose another new_primary, or "
            "set failover_force=true to accept losing those transactions" % (chosen["host"], lag, best["host"], int(max_lag_bytes))
        )
    # Promoting past two primaries would fence them all and drop the writes each took alone: a person decides first.
    verdict = judge_primaries(members)
    if verdict is not None:
        problems.insert(0, verdict["message"])
    return dict(
        candidate=chosen["host"],
        ranking=[member["host"] for member in ranked],
        problems=problems,
        lag_bytes=max(lag, 0) if lag is not None else None,
        best_host=best["host"],
        best_lsn=lsn_of(best["facts"]),
    )


def switchover_checks(hosts, hostvars, new_primary, max_lag_bytes: int = 16 * 1024 * 1024, max_archive_backlog: int = 16) -> dict:
    """Everything that must hold before a switchover changes anything; `problems` names the host and the check.

    `done` is true when `new_primary` already is the only primary and every other member streams from it.
    """
    if not new_primary:
        raise PlanError("new_primary is required: -e new_primary=HOST names the standby to promote")
    members = {member["host"]: member for member in describe_members(hosts, hostvars)}
    if new_primary not in members:
        raise PlanError("new_primary %s is not a member of the cluster (%s)" % (new_primary, ", ".join(members)))
    status = cluster_status(hosts, hostvars, max_lag_bytes=max_lag_bytes)
    problems = []
    primary = status["primary"]
    if primary == new_primary:
        remaining = [problem["message"] for problem in status["problems"] if problem["severity"] == CRITICAL]
        return dict(primary=primary, candidate=new_primary, done=not remaining, problems=remaining, status=status)
    for problem in status["problems"]:
        if problem["check"] in ("reachable", "split-brain", "clusters", "primary") or (
            problem["host"] == new_primary and problem["severity"] == CRITICAL
        ):
            problems.append("%s check: %s" % (problem["check"], problem["message"]))
    candidate = members[new_primary]
    facts = candidate["facts"] or {}
    if primary is not None and facts.get("role") == "standby":
        old = members[primary]["facts"]
        sender = next((row for row in old.get("replication") or [] if row.get("application_name") == candidate["name"]), None)
        lag = sender.get("replay_lag_bytes") if sender else None
        if lag is None or lag > int(max_lag_bytes):
            problems.append(
                "lag check: %s: replay lags the primary by %s bytes, more than switchover_max_lag_bytes=%d"
                % (new_primary, "an unknown number of" if lag is None else lag, int(max_lag_bytes))
            )
        if facts.get("replay_paused"):
            problems.append("replay check: %s: WAL replay is paused; resume it (pg_wal_replay_resume()) first" % new_primary)
        settings = facts.get("settings") or {}
        needed = len(members) - 1
        for setting in ("max_wal_senders", "max_replication_slots"):
            if int(settings.get(setting) or 0) < needed:
                problems.append(
                    "capacity check: %s: %s is %s, and the new primary needs at least %d (one per other member)"
                    % (new_primary, setting, settings.get(setting), needed)
                )
        old_settings = old.get("settings") or {}
        if not (old_settings.get("wal_log_hints") or old_settings.get("data_checksums")):
            problems.append(
                "rewind check: %s: neither wal_log_hints nor data_checksums is on, so it could not be rewound to follow %s"
                % (primary, new_primary)
            )
        backlog = old.get("archive_ready_files")
        if backlog is not None and backlog > int(max_archive_backlog):
            problems.append(
                "archive check: %s: %d WAL files wait for archive_command (switchover_max_archive_backlog=%d): they would be "
                "archived late or not at all" % (primary, backlog, int(max_archive_backlog))
            )
    elif primary is not None:
        problems.append("candidate check: %s is not a running standby (it is %s)" % (new_primary, facts.get("role", "unreachable")))
    return dict(primary=primary, candidate=new_primary, done=False, problems=problems, status=status)


def needed_wal_gone(member, primary, hostvars) -> bool:
    """Whether the primary no longer holds the WAL `member` needs to stream again: its slot there is lost, or the
    member's position is older than the primary's oldest WAL segment. Then only a re-clone brings it back."""
    described = {entry["host"]: entry for entry in describe_members([member, primary], hostvars)}
    member_facts, primary_facts = described[member]["facts"] or {}, described[primary]["facts"] or {}
    for slot in primary_facts.get("slots") or []:
        if slot.get("slot_name") == described[member]["name"] and slot.get("wal_status") == "lost":
            return True
    oldest, position = primary_facts.get("oldest_wal_lsn"), lsn_of(member_facts)
    try:
        return bool(oldest and position and parse_lsn(position) < parse_lsn(oldest))
    except InvalidLsn as error:
        raise PlanError("needed_wal_gone: %s" % error) from error


def _connect_host(hostvars, host: str) -> str:
    return str((hostvars.get(host) or {}).get("postgresql_connect_host") or host)


# The haproxy role's backends.
PROXY_WRITES, PROXY_READS = "postgresql_write", "postgresql_read"


def _proxy_checks(proxy: dict, primary: str | None, roles: dict, problems: list) -> list:
    """Lines and problems for one proxy: the members each backend sends clients to. HAProxy follows the members' health
    checks on its own, a few seconds after a role change (fall x inter), so what it shows then is a warning only."""
    host = proxy["host"]
    if not proxy.get("reached"):
        _problem(problems, host, WARNING, "proxy", "could not read HAProxy's state (%s)" % (proxy.get("error") or "no answer"))
        return ["%s: no answer" % host]
    lines = []
    for backend, verb in ((PROXY_WRITES, "writes"), (PROXY_READS, "reads")):
        up = [
            s["server"]
            for s in proxy.get("servers") or []
            if s["backend"] == backend and str(s["status"]).startswith("UP") and not s["backup"]
        ]
        lines.append("%s: %s -> %s" % (host, verb, ", ".join(up) or "no server up"))
        if backend == PROXY_WRITES and primary is not None and up != [primary]:
            _problem(
                problems,
                host,
                WARNING,
                "proxy-writes",
                "HAProxy sends writes to %s, not to the primary %s alone (its checks catch up within a few seconds of a role change)"
                % (", ".join(up) or "no server", primary),
            )
        if backend == PROXY_READS:
            wrong = [server for server in up if roles.get(server) != "standby"]
            if wrong:
                _problem(problems, host, WARNING, "proxy-reads", "HAProxy sends reads to %s, which is not a standby" % ", ".join(wrong))
    return lines


def _repository_checks(repository: dict, max_backup_age: int, now: float, problems: list) -> list:
    """Lines and problems for the pgBackRest repository host: {host, reached, error, info}, `info` as `pgbackrest info`
    gives one stanza. No backup, a newest backup older than `max_backup_age` seconds, or a repository that cannot be
    read are warnings: the cluster serves, but a restore would lose more than planned, or could not be made."""
    host = repository["host"]
    info = repository.get("info") or {}
    if not repository.get("reached") or not info:
        _problem(problems, host, WARNING, "backup", "the repository could not be read (%s)" % (repository.get("error") or "no answer"))
        return ["%s: repository: no answer" % host]
    stanza = info.get("name")
    backups = [backup for backup in info.get("backup") or [] if not backup.get("error")]
    if not backups:
        _problem(
            problems, host, WARNING, "backup", "stanza %s has no backup yet: run the backup playbook (pgops.replication.backup)" % stanza
        )
        return ["%s: repository: stanza %s, no backup" % (host, stanza)]
    newest = backups[-1]
    age = max(0.0, float(now) - float(newest["timestamp"]["stop"]))
    if age > int(max_backup_age):
        _problem(
            problems,
            host,
            WARNING,
            "backup",
            "the newest backup of stanza %s (%s, %s) ended %.1f h ago (limit status_max_backup_age=%d s): are the backup timers "
            "running? (systemctl list-timers 'pgops-backup-*')"
            % (stanza, newest["label"], newest["type"], age / 3600, int(max_backup_age)),
        )
    archive = (info.get("archive") or [{}])[-1]
    return [
        "%s: repository: stanza %s, %d backup%s, the newest %s (%s) ended %.1f h ago; archive %s to %s"
        % (
            host,
            stanza,
            len(backups),
            "" if len(backups) == 1 else "s",
            newest["label"],
            newest["type"],
            age / 3600,
            archive.get("min") or "-",
            archive.get("max") or "-",
        )
    ]


def endpoints_status(
    report: dict,
    poolers: list,
    hostvars,
    proxies: list | None = None,
    repository: dict | None = None,
    max_backup_age: int = 2 * 24 * 3600,
    now: float | None = None,
) -> dict:
    """`report` (cluster_status's) with the poolers and proxies added. Each of `poolers` is {host, reached, databases,
    error, read_suffix}, `databases` as PgBouncer lists them ({name, host, port, paused}). A pooler that sends a write
    alias to a member other than the primary, or whose admin console does not answer, is critical; a paused alias, or a
    read alias on a member that is not a streaming standby, is a warning. Each of `proxies` is {host, reached, error,
    servers}, `servers` as haproxy_servers returns them: a proxy that sends writes elsewhere than the primary alone, or
    reads to a member that is not a standby, is a warning (its own checks correct it). `repository`, the pgBackRest
    repository host when the inventory has one, is judged by _repository_checks at `now` (epoch seconds)."""
    primary = report.get("primary")
    members = {_connect_host(hostvars, row["host"]): row for row in report.get("rows") or []}
    problems = list(report.get("problems") or [])
    lines = []
    for pooler in poolers:
        host = pooler["host"]
        if not pooler.get("reached"):
            _problem(
                problems, host, CRITICAL, "pooler", "PgBouncer's admin console did not answer (%s)" % (pooler.get("error") or "no answer")
            )
            lines.append("%s: no answer" % host)
            continue
        suffix = pooler.get("read_suffix") or "_read"
        for alias in pooler.get("databases") or []:
            target = members.get(str(alias.get("host")))
            shown = target["host"] if target else "%s (no member)" % alias.get("host")
            reads = alias["name"].endswith(suffix)
            paused = bool(alias.get("paused"))
            lines.append("%s: %s %s -> %s%s" % (host, "reads" if reads else "writes", alias["name"], shown, ", paused" if paused else ""))
            if paused:
                _problem(
                    problems,
                    host,
                    WARNING,
                    "paused",
                    "%s is paused, its clients wait (a switchover that stopped midway leaves it so: resume it with "
                    "pgops.replication.pgbouncer_admin command=resume)" % alias["name"],
                )
            if reads:
                if target is None or (target["role"] != "standby" and target["host"] != primary):
                    _problem(
                        problems,
                        host,
                        WARNING,
                        "pooler-reads",
                        "%s sends reads to %s, which is not a running member" % (alias["name"], shown),
                    )
            elif primary is not None and (target is None or target["host"] != primary):
                _problem(
                    problems,
                    host,
                    CRITICAL,
                    "pooler-writes",
                    "sends the writes of %s to %s, which is not the primary (%s): run the rejoin playbook (or the "
                    "switchover or failover that stopped) to re-point it" % (alias["name"], shown, primary),
                )
    roles = {row["host"]: row["role"] for row in report.get("rows") or []}
    for proxy in proxies or []:
        lines += _proxy_checks(proxy, primary, roles, problems)
    if repository:
        lines += _repository_checks(repository, max_backup_age, time.time() if now is None else now, problems)
    problems.sort(key=lambda problem: SEVERITY_ORDER[problem["severity"]])
    state = CRITICAL if any(p["severity"] == CRITICAL for p in problems) else WARNING if problems else OK
    rows = report.get("rows") or []
    verdict = verdict_line(state, {"host": primary} if primary else None, rows, problems)
    details = list(report.get("archive") or []) + lines
    text = [verdict, ""] + table_lines(rows) + ([""] + details if details else []) + [""] * bool(problems)
    text += ["%s %s" % (problem["severity"].upper(), problem["message"]) for problem in problems]
    return dict(
        report,
        state=state,
        exit_code=EXIT_CODES[state],
        verdict=verdict,
        lines=text,
        problems=problems,
        poolers=lines,
        critical=[problem["message"] for problem in problems if problem["severity"] == CRITICAL],
        warnings=[problem["message"] for problem in problems if problem["severity"] == WARNING],
    )
