"""Every branch of every plan, on hostvars as the playbooks hand them over after tasks/inspect.yml."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter import topology
from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import (
    PlanError,
    cluster_status,
    describe_members,
    judge_primaries,
    switchover_checks,
)
from ansible_collections.pgops.replication.plugins.plugin_utils.plans import (
    backup_plan,
    failover_plan,
    rejoin_plan,
    remove_plan,
    site_plan,
    switchover_abort_plan,
    switchover_plan,
)

NODES = ["node1", "node2", "node3"]


def primary(lsn="0/5000000", members=("node2", "node3"), system_identifier="1", timeline=1, **extra):
    facts = dict(
        role="primary",
        system_identifier=system_identifier,
        timeline=timeline,
        current_lsn=lsn,
        replication=[dict(application_name=name, replay_lag_bytes=0, sync_state="async") for name in members],
        slots=[dict(slot_name=name, active=True, wal_status="reserved") for name in members],
        settings=dict(max_wal_senders=10, max_replication_slots=10, data_checksums=True, wal_log_hints=True),
    )
    facts.update(extra)
    return facts


def standby(upstream="node1", received="0/5000000", system_identifier="1", timeline=1, status="streaming", **extra):
    facts = dict(
        role="standby",
        system_identifier=system_identifier,
        timeline=timeline,
        received_lsn=received,
        replayed_lsn=received,
        replay_lag_seconds=0.0,
        replay_paused=False,
        wal_receiver=dict(status=status, sender_host=upstream, sender_port=5432),
        settings=dict(max_wal_senders=10, max_replication_slots=10, data_checksums=True, wal_log_hints=True),
    )
    facts.update(extra)
    return facts


def stopped(checkpoint="0/5000000", system_identifier="1", timeline=1):
    return dict(role="stopped", system_identifier=system_identifier, timeline=timeline, controldata=dict(checkpoint_lsn=checkpoint))


def absent():
    return dict(role="absent", system_identifier=None)


def hostvars(variables=None, **facts_by_host):
    """Host variables with each host's pg_replication facts; None stands for a member that could not be inspected."""
    result = {host: ({"ansible_facts": {"pg_replication": facts}} if facts is not None else {}) for host, facts in facts_by_host.items()}
    for host, extra in (variables or {}).items():
        result[host].update(extra)
    return result


def healthy():
    return dict(node1=primary(), node2=standby(), node3=standby())


# The one verdict on several primaries


def test_no_verdict_while_at_most_one_member_runs_as_primary():
    assert judge_primaries(describe_members(NODES, hostvars(**healthy()))) is None
    assert judge_primaries(describe_members(NODES, hostvars(node1=None, node2=standby(), node3=stopped()))) is None


def test_two_primaries_of_one_cluster_are_a_split_brain():
    verdict = judge_primaries(describe_members(NODES, hostvars(node1=primary(), node2=primary(), node3=standby())))
    assert verdict["check"] == "split-brain" and verdict["hosts"] == ["node1", "node2"]
    assert verdict["message"] == (
        "Split brain: node1 and node2 both run as primary of the same cluster. Decide which one holds the data to keep, "
        "stop the other and rejoin it (ansible-playbook pgops.replication.rejoin -e rejoin_host=HOST; RUNBOOK.md of the collection, "
        "split brain)."
    )


def test_three_primaries_of_one_cluster_are_named_together():
    verdict = judge_primaries(describe_members(NODES, hostvars(node1=primary(), node2=primary(), node3=primary())))
    assert verdict["message"].startswith("Split brain: node1, node2 and node3 all run as primary of the same cluster.")
    assert "stop the others and rejoin them" in verdict["message"]


def test_primaries_of_different_clusters_are_no_split_brain():
    verdict = judge_primaries(describe_members(NODES, hostvars(node1=primary(), node2=standby(), node3=primary(system_identifier="9"))))
    assert verdict["check"] == "clusters" and "Split brain" not in verdict["message"]
    assert verdict["message"].startswith(
        "node1 and node3 run as primary of different clusters (system identifiers node1: 1, node3: 9). If one of them"
    )
    assert "-e standby_rebuild=true" in verdict["message"]


def test_a_split_brain_beside_a_foreign_primary_names_only_the_split_pair():
    variables = hostvars(node1=primary(), node2=primary(), node3=primary(system_identifier="9"))
    verdict = judge_primaries(describe_members(NODES, variables))
    assert verdict["check"] == "split-brain" and verdict["hosts"] == ["node1", "node2"]


def test_every_judgement_prints_the_same_split_brain_message():
    variables = hostvars(node1=primary(), node2=primary(), node3=standby())
    message = judge_primaries(describe_members(NODES, variables))["message"]
    assert cluster_status(NODES, variables)["critical"][0] == "cluster: " + message
    assert "split-brain check: cluster: " + message in switchover_checks(NODES, variables, "node3")["problems"]
    assert failover_plan(NODES, variables)["refusal"] == "Failover refused, nothing was changed: " + message
    assert site_plan(NODES, variables)["refusal"] == message + " Nothing was changed."
    assert rejoin_plan(NODES, variables, "node3")["refusal"] == "Rejoin of node3 refused, nothing was changed: " + message


def test_switchover_checks_refuse_primaries_of_different_clusters():
    variables = hostvars(node1=primary(), node2=standby(), node3=primary(system_identifier="9"))
    assert any(
        problem.startswith("clusters check: cluster: node1 and node3")
        for problem in switchover_checks(NODES, variables, "node2")["problems"]
    )


# site.yml


def bootstrap(*hosts):
    return {host: {"postgresql_role": "primary"} for host in hosts}


def test_site_refuses_a_split_brain_and_different_clusters():
    split = site_plan(NODES, hostvars(node1=primary(), node2=primary(), node3=standby()))
    assert (
        split["refused"]
        and split["refusal"].startswith("Split brain: node1 and node2")
        and split["refusal"].endswith(" Nothing was changed.")
    )
    assert split["lines"] == [] and split["group_of"] == {} and split["converge_first"] == []
    foreign = site_plan(NODES, hostvars(node1=primary(), node2=standby(), node3=primary(system_identifier="9")))
    assert foreign["refused"] and "run as primary of different clusters" in foreign["refusal"]


@pytest.mark.parametrize(
    "marked, shown",
    [((), "0 hosts have postgresql_role=primary (none)"), (("node1", "node3"), "2 hosts have postgresql_role=primary (node1, node3)")],
)
def test_site_needs_exactly_one_bootstrap_primary_while_no_member_runs_as_primary(marked, shown):
    plan = site_plan(NODES, hostvars(bootstrap(*marked), node1=absent(), node2=absent(), node3=absent()))
    assert plan["refusal"] == "No member runs as primary, and %s: set it on exactly one member." % shown
    assert plan["problems"] == [plan["refusal"]] and plan["primary"] is None


@pytest.mark.parametrize("down", [["node1"], ["node1", "node3"]])
def test_site_builds_no_primary_while_a_member_does_not_answer(down):
    # node1 may be the running primary, cut off from the controller: the inventory's bootstrap mark must not win.
    variables = hostvars(bootstrap("node2"), node1=absent(), node2=stopped(), node3=standby(upstream="node1"))
    for host in down:
        variables[host].pop("ansible_facts")
    plan = site_plan(NODES, variables)
    assert plan["refused"] and plan["primary"] is None and plan["converge_first"] == []
    assert plan["refusal"] == (
        "No member that answered runs as primary, and %s could not be inspected: it may be the primary. Nothing was changed. "
        "Bring it back (or take it out of the cluster's inventory group if it is gone for good), then run pgops.replication.site again."
        % " and ".join(down)
    )


def test_site_converges_the_running_primary_while_a_standby_does_not_answer():
    plan = site_plan(NODES, hostvars(node1=primary(), node2=standby(), node3=None))
    assert not plan["refused"] and plan["primary"] == "node1" and plan["converge_first"] == ["node1", "node2"]


def test_site_builds_the_bootstrap_primary_first_and_clones_the_others():
    plan = site_plan(NODES, hostvars(bootstrap("node2"), node1=absent(), node2=absent(), node3=absent()))
    assert not plan["refused"] and plan["refusal"] is None and not plan["done"]
    assert plan["primary"] == "node2" and plan["standbys"] == ["node1", "node3"]
    assert plan["group_of"] == dict(node1="pgops_standbys", node2="pgops_primary", node3="pgops_standbys")
    assert plan["converge_first"] == ["node2"]
    assert plan["lines"] == [
        "1. no member runs as primary: build node2 as the primary (postgresql_role=primary)",
        "2. node1: clone from node2, then stream from it",
        "3. node3: clone from node2, then stream from it",
        "4. verify: one primary, every other member streaming from it",
    ]


def test_site_keeps_the_running_primary_whatever_the_inventory_says():
    variables = hostvars(bootstrap("node1"), node1=standby(upstream="node2"), node2=primary(members=("node1", "node3")), node3=None)
    plan = site_plan(NODES, variables)
    assert plan["primary"] == "node2" and plan["group_of"]["node1"] == "pgops_standbys"
    assert plan["lines"][:3] == [
        "1. node2 runs as primary: converge it",
        "2. node1: holds a copy of node2's cluster, no clone: follow node2",
        "3. node3: could not be inspected; converge it as a standby of node2",
    ]


def test_site_converges_the_standbys_that_stream_as_copies_beside_the_primary():
    assert site_plan(NODES, hostvars(**healthy()))["converge_first"] == ["node1", "node2", "node3"]
    # Not beside it: a stopped copy (its start guard asks the running primary), another cluster, a member not inspected
    # and a host with no cluster yet.
    variables = hostvars(node1=primary(), node2=stopped(), node3=standby(system_identifier="7"))
    assert site_plan(NODES, variables)["converge_first"] == ["node1"]
    assert site_plan(NODES, hostvars(node1=primary(), node2=None, node3=absent()))["converge_first"] == ["node1"]


def test_site_says_a_member_of_another_cluster_is_recloned_only_on_request():
    plan = site_plan(NODES, hostvars(node1=primary(), node2=stopped(system_identifier="7"), node3=standby()))
    assert plan["lines"][1] == (
        "2. node2: holds another cluster (7): re-cloned from node1 only with -e standby_rebuild=true (its data directory is kept aside)"
    )


# switchover.yml


def test_switchover_plan_lists_the_steps():
    plan = switchover_plan(NODES, hostvars(**healthy()), "node2", gate_timeout=45)
    assert not plan["refused"] and not plan["done"] and plan["primary"] == "node1" and plan["candidate"] == "node2"
    assert plan["lines"] == [
        "1. CHECKPOINT on node1, then stop it (fast) and leave standby.signal in its data directory",
        "2. wait up to 45 s until node2 has replayed the shutdown checkpoint; if not, start node1 again as primary and stop",
        "3. promote node2 (downtime ends here), then CHECKPOINT it",
        "4. slots on node2 for node1, node3",
        "5. node1: pg_rewind if it diverged, then start it as a standby of node2",
        "6. node3: follow node2 (reload)",
        "7. verify: one primary, every other member streaming from it",
    ]


def test_switchover_abort_starts_the_old_primary_again_while_the_candidate_was_never_asked_to_promote():
    plan = switchover_plan(NODES, hostvars(**healthy()), "node2")
    gate = dict(msg="replay reached 0/4000000, not 0/5000028, within 30 seconds: not promoted", promotion_requested=False)
    abort = switchover_abort_plan(plan, standby(), gate)
    assert abort["restart_old_primary"] is True and abort["candidate_role"] == "standby"
    assert abort["message"] == (
        "Switchover aborted: node2 did not replay the shutdown checkpoint of node1 in time. node1 runs as primary again and no "
        "acknowledged write was lost. Cause: replay reached 0/4000000, not 0/5000028, within 30 seconds: not promoted"
    )
    # The fence step failed: no promotion was ever asked for.
    assert switchover_abort_plan(plan, standby(), dict(msg="pg_ctl stop failed"))["restart_old_primary"] is True


@pytest.mark.parametrize(
    "candidate, failure",
    [
        # Asked to promote, still promoting when read: it is a standby now and a primary any moment later.
        (standby(), dict(msg="promotion was requested but had not finished after 60 seconds", promotion_requested=True)),
        (None, dict(msg="the connection was lost during pg_promote", promotion_requested=True)),
        (primary(), dict(msg="promoted, but the server does not accept writes", promotion_requested=True)),
    ],
)
def test_switchover_abort_keeps_the_old_primary_fenced_once_promotion_was_asked(candidate, failure):
    plan = switchover_plan(NODES, hostvars(**healthy()), "node2")
    abort = switchover_abort_plan(plan, candidate, failure)
    assert abort["restart_old_primary"] is False
    assert abort["message"] == (
        "Switchover failed after node2 was asked to promote (%s). node1 stays stopped with standby.signal, so there cannot be two "
        "primaries. Check node2, then run pgops.replication.status and pgops.replication.rejoin -e rejoin_host=node1" % failure["msg"]
    )


@pytest.mark.parametrize("candidate", [primary(), stopped(), None])
def test_switchover_abort_keeps_the_old_primary_fenced_when_the_candidate_is_no_standby(candidate):
    plan = switchover_plan(NODES, hostvars(**healthy()), "node2")
    abort = switchover_abort_plan(plan, candidate, dict(msg="the server left recovery while waiting"))
    assert abort["restart_old_primary"] is False
    failed = "Switchover failed after node2 left recovery or could not be read"
    assert abort["message"].startswith(failed + " (the server left recovery while waiting). node1 stays stopped with standby.signal")
    assert switchover_abort_plan(plan, candidate, None)["message"].startswith(failed + " (unknown).")


def test_switchover_abort_needs_the_plan():
    with pytest.raises(PlanError, match="switchover_abort_plan needs the switchover plan"):
        switchover_abort_plan(dict(primary=None), standby(), {})


def test_switchover_plan_in_a_cluster_of_two_has_no_other_standby():
    plan = switchover_plan(["node1", "node2"], hostvars(node1=primary(members=("node2",)), node2=standby()), "node2")
    assert plan["lines"][5] == "6. no other standby: follow node2 (reload)"


def test_switchover_plan_refuses_with_every_failed_check():
    facts = healthy()
    facts["node2"]["replay_paused"] = True
    facts["node1"]["archive_ready_files"] = 100
    plan = switchover_plan(NODES, hostvars(**facts), "node2")
    assert plan["refused"] and plan["lines"] == [] and len(plan["problems"]) == 2
    assert plan["refusal"] == "Switchover to node2 refused, nothing was changed. " + " | ".join(plan["problems"])


def test_switchover_plan_has_nothing_to_do_once_the_candidate_leads():
    after = dict(
        node1=standby(upstream="node2"),
        node2=primary(members=("node1", "node3")),
        node3=standby(upstream="node2"),
    )
    plan = switchover_plan(NODES, hostvars(**after), "node2")
    assert plan["done"] and not plan["refused"]
    assert plan["lines"] == ["Nothing to do: node2 is the primary and every other member streams from it."]


# failover.yml


def test_failover_has_nothing_to_do_while_a_primary_runs_and_none_is_named():
    plan = failover_plan(NODES, hostvars(**healthy()))
    assert plan["done"] and not plan["refused"]
    assert plan["lines"] == [
        "Nothing to do: node1 runs as primary. For a planned change use pgops.replication.switchover; to abandon a live primary "
        "give -e new_primary=HOST."
    ]


def test_failover_has_nothing_to_do_once_the_named_member_is_the_only_primary():
    after = dict(node1=stopped(), node2=primary(timeline=2, members=("node1", "node3")), node3=standby(upstream="node2", timeline=2))
    assert failover_plan(NODES, hostvars(**after), "node2")["done"]


def test_failover_away_from_a_live_primary_fences_it():
    plan = failover_plan(NODES, hostvars(**healthy()), "node3")
    assert not plan["done"] and not plan["refused"] and plan["fence"] == ["node1"]
    assert plan["failover"]["candidate"] == "node3" and plan["unreachable"] == []
    assert plan["detach"] == [] and plan["isolation_wait"] == 0
    assert plan["lines"] == [
        "1. fence node1: stop, standby.signal",
        "2. no wait: every member answered",
        "3. promote node3 (ranking: node2 > node3); it may lack 0 bytes of WAL that node1 reported (0/5000000)",
        "4. slots on node3 for every other member",
        "5. node2: follow node3",
        "6. afterwards: the rejoin playbook (pgops.replication.rejoin -e rejoin_host=HOST) for each fenced or unreachable former member",
    ]


def test_failover_refuses_what_the_choice_refuses():
    plan = failover_plan(NODES, hostvars(node1=stopped(), node2=stopped(), node3=absent()))
    assert plan["refused"] and plan["refusal"] == "Failover refused, nothing was changed: no running standby to promote"
    assert plan["lines"] == [] and plan["failover"]["candidate"] is None
    lagging = hostvars(node1=None, node2=standby(received="0/5000000"), node3=standby(received="0/9000000"))
    refused = failover_plan(NODES, lagging, "node2", max_lag_bytes=1024, unreachable_ok=True)
    assert refused["refused"] and "failover_max_lag_bytes=1024" in refused["refusal"]


def test_failover_refusal_puts_the_choice_before_an_unreachable_member():
    plan = failover_plan(NODES, hostvars(node1=None, node2=stopped(), node3=stopped()))
    assert plan["problems"] == ["no running standby to promote"] and plan["unreachable"] == ["node1"]


def unreachable_primary(status="stopping", **variables):
    """node1 out of reach; the standbys' WAL receivers noticed (not streaming) unless `status` says otherwise."""
    return hostvars(
        variables, node1=None, node2=standby(received="0/6000000", status=status), node3=standby(received="0/5000000", status=status)
    )


def test_failover_refuses_past_an_unreachable_member_unless_told():
    plan = failover_plan(NODES, unreachable_primary())
    assert plan["refused"] and plan["unreachable"] == ["node1"] and plan["isolation_fence"] and plan["isolation_wait"] == 16
    assert plan["refusal"] == (
        "Failover refused, nothing was changed: node1 cannot be reached. If one of them still runs as primary and clients can "
        "reach it, promoting node2 makes two primaries (split brain): writes there would be lost or conflict. Make sure it is "
        "down or cut off from clients (power it off, block its port), then re-run with -e failover_primary_unreachable_ok=true. "
        "With three members or more, the failover first makes every standby it reaches stop following any primary, so that a "
        "primary still running out of reach is left in a minority and stops itself within 16 s (isolation fence, "
        "postgresql_isolation_timeout=10): it waits that long before promoting. A member that was powered off starts "
        "read-only (start guard); rejoin it with the rejoin playbook (pgops.replication.rejoin)."
    )


def test_failover_refusal_says_when_no_isolation_fence_protects():
    switched_off = failover_plan(NODES, unreachable_primary(), isolation_fence=False)
    assert not switched_off["isolation_fence"]
    assert "The isolation fence is off (postgresql_isolation_fence=false): nothing stops a cut-off primary." in switched_off["refusal"]
    pair = failover_plan(["node1", "node2"], hostvars(node1=None, node2=standby()))
    assert not pair["isolation_fence"]
    assert "With two members there is no isolation fence: nothing stops a cut-off primary." in pair["refusal"]


def test_failover_past_an_unreachable_primary_detaches_the_standbys_then_waits_for_its_fence():
    # The candidate follows no primary; the other standbys stream from it without a slot: no vote for any primary
    # until it is promoted, and votes for it from its promotion on, however long the steps after it take.
    plan = failover_plan(NODES, unreachable_primary(), unreachable_ok=True, isolation_timeout=30, isolation_interval=10)
    assert not plan["refused"] and plan["isolation_wait"] == 44 and plan["fence"] == []
    assert plan["detach"] == ["node2"] and plan["cascade"] == ["node3"]
    assert plan["lines"][:3] == [
        "1. fence no reachable member: stop, standby.signal",
        "2. node2 stops following any primary, node3 streams from node2 without a slot (no vote for any primary until node2 "
        "is promoted), then wait 44 s: a primary out of reach (node1) that still runs is left in a minority and stops itself "
        "meanwhile",
        "3. promote node2 (ranking: node2 > node3); it may lack 0 bytes of WAL that node2 reported (0/6000000)",
    ]


def test_failover_wait_follows_the_fence_settings():
    # The next check after the detach (an interval), the timeout, and seconds to spare (the check's own 1.5 s look).
    assert failover_plan(NODES, unreachable_primary(), unreachable_ok=True)["isolation_wait"] == 10 + 2 + 4


def test_failover_refuses_while_a_reachable_standby_still_streams_from_the_member_out_of_reach():
    # The controller is cut off from a primary the standbys still reach: promoting would only add a second primary.
    first = failover_plan(NODES, unreachable_primary(status="streaming"), unreachable_ok=True)
    # A primary killed seconds ago: the standbys notice within wal_receiver_timeout, so the playbook reads them again.
    assert first["refused"] and first["recheck"]
    plan = failover_plan(NODES, unreachable_primary(status="streaming"), unreachable_ok=True, looked_again=True)
    assert plan["refused"] and plan["lines"] == [] and not plan["recheck"]
    assert plan["refusal"].startswith(
        "Failover refused, nothing was changed: node2 and node3 still stream from node1, which this controller cannot reach: "
        "that primary runs, and the controller is the one cut off from it (the standbys were read twice, "
        "wal_receiver_timeout apart)."
    )
    assert "-e failover_without_majority=true" in plan["refusal"]
    one = hostvars(node1=None, node2=standby(status="stopping"), node3=standby())
    assert failover_plan(NODES, one, unreachable_ok=True)["refusal"].startswith(
        "Failover refused, nothing was changed: node3 still streams from node1"
    )


def test_a_standby_that_has_not_heard_from_its_upstream_lately_no_longer_streams_from_it():
    # A primary killed 3 s ago: the receiver still says streaming until wal_receiver_timeout, but nothing came since.
    silent = hostvars(
        node1=None,
        node2=standby(wal_receiver=dict(status="streaming", sender_host="node1", sender_port=5432, last_message_age_seconds=3.2)),
        node3=standby(wal_receiver=dict(status="streaming", sender_host="node1", sender_port=5432, last_message_age_seconds=4.0)),
    )
    plan = failover_plan(NODES, silent, unreachable_ok=True)
    assert not plan["refused"] and not plan["recheck"] and plan["detach"] == ["node2"] and plan["cascade"] == ["node3"]
    recent = hostvars(
        node1=None,
        node2=standby(wal_receiver=dict(status="streaming", sender_host="node1", sender_port=5432, last_message_age_seconds=0.4)),
        node3=standby(status="stopping"),
    )
    assert failover_plan(NODES, recent, unreachable_ok=True)["recheck"]


def test_failover_matches_the_upstream_by_its_connect_host_too():
    variables = {"node1": {"postgresql_connect_host": "10.0.0.1"}}
    plan = failover_plan(
        NODES, hostvars(variables, node1=None, node2=standby(upstream="10.0.0.1"), node3=standby(status="stopping")), unreachable_ok=True
    )
    assert plan["refused"] and "node2 still streams from node1" in plan["refusal"]


def test_failover_refuses_without_a_majority_of_the_members():
    # Split {node1, node2} | {node3, controller}: node3 alone must not promote.
    plan = failover_plan(NODES, hostvars(node1=None, node2=None, node3=standby(status="stopping")), "node3", unreachable_ok=True)
    assert plan["refused"] and not plan["recheck"]
    assert plan["refusal"] == (
        "Failover refused, nothing was changed: only 1 of the 3 members can be reached (node3), and promoting needs a majority "
        "(2): the members out of reach (node1, node2) may be a majority that still runs a primary. Only if the members out of "
        "reach are gone for good (destroyed, powered off for good), and knowing that a primary still running among them would "
        "take writes beside the new one, re-run with -e failover_without_majority=true."
    )


def test_five_members_need_three_reached():
    five = ["node1", "node2", "node3", "node4", "node5"]
    two = hostvars(node1=None, node2=None, node3=None, node4=standby(status="stopping"), node5=standby(status="stopping"))
    assert failover_plan(five, two, unreachable_ok=True)["refused"]
    three = hostvars(node1=None, node2=None, node3=stopped(), node4=standby(status="stopping"), node5=standby(status="stopping"))
    plan = failover_plan(five, three, unreachable_ok=True)
    assert not plan["refused"] and plan["fence"] == ["node3"] and plan["detach"] == ["node4"] and plan["cascade"] == ["node5"]


def test_failover_without_majority_promotes_and_says_so_loudly():
    plan = failover_plan(
        NODES, hostvars(node1=None, node2=None, node3=standby(status="streaming")), "node3", unreachable_ok=True, without_majority=True
    )
    assert not plan["refused"] and plan["detach"] == ["node3"] and plan["cascade"] == []
    assert plan["lines"][2] == (
        "   WARNING: failover_without_majority=true: promoting without a majority of the members; if node1, node2 still runs a "
        "primary, there will be two"
    )


def test_a_host_that_answers_while_its_server_does_not_is_fenced_not_unreachable():
    # An overloaded primary that refuses connections: SSH reaches it, so it is stopped rather than waited for.
    variables = {"node1": {"postgresql_host_reached": True}}
    plan = failover_plan(NODES, hostvars(variables, node1=None, node2=standby(status="stopping"), node3=standby(status="stopping")))
    assert not plan["refused"] and plan["unreachable"] == [] and plan["silent"] == ["node1"]
    assert plan["fence"] == ["node1"] and plan["detach"] == [] and plan["isolation_wait"] == 0
    assert plan["lines"][:2] == ["1. fence node1: stop, standby.signal", "2. no wait: every member answered"]


def test_failover_in_a_pair_promotes_at_once_and_leaves_no_other_standby():
    plan = failover_plan(["node1", "node2"], hostvars(node1=None, node2=standby()), unreachable_ok=True)
    assert not plan["refused"] and plan["detach"] == [] and plan["isolation_wait"] == 0
    assert plan["lines"][1] == "2. no wait: nothing stops a primary out of reach (node1) that still runs"
    assert plan["lines"][4] == "5. no other standby: follow node2"


def test_failover_with_the_fence_off_does_not_wait():
    plan = failover_plan(NODES, unreachable_primary(), unreachable_ok=True, isolation_fence=False)
    assert not plan["refused"] and plan["detach"] == [] and plan["isolation_wait"] == 0


def test_failover_fences_a_stopped_former_primary_so_it_cannot_start_as_primary():
    plan = failover_plan(NODES, hostvars(node1=stopped(checkpoint="0/4000000"), node2=standby(), node3=standby()))
    assert plan["fence"] == ["node1"] and plan["lines"][0] == "1. fence node1: stop, standby.signal"


# rejoin.yml


def rejoined(node1=None, node2=None, node3=None):
    return hostvars(node1=node1 or primary(), node2=node2 or standby(), node3=node3 or standby())


def test_rejoin_has_nothing_to_do_for_a_streaming_standby():
    plan = rejoin_plan(NODES, rejoined(), "node2")
    assert plan["done"] and not plan["refused"] and plan["primary"] == "node1"
    assert plan["lines"] == ["Nothing to do: node2 streams from node1."]
    assert plan["facts"]["role"] == "standby" and plan["status"]["primary"] == "node1"
    assert not plan["foreign"] and not plan["wal_lost"]


def test_rejoin_rewinds_a_former_primary():
    plan = rejoin_plan(NODES, rejoined(node2=stopped(checkpoint="0/5000000")), "node2")
    assert not plan["done"] and not plan["refused"]
    assert plan["lines"] == [
        "1. stop node2 (stopped) and leave standby.signal",
        "2. pg_rewind from node1, or re-clone (old data directory kept aside) when a rewind is impossible",
        "3. start it as a standby of node1 and wait until it streams",
    ]


def test_rejoin_ends_a_split_brain_by_following_the_other_primary():
    plan = rejoin_plan(NODES, rejoined(node2=primary(lsn="0/6000000", members=("node3",))), "node2")
    assert not plan["refused"] and plan["primary"] == "node1" and plan["lines"][0] == "1. stop node2 (primary) and leave standby.signal"


def test_rejoin_reclones_when_the_primary_lost_the_wal_it_needs():
    facts = primary()
    facts["slots"][0]["wal_status"] = "lost"
    plan = rejoin_plan(NODES, rejoined(node1=facts, node2=stopped()), "node2")
    assert (
        plan["wal_lost"]
        and plan["reclone"]
        and plan["lines"][1]
        == (
            "2. re-clone from node1 (the old data directory is kept aside): "
            "the primary no longer has the WAL it needs (lost slot or recycled WAL)"
        )
    )


def test_rejoin_rewinds_from_the_archive_when_the_primary_lost_the_wal_it_needs():
    facts = primary()
    facts["slots"][0]["wal_status"] = "lost"
    plan = rejoin_plan(NODES, rejoined(node1=facts, node2=stopped()), "node2", archive=True)
    assert (
        plan["wal_lost"]
        and not plan["reclone"]
        and plan["lines"][1]
        == (
            "2. pg_rewind from node1, the WAL that neither has any more fetched from the archive; re-clone (old data directory "
            "kept aside) only when a rewind is impossible"
        )
    )


def test_rejoin_reclones_another_cluster_only_when_asked():
    variables = rejoined(node2=stopped(system_identifier="7"))
    refused = rejoin_plan(NODES, variables, "node2")
    assert refused["refused"] and refused["foreign"] and refused["lines"] == [] and not refused["done"]
    assert refused["refusal"] == (
        "node2 holds cluster 7, not the primary's: rejoining means a re-clone. Nothing was changed. Re-run with "
        "-e rejoin_rebuild=true to re-clone (its data directory is kept aside)."
    )
    allowed = rejoin_plan(NODES, variables, "node2", rebuild=True)
    assert (
        not allowed["refused"]
        and allowed["lines"][1] == "2. re-clone from node1 (the old data directory is kept aside): it holds another cluster"
    )


@pytest.mark.parametrize(
    "variables, reason",
    [
        (hostvars(node1=primary(), node2=None, node3=standby()), "node2 could not be inspected."),
        (
            hostvars(node1=stopped(), node2=stopped(), node3=standby()),
            "the members running as primary other than node2 are [], and there must be exactly one.",
        ),
    ],
)
def test_rejoin_needs_the_host_inspected_and_one_primary_besides_it(variables, reason):
    plan = rejoin_plan(NODES, variables, "node2")
    assert plan["refused"] and plan["refusal"] == "Rejoin of node2 refused, nothing was changed: " + reason
    assert plan["primary"] is None and plan["lines"] == [] and not plan["done"]


@pytest.mark.parametrize("down", [["node3"], ["node1", "node3"]])
def test_rejoin_refuses_while_a_member_does_not_answer(down):
    # With node1 down too, node3's answer is not there to say which primary is real: nothing to rejoin to yet.
    variables = rejoined(node2=stopped())
    for host in down:
        variables[host] = {}
    plan = rejoin_plan(NODES, variables, "node2")
    assert plan["refused"] and plan["lines"] == []
    assert plan["refusal"] == (
        "Rejoin of node2 refused, nothing was changed: %s could not be inspected, and a rejoin changes a member only when "
        "every member answers (the real primary may be the one that does not). Bring it back, or take it out of the "
        "cluster's inventory group if it is gone for good." % " and ".join(down)
    )


def test_rejoin_refuses_to_follow_a_primary_on_an_older_timeline():
    plan = rejoin_plan(NODES, rejoined(node1=primary(timeline=1), node2=stopped(timeline=2)), "node2")
    assert plan["refused"] and plan["lines"] == [] and plan["primary"] is None
    assert plan["refusal"].startswith(
        "Rejoin of node2 refused, nothing was changed: node2 is on timeline 2, newer than the primary node1's (1): following "
        "node1 would discard what node2 wrote on timeline 2."
    )
    # The usual rejoin: a former primary on the older timeline.
    assert not rejoin_plan(NODES, rejoined(node1=primary(timeline=2), node2=stopped(timeline=1)), "node2")["refused"]


def test_rejoin_of_a_host_that_is_no_member_is_a_mistake():
    with pytest.raises(PlanError, match="rejoin_host node9 is not a member"):
        rejoin_plan(NODES, rejoined(), "node9")


# The filters


def test_the_filters_turn_a_mistake_into_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="rejoin_host node9 is not a member"):
        topology.rejoin_plan(NODES, rejoined(), "node9")
    with pytest.raises(AnsibleFilterError, match="not an inventory host"):
        topology.site_plan(["node7"], rejoined())
    assert topology.FilterModule().filters()["failover_plan"](NODES, hostvars(**healthy()))["done"]


# remove.yml


def test_remove_stops_the_member_drops_its_slot_and_converges_the_others():
    plan = remove_plan(NODES, hostvars(**healthy()), "node3")
    assert not plan["refused"] and not plan["done"] and plan["primary"] == "node1" and plan["others"] == ["node1", "node2"]
    assert plan["member_name"] == "node3"
    assert plan["lines"] == [
        "1. stop node3's server and keep it from starting at boot; its data directory stays",
        "2. drop slot node3 on the primary node1",
        "3. node1, node2: pg_hba.conf, the guard's peers and synchronous_standby_names without node3 (reload)",
        "Then take node3 out of the cluster's inventory group: site.yml would clone it back.",
    ]
    assert remove_plan(NODES, hostvars(**healthy()), "node2", delete_data=True)["lines"][0] == (
        "1. stop node2's server and drop its cluster: data directory and configuration deleted"
    )


def test_remove_of_a_member_out_of_reach_does_nothing_there_and_says_so():
    plan = remove_plan(NODES, hostvars(node1=primary(), node2=standby(), node3=None), "node3")
    assert not plan["refused"] and plan["lines"][0].startswith("1. node3 cannot be reached: nothing is done there; power it off")


def test_remove_uses_the_member_name_for_the_slot():
    variables = hostvars(variables=dict(node3=dict(postgresql_member_name="db_three")), **healthy())
    assert remove_plan(NODES, variables, "node3")["lines"][1] == "2. drop slot db_three on the primary node1"


@pytest.mark.parametrize(
    "facts, member, problem",
    [
        (
            healthy(),
            "node1",
            "node1 runs as primary: switch over to another member first (pgops.replication.switchover -e new_primary=HOST).",
        ),
        (dict(node1=primary(), node2=None, node3=standby()), "node3", "node2 could not be inspected, and would keep admitting node3"),
        (dict(node1=stopped(), node2=standby(), node3=standby()), "node3", "the other members run 0 primaries (none)"),
        (dict(node1=primary(), node2=primary(), node3=standby()), "node3", "the other members run 2 primaries (node1, node2)"),
    ],
)
def test_remove_refusals(facts, member, problem):
    plan = remove_plan(NODES, hostvars(**facts), member)
    assert plan["refused"] and plan["lines"] == [] and plan["refusal"].startswith("Removal of %s refused, nothing was changed: " % member)
    assert problem in plan["refusal"], plan["refusal"]


def test_remove_of_a_host_that_is_no_member_is_a_mistake():
    with pytest.raises(PlanError, match=r"remove_member node9 is not a member of the cluster \(node1, node2, node3\)"):
        remove_plan(NODES, hostvars(**healthy()), "node9")
    with pytest.raises(AnsibleFilterError, match="remove_member node9 is not a member"):
        topology.remove_plan(NODES, hostvars(**healthy()), "node9")


def test_backup_reads_a_standby_that_streams():
    plan = backup_plan(NODES, rejoined(), "standby", "diff")
    assert not plan["refused"] and plan["primary"] == "node1" and plan["backup_standby"]
    assert plan["standbys"] == ["node2", "node3"]
    assert (
        plan["lines"][0]
        == "1. diff backup: start and stop on the primary node1; the data files from a standby that streams (node2 and node3)"
    )


def test_backup_from_a_standby_is_refused_when_none_streams():
    plan = backup_plan(NODES, rejoined(node2=stopped(), node3=stopped()), "standby")
    assert plan["refused"] and plan["standbys"] == []
    assert plan["refusal"] == (
        "Backup refused, nothing was changed: no standby streams from node1 to copy the files from. Bring one back (status.yml "
        "says what is wrong), or run with -e backup_from=primary to read them from the primary."
    )
    from_primary = backup_plan(NODES, rejoined(node2=stopped(), node3=stopped()), "primary")
    assert not from_primary["refused"] and not from_primary["backup_standby"]
    assert from_primary["lines"][0] == "1. full backup: start and stop on the primary node1; the data files from node1"


def test_backup_is_refused_without_a_primary_and_with_two():
    none = backup_plan(NODES, rejoined(node1=stopped()), "primary")
    assert none["refused"] and "no member runs as primary" in none["refusal"]
    two = backup_plan(NODES, rejoined(node2=primary(lsn="0/6000000", members=("node3",))), "standby")
    assert two["refused"] and two["refusal"].startswith("Backup refused, nothing was changed: ")


def test_backup_plan_rejects_unknown_sources_and_types():
    with pytest.raises(PlanError, match="backup_from must be one of standby, primary"):
        backup_plan(NODES, rejoined(), "replica")
    with pytest.raises(PlanError, match="backup_type must be one of full, diff, incr"):
        backup_plan(NODES, rejoined(), "standby", "weekly")
