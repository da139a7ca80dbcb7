"""Package versions of a PostgreSQL minor release, from apt-cache madison's listing as Debian 12 prints it."""

import pytest

from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError
from ansible_collections.pgops.replication.plugins.plugin_utils.packages import (
    madison_versions,
    newest_release,
    release_packages,
    upstream_release,
)

MADISON = """\
postgresql-15 | 15.20-0+deb12u1 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
postgresql-15 | 15.18-0+deb12u1 | http://deb.debian.org/debian bookworm/main amd64 Packages
postgresql-client-15 | 15.20-0+deb12u1 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
postgresql-client-15 | 15.18-0+deb12u1 | http://deb.debian.org/debian bookworm/main amd64 Packages
postgresql-client-15 | 15.18-0+deb12u1 | http://deb.debian.org/debian bookworm/main Sources
"""
PACKAGES = ["postgresql-15", "postgresql-client-15"]


def test_madison_lists_each_version_once_in_apts_order():
    assert madison_versions(MADISON) == {
        "postgresql-15": ["15.20-0+deb12u1", "15.18-0+deb12u1"],
        "postgresql-client-15": ["15.20-0+deb12u1", "15.18-0+deb12u1"],
    }
    assert madison_versions("") == {} and madison_versions("N: no lines here") == {}


def test_the_upstream_release_drops_the_debian_revision_and_epoch():
    assert upstream_release("15.20-0+deb12u1") == "15.20"
    assert upstream_release("1:17.6-0+deb13u1") == "17.6"


def test_an_older_minor_release_pins_every_package_to_it():
    assert release_packages(MADISON, "15.18", PACKAGES) == ["postgresql-15=15.18-0+deb12u1", "postgresql-client-15=15.18-0+deb12u1"]


def test_a_whole_debian_version_is_taken_as_it_is():
    assert release_packages(MADISON, "15.20-0+deb12u1", PACKAGES)[0] == "postgresql-15=15.20-0+deb12u1"


def test_no_release_keeps_the_bare_names_for_the_newest():
    assert release_packages(MADISON, "", PACKAGES) == PACKAGES
    assert release_packages("", None, PACKAGES) == PACKAGES


@pytest.mark.parametrize(
    "release, packages, message",
    [
        ("15.19", PACKAGES, r"15.19 is not available from apt here for postgresql-15; it lists 15.20 \(15.20-0\+deb12u1\), 15.18"),
        ("16.4", PACKAGES, "PostgreSQL 16.4 is not available"),
        ("15.18", ["postgresql-16"], "apt lists no version of postgresql-16"),
        ("15.18", "postgresql-15", "must be a non-empty list"),
        ("15.18", [], "must be a non-empty list"),
    ],
)
def test_a_release_apt_does_not_list_is_refused_with_the_ones_it_lists(release, packages, message):
    with pytest.raises(PlanError, match=message):
        release_packages(MADISON, release, packages)


def test_the_filter_turns_a_plan_error_into_a_filter_error():
    from ansible.errors import AnsibleFilterError

    from ansible_collections.pgops.replication.plugins.filter import packages

    assert packages.FilterModule().filters()["release_packages"](MADISON, "15.18", ["postgresql-15"]) == ["postgresql-15=15.18-0+deb12u1"]
    with pytest.raises(AnsibleFilterError, match="15.30 is not available"):
        packages.FilterModule().filters()["release_packages"](MADISON, "15.30", ["postgresql-15"])


def test_the_newest_release_is_the_first_apt_lists_for_the_package():
    assert newest_release(MADISON, "postgresql-15") == "15.20"
    older_first_for_another = "postgresql-client-15 | 15.18-0+deb12u1 | http://deb.debian.org/debian bookworm/main amd64 Packages\n"
    assert newest_release(MADISON + older_first_for_another, "postgresql-client-15") == "15.20"


@pytest.mark.parametrize("package", ["postgresql-17", "", None])
def test_no_newest_release_of_a_package_apt_does_not_list(package):
    with pytest.raises(PlanError, match="apt lists no version of"):
        newest_release(MADISON, package)
