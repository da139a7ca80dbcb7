"""synchronous_standby_names for every value of postgresql_synchronous."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter.synchronous import synchronous_standby_names as names_filter
from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError
from ansible_collections.pgops.replication.plugins.plugin_utils.synchronous import confirmations_needed, synchronous_standby_names

THREE = ["node1", "node2", "node3"]


@pytest.mark.parametrize(
    "count, needed",
    # With the primary, needed + 1 members hold each commit: a majority of count, and no more than that.
    [(2, 1), (3, 1), (4, 2), (5, 2), (6, 3), (7, 3), (9, 4)],
)
def test_quorum_is_any_half_of_the_members_rounded_down(count, needed):
    assert confirmations_needed("quorum", count) == ("ANY", needed)
    assert needed + 1 > count / 2 and needed < count


def test_the_setting_lists_every_member_the_same_on_each():
    assert synchronous_standby_names("quorum", THREE) == 'ANY 1 ("node1", "node2", "node3")'
    assert synchronous_standby_names("FIRST 2", THREE) == 'FIRST 2 ("node1", "node2", "node3")'
    assert synchronous_standby_names("ANY 1", THREE) == 'ANY 1 ("node1", "node2", "node3")'
    assert synchronous_standby_names("off", THREE) == ""


@pytest.mark.parametrize(
    "setting, members, message",
    [
        ("quorum", ["node1"], "postgresql_synchronous quorum needs at least 2 members, got 1"),
        ("ANY 3", THREE, "postgresql_synchronous ANY 3 needs n below the number of members (3)"),
        ("FIRST 0", THREE, "must be off, quorum, 'FIRST n' or 'ANY n', got 'FIRST 0'"),
        ("SOME 1", THREE, "must be off, quorum, 'FIRST n' or 'ANY n', got 'SOME 1'"),
        ("any 1", THREE, "must be off, quorum, 'FIRST n' or 'ANY n', got 'any 1'"),
        (None, THREE, "got None"),
    ],
)
def test_values_that_do_not_fit_are_refused_with_the_rule(setting, members, message):
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        synchronous_standby_names(setting, members)
    with pytest.raises(AnsibleFilterError):
        names_filter(setting, members)


def test_the_filter_wants_a_list_of_names():
    with pytest.raises(AnsibleFilterError, match="member_names must be a list"):
        names_filter("quorum", "node1")
