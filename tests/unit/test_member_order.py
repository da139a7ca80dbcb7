"""The playbooks choose members from inventory lists in inventory order: the pooler's read standby is "the first other
member", and what is written from a list (the guard's peers, the slots) must come out the same at every run.
Ansible's set filters (difference, intersect, union, symmetric_difference) return their items in an order that
changes from one process to the next (string hashing is seeded per process), so `groups[...] | difference([x]) | first`
named a different member from run to run, and a re-run of site.yml re-pointed the pooler. `reject('in', [...])` keeps
the order."""

from __future__ import annotations

import glob
import os
import re

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SET_FILTER = re.compile(r"\|\s*(difference|intersect|union|symmetric_difference)\(")


def test_no_member_list_goes_through_a_set_filter():
    found = []
    for path in sorted(glob.glob(os.path.join(CHECKOUT, "playbooks", "**", "*.yml"), recursive=True)) + sorted(
        glob.glob(os.path.join(CHECKOUT, "roles", "*", "*", "*.yml"))
    ):
        with open(path) as handle:
            for number, line in enumerate(handle, start=1):
                if SET_FILTER.search(line) and ("groups[" in line or "members" in line or "standbys" in line):
                    found.append("%s:%d: %s" % (os.path.relpath(path, CHECKOUT), number, line.strip()))
    assert found == [], "\n".join(found)
