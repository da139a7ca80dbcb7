# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The whole plan of each operation, decided from every member's facts before anything changes.

Every plan is a dict with the same five keys, and the values the playbook's later plays read:
- refused: whether the operation must stop before it changes anything; refusal is the one message that says why
  (None when it may go on), and problems the reasons it is built from;
- done: the cluster already is as the operation would leave it;
- lines: the numbered steps the playbook prints, which is all that --check does.
The playbooks only look values up in a plan: every choice is made here, where unit tests reach each branch."""

from __future__ import annotations

from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import (
    CRITICAL,
    PlanError,
    cluster_status,
    describe_members,
    failover_choice,
    joined_hosts,
    judge_primaries,
    needed_wal_gone,
    running_primaries,
    switchover_checks,
)
from ansible_collections.pgops.replication.plugins.plugin_utils.synchronous import confirmations_needed


def _plan(problems: list, refusal: str | None, done: bool, lines: list, **values) -> dict:
    return dict(refused=refusal is not None, refusal=refusal, problems=problems, done=done, lines=lines, **values)


def _identifier(member: dict):
    return (member["facts"] or {}).get("system_identifier")


def _site_standby_line(member: dict, primary: dict) -> str:
    """What the standby role will do with one member, judged as the role judges it: by the system identifier."""
    host, identifier = member["host"], _identifier(member)
    if member["facts"] is None:
        return "%s: could not be inspected; converge it as a standby of %s" % (host, primary["host"])
    if identifier is None:
        return "%s: clone from %s, then stream from it" % (host, primary["host"])
    if identifier == _identifier(primary):
        return "%s: holds a copy of %s's cluster, no clone: follow %s" % (host, primary["host"], primary["host"])
    return "%s: holds another cluster (%s): re-cloned from %s only with -e standby_rebuild=true (its data directory is kept aside)" % (
        host,
        identifier,
        primary["host"],
    )


def site_plan(hosts, hostvars) -> dict:
    """Which member site.yml converges as the primary: the one that runs as primary, and only while none runs, the one
    the inventory marks with postgresql_role=primary. Every other member converges as a standby of it."""
    members = describe_members(hosts, hostvars)
    running = [member["host"] for member in running_primaries(members)]
    bootstrap = [member["host"] for member in members if str(hostvars[member["host"]].get("postgresql_role") or "") == "primary"]
    verdict = judge_primaries(members)
    uninspected = [member["host"] for member in members if member["facts"] is None]
    refusal = None
    if verdict is not None:
        refusal = verdict["message"] + " Nothing was changed."
    elif not running and uninspected:
        # The member that does not answer may be the running primary: building one now would make a second.
        refusal = (
            "No member that answered runs as primary, and %s could not be inspected: it may be the primary. Nothing was "
            "changed. Bring it back (or take it out of the cluster's inventory group if it is gone for good), then run "
            "pgops.replication.site again." % joined_hosts(uninspected)
        )
    elif not running and len(bootstrap) != 1:
        refusal = "No member runs as primary, and %d hosts have postgresql_role=primary (%s): set it on exactly one member." % (
            len(bootstrap),
            ", ".join(bootstrap) or "none",
        )
    if refusal is not None:
        return _plan([refusal], refusal, False, [], primary=None, standbys=[], converge_first=[], group_of={})
    primary_host = running[0] if running else bootstrap[0]
    primary = next(member for member in members if member["host"] == primary_host)
    standbys = [member for member in members if member["host"] != primary_host]
    lines = [
        "1. %s runs as primary: converge it" % primary_host
        if running
        else "1. no member runs as primary: build %s as the primary (postgresql_role=primary)" % primary_host
    ]
    lines += ["%d. %s" % (number, _site_standby_line(member, primary)) for number, member in enumerate(standbys, start=2)]
    lines.append("%d. verify: one primary, every other member streaming from it" % (len(standbys) + 2))
    # A standby that runs as a copy of the primary's cluster has nothing to clone, so its configuration cannot wait on
    # the primary's: both converge at once. A stopped one waits, since its start guard needs the primary running.
    streaming_copies = [
        member["host"]
        for member in standbys
        if member["facts"] is not None and member["facts"].get("role") == "standby" and _identifier(member) == _identifier(primary)
    ]
    return _plan(
        [],
        None,
        False,
        lines,
        primary=primary_host,
        standbys=[member["host"] for member in standbys],
        converge_first=[primary_host] + streaming_copies,
        group_of={member["host"]: "pgops_primary" if member["host"] == primary_host else "pgops_standbys" for member in members},
    )


def switchover_plan(
    hosts,
    hostvars,
    new_primary,
    max_lag_bytes: int = 16 * 1024 * 1024,
    max_archive_backlog: int = 16,
    gate_timeout: int = 30,
) -> dict:
    """The planned switchover to `new_primary`: the pre-checks, and the steps when they pass."""
    checked = switchover_checks(hosts, hostvars, new_primary, max_lag_bytes, max_archive_backlog)
    problems, old = checked["problems"], checked["primary"]
    if problems:
        refusal = "Switchover to %s refused, nothing was changed. %s" % (new_primary, " | ".join(problems))
        return _plan(problems, refusal, False, [], primary=old, candidate=new_primary, status=checked["status"])
    if checked["done"]:
        lines = ["Nothing to do: %s is the primary and every other member streams from it." % new_primary]
    else:
        others = [host for host in hosts if host != new_primary]
        lines = [
            "1. CHECKPOINT on %s, then stop it (fast) and leave standby.signal in its data directory" % old,
            "2. wait up to %s s until %s has replayed the shutdown checkpoint; if not, start %s again as primary and stop"
            % (gate_timeout, new_primary, old),
            "3. promote %s (downtime ends here), then CHECKPOINT it" % new_primary,
            "4. slots on %s for %s" % (new_primary, ", ".join(others)),
            "5. %s: pg_rewind if it diverged, then start it as a standby of %s" % (old, new_primary),
            "6. %s: follow %s (reload)" % (", ".join(host for host in others if host != old) or "no other standby", new_primary),
            "7. verify: one primary, every other member streaming from it",
        ]
    return _plan([], None, checked["done"], lines, primary=old, candidate=new_primary, status=checked["status"])


def switchover_abort_plan(plan: dict, candidate_facts, failure) -> dict:
    """What the rescue of a failed downtime window does: start the old primary again only while the candidate is a
    standby that was never asked to promote. Once pg_promote was called, the request stays in force even when the
    module failed (a promotion slower than its wait, a lost connection): the candidate may become primary at any
    moment, so the old primary stays fenced."""
    if not isinstance(plan, dict) or not plan.get("primary") or not plan.get("candidate"):
        raise PlanError("switchover_abort_plan needs the switchover plan, got %r" % (plan,))
    old, candidate = plan["primary"], plan["candidate"]
    failure = failure if isinstance(failure, dict) else {}
    cause = failure.get("msg") or "unknown"
    role = (candidate_facts or {}).get("role") if isinstance(candidate_facts, dict) else None
    stays_fenced = (
        "%s stays stopped with standby.signal, so there cannot be two primaries. Check %s, then run pgops.replication.status "
        "and pgops.replication.rejoin -e rejoin_host=%s" % (old, candidate, old)
    )
    if failure.get("promotion_requested"):
        message = "Switchover failed after %s was asked to promote (%s). %s" % (candidate, cause, stays_fenced)
        return dict(restart_old_primary=False, candidate_role=role, message=message)
    if role == "standby":
        message = (
            "Switchover aborted: %s did not replay the shutdown checkpoint of %s in time. %s runs as primary again and no "
            "acknowledged write was lost. Cause: %s" % (candidate, old, old, cause)
        )
        return dict(restart_old_primary=True, candidate_role=role, message=message)
    message = "Switchover failed after %s left recovery or could not be read (%s). %s" % (candidate, cause, stays_fenced)
    return dict(restart_old_primary=False, candidate_role=role, message=message)


def _unreachable_refusal(unreachable: list, candidate: str, size: int, guarded: bool, isolation_timeout: int, wait: int) -> str:
    if guarded:
        fence = (
            "With three members or more, the failover first makes every standby it reaches stop following any primary, so "
            "that a primary still running out of reach is left in a minority and stops itself within %d s (isolation fence, "
            "postgresql_isolation_timeout=%d): it waits that long before promoting." % (wait, isolation_timeout)
        )
    elif size >= 3:
        fence = "The isolation fence is off (postgresql_isolation_fence=false): nothing stops a cut-off primary."
    else:
        fence = "With two members there is no isolation fence: nothing stops a cut-off primary."
    return (
        "Failover refused, nothing was changed: %s cannot be reached. If one of them still runs as primary and clients can "
        "reach it, promoting %s makes two primaries (split brain): writes there would be lost or conflict. Make sure it is "
        "down or cut off from clients (power it off, block its port), then re-run with -e failover_primary_unreachable_ok=true. "
        "%s A member that was powered off starts read-only (start guard); rejoin it with the rejoin playbook "
        "(pgops.replication.rejoin)." % (", ".join(unreachable), candidate, fence)
    )


# The role sets wal_receiver_timeout to 5 s: a WAL receiver asks for a keepalive after 2.5 s of silence, so a live
# upstream is heard from within about that; one silent for longer is gone, or about to be declared so.
SILENCE_OF_A_LOST_UPSTREAM = 3.0


def _hears_from(member: dict, hosts: set) -> bool:
    """Whether the member's WAL receiver streams from one of `hosts` and has heard from it lately."""
    receiver = (member["facts"] or {}).get("wal_receiver") or {}
    age = receiver.get("last_message_age_seconds")
    return (
        receiver.get("status") == "streaming"
        and receiver.get("sender_host") in hosts
        and (age is None or float(age) < SILENCE_OF_A_LOST_UPSTREAM)
    )


def _quorum_problem(members: list, unreachable: list) -> str | None:
    """Why promoting now could leave two primaries, judged by the majority rule the guard applies on every member; None
    when the reachable side is a majority that no longer streams from any member out of reach."""
    size = len(members)
    reached = [member["host"] for member in members if member["host"] not in unreachable]
    lost = {member[key] for member in members if member["host"] in unreachable for key in ("host", "connect_host")}
    streaming = [member["host"] for member in members if _hears_from(member, lost)]
    override = (
        " Only if the members out of reach are gone for good (destroyed, powered off for good), and knowing that a primary "
        "still running among them would take writes beside the new one, re-run with -e failover_without_majority=true."
    )
    if streaming:
        return (
            "%s still stream%s from %s, which this controller cannot reach: that primary runs, and the controller is the one cut "
            "off from it (the standbys were read twice, wal_receiver_timeout apart).%s"
            % (joined_hosts(streaming), "s" if len(streaming) == 1 else "", joined_hosts(unreachable), override)
        )
    if 2 * len(reached) <= size:
        return (
            "only %d of the %d members can be reached (%s), and promoting needs a majority (%d): the members out of reach "
            "(%s) may be a majority that still runs a primary.%s"
            % (
                len(reached),
                size,
                ", ".join(reached),
                size // 2 + 1,
                ", ".join(unreachable),
                override,
            )
        )
    return None


def failover_plan(
    hosts,
    hostvars,
    new_primary: str | None = None,
    max_lag_bytes: int = 16 * 1024 * 1024,
    force: bool = False,
    unreachable_ok: bool = False,
    isolation_fence: bool = True,
    isolation_timeout: int = 10,
    isolation_interval: int = 2,
    without_majority: bool = False,
    looked_again: bool = False,
) -> dict:
    """The failover: the standby to promote, the members to fence, the standbys to take from a primary out of reach
    (`detach`: the candidate, which follows none; `cascade`: the others, which stream from the candidate without a slot)
    and how long to wait for it to fence itself, and whether to refuse. With a primary running and no `new_primary`,
    there is nothing to do.

    A member the controller cannot reach may still run as primary. In clusters of three members or more the guard on
    it counts as votes only the members that stream from it: once the reachable standbys stop following it,
    a primary out of reach keeps its votes only if the members out of reach are a majority, which the plan refuses.
    A standby may still stream from a primary killed seconds ago (until wal_receiver_timeout): `recheck` asks the
    playbook to read the members again once, `looked_again` says it did."""
    members = describe_members(hosts, hostvars)
    choice = failover_choice(hosts, hostvars, new_primary or None, max_lag_bytes, force)
    candidate = choice["candidate"]
    primaries = [member["host"] for member in running_primaries(members)]
    unreachable = [member["host"] for member in members if not member["reached"]]
    # SSH reaches the host but its server does not answer: it may run as primary, so it is fenced like one.
    silent = [member["host"] for member in members if member["reached"] and member["facts"] is None]
    guarded = len(members) >= 3 and bool(isolation_fence)
    # The primary out of reach: its next run starts within an interval of the detach (the timer counts from each run's
    # start, 0.1 s accuracy), sees no status reply change between its two looks 1.5 s apart and no standby that follows
    # a primary, and begins its minority; it stops at the timeout, checked in the same run (its asking ends by then),
    # and the stop refuses new sessions as it begins: timeout + interval + about 2 s, and 2 s to spare.
    wait = int(isolation_timeout) + int(isolation_interval) + 4
    done = (len(primaries) == 1 and not new_primary) or primaries == [new_primary]
    fence = [
        member["host"]
        for member in members
        if (member["facts"] and member["facts"].get("role") in ("primary", "stopped") or member["host"] in silent)
        and member["host"] != candidate
    ]
    standbys = [member["host"] for member in members if member["facts"] and member["facts"].get("role") == "standby"]
    waits = bool(unreachable) and guarded
    values = dict(
        failover=choice,
        primaries=primaries,
        unreachable=unreachable,
        silent=silent,
        fence=fence,
        standbys=standbys,
        # The candidate follows no primary; the other standbys stream from it without a slot. Neither streams from a
        # primary out of reach nor answers its guard as a standby that follows a primary (a slot set): no vote for it.
        # From the promotion on, the others' stream makes them the candidate's votes at once, however long the steps
        # after it take (an armed candidate with one vote of three would stop itself after the isolation timeout).
        detach=[host for host in standbys if host == candidate] if waits else [],
        cascade=[host for host in standbys if host != candidate] if waits else [],
        recheck=False,
        isolation_fence=guarded,
        isolation_wait=wait if waits else 0,
    )
    if done:
        lines = [
            "Nothing to do: %s runs as primary. For a planned change use pgops.replication.switchover; to abandon a live primary give "
            "-e new_primary=HOST." % ", ".join(primaries)
        ]
        return _plan([], None, True, lines, **values)
    if choice["problems"]:
        problems = choice["problems"]
        return _plan(problems, "Failover refused, nothing was changed: " + " | ".join(problems), False, [], **values)
    if unreachable and not unreachable_ok:
        refusal = _unreachable_refusal(unreachable, candidate, len(members), guarded, int(isolation_timeout), wait)
        return _plan([refusal], refusal, False, [], **values)
    quorum = _quorum_problem(members, unreachable) if unreachable and len(members) >= 3 and not without_majority else None
    if quorum is not None:
        values["recheck"] = not looked_again and " still stream" in quorum
        return _plan([quorum], "Failover refused, nothing was changed: " + quorum, False, [], **values)
    followers = [host for host in standbys if host != candidate]
    lines = ["1. fence %s: stop, standby.signal" % (", ".join(fence) or "no reachable member")]
    if waits:
        staging = ["%s stops following any primary" % host for host in values["detach"]]
        if values["cascade"]:
            staging.append(
                "%s %s from %s without a slot (no vote for any primary until %s is promoted)"
                % (", ".join(values["cascade"]), "streams" if len(values["cascade"]) == 1 else "stream", candidate, candidate)
            )
        lines.append(
            "2. %s, then wait %d s: a primary out of reach (%s) that still runs is left in a minority and stops itself meanwhile"
            % (", ".join(staging), wait, ", ".join(unreachable))
        )
    elif unreachable:
        lines.append("2. no wait: nothing stops a primary out of reach (%s) that still runs" % ", ".join(unreachable))
    else:
        lines.append("2. no wait: every member answered")
    if unreachable and without_majority and len(members) >= 3:
        lines.append(
            "   WARNING: failover_without_majority=true: promoting without a majority of the members; if %s still runs a "
            "primary, there will be two" % ", ".join(unreachable)
        )
    lines += [
        # The lag is known here: a choice on another timeline than the best position is always refused above.
        "3. promote %s (ranking: %s); it may lack %d bytes of WAL that %s reported (%s)"
        % (candidate, " > ".join(choice["ranking"]), choice["lag_bytes"], choice["best_host"], choice["best_lsn"]),
        "4. slots on %s for every other member" % candidate,
        "5. %s: follow %s" % (", ".join(followers) or "no other standby", candidate),
        "6. afterwards: the rejoin playbook (pgops.replication.rejoin -e rejoin_host=HOST) for each fenced or unreachable former member",
    ]
    return _plan([], None, False, lines, **values)


def rejoin_plan(hosts, hostvars, rejoin_host, rebuild: bool = False, archive: bool = False) -> dict:
    """How `rejoin_host` becomes a standby of the one other primary: nothing when it already streams from it, a
    pg_rewind when it can be rewound, a re-clone when it holds another cluster (only with `rebuild`) or when the
    primary no longer has the WAL it needs and there is no WAL `archive` to fetch it from (`reclone`)."""
    members = describe_members(hosts, hostvars)
    if rejoin_host not in [member["host"] for member in members]:
        raise PlanError(
            "rejoin_host %s is not a member of the cluster (%s)" % (rejoin_host, ", ".join(member["host"] for member in members))
        )
    status = cluster_status(hosts, hostvars)
    member = next(member for member in members if member["host"] == rejoin_host)
    facts = member["facts"]
    others = [host for host in status["primaries"] if host != rejoin_host]
    values = dict(primary=None, facts=facts, status=status, foreign=False, wal_lost=False, reclone=False)
    unreachable = [entry["host"] for entry in members if entry["facts"] is None and entry["host"] != rejoin_host]
    if facts is None:
        problem = "%s could not be inspected." % rejoin_host
    elif unreachable:
        # The primary this host should follow may be the one that does not answer, and the one that does a stale
        # former primary: rejoining to it would discard the newer timeline's writes.
        problem = (
            "%s could not be inspected, and a rejoin changes a member only when every member answers (the real primary may "
            "be the one that does not). Bring it back, or take it out of the cluster's inventory group if it is gone for good."
            % joined_hosts(unreachable)
        )
    elif len(others) > 1:
        # The host being rejoined may be one of two primaries (that is how a split brain ends), but the others must
        # leave exactly one to follow.
        problem = judge_primaries([entry for entry in members if entry["host"] != rejoin_host])["message"]
    elif not others:
        problem = "the members running as primary other than %s are [], and there must be exactly one." % rejoin_host
    else:
        problem = None
    if problem is not None:
        return _plan([problem], "Rejoin of %s refused, nothing was changed: %s" % (rejoin_host, problem), False, [], **values)
    primary = others[0]
    primary_member = next(entry for entry in members if entry["host"] == primary)
    timeline, primary_timeline = facts.get("timeline"), (primary_member["facts"] or {}).get("timeline")
    if _identifier(member) == _identifier(primary_member) and timeline and primary_timeline and timeline > primary_timeline:
        problem = (
            "%s is on timeline %d, newer than the primary %s's (%d): following %s would discard what %s wrote on timeline %d. "
            "%s is probably a former primary started again after a failover: find which member holds the data to keep "
            "(docs/RUNBOOK.md, split brain)." % (rejoin_host, timeline, primary, primary_timeline, primary, rejoin_host, timeline, primary)
        )
        return _plan([problem], "Rejoin of %s refused, nothing was changed: %s" % (rejoin_host, problem), False, [], **values)
    values.update(
        primary=primary,
        foreign=_identifier(member) not in (None, _identifier(primary_member)),
        wal_lost=needed_wal_gone(rejoin_host, primary, hostvars),
    )
    values["reclone"] = values["foreign"] or (values["wal_lost"] and not archive)
    done = facts.get("role") == "standby" and not [
        problem for problem in status["problems"] if problem["host"] == rejoin_host and problem["severity"] == CRITICAL
    ]
    if values["foreign"] and not rebuild:
        refusal = (
            "%s holds cluster %s, not the primary's: rejoining means a re-clone. Nothing was changed. Re-run with "
            "-e rejoin_rebuild=true to re-clone (its data directory is kept aside)." % (rejoin_host, _identifier(member))
        )
        return _plan([refusal], refusal, False, [], **values)
    if done:
        return _plan([], None, True, ["Nothing to do: %s streams from %s." % (rejoin_host, primary)], **values)
    if values["reclone"]:
        how = "re-clone from %s (the old data directory is kept aside): %s" % (
            primary,
            "it holds another cluster" if values["foreign"] else "the primary no longer has the WAL it needs (lost slot or recycled WAL)",
        )
    elif values["wal_lost"]:
        how = (
            "pg_rewind from %s, the WAL that neither has any more fetched from the archive; re-clone (old data directory kept "
            "aside) only when a rewind is impossible" % primary
        )
    else:
        how = "pg_rewind from %s, or re-clone (old data directory kept aside) when a rewind is impossible" % primary
    lines = [
        "1. stop %s (%s) and leave standby.signal" % (rejoin_host, facts.get("role")),
        "2. " + how,
        "3. start it as a standby of %s and wait until it streams" % primary,
    ]
    return _plan([], None, False, lines, **values)


def remove_plan(hosts, hostvars, member: str, delete_data: bool = False) -> dict:
    """Taking `member` out of the cluster: stop it for good, drop its slot on the primary, and converge the others
    without it (pg_hba.conf, the guard's peers, synchronous_standby_names). Refused for the running primary (switch
    over first), without a primary to drop the slot on, and while another member does not answer (it would keep
    admitting the removed one)."""
    members = describe_members(hosts, hostvars)
    names = [entry["host"] for entry in members]
    if member not in names:
        raise PlanError("remove_member %s is not a member of the cluster (%s)" % (member, ", ".join(names)))
    removed = next(entry for entry in members if entry["host"] == member)
    others = [entry for entry in members if entry["host"] != member]
    primaries = [entry["host"] for entry in running_primaries(members)]
    unreachable = [entry["host"] for entry in others if entry["facts"] is None]
    values = dict(member=member, member_name=removed["name"], primary=None, others=[entry["host"] for entry in others])
    if member in primaries:
        problem = "%s runs as primary: switch over to another member first (pgops.replication.switchover -e new_primary=HOST)." % member
    elif unreachable:
        problem = "%s could not be inspected, and would keep admitting %s: bring it back first." % (joined_hosts(unreachable), member)
    elif len(primaries) != 1:
        problem = "the other members run %d primaries (%s), and there must be exactly one to drop the slot on." % (
            len(primaries),
            ", ".join(primaries) or "none",
        )
    else:
        problem = None
    if problem is not None:
        return _plan([problem], "Removal of %s refused, nothing was changed: %s" % (member, problem), False, [], **values)
    primary = primaries[0]
    values["primary"] = primary
    facts = removed["facts"]
    if facts is None:
        first = "1. %s cannot be reached: nothing is done there; power it off (it no longer has a slot, and no member admits it)" % member
    elif delete_data:
        first = "1. stop %s's server and drop its cluster: data directory and configuration deleted" % member
    else:
        first = "1. stop %s's server and keep it from starting at boot; its data directory stays" % member
    lines = [
        first,
        "2. drop slot %s on the primary %s" % (removed["name"], primary),
        "3. %s: pg_hba.conf, the guard's peers and synchronous_standby_names without %s (reload)" % (", ".join(values["others"]), member),
        "Then take %s out of the cluster's inventory group: site.yml would clone it back." % member,
    ]
    return _plan([], None, False, lines, **values)


# A standby's value of each of these must be at least the primary's, or its replay stops at the primary's next record
# of the setting (or at its own start): increases go to the standbys first, decreases to the primary first.
HOT_STANDBY_SETTINGS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)
PRIMARY_RESTARTS = ("switchover", "in_place", "report")


def _with(values: dict, **changes) -> dict:
    """A copy of a plan's values with some changed."""
    merged = dict(values)
    merged.update(changes)
    return merged


def _pending(member: dict) -> dict:
    """{setting: {"running": value, "wanted": value}} of the settings that wait for a restart of this member."""
    return dict((member["facts"] or {}).get("pending_restart_changes") or {})


def _changes(pending: dict) -> str:
    return ", ".join("%s %s -> %s" % (name, change.get("running"), change.get("wanted")) for name, change in sorted(pending.items()))


def _directions(members: list) -> dict:
    """{"up": [...], "down": [...]}: the hot-standby settings some member raises or lowers, as "member setting"."""
    directions: dict = {"up": [], "down": []}
    for member in members:
        for name, change in sorted(_pending(member).items()):
            if name not in HOT_STANDBY_SETTINGS:
                continue
            if change.get("wanted") is None:
                raise PlanError(
                    "%s: %s waits for a restart, but the value its configuration files hold is not known (the facts' login "
                    "role may not read pg_file_settings), so whether it goes up or down is not either" % (member["host"], name)
                )
            try:
                running, wanted = int(change["running"]), int(change["wanted"])
            except (KeyError, TypeError, ValueError) as error:
                raise PlanError(
                    "%s: %s waits for a restart but its values are not whole numbers: %r" % (member["host"], name, change)
                ) from error
            if wanted != running:
                directions["up" if wanted > running else "down"].append("%s %s" % (member["host"], name))
    return directions


# What pg_config_files registered in site.yml's configure step (postgresql role): in check mode, the restarts its files
# would leave waiting, which the servers cannot report since nothing was written.
UNAPPLIED_RESULT = "postgresql_config_files_result"


def _with_unapplied(members: list, hostvars) -> None:
    """Add to each member's pending restarts those its configuration files would bring (check mode)."""
    for member in members:
        unapplied = ((hostvars[member["host"]] or {}).get(UNAPPLIED_RESULT) or {}).get("restart_changes") or {}
        if unapplied and member["facts"] is not None:
            pending = dict(member["facts"].get("pending_restart_changes") or {})
            pending.update(unapplied)
            member["facts"]["pending_restart_changes"] = pending


def restart_plan(hosts, hostvars, primary_restart: str = "switchover", synchronous="off", unapplied: bool = False) -> dict:
    """The rolling restart of the members whose settings wait for one: the standbys one at a time, each back to
    streaming before the next, and the primary as `primary_restart` says (a switchover to a standby already restarted,
    a restart in place, or only a report). A lowered hot-standby setting goes to the primary first, in place, since no
    standby may run below its primary; a raised one to the standbys first. One run never does both. With `unapplied`
    (check mode), the restarts the configure step's files would bring count too."""
    if primary_restart not in PRIMARY_RESTARTS:
        raise PlanError("the primary's restart must be one of %s, got %r" % (", ".join(PRIMARY_RESTARTS), primary_restart))
    members = describe_members(hosts, hostvars)
    if unapplied:
        _with_unapplied(members, hostvars)
    method, needed = confirmations_needed(synchronous, len(members))
    empty = dict(primary=None, restart_first=[], standbys=[], switchover_to=None, restart_primary=False, left_pending=[])
    verdict = judge_primaries(members)
    running = running_primaries(members)
    unknown = [member["host"] for member in members if member["facts"] is None]
    refusal = None
    if verdict is not None:
        refusal = verdict["message"] + " Nothing was restarted."
    elif unknown:
        refusal = "%s could not be inspected, so whether a restart keeps the cluster serving is not known. Nothing was restarted." % (
            joined_hosts(unknown)
        )
    elif not running:
        refusal = "No member runs as primary. Nothing was restarted."
    if refusal is not None:
        return _plan([refusal], refusal, False, [], **empty)
    primary = running[0]
    standbys = [member for member in members if member is not primary]
    waiting = [member for member in members if _pending(member)]
    if not waiting:
        return _plan(
            [],
            None,
            True,
            ["Nothing to restart: no member has a setting that waits for a restart."],
            **_with(empty, primary=primary["host"]),
        )
    directions = _directions(waiting)
    if directions["up"] and directions["down"]:
        refusal = (
            "Some settings that a standby must hold at least as high as its primary go up (%s) and others down (%s): "
            "no order of restarts keeps every standby replaying. Change them in two runs, the increases first. Nothing "
            "was restarted." % (", ".join(directions["up"]), ", ".join(directions["down"]))
        )
        return _plan([refusal], refusal, False, [], **_with(empty, primary=primary["host"]))
    streaming = [member for member in standbys if member["facts"].get("role") == "standby"]
    restarting = [member for member in standbys if _pending(member)]
    if method is not None and restarting and len(streaming) - 1 < needed:
        refusal = (
            "Every commit waits for %d standby confirmation(s) (postgresql_synchronous %s), and %d standby(s) run: "
            "restarting one would make commits wait until it is back. Nothing was restarted; add a standby first, or "
            "restart at a quiet time by hand." % (needed, synchronous, len(streaming))
        )
        return _plan([refusal], refusal, False, [], **_with(empty, primary=primary["host"]))
    lowered = bool(directions["down"])
    primary_waits = bool(_pending(primary))
    lines: list = []
    restart_first = []
    if lowered and primary_waits:
        if primary_restart == "report":
            refusal = (
                "%s lowers %s: the primary restarts first, before any standby, and restart_primary is report. "
                "Nothing was restarted." % (primary["host"], ", ".join(directions["down"]))
            )
            return _plan([refusal], refusal, False, [], **_with(empty, primary=primary["host"]))
        restart_first = [primary["host"]]
        lines.append(
            "%d. %s (primary): restart in place first (%s): lowered settings go to the primary before any standby; writes "
            "stop while it restarts" % (len(lines) + 1, primary["host"], _changes(_pending(primary)))
        )
    for member in restarting:
        lines.append(
            "%d. %s: restart (%s), then wait until it streams from %s again"
            % (len(lines) + 1, member["host"], _changes(_pending(member)), primary["host"])
        )
    switchover_to, restart_primary, left_pending = None, False, []
    if primary_waits and not restart_first:
        if primary_restart == "switchover":
            # Already restarted, or with nothing to restart: either way it runs the new settings.
            switchover_to = (restarting or streaming or standbys)[0]["host"]
            lines.append(
                "%d. switch over to %s; %s starts again as its standby with the new settings (%s)"
                % (len(lines) + 1, switchover_to, primary["host"], _changes(_pending(primary)))
            )
        elif primary_restart == "in_place":
            restart_primary = True
            lines.append(
                "%d. %s (primary): restart in place (%s); writes stop while it restarts"
                % (len(lines) + 1, primary["host"], _changes(_pending(primary)))
            )
        else:
            left_pending = [primary["host"]]
            lines.append(
                "%d. %s (primary): waits for a restart (%s), left as is (restart_primary: report)"
                % (len(lines) + 1, primary["host"], _changes(_pending(primary)))
            )
    lines.append("%d. verify: one primary, every other member streaming from it" % (len(lines) + 1))
    return _plan(
        [],
        None,
        False,
        lines,
        primary=primary["host"],
        restart_first=restart_first,
        standbys=[member["host"] for member in restarting],
        switchover_to=switchover_to,
        restart_primary=restart_primary,
        left_pending=left_pending,
    )


def _minor_release(text) -> tuple:
    """(major, minor) of a PostgreSQL release given as "15.20", a Debian package version ("15.20-0+deb12u1") or a
    server_version_num (150020)."""
    value = str(text if text is not None else "").strip()
    if value.isdigit() and len(value) >= 5:
        return int(value) // 10000, int(value) % 10000
    release = value.split("-", 1)[0].split(" ", 1)[0]
    parts = release.split(".")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise PlanError("a minor release is written MAJOR.MINOR (for example 15.20), got %r" % (text,))
    return int(parts[0]), int(parts[1])


def update_plan(hosts, hostvars, target, switch_back: bool = False) -> dict:
    """The rolling minor update to `target` (MAJOR.MINOR): each standby in turn, then a switchover to an updated
    standby and the old primary updated as its standby; with `switch_back`, the primary role goes back to it at the
    end. A member's release is what its server runs (server_version_num). A major-version change or a downgrade is
    refused before anything changes."""
    wanted = _minor_release(target)
    members = describe_members(hosts, hostvars)
    empty = dict(
        primary=None, target="%d.%d" % wanted, standbys=[], switchover_to=None, update_primary=False, switch_back_to=None, releases={}
    )
    verdict = judge_primaries(members)
    not_running = [member["host"] for member in members if (member["facts"] or {}).get("role") not in ("primary", "standby")]
    refusal = None
    if verdict is not None:
        refusal = verdict["message"] + " Nothing was updated."
    elif not_running:
        refusal = (
            "%s could not be inspected or does not run, so its release is not known. Nothing was updated; start it (or "
            "take it out of the inventory group), then run the update again." % joined_hosts(not_running)
        )
    if refusal is not None:
        return _plan([refusal], refusal, False, [], **empty)
    releases = {member["host"]: _minor_release(member["facts"].get("server_version_num")) for member in members}
    shown = {host: "%d.%d" % release for host, release in releases.items()}
    majors = sorted({release[0] for release in releases.values()} | {wanted[0]})
    if len(majors) > 1:
        refusal = (
            "%d.%d is another major release than the members run (%s): a minor update keeps the major release; a major "
            "upgrade (pg_upgrade, or a new cluster and logical replication) is another operation. Nothing was updated."
            % (wanted + (", ".join("%s %s" % item for item in shown.items()),))
        )
    else:
        ahead = [host for host, release in releases.items() if release > wanted]
        if ahead:
            refusal = "%s already run%s a newer release than %d.%d (%s): a minor update never goes back. Nothing was updated." % (
                joined_hosts(ahead),
                "s" if len(ahead) == 1 else "",
                wanted[0],
                wanted[1],
                ", ".join("%s %s" % (host, shown[host]) for host in ahead),
            )
    if refusal is not None:
        return _plan([refusal], refusal, False, [], **_with(empty, releases=shown))
    primary = running_primaries(members)[0]
    standbys = [member["host"] for member in members if member is not primary]
    behind = [host for host in standbys if releases[host] < wanted]
    target_text = empty["target"]
    if not behind and releases[primary["host"]] == wanted:
        lines = ["Nothing to do: every member runs %s." % target_text]
        return _plan([], None, True, lines, **_with(empty, primary=primary["host"], releases=shown))
    lines = [
        "%d. %s: %s -> %s: upgrade the packages, restart, wait until it streams from %s"
        % (number, host, shown[host], target_text, primary["host"])
        for number, host in enumerate(behind, start=1)
    ]
    switchover_to, switch_back_to = None, None
    update_primary = releases[primary["host"]] < wanted
    if update_primary:
        switchover_to = standbys[0]
        lines.append("%d. switch over to %s (the gates of switchover.yml: lag, replay, quorum)" % (len(lines) + 1, switchover_to))
        lines.append(
            "%d. %s: %s -> %s: upgrade the packages, restart as a standby of %s, wait until it streams"
            % (len(lines) + 1, primary["host"], shown[primary["host"]], target_text, switchover_to)
        )
        if switch_back:
            switch_back_to = primary["host"]
            lines.append("%d. switch back to %s" % (len(lines) + 1, switch_back_to))
    lines.append("%d. verify: every member runs %s, one primary, every other member streaming from it" % (len(lines) + 1, target_text))
    return _plan(
        [],
        None,
        False,
        lines,
        primary=primary["host"],
        target=target_text,
        standbys=behind,
        switchover_to=switchover_to,
        update_primary=update_primary,
        switch_back_to=switch_back_to,
        releases=shown,
    )


BACKUP_TYPES = ("full", "diff", "incr")
BACKUP_SOURCES = ("standby", "primary")


def backup_plan(hosts, hostvars, backup_from: str = "standby", backup_type: str = "full") -> dict:
    """Where a pgBackRest backup copies the data files from: a standby that streams from the primary by default, so that
    the primary only serves the start and stop of the backup and the WAL; the primary when asked, or refused."""
    if backup_from not in BACKUP_SOURCES:
        raise PlanError("backup_from must be one of %s, got %r" % (", ".join(BACKUP_SOURCES), backup_from))
    if backup_type not in BACKUP_TYPES:
        raise PlanError("backup_type must be one of %s, got %r" % (", ".join(BACKUP_TYPES), backup_type))
    members = describe_members(hosts, hostvars)
    status = cluster_status(hosts, hostvars)
    verdict = judge_primaries(members)
    values = dict(primary=status["primary"], standbys=[], backup_standby=backup_from == "standby")
    if verdict is not None:
        problem = verdict["message"]
    elif status["primary"] is None:
        problem = "no member runs as primary, and every backup starts and stops on the primary."
    else:
        problem = None
    if problem is None:
        values["standbys"] = [
            member["host"]
            for member in members
            if member["facts"]
            and member["facts"].get("role") == "standby"
            and (member["facts"].get("wal_receiver") or {}).get("status") == "streaming"
        ]
        if backup_from == "standby" and not values["standbys"]:
            problem = (
                "no standby streams from %s to copy the files from. Bring one back (status.yml says what is wrong), or run "
                "with -e backup_from=primary to read them from the primary." % status["primary"]
            )
    if problem is not None:
        return _plan([problem], "Backup refused, nothing was changed: %s" % problem, False, [], **values)
    source = "a standby that streams (%s)" % joined_hosts(values["standbys"]) if values["backup_standby"] else status["primary"]
    lines = [
        "1. %s backup: start and stop on the primary %s; the data files from %s" % (backup_type, status["primary"], source),
        "2. wait until the WAL of the backup is in the archive, then expire what pgbackrest_retention_full no longer keeps",
    ]
    return _plan([], None, False, lines, **values)
