import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter.member_name import member_name


@pytest.mark.parametrize(
    "host, expected",
    [("node2", "node2"), ("DB-3.example.net", "db_3_example_net"), ("db_1", "db_1"), ("10.0.0.7", "10_0_0_7")],
)
def test_the_rule_alone(host, expected):
    assert member_name(host) == expected


def test_a_published_name_wins():
    assert member_name("db-1", {"db-1": {"postgresql_member_name": "alpha"}}) == "alpha"


def test_a_member_without_published_identity_gets_the_rule():
    assert member_name("DB-1", {"DB-1": {}}) == "db_1"
    assert member_name("DB-1", {}) == "db_1"


@pytest.mark.parametrize("host", [None, "", 3, ["node1"]])
def test_a_bad_host_is_refused(host):
    with pytest.raises(AnsibleFilterError, match="expected an inventory host name"):
        member_name(host)


def test_bad_hostvars_are_refused():
    with pytest.raises(AnsibleFilterError, match="hostvars must be a mapping"):
        member_name("node1", ["node1"])
