"""Which pg_hba.conf addresses the postgresql role refuses as open to too many hosts."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter.hba import open_hba_rules as open_hba_rules_filter
from ansible_collections.pgops.replication.plugins.plugin_utils.hba import open_address_reason, open_hba_rules


@pytest.mark.parametrize(
    "address, reason",
    [
        ("0.0.0.0/0", "is wider than /8 (4,294,967,296 addresses)"),
        ("0.0.0.0/1", "is wider than /8 (2,147,483,648 addresses)"),
        ("128.0.0.0/1", "is wider than /8 (2,147,483,648 addresses)"),
        ("10.1.2.3/7", "is wider than /8 (33,554,432 addresses)"),
        ("::/0", "is wider than /7 (340,282,366,920,938,463,463,374,607,431,768,211,456 addresses)"),
        ("8000::/1", "is wider than /7 (170,141,183,460,469,231,731,687,303,715,884,105,728 addresses)"),
        ("all", "matches every address"),
        ("ALL", "matches every address"),
        ("samenet", "matches every address of every subnet the server is on, which the inventory does not show"),
    ],
)
def test_open_addresses_are_named_with_the_reason(address, reason):
    assert open_address_reason(address) == reason


@pytest.mark.parametrize(
    "address", ["10.0.0.0/8", "10.0.1.0/24", "192.168.1.7/32", "fc00::/7", "fd12:3456::/48", "samehost", ".example.net", "app1", "", None]
)
def test_named_networks_and_hosts_are_not_open(address):
    assert open_address_reason(address) is None


def test_open_rules_lists_one_message_per_open_rule():
    entries = [
        dict(database="appdb", user="app", address="10.0.1.0/24"),
        dict(type="local", database="all", user="all"),
        dict(database="appdb", user="app", address="0.0.0.0/1"),
        dict(database="appdb", user="app", address="samenet"),
    ]
    assert open_hba_rules(entries) == [
        "address 0.0.0.0/1 is wider than /8 (2,147,483,648 addresses)",
        "address samenet matches every address of every subnet the server is on, which the inventory does not show",
    ]
    assert open_hba_rules_filter([]) == [] and open_hba_rules(None) == []


@pytest.mark.parametrize("bad", ["0.0.0.0/0", {"address": "all"}, 5])
def test_the_filter_wants_a_list(bad):
    with pytest.raises(AnsibleFilterError, match="open_hba_rules: expected a list of pg_hba.conf rules"):
        open_hba_rules_filter(bad)
