"""Every branch of restore_plan, on hostvars as the playbooks hand them over after tasks/inspect.yml and on the JSON of
`pgbackrest --output=json info` as pgBackRest 2.45 prints it."""

import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter import topology
from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError
from ansible_collections.pgops.replication.plugins.plugin_utils.restore import parse_target_time, restore_plan

NODES = ["node1", "node2", "node3"]
SYSTEM_ID = 7716618479426543745
STANZA = "postgres"
FULL_STOP = 1796666182  # 2026-12-07T17:56:22Z
INCR_STOP = FULL_STOP + 86400  # 2026-12-08T17:56:22Z
NOW = INCR_STOP + 3600.0
REFUSED = "Restore refused, nothing was changed: "


def primary(lsn="0/C000000", client_sessions=0, system_identifier=str(SYSTEM_ID), **extra):
    facts = dict(
        running=True,
        role="primary",
        system_identifier=system_identifier,
        timeline=1,
        current_lsn=lsn,
        data_dir="/var/lib/postgresql/15/main",
        client_sessions=client_sessions,
        replication=[dict(application_name=name, replay_lag_bytes=0, sync_state="async") for name in ("node2", "node3")],
        slots=[dict(slot_name=name, active=True, wal_status="reserved") for name in ("node2", "node3")],
    )
    facts.update(extra)
    return facts


def standby(received="0/C000000", system_identifier=str(SYSTEM_ID)):
    return dict(
        running=True,
        role="standby",
        system_identifier=system_identifier,
        timeline=1,
        received_lsn=received,
        replayed_lsn=received,
        data_dir="/var/lib/postgresql/15/main",
        client_sessions=2,  # read-only sessions on a standby do not count as writes
        wal_receiver=dict(status="streaming", sender_host="node1", sender_port=5432),
    )


def stopped(system_identifier=str(SYSTEM_ID)):
    return dict(
        running=False,
        role="stopped",
        system_identifier=system_identifier,
        timeline=1,
        controldata=dict(checkpoint_lsn="0/C000000"),
    )


def hostvars(**facts_by_host):
    """Host variables with each host's pg_replication facts; None stands for a member that could not be inspected."""
    return {host: ({"ansible_facts": {"pg_replication": facts}} if facts is not None else {}) for host, facts in facts_by_host.items()}


def healthy(**changes):
    members = dict(node1=primary(), node2=standby(), node3=standby())
    members.update(changes)
    return hostvars(**members)


def backup(label, backup_type, stop, lsn_stop, error=False, database_id=1):
    return {
        "label": label,
        "type": backup_type,
        "error": error,
        "lsn": {"start": "0/7000028", "stop": lsn_stop},
        "timestamp": {"start": stop - 5, "stop": stop},
        "archive": {"start": "000000010000000000000007", "stop": "000000010000000000000008"},
        "database": {"id": database_id},
        "prior": None if backup_type == "full" else "20261207-175617F",
        "reference": None if backup_type == "full" else ["20261207-175617F"],
    }


FULL = backup("20261207-175617F", "full", FULL_STOP, "0/8000050")
INCR = backup("20261207-175617F_20261208-175617I", "incr", INCR_STOP, "0/A000100")


def info(backups=(FULL, INCR), code=0, message="ok", system_id=SYSTEM_ID, name=STANZA, databases=None):
    return [
        {
            "name": name,
            "status": {"code": code, "message": message, "lock": {"backup": {"held": False}}},
            "db": databases if databases is not None else [{"id": 1, "system-id": system_id, "version": "15"}],
            "archive": [{"database": {"id": 1}, "id": "15-1", "min": "000000010000000000000001", "max": "00000001000000000000000C"}],
            "backup": copy.deepcopy(list(backups)),
            "cipher": "aes-256-cbc",
            "repo": [{"cipher": "aes-256-cbc", "key": 1, "status": {"code": code, "message": message}}],
        }
    ]


def plan(target_type="newest", target="", variables=None, repository=None, **options):
    options.setdefault("now", NOW)
    return restore_plan(
        NODES,
        healthy() if variables is None else variables,
        info() if repository is None else repository,
        STANZA,
        target_type,
        target,
        **options,
    )


def refused_for(result, fragment):
    assert result["refused"] is True and result["done"] is False and result["lines"] == []
    assert result["refusal"].startswith(REFUSED)
    assert result["primary"] is None and result["backup"] is None
    assert result["recovery_settings"] == {}
    assert any(fragment in problem for problem in result["problems"]), result["problems"]
    assert all(problem in result["refusal"] for problem in result["problems"])


# Target types


def test_newest_restores_the_newest_backup_and_replays_the_whole_archive():
    result = plan("newest")
    assert result["refused"] is False and result["refusal"] is None and result["problems"] == [] and result["done"] is False
    assert result["primary"] == "node1" and result["standbys"] == ["node2", "node3"]
    assert result["stop_order"] == ["node2", "node3", "node1"]
    assert result["backup"] == dict(label=INCR["label"], type="incr", stop_time="2026-12-08T17:56:22Z", stop_lsn="0/A000100")
    assert result["recovery_settings"] == {}
    assert result["target"] is None and result["client_sessions"] == 0
    assert result["lines"] == [
        "1. stop the standbys node2 and node3, then the primary node1",
        "2. keep each member's data directory aside (renamed DATA_DIR.pgops-old-TIME, nothing deleted)",
        "3. restore node1 from backup %s (incr, stopped 2026-12-08T17:56:22Z at 0/A000100) of stanza postgres and recover to "
        "the end of the WAL archive (the newest archived write), then promote" % INCR["label"],
        "4. re-clone node2 and node3 from node1",
        "5. the old data directories stay until you remove them (-e restore_remove_old=true removes them once the cluster runs)",
        "Writes: no client session on the primary node1.",
        "WARNING: what was not archived yet is lost, on every member (the primary node1 is at 0/C000000 now).",
    ]


def test_time_restores_the_newest_backup_ended_before_it_and_passes_the_time_in_utc():
    # 19:00 at +01:00 is 18:00 UTC on the 7th: after the full backup, before the incremental one.
    result = plan("time", "2026-12-07 19:00:00+01:00")
    assert not result["refused"]
    assert result["backup"]["label"] == FULL["label"] and result["backup"]["stop_time"] == "2026-12-07T17:56:22Z"
    assert result["target"] == "2026-12-07 18:00:00+00"
    assert result["recovery_settings"] == {"recovery_target_time": "2026-12-07 18:00:00+00", "recovery_target_action": "promote"}
    assert "recover to the time 2026-12-07 18:00:00+00, then promote" in result["lines"][2]
    assert result["lines"][-1].startswith("WARNING: everything written after the time 2026-12-07 18:00:00+00 is lost, on every member")


def test_time_after_the_newest_backup_restores_the_newest_backup():
    result = plan("time", "2026-12-08 18:00:00Z")
    assert result["backup"]["label"] == INCR["label"] and result["target"] == "2026-12-08 18:00:00+00"


def test_time_at_a_backups_very_end_may_use_it():
    assert plan("time", "2026-12-08 17:56:22+00")["backup"]["label"] == INCR["label"]


@pytest.mark.parametrize(
    "given, normalised",
    [
        ("2026-12-07 18:00:00+00", "2026-12-07 18:00:00+00"),
        ("2026-12-07 18:00:00Z", "2026-12-07 18:00:00+00"),
        ("2026-12-07 18:00:00 UTC", "2026-12-07 18:00:00+00"),
        ("2026-12-07T20:00:00+02", "2026-12-07 18:00:00+00"),
        ("2026-12-07 13:30:00-0430", "2026-12-07 18:00:00+00"),
        ("2026-12-08 01:00:00.250+07:00", "2026-12-07 18:00:00.250+00"),
    ],
)
def test_a_time_with_its_zone_is_passed_in_utc(given, normalised):
    assert parse_target_time(given)[1] == normalised
    assert plan("time", given)["target"] == normalised


def test_lsn_restores_the_newest_backup_ended_before_it():
    result = plan("lsn", "0/9abc000")
    assert not result["refused"]
    assert result["backup"]["label"] == FULL["label"] and result["target"] == "0/9ABC000"
    assert result["recovery_settings"] == {"recovery_target_lsn": "0/9ABC000", "recovery_target_action": "promote"}
    assert "recover to LSN 0/9ABC000, then promote" in result["lines"][2]
    assert plan("lsn", "0/B000000")["backup"]["label"] == INCR["label"]


def test_name_restores_the_newest_backup_and_says_the_point_must_be_newer():
    result = plan("name", "before_migration")
    assert not result["refused"]
    assert result["backup"]["label"] == INCR["label"]
    assert result["recovery_settings"] == {"recovery_target_name": "before_migration", "recovery_target_action": "promote"}
    assert "recover to restore point 'before_migration', then promote" in result["lines"][2]
    assert result["lines"][-1].startswith("The restore point must be newer than backup %s (2026-12-08T17:56:22Z)" % INCR["label"])


def test_a_restore_point_name_of_63_bytes_is_accepted():
    assert not plan("name", "p" * 63)["refused"]


def test_backups_with_errors_are_never_chosen():
    broken = backup("20261209-100000F", "full", INCR_STOP + 3000, "0/B000000", error=True)
    assert plan("newest", repository=info(backups=(FULL, INCR, broken)))["backup"]["label"] == INCR["label"]


# The member restored


def test_restore_primary_may_be_a_standby_and_the_running_primary_still_stops_last():
    result = plan("newest", restore_primary="node2")
    assert result["primary"] == "node2" and result["standbys"] == ["node1", "node3"]
    assert result["stop_order"] == ["node2", "node3", "node1"]
    assert result["lines"][2].startswith("3. restore node2 from backup")
    assert result["lines"][3] == "4. re-clone node1 and node3 from node2"


def test_without_a_running_primary_restore_primary_names_the_member_to_restore():
    variables = hostvars(node1=stopped(), node2=stopped(), node3=stopped())
    result = plan("newest", variables=variables, restore_primary="node3")
    assert not result["refused"] and result["primary"] == "node3" and result["stop_order"] == NODES
    assert result["lines"][0] == "1. stop node1, node2 and node3 (no member runs as primary)"
    assert result["lines"][5] == "Writes: no member runs as primary, so none takes writes."
    assert result["client_sessions"] is None


def test_a_single_member_has_nothing_to_re_clone():
    result = restore_plan(["node1"], healthy(), info(), STANZA, "newest", now=NOW)
    assert result["standbys"] == [] and result["stop_order"] == ["node1"]
    assert result["lines"][0] == "1. stop the primary node1" and result["lines"][3] == "4. no other member to re-clone"


# Refusals: the repository


def test_a_stanza_not_in_info_is_refused_with_the_stanzas_listed():
    result = plan("newest", repository=info(name="main"))
    refused_for(result, "the repository has no stanza postgres (other stanzas listed: main): set pgbackrest_stanza")


def test_a_missing_stanza_path_is_refused():
    result = plan("newest", repository=info(backups=(), code=1, message="missing stanza path"))
    refused_for(
        result, "the repository has no stanza postgres (pgBackRest: missing stanza path; other stanzas listed: none): set pgbackrest_stanza"
    )


def test_a_stanza_without_backups_is_refused():
    result = plan("newest", repository=info(backups=(), code=2, message="no valid backups"))
    refused_for(result, "stanza postgres holds no usable backup (no valid backups): take one with backup.yml first.")


def test_a_stanza_with_only_failed_backups_is_refused():
    result = plan("newest", repository=info(backups=(dict(FULL, error=True),)))
    refused_for(result, "stanza postgres holds no usable backup (1 listed, each with errors or of an older database)")


def test_backups_of_an_older_database_of_the_stanza_are_not_usable():
    databases = [{"id": 1, "system-id": 1111, "version": "14"}, {"id": 2, "system-id": SYSTEM_ID, "version": "15"}]
    refused_for(plan("newest", repository=info(databases=databases)), "stanza postgres holds no usable backup (2 listed")
    current = dict(INCR, database={"id": 2})
    assert plan("newest", repository=info(backups=(FULL, current), databases=databases))["backup"]["label"] == INCR["label"]


def test_another_clusters_repository_is_refused():
    result = plan("newest", repository=info(system_id=6999999999999999999))
    refused_for(result, "stanza postgres holds the backups of cluster 6999999999999999999, and the members run cluster %s" % SYSTEM_ID)


def test_the_repository_is_not_judged_by_members_without_a_cluster():
    absent = dict(running=False, role="absent", system_identifier=None)
    variables = hostvars(node1=absent, node2=dict(absent), node3=dict(absent))
    result = plan("newest", variables=variables, repository=info(system_id=6999999999999999999), restore_primary="node1")
    assert not result["refused"] and result["primary"] == "node1"


# Refusals: the target against the backups, the clock and the primary


def test_a_time_before_the_first_backup_is_refused_with_the_earliest_time():
    result = plan("time", "2026-12-07 17:00:00+00")
    refused_for(
        result,
        "restore_target 2026-12-07 17:00:00+00 is before the first backup: the earliest time the repository can restore to "
        "is 2026-12-07T17:56:22Z (the end of backup 20261207-175617F).",
    )


def test_an_lsn_before_the_first_backup_is_refused_with_the_earliest_lsn():
    result = plan("lsn", "0/7000000")
    refused_for(result, "the earliest LSN the repository can restore to is 0/8000050 (the end of backup 20261207-175617F")


def test_a_time_in_the_future_is_refused():
    result = plan("time", "2026-12-08 20:00:00+00")
    refused_for(result, "restore_target 2026-12-08 20:00:00+00 is in the future (now is 2026-12-08T18:56:22Z)")


def test_the_clock_is_the_controllers_without_now():
    result = restore_plan(NODES, healthy(), info(), STANZA, "time", "2999-01-01 00:00:00+00")
    refused_for(result, "is in the future")


def test_an_lsn_beyond_the_primarys_position_is_refused():
    result = plan("lsn", "0/D000000")
    refused_for(result, "restore_target 0/D000000 is beyond the current position of the primary node1 (0/C000000)")


def test_an_lsn_is_not_judged_against_a_primary_that_does_not_run():
    variables = hostvars(node1=stopped(), node2=stopped(), node3=stopped())
    assert not plan("lsn", "0/D000000", variables=variables, restore_primary="node1")["refused"]


# Refusals: the members


def test_a_member_that_could_not_be_inspected_is_refused():
    result = plan("newest", variables=healthy(node3=None))
    refused_for(result, "node3 could not be inspected, and a restore stops and rebuilds every member, so every member must answer.")


def test_two_running_primaries_are_refused_with_the_one_verdict():
    result = plan("newest", variables=healthy(node2=primary()))
    refused_for(result, "Split brain: node1 and node2 both run as primary of the same cluster.")


def test_restore_primary_that_is_no_member_is_refused():
    refused_for(plan("newest", restore_primary="node9"), "restore_primary node9 is not a member of the cluster (node1, node2, node3).")


def test_without_a_running_primary_restore_primary_is_required():
    variables = hostvars(node1=stopped(), node2=stopped(), node3=stopped())
    refused_for(plan("newest", variables=variables), "no member runs as primary, so which one to restore is not known: name it with")


# Refusals: writes


def test_client_sessions_on_the_primary_are_refused():
    result = plan("newest", variables=healthy(node1=primary(client_sessions=3)))
    refused_for(
        result,
        "the cluster takes writes: 3 client sessions on node1. A restore loses everything written after its target: stop the "
        "applications first, or run with -e restore_while_writing=true (what they write after the target is lost).",
    )
    assert result["client_sessions"] == 3


def test_while_writing_restores_anyway_and_says_so():
    result = plan("newest", variables=healthy(node1=primary(client_sessions=1)), while_writing=True)
    assert not result["refused"] and result["client_sessions"] == 1
    assert (
        result["lines"][5]
        == "Writes: 1 client session on the primary node1 (restore_while_writing=true): what they write from now on is lost."
    )


def test_facts_without_client_sessions_say_the_count_is_unknown():
    facts = primary()
    del facts["client_sessions"]
    result = plan("newest", variables=healthy(node1=facts))
    assert not result["refused"] and result["client_sessions"] is None
    assert result["lines"][5] == "Writes: how many client sessions the primary node1 has is not known (its facts do not say)."


# Refusals: the inputs


@pytest.mark.parametrize(
    "target_type, target, fragment",
    [
        ("pitr", "", "restore_target_type 'pitr' is none of newest, time, lsn, name."),
        ("newest", "0/9000000", "restore_target_type newest restores to the end of the archive and takes no target"),
        ("time", "", "restore_target_type time needs restore_target (for example '2026-12-08 10:00:00+00')."),
        ("time", "yesterday", "restore_target 'yesterday' is not a time: write it as 'YYYY-MM-DD HH:MM:SS+00'"),
        ("time", "2026-02-30 10:00:00+00", "restore_target '2026-02-30 10:00:00+00' is not a valid time"),
        ("time", "2026-12-07 10:00:00+25", "is not a valid time (UTC offset +25 is out of range)"),
        ("lsn", "9000000", "restore_target '9000000' is not an LSN: write it as two hexadecimal halves, like 0/3000060."),
        ("name", "", "restore_target_type name needs restore_target"),
        ("name", "é" * 32, "is 64 bytes long, and a restore point's name has at most 63"),
    ],
)
def test_a_bad_target_is_refused(target_type, target, fragment):
    refused_for(plan(target_type, target), fragment)


def test_a_time_without_a_zone_is_refused_as_ambiguous_with_the_accepted_form():
    refused_for(
        plan("time", "2026-12-07 18:00:00"),
        "restore_target '2026-12-07 18:00:00' has no time zone, so it is ambiguous (the server would read it in its own TimeZone): "
        "write it as 'YYYY-MM-DD HH:MM:SS+00' (seconds may carry a fraction; the zone may be +00, +02:00, Z or UTC).",
    )


def test_every_reason_is_given_at_once():
    result = plan("time", "2026-12-07 18:00:00", variables=healthy(node3=None, node1=primary(client_sessions=2)))
    assert len(result["problems"]) == 3
    assert result["refusal"] == REFUSED + " | ".join(result["problems"])


# Mistakes of the caller, and the filter


@pytest.mark.parametrize(
    "hosts, repository, stanza, message",
    [
        ("node1", info(), STANZA, "the members must be a list"),
        (NODES, "no json", STANZA, "info must be the parsed JSON"),
        (NODES, info(), "", "stanza must be the pgBackRest stanza's name"),
    ],
)
def test_input_that_describes_no_cluster_raises(hosts, repository, stanza, message):
    with pytest.raises(PlanError, match=message):
        restore_plan(hosts, healthy(), repository, stanza, "newest", now=NOW)


def test_the_filter_is_registered_and_fails_the_task_on_bad_input():
    assert topology.FilterModule().filters()["restore_plan"] is topology.restore_plan
    assert topology.restore_plan(NODES, healthy(), info(), STANZA, "newest", now=NOW)["primary"] == "node1"
    with pytest.raises(AnsibleFilterError, match="the members must be a list"):
        topology.restore_plan("node1", healthy(), info(), STANZA, "newest")
