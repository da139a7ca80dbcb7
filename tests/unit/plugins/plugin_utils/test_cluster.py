"""Branches of the cluster judgements that the filter tests (tests/unit/plugins/filter/test_topology.py) leave out."""

import pytest

from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import (
    PlanError,
    cluster_status,
    describe_members,
    endpoints_status,
    failover_choice,
    needed_wal_gone,
    switchover_checks,
)


def facts(**by_host):
    return {host: {"ansible_facts": {"pg_replication": value}} for host, value in by_host.items()}


def test_one_host_name_is_not_a_member_list():
    with pytest.raises(PlanError, match="must be a list of inventory host names"):
        describe_members("node1", facts(node1=dict(role="primary")))


def test_a_standby_with_only_a_received_position_shows_it():
    standby = dict(role="standby", received_lsn="0/3000000", wal_receiver=dict(status="streaming"))
    status = cluster_status(["node1"], facts(node1=standby))
    assert status["rows"][0]["lsn"] == "0/3000000"


def test_a_position_that_is_no_lsn_ranks_last():
    variables = facts(
        node1=dict(role="standby", received_lsn="garbage", timeline=3),
        node2=dict(role="standby", received_lsn="0/1000000", timeline=1),
    )
    assert failover_choice(["node1", "node2"], variables)["ranking"] == ["node2", "node1"]


def test_a_switchover_to_a_member_that_is_no_running_standby_is_refused():
    variables = facts(
        node1=dict(role="primary", system_identifier="1", current_lsn="0/5000000", replication=[], slots=[]),
        node2=dict(role="stopped", system_identifier="1"),
    )
    problems = switchover_checks(["node1", "node2"], variables, "node2")["problems"]
    assert "candidate check: node2 is not a running standby (it is stopped)" in problems


def test_a_position_that_is_no_lsn_is_a_mistake_for_needed_wal_gone():
    variables = facts(
        node1=dict(role="primary", oldest_wal_lsn="0/1000000", slots=[]),
        node2=dict(role="stopped", controldata=dict(checkpoint_lsn="nonsense")),
    )
    with pytest.raises(PlanError, match="needed_wal_gone"):
        needed_wal_gone("node2", "node1", variables)


def test_a_setting_that_waits_for_a_restart_is_a_warning_that_names_the_way_out():
    status = cluster_status(["node1"], facts(node1=dict(role="primary", pending_restart=["max_connections", "shared_buffers"])))
    assert status["state"] == "warning"
    assert status["warnings"] == [
        "node1: max_connections, shared_buffers wait for a restart (playbooks/restart.yml restarts the members one at a time)"
    ]
    assert cluster_status(["node1"], facts(node1=dict(role="primary", pending_restart=[])))["state"] == "ok"


def archiving_primary(**archiver):
    counts = dict(
        archived_count=120,
        failed_count=0,
        last_archived_wal="000000010000000000000078",
        last_failed_wal=None,
        last_archived_age=35.0,
        last_failed_age=None,
        failing=False,
    )
    counts.update(archiver)
    return dict(role="primary", replication=[], slots=[], archiver=counts)


def archive_status(primary: dict, standby: dict | None = None, **limits) -> dict:
    members = dict(node1=primary) if standby is None else dict(node1=primary, node2=standby)
    return cluster_status(list(members), facts(**members), **limits)


def test_the_primary_archiving_shows_in_a_line_of_its_own_and_raises_no_warning():
    status = archive_status(archiving_primary())
    assert status["state"] == "ok" and status["archive"] == ["node1: archive: 120 segments archived, last 35.0 s ago, 0 failures"]
    assert status["lines"][-2:] == ["", status["archive"][0]]


def test_an_archive_command_that_still_fails_is_a_warning():
    status = archive_status(
        archiving_primary(failed_count=3, last_failed_wal="000000010000000000000079", last_failed_age=12.0, failing=True)
    )
    assert status["state"] == "warning" and [problem["check"] for problem in status["problems"]] == ["archive"]
    assert status["warnings"] == [
        "node1: archive_command fails: 3 failures, the last for WAL 000000010000000000000079 12.0 s ago, and it has not succeeded since"
    ]
    assert status["archive"] == ["node1: archive: 120 segments archived, last 35.0 s ago, 3 failures, failing"]


def test_a_failure_that_was_followed_by_a_success_is_over():
    status = archive_status(archiving_primary(failed_count=1, last_failed_wal="000000010000000000000077", last_failed_age=600.0))
    assert status["state"] == "ok" and status["archive"] == ["node1: archive: 120 segments archived, last 35.0 s ago, 1 failure"]


def test_a_last_archive_older_than_the_limit_is_a_warning_that_names_the_limit_and_the_idle_primary():
    old = archiving_primary(last_archived_age=7384.0)
    [warning] = archive_status(old)["warnings"]
    assert warning.startswith("node1: the last WAL segment archived was 2h 03m ago (limit 1h 00m, status_max_archive_age=3600).")
    assert "archive_timeout unset" in warning
    assert archive_status(old, max_archive_age=7400)["state"] == "ok"
    assert archive_status(archiving_primary(last_archived_age=None, archived_count=0))["archive"] == [
        "node1: archive: 0 segments archived, none yet, 0 failures"
    ]


def test_without_archive_mode_there_is_no_archive_line_and_a_standby_never_warns():
    status = archive_status(dict(role="primary", replication=[], slots=[], archiver=None))
    assert status["archive"] == [] and status["state"] == "ok" and len(status["lines"]) == 4
    # With archive_mode=on a standby does not archive: its counts stand still, whatever their age.
    standby = dict(role="standby", wal_receiver=dict(status="streaming", sender_host="node1", sender_port=5432))
    standby["archiver"] = archiving_primary(last_archived_age=86400.0, failing=True)["archiver"]
    status = archive_status(dict(role="primary", replication=[], slots=[], archiver=None), standby)
    assert status["archive"] == [] and not [problem for problem in status["problems"] if problem["check"] == "archive"]


def test_the_archive_line_stays_when_the_poolers_are_added():
    primary = archiving_primary()
    report = archive_status(primary)
    pooler = dict(host="pooler1", reached=True, databases=[dict(name="appdb", host="node1", port=5432, paused=False)])
    status = endpoints_status(report, [pooler], facts(node1=primary))
    assert status["lines"][-3:] == [
        "",
        "node1: archive: 120 segments archived, last 35.0 s ago, 0 failures",
        "pooler1: writes appdb -> node1",
    ]


def stanza(*stops, name="postgres"):
    """`pgbackrest info` of one stanza whose backups ended at these epoch times (the last one failed when negative)."""
    backups = [
        dict(
            label="B%d" % number,
            type="full" if number == 0 else "diff",
            error=stop < 0,
            timestamp=dict(start=abs(stop) - 10, stop=abs(stop)),
        )
        for number, stop in enumerate(stops)
    ]
    return dict(name=name, backup=backups, archive=[dict(min="000000010000000000000001", max="000000010000000000000009")])


def repository_status(repository, now=100000.0, max_backup_age=3600):
    primary = dict(role="primary", replication=[], slots=[])
    report = cluster_status(["node1"], facts(node1=primary))
    return endpoints_status(report, [], facts(node1=primary), [], repository, max_backup_age, now)


def test_a_recent_backup_is_a_line_and_no_problem():
    status = repository_status(dict(host="backup1", reached=True, info=stanza(90000, 99000)))
    assert status["state"] == "ok" and status["lines"][-1] == (
        "backup1: repository: stanza postgres, 2 backups, the newest B1 (diff) ended 0.3 h ago; "
        "archive 000000010000000000000001 to 000000010000000000000009"
    )


def test_a_backup_older_than_the_limit_is_a_warning_and_a_failed_one_does_not_count():
    status = repository_status(dict(host="backup1", reached=True, info=stanza(90000, -99000)))
    assert status["state"] == "warning" and status["warnings"] == [
        "backup1: the newest backup of stanza postgres (B0, full) ended 2.8 h ago (limit status_max_backup_age=3600 s): are the "
        "backup timers running? (systemctl list-timers 'pgops-backup-*')"
    ]


def test_no_backup_and_an_unreadable_repository_are_warnings():
    empty = repository_status(dict(host="backup1", reached=True, info=stanza()))
    assert empty["warnings"] == ["backup1: stanza postgres has no backup yet: run the backup playbook (pgops.replication.backup)"]
    lost = repository_status(dict(host="backup1", reached=False, error="unreachable", info={}))
    assert (
        lost["warnings"] == ["backup1: the repository could not be read (unreachable)"]
        and "backup1: repository: no answer" in lost["lines"]
    )
