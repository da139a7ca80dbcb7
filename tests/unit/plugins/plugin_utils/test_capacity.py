"""WAL senders and slots sized from the members and the clones in flight, never below the values asked for."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter.capacity import replication_capacity as capacity_filter
from ansible_collections.pgops.replication.plugins.plugin_utils.capacity import replication_capacity
from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError


def senders_in_use(streaming: int, cloning: int) -> int:
    """What the primary serves at one moment: one sender per streaming standby, two per clone."""
    return streaming + 2 * cloning


@pytest.mark.parametrize("members", range(1, 17))
@pytest.mark.parametrize("parallel", [1, 2, 4, 8, 32])
def test_every_moment_of_a_first_run_fits_with_a_rejoin_beside_it(members, parallel):
    settings = replication_capacity(members, parallel, 0, 0)
    standbys = members - 1
    # Standbys cloned in waves of at most `parallel`: before each wave, those done stream and the rest wait.
    for done in range(standbys + 1):
        cloning = min(parallel, standbys - done)
        # A rejoin re-clones one member (two senders) while the others go on.
        assert senders_in_use(done, cloning) + 2 <= settings["max_wal_senders"]
    assert settings["max_replication_slots"] >= standbys + 1


def test_a_primary_and_eight_standbys_cloned_at_once_fits():
    # Nine members cloned at once: eight copies of two senders each, where the default 10 was too few.
    settings = replication_capacity(9, 8, 10, 10)
    assert settings["needed_wal_senders"] == 18 and settings["max_wal_senders"] == 24 >= senders_in_use(0, 8) + 2
    assert settings["max_replication_slots"] == 10


def test_raised_values_are_rounded_to_a_multiple_of_8_so_a_member_more_or_less_seldom_changes_them():
    senders = {members: replication_capacity(members, 4, 10, 10)["max_wal_senders"] for members in range(1, 21)}
    assert senders == {**dict.fromkeys(range(1, 6), 10), **dict.fromkeys(range(6, 12), 16), **dict.fromkeys(range(12, 20), 24), 20: 32}
    slots = {members: replication_capacity(members, 4, 10, 10)["max_replication_slots"] for members in range(1, 21)}
    assert slots == {**dict.fromkeys(range(1, 10), 10), **dict.fromkeys(range(10, 16), 16), **dict.fromkeys(range(16, 21), 24)}


def test_larger_values_asked_for_are_kept():
    assert replication_capacity(3, 4, 10, 10) == {
        "max_wal_senders": 10,
        "max_replication_slots": 10,
        "needed_wal_senders": 6,
        "needed_replication_slots": 4,
    }
    assert replication_capacity(9, 4, 32, 40)["max_wal_senders"] == 32
    assert replication_capacity(9, 4, 32, 40)["max_replication_slots"] == 40


def test_a_smaller_value_asked_for_is_raised_to_what_the_cluster_needs():
    assert replication_capacity(9, 4, 10, 5) == {
        "max_wal_senders": 16,
        "max_replication_slots": 16,
        "needed_wal_senders": 14,
        "needed_replication_slots": 10,
    }
    # A value asked for that is just enough is kept as it is.
    assert replication_capacity(9, 4, 14, 10)["max_wal_senders"] == 14


def test_a_cluster_of_one_keeps_room_for_a_backup():
    assert replication_capacity(1, 4)["needed_wal_senders"] == 2
    assert replication_capacity(1, 4)["max_wal_senders"] == 8


def test_numbers_given_as_strings_from_the_inventory_count():
    assert replication_capacity("5", "2", "10", " 10 ")["max_wal_senders"] == 10


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((0, 4, 10, 10), "the number of members must be at least 1, got 0"),
        ((3, 0, 10, 10), "postgresql_clone_parallel must be at least 1, got 0"),
        ((3, "four", 10, 10), "postgresql_clone_parallel must be a whole number, got 'four'"),
        ((3, True, 10, 10), "postgresql_clone_parallel must be a whole number, got True"),
        ((3, 4, -1, 10), "postgresql_max_wal_senders must be at least 0, got -1"),
        ((3, 4, 10, "1.5"), "postgresql_max_replication_slots must be a whole number, got '1.5'"),
    ],
)
def test_bad_numbers_are_refused_by_name(arguments, message):
    with pytest.raises(PlanError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        replication_capacity(*arguments)


def test_the_filter_counts_the_members_and_names_itself_in_errors():
    assert capacity_filter(["a", "b", "c"], 4, 10, 10)["needed_wal_senders"] == 6
    with pytest.raises(AnsibleFilterError, match="replication_capacity: the input must be the list of members"):
        capacity_filter("node1", 4)
    with pytest.raises(AnsibleFilterError, match="replication_capacity: postgresql_clone_parallel must be at least 1"):
        capacity_filter(["a"], 0)
