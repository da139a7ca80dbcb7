# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of a point-in-time recovery of the whole cluster from its pgBackRest repository.

Every member stops; one is restored from a backup set and recovers to the target, then promotes; every other member is
re-cloned from it. The plan is decided here from every member's facts and the repository's `pgbackrest info --output=json`
(a list of stanzas), and has the keys of every plan (see plans.py)."""

from __future__ import annotations

import datetime
import re
import time

from ansible_collections.pgops.replication.plugins.module_utils.lsn import InvalidLsn, format_lsn, parse_lsn
from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import (
    PlanError,
    describe_members,
    joined_hosts,
    judge_primaries,
    lsn_of,
    running_primaries,
)

TARGET_TYPES = ("newest", "time", "lsn", "name")
REFUSED = "Restore refused, nothing was changed: "
# pgBackRest's `info` status codes for a stanza that is not there (2, "no valid backups", shows as an empty backup list).
STANZA_MISSING_PATH, STANZA_MISSING_DATA = 1, 3
# PostgreSQL keeps a restore point's name in a NAME-sized field: NAMEDATALEN - 1 bytes.
RESTORE_POINT_NAME_MAX_BYTES = 63
TIME_FORM = "'YYYY-MM-DD HH:MM:SS+00' (seconds may carry a fraction; the zone may be +00, +02:00, Z or UTC)"
_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<clock>\d{2}:\d{2}:\d{2})(?P<fraction>\.\d{1,6})?"
    r"(?:\s*(?P<zone>[Zz]|UTC|utc|[+-]\d{2}(?::?\d{2})?))?$"
)


def _plan(problems: list, lines: list, **values) -> dict:
    refusal = REFUSED + " | ".join(problems) if problems else None
    return dict(refused=refusal is not None, refusal=refusal, problems=problems, done=False, lines=lines, **values)


def iso_utc(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_offset(zone: str) -> datetime.timedelta:
    if zone.upper() in ("Z", "UTC"):
        return datetime.timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 15 or minutes > 59:
        raise ValueError("UTC offset %s is out of range" % zone)
    return sign * datetime.timedelta(hours=hours, minutes=minutes)


def parse_target_time(text: str) -> tuple:
    """(epoch seconds, the time in UTC as 'YYYY-MM-DD HH:MM:SS[.fff]+00') of a target time; ValueError with the
    sentence to show when it is not one. A time without a zone is refused: the server would read it in its own TimeZone,
    which may not be the operator's."""
    match = _TIME.match(str(text).strip())
    if match is None:
        raise ValueError("restore_target %r is not a time: write it as %s" % (text, TIME_FORM))
    if match.group("zone") is None:
        raise ValueError(
            "restore_target %r has no time zone, so it is ambiguous (the server would read it in its own TimeZone): write it as %s"
            % (text, TIME_FORM)
        )
    try:
        local = datetime.datetime.strptime("%s %s" % (match.group("date"), match.group("clock")), "%Y-%m-%d %H:%M:%S")
        utc = local - _utc_offset(match.group("zone"))
    except ValueError as error:
        raise ValueError("restore_target %r is not a valid time (%s): write it as %s" % (text, error, TIME_FORM)) from error
    fraction = match.group("fraction") or ""
    # Offsets are whole minutes, so the fraction of a second is the one given; kept as written, not rounded.
    epoch = utc.replace(tzinfo=datetime.timezone.utc).timestamp() + (float(fraction) if fraction else 0.0)
    return epoch, "%s%s+00" % (utc.strftime("%Y-%m-%d %H:%M:%S"), fraction)


_TARGET_EXAMPLES = {
    "time": "for example '2026-12-08 10:00:00+00'",
    "lsn": "for example 0/3000060",
    "name": "the name given to pg_create_restore_point()",
}


def _checked_target(target_type: str, target) -> tuple:
    """(problem or None, the target as pgBackRest gets it, its comparable value: epoch or LSN position or None)."""
    if target_type not in TARGET_TYPES:
        return "restore_target_type %r is none of %s." % (target_type, ", ".join(TARGET_TYPES)), None, None
    text = "" if target is None else str(target).strip()
    if target_type == "newest":
        if text:
            return "restore_target_type newest restores to the end of the archive and takes no target, got %r." % text, None, None
        return None, None, None
    if not text:
        return "restore_target_type %s needs restore_target (%s)." % (target_type, _TARGET_EXAMPLES[target_type]), None, None
    if target_type == "time":
        try:
            epoch, normalised = parse_target_time(text)
        except ValueError as error:
            return "%s." % error, None, None
        return None, normalised, epoch
    if target_type == "lsn":
        try:
            position = parse_lsn(text)
        except InvalidLsn:
            return "restore_target %r is not an LSN: write it as two hexadecimal halves, like 0/3000060." % text, None, None
        return None, format_lsn(position), position
    if len(text.encode("utf-8")) > RESTORE_POINT_NAME_MAX_BYTES:
        return (
            "restore_target %r is %d bytes long, and a restore point's name has at most %d (pg_create_restore_point truncates "
            "longer ones): give the name as the server holds it." % (text, len(text.encode("utf-8")), RESTORE_POINT_NAME_MAX_BYTES),
            None,
            None,
        )
    return None, text, None


def _describe_target(target_type: str, target: str | None) -> str:
    if target_type == "time":
        return "the time %s" % target
    if target_type == "lsn":
        return "LSN %s" % target
    if target_type == "name":
        return "restore point '%s'" % target
    return "the end of the WAL archive (the newest archived write)"


def _stanza_of(info, stanza: str):
    if isinstance(info, dict):
        info = [info]
    if not isinstance(info, list) or not all(isinstance(entry, dict) for entry in info):
        raise PlanError("info must be the parsed JSON of `pgbackrest --output=json info` (a list of stanzas), got %r" % (info,))
    found = next((entry for entry in info if entry.get("name") == stanza), None)
    others = [
        str(entry.get("name"))
        for entry in info
        if entry.get("name") != stanza and (entry.get("status") or {}).get("code") not in (STANZA_MISSING_PATH, STANZA_MISSING_DATA)
    ]
    return found, others


def _current_database(stanza_info: dict) -> dict | None:
    """The database the stanza archives now: the newest of its history (a stanza-upgrade adds one per major release)."""
    databases = [entry for entry in stanza_info.get("db") or [] if isinstance(entry, dict)]
    return max(databases, key=lambda entry: int(entry.get("id") or 0), default=None)


def _backup_set(entry: dict) -> dict:
    stop_lsn = (entry.get("lsn") or {}).get("stop")
    stop_time = (entry.get("timestamp") or {}).get("stop")
    return dict(
        label=entry.get("label"),
        type=entry.get("type"),
        stop_time=iso_utc(stop_time) if stop_time is not None else None,
        stop_lsn=stop_lsn,
        stop_epoch=stop_time,
        stop_position=parse_lsn(stop_lsn) if stop_lsn else None,
    )


def usable_backups(stanza_info: dict) -> list:
    """The backup sets a restore may use, oldest first: complete, without page errors, of the database the stanza archives
    now (an older one is another major release, or another cluster before stanza-create --force)."""
    current = _current_database(stanza_info)
    backups = []
    for entry in stanza_info.get("backup") or []:
        if not isinstance(entry, dict) or entry.get("error") or (entry.get("timestamp") or {}).get("stop") is None:
            continue
        database_id = (entry.get("database") or {}).get("id")
        if current is not None and database_id is not None and database_id != current.get("id"):
            continue
        try:
            backups.append(_backup_set(entry))
        except InvalidLsn as error:
            raise PlanError("backup %s: %s" % (entry.get("label"), error)) from error
    return sorted(backups, key=lambda backup: (backup["stop_epoch"], str(backup["label"])))


def _repository_problems(stanza_info, others: list, stanza: str, members: list) -> list:
    if stanza_info is None or (stanza_info.get("status") or {}).get("code") in (STANZA_MISSING_PATH, STANZA_MISSING_DATA):
        status = (stanza_info or {}).get("status") or {}
        return [
            "the repository has no stanza %s (%sother stanzas listed: %s): set pgbackrest_stanza to the cluster's stanza, or run "
            "site.yml to create it and backup.yml to take a backup first."
            % (stanza, "pgBackRest: %s; " % status["message"] if status.get("message") else "", ", ".join(others) or "none")
        ]
    problems = []
    if not usable_backups(stanza_info):
        listed = len(stanza_info.get("backup") or [])
        problems.append(
            "stanza %s holds no usable backup (%s): take one with backup.yml first."
            % (
                stanza,
                "%d listed, each with errors or of an older database" % listed
                if listed
                else ((stanza_info.get("status") or {}).get("message") or "none listed"),
            )
        )
    current = _current_database(stanza_info)
    repository_identifier = str(current.get("system-id")) if current and current.get("system-id") is not None else None
    primaries = running_primaries(members)
    # The running primary says which cluster this is; without one, any member's data directory does.
    judged = primaries if len(primaries) == 1 else members
    identifiers = sorted(
        {str(member["facts"]["system_identifier"]) for member in judged if (member["facts"] or {}).get("system_identifier")}
    )
    if repository_identifier and identifiers and repository_identifier not in identifiers:
        problems.append(
            "stanza %s holds the backups of cluster %s, and the members run cluster %s: it is another cluster's repository. "
            "Set pgbackrest_stanza to this cluster's stanza." % (stanza, repository_identifier, " and ".join(identifiers))
        )
    return problems


def _choose_backup(backups: list, target_type: str, value) -> dict | None:
    """The newest backup set that ends before the target: recovery can only move forward from a backup's end."""
    if target_type == "time":
        fitting = [backup for backup in backups if backup["stop_epoch"] <= value]
    elif target_type == "lsn":
        fitting = [backup for backup in backups if backup["stop_position"] is not None and backup["stop_position"] <= value]
    else:
        fitting = backups
    return fitting[-1] if fitting else None


def _target_problems(backups: list, target_type: str, target: str, value, primary: dict | None, now: float) -> list:
    problems = []
    if target_type == "time":
        earliest = backups[0]
        if value < earliest["stop_epoch"]:
            problems.append(
                "restore_target %s is before the first backup: the earliest time the repository can restore to is %s (the end "
                "of backup %s)." % (target, earliest["stop_time"], earliest["label"])
            )
        if value > now:
            problems.append("restore_target %s is in the future (now is %s): no WAL exists for it yet." % (target, iso_utc(now)))
    elif target_type == "lsn":
        with_lsn = [backup for backup in backups if backup["stop_position"] is not None]
        if not with_lsn:
            problems.append("the repository reports no backup's stop LSN: restore to a time instead.")
            return problems
        earliest = min(with_lsn, key=lambda backup: backup["stop_position"])
        if value < earliest["stop_position"]:
            problems.append(
                "restore_target %s is before the first backup: the earliest LSN the repository can restore to is %s (the end "
                "of backup %s, %s)." % (target, earliest["stop_lsn"], earliest["label"], earliest["stop_time"])
            )
        current = (primary["facts"].get("current_lsn") if primary else None) or None
        if current and value > parse_lsn(current):
            problems.append(
                "restore_target %s is beyond the current position of the primary %s (%s): no WAL exists for it yet."
                % (target, primary["host"], current)
            )
    return problems


def _sessions_line(primary: dict | None, sessions: int | None) -> str:
    if primary is None:
        return "Writes: no member runs as primary, so none takes writes."
    if sessions is None:
        return "Writes: how many client sessions the primary %s has is not known (its facts do not say)." % primary["host"]
    if sessions:
        return "Writes: %d client session%s on the primary %s (restore_while_writing=true): what they write from now on is lost." % (
            sessions,
            "" if sessions == 1 else "s",
            primary["host"],
        )
    return "Writes: no client session on the primary %s." % primary["host"]


def _stop_line(stop_order: list, running_primary: dict | None) -> str:
    if running_primary is None:
        return "1. stop %s (no member runs as primary)" % joined_hosts(stop_order)
    if len(stop_order) == 1:
        return "1. stop the primary %s" % running_primary["host"]
    return "1. stop the standbys %s, then the primary %s" % (joined_hosts(stop_order[:-1]), running_primary["host"])


def restore_plan(
    hosts,
    hostvars,
    info,
    stanza: str,
    target_type: str,
    target="",
    restore_primary="",
    while_writing: bool = False,
    now: float | None = None,
) -> dict:
    """The restore of the whole cluster from stanza `stanza` of the pgBackRest repository whose `info` is given: the member
    restored as the new primary (`restore_primary`, by default the one running as primary), the backup set it starts from,
    the arguments of `pgbackrest restore`, and the members re-cloned from it; or the refusal, with every reason found.

    `target_type` is newest (the end of the archive), time, lsn or name (a restore point); `target` its value. A restore
    stops and rebuilds every member, so every member must answer; it loses what was written after the target, so it is
    refused while the running primary has client sessions unless `while_writing`."""
    now = time.time() if now is None else float(now)
    if not isinstance(stanza, str) or not stanza:
        raise PlanError("stanza must be the pgBackRest stanza's name, got %r" % (stanza,))
    members = describe_members(hosts, hostvars)
    names = [member["host"] for member in members]
    problems: list = []
    target_problem, pgbackrest_target, target_value = _checked_target(target_type, target)
    if target_problem:
        problems.append(target_problem)

    uninspected = [member["host"] for member in members if member["facts"] is None]
    if uninspected:
        problems.append(
            "%s could not be inspected, and a restore stops and rebuilds every member, so every member must answer. Bring it "
            "back, or take it out of the cluster's inventory group if it is gone for good." % joined_hosts(uninspected)
        )
    verdict = judge_primaries(members)
    primaries = running_primaries(members)
    running_primary = primaries[0] if len(primaries) == 1 else None
    if verdict is not None:
        problems.append(verdict["message"])
    if restore_primary and restore_primary not in names:
        problems.append("restore_primary %s is not a member of the cluster (%s)." % (restore_primary, ", ".join(names)))
    elif not restore_primary and not primaries:
        problems.append(
            "no member runs as primary, so which one to restore is not known: name it with -e restore_primary=HOST (%s)." % ", ".join(names)
        )
    chosen = restore_primary or (running_primary["host"] if running_primary else None)

    stanza_info, others = _stanza_of(info, stanza)
    repository_problems = _repository_problems(stanza_info, others, stanza, members)
    problems += repository_problems
    backups = usable_backups(stanza_info) if not repository_problems else []
    if backups and target_problem is None:
        problems += _target_problems(backups, target_type, pgbackrest_target, target_value, running_primary, now)

    counted = running_primary["facts"].get("client_sessions") if running_primary else None
    sessions = int(counted) if counted is not None else None
    if sessions and not while_writing:
        problems.append(
            "the cluster takes writes: %d client session%s on %s. A restore loses everything written after its target: stop the "
            "applications first, or run with -e restore_while_writing=true (what they write after the target is lost)."
            % (sessions, "" if sessions == 1 else "s", running_primary["host"])
        )
    values = dict(
        primary=None,
        standbys=[],
        stop_order=[],
        backup=None,
        recovery_settings={},
        stanza=stanza,
        target_type=target_type,
        target=None,
        client_sessions=sessions,
    )
    if problems:
        return _plan(problems, [], **values)

    backup = _choose_backup(backups, target_type, target_value)
    standbys = [host for host in names if host != chosen]
    # Writes stop last, and no standby outlives the primary: one left running alone would look like a candidate to promote.
    stop_order = [host for host in names if not running_primary or host != running_primary["host"]]
    stop_order += [running_primary["host"]] if running_primary else []
    if target_type == "newest":
        # Recovery replays the whole archive and promotes at its end on its own.
        recovery_settings = {}
    else:
        # The playbook restores with pgbackrest restore --type=none and writes these to the server's configuration
        # itself: without recovery_target_action the server would pause at the target instead of promoting.
        recovery_settings = {"recovery_target_%s" % target_type: pgbackrest_target, "recovery_target_action": "promote"}
    description = _describe_target(target_type, pgbackrest_target)
    lines = [
        _stop_line(stop_order, running_primary),
        "2. keep each member's data directory aside (renamed DATA_DIR.pgops-old-TIME, nothing deleted)",
        "3. restore %s from backup %s (%s, stopped %s at %s) of stanza %s and recover to %s, then promote"
        % (chosen, backup["label"], backup["type"], backup["stop_time"], backup["stop_lsn"] or "an unknown LSN", stanza, description),
        "4. %s" % ("re-clone %s from %s" % (joined_hosts(standbys), chosen) if standbys else "no other member to re-clone"),
        "5. the old data directories stay until you remove them (-e restore_remove_old=true removes them once the cluster runs)",
        _sessions_line(running_primary, sessions),
    ]
    position = lsn_of(running_primary["facts"]) if running_primary else None
    lost = "what was not archived yet" if target_type == "newest" else "everything written after %s" % description
    lines.append(
        "WARNING: %s is lost, on every member%s."
        % (lost, " (the primary %s is at %s now)" % (running_primary["host"], position) if position else "")
    )
    if target_type == "name":
        # The repository does not know where a restore point lies: a name made before the backup ended is never reached.
        lines.append(
            "The restore point must be newer than backup %s (%s): if it is older, recovery stops with an error, nothing is "
            "promoted, and the old data directories are still there." % (backup["label"], backup["stop_time"])
        )
    values.update(
        primary=chosen,
        standbys=standbys,
        stop_order=stop_order,
        backup={key: backup[key] for key in ("label", "type", "stop_time", "stop_lsn")},
        recovery_settings=recovery_settings,
        target=pgbackrest_target,
    )
    return _plan([], lines, **values)
