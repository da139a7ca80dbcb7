"""The application rules of pg_hba.conf: the ones refused (too open, or rejected by PostgreSQL) and the lines written."""

import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter.hba import hba_lines as hba_lines_filter
from ansible_collections.pgops.replication.plugins.filter.hba import hba_problems as hba_problems_filter
from ansible_collections.pgops.replication.plugins.plugin_utils.hba import hba_lines, hba_problems, open_address_reason, quote_name


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


def test_problems_name_each_open_rule_by_position():
    entries = [
        dict(database="appdb", user="app", address="10.0.1.0/24"),
        dict(type="local", database="all", user="all"),
        dict(database="appdb", user="app", address="0.0.0.0/1"),
        dict(database="appdb", user="app", address="samenet"),
    ]
    assert hba_problems(entries) == [
        "rule 3: address 0.0.0.0/1 is wider than /8 (2,147,483,648 addresses)",
        "rule 4: address samenet matches every address of every subnet the server is on, which the inventory does not show",
    ]
    assert hba_problems_filter([]) == [] and hba_problems(None) == [] and hba_problems_filter(None) == []


@pytest.mark.parametrize(
    "entry, problem",
    [
        (dict(database="appdb", user="app"), "rule 1: type host needs an address, for example 10.0.1.0/24"),
        (dict(type="hostssl", database="appdb", user="app", address=""), "rule 1: type hostssl needs an address"),
        (dict(database="appdb", user="app", address="10.0.1.5"), "rule 1: address 10.0.1.5 needs a prefix length, for example 10.0.1.5/32"),
        (dict(database="appdb", user="app", address="fd00::5"), "rule 1: address fd00::5 needs a prefix length, for example fd00::5/128"),
        (dict(database="appdb", user="app", address="10.0.1.0/33"), "rule 1: address '10.0.1.0/33' is not a network with a prefix length"),
        (dict(database="appdb", user="app", address="10.0.1.0/24 10.0.2.0/24"), "must be one network, host name or keyword"),
        (dict(type="local", database="appdb", user="app", address="10.0.1.0/24"), "rule 1: a local rule (Unix socket) takes no address"),
        (dict(database="appdb", user="app", address="10.0.1.0/24", method="peer"), "rule 1: method peer works only for type local"),
        (dict(database="appdb", user="app", address="10.0.1.0/24", method="cert"), "rule 1: method cert needs type hostssl, got host"),
        (dict(type="local", database="appdb", user="app", method="cert"), "rule 1: method cert needs type hostssl"),
        (dict(database="appdb", user="app", address="10.0.1.0/24", method="trust"), "rule 1: method 'trust' is not one of"),
        (dict(type="hostgssenc", database="appdb", user="app", address="10.0.1.0/24"), "rule 1: type 'hostgssenc' is not one of"),
        (dict(user="app", address="10.0.1.0/24"), "rule 1: database is required"),
        (dict(database="appdb", user=" ", address="10.0.1.0/24"), "rule 1: user is required"),
        (dict(database="appdb,", user="app", address="10.0.1.0/24"), "rule 1: an empty name in database"),
        (dict(database='say "hi"', user="app", address="10.0.1.0/24"), "holds a double quote or a line break"),
        (dict(database="appdb", user="a\nb", address="10.0.1.0/24"), "holds a double quote or a line break"),
        ("host appdb app 10.0.1.0/24", "rule 1 is not a mapping"),
    ],
)
def test_rules_postgresql_would_reject_are_named(entry, problem):
    problems = hba_problems([entry])
    assert len(problems) == 1 and problem in problems[0], problems
    with pytest.raises(ValueError, match=re.escape(problem)):
        hba_lines([entry])


def test_lines_apply_the_documented_defaults_and_quote_names():
    entries = [
        dict(database="appdb", user="app", address="10.0.1.0/24"),
        dict(type="local", database="all", user="all", method="peer"),
        dict(type="hostssl", database="billing app,appdb", user="o'brien,+admins", address="app1.example.net", method="cert"),
        dict(database="replication", user="all", address="fd00::/64", method="reject"),
        dict(database="sales#eu", user="back\\slash", address="samehost", type=None, method=None),
        dict(database="@databases.txt", user="all", address=".example.net"),
    ]
    assert hba_lines(entries) == [
        "host    appdb    app    10.0.1.0/24    scram-sha-256",
        "local    all    all    peer",
        'hostssl    "billing app",appdb    "o\'brien",+admins    app1.example.net    cert',
        "host    replication    all    fd00::/64    reject",
        'host    "sales#eu"    "back\\slash"    samehost    scram-sha-256',
        "host    @databases.txt    all    .example.net    scram-sha-256",
    ]
    assert hba_lines([]) == [] and hba_lines_filter(None) == []


def test_a_keyword_of_the_database_column_is_a_plain_name_in_the_user_column():
    assert quote_name("replication", "user") == "replication" and quote_name("all", "user") == "all"
    assert quote_name("billing app", "user") == '"billing app"'


@pytest.mark.parametrize("bad", ["0.0.0.0/0", {"address": "all"}, 5])
def test_the_filters_want_a_list(bad):
    with pytest.raises(AnsibleFilterError, match="hba_problems: expected a list of pg_hba.conf rules"):
        hba_problems_filter(bad)
    with pytest.raises(AnsibleFilterError, match="hba_lines: expected a list of pg_hba.conf rules"):
        hba_lines_filter(bad)


def test_the_lines_filter_names_the_variable_and_every_problem():
    with pytest.raises(AnsibleFilterError, match="hba_lines: postgresql_hba_entries: rule 1: .*; rule 2: "):
        hba_lines_filter([dict(database="a", user="b"), dict(database="a", user="b", address="0.0.0.0/0")])
