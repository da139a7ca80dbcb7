"""The tests' module runner (a python process per call) against `ansible` itself: the same result for a call that
succeeds, one that fails its argument check, and one in check mode with a diff, so that what the other module tests
assert holds under Ansible too."""

from __future__ import annotations

import os

IGNORED = {"_output", "invocation", "warnings", "deprecations", "exception"}


def comparable(result: dict) -> dict:
    return {key: value for key, value in result.items() if key not in IGNORED and not key.startswith("_ansible")}


def test_a_call_returns_what_ansible_returns(lab, modules):
    primary = lab.primary()
    args = primary.login(data_dir=primary.data_dir)
    direct, through_ansible = modules.run("pg_replication_facts", args), modules.run_with_ansible("pg_replication_facts", args)
    assert direct["failed"] is False and direct["changed"] is False
    facts, facts_through_ansible = direct["ansible_facts"]["pg_replication"], through_ansible["ansible_facts"]["pg_replication"]
    assert facts["role"] == facts_through_ansible["role"] == "primary"
    assert sorted(facts) == sorted(facts_through_ansible)


def test_a_refused_call_fails_as_under_ansible(lab, modules):
    primary = lab.primary()
    args = primary.login(name="Not A Slot Name!")
    direct, through_ansible = modules.run("pg_replication_slot", args), modules.run_with_ansible("pg_replication_slot", args)
    assert direct["failed"] is True and through_ansible["failed"] is True
    assert comparable(direct) == comparable(through_ansible)


def test_check_mode_and_diff_as_under_ansible(lab, modules):
    primary = lab.primary()
    drop_in = os.path.join(primary.data_dir, "pgops-runner.conf")
    args = primary.login(config_dir=primary.data_dir, files=[dict(path=drop_in, content="work_mem = '8MB'\n")])
    direct = modules.run("pg_config_files", args, check=True, diff=True)
    through_ansible = modules.run_with_ansible("pg_config_files", args, check=True, diff=True)
    assert comparable(direct) == comparable(through_ansible) and direct["changed"] is True
    assert not os.path.exists(drop_in)
    for result in (direct, through_ansible):
        assert "+work_mem = '8MB'" in result["_output"] and ("after: %s" % drop_in) in result["_output"], result["_output"]
