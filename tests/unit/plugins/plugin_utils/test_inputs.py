"""plugin_utils/inputs.py: a playbook's variables judged against the rules of its spec that an argument spec cannot say."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter.input_check import input_check as input_check_filter
from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError
from ansible_collections.pgops.replication.plugins.plugin_utils.inputs import input_check

GROUPS = {"postgres": ["node_a", "node_b"], "all": ["node_a", "node_b"]}
OPTIONS = {
    "new_primary": {"type": "str", "required": True, "member_of": "postgres", "description": "The standby to promote."},
    "gate_timeout": {"type": "int", "default": 30, "minimum": 1, "unit": "seconds", "description": "Seconds."},
    "max_lag_bytes": {"type": "int", "default": 16, "minimum": 0, "unit": "bytes"},
    "force": {"type": "bool", "default": False},
    "label": {"type": "str"},
}


def problems(**given):
    return input_check(OPTIONS, given, GROUPS)["problems"]


def test_the_argument_spec_keeps_only_what_validate_argument_spec_reads():
    spec = input_check(OPTIONS, {}, GROUPS)["argument_spec"]
    assert spec["new_primary"] == {"type": "str", "required": True}
    assert spec["gate_timeout"] == {"type": "int", "default": 30}
    assert spec["label"] == {"type": "str"}
    assert list(spec) == list(OPTIONS)


def test_good_values_have_no_problem():
    assert problems(new_primary="node_b", gate_timeout="5", max_lag_bytes=0) == []


def test_a_host_outside_the_group_names_the_group_and_its_members():
    assert problems(new_primary="node9") == ["new_primary must name a member of group postgres (node_a, node_b), got 'node9'"]
    assert problems(new_primary="") == ["new_primary must name a member of group postgres (node_a, node_b), got ''"]


def test_a_host_name_that_is_not_a_string_is_refused():
    assert problems(new_primary=["node_a"]) == ["new_primary must name a member of group postgres (node_a, node_b), got '['node_a']'"]


def test_a_required_host_that_is_not_given_is_left_to_the_type_check():
    assert problems() == []


@pytest.mark.parametrize("value", ["0", 0, "-5", "5.0", "1e3", " 5", "5\n", "", True, None])
def test_a_number_below_the_minimum_or_not_in_digits_is_refused(value):
    assert problems(new_primary="node_a", gate_timeout=value) == [
        "gate_timeout must be a whole number of seconds, 1 or more (got '%s')" % (value,)
    ]


@pytest.mark.parametrize("value", ["1", 1, "86400", 10**12])
def test_a_whole_number_at_the_minimum_or_above_passes(value):
    assert problems(new_primary="node_a", gate_timeout=value) == []


def test_a_default_is_checked_like_a_given_value():
    options = dict(OPTIONS, gate_timeout=dict(OPTIONS["gate_timeout"], default=0))
    assert input_check(options, {"new_primary": "node_a"}, GROUPS)["problems"] == [
        "gate_timeout must be a whole number of seconds, 1 or more (got '0')"
    ]


def test_each_bad_variable_gets_its_own_message_host_names_first():
    found = problems(gate_timeout="0", new_primary="node9", max_lag_bytes="-1")
    assert [message.split()[0] for message in found] == ["new_primary", "gate_timeout", "max_lag_bytes"]


def test_defaults_are_the_options_not_given():
    defaults = input_check(OPTIONS, {"new_primary": "node_a", "gate_timeout": "45"}, GROUPS)["defaults"]
    assert defaults == {"max_lag_bytes": 16, "force": False}


def test_a_unit_missing_from_the_spec_still_gives_a_message():
    options = {"count": {"type": "int", "minimum": 2}}
    assert input_check(options, {"count": 1}, GROUPS)["problems"] == ["count must be a whole number of units, 2 or more (got '1')"]


@pytest.mark.parametrize(
    ("options", "given", "groups", "message"),
    [
        (["new_primary"], {}, GROUPS, "options must map each variable name to its rule"),
        ({"n": "int"}, {}, GROUPS, "options must map each variable name to its rule"),
        (OPTIONS, ["new_primary"], GROUPS, "must be mappings"),
        (OPTIONS, {}, ["postgres"], "must be mappings"),
        ({"n": {"minimum": "1"}}, {}, GROUPS, "the minimum of n must be an integer, got '1'"),
        ({"n": {"minimum": True}}, {}, GROUPS, "the minimum of n must be an integer, got True"),
        ({"h": {"member_of": "dbs"}}, {}, GROUPS, "h must be a member of group dbs, which the inventory does not have"),
    ],
)
def test_a_spec_or_input_that_cannot_be_judged_is_a_caller_mistake(options, given, groups, message):
    with pytest.raises(PlanError, match=message):
        input_check(options, given, groups)


def test_the_filter_turns_a_caller_mistake_into_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="options must map"):
        input_check_filter(["x"], {}, GROUPS)
    assert input_check_filter(OPTIONS, {"new_primary": "node_a"}, GROUPS)["problems"] == []
