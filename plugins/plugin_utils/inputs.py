# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A playbook's variables judged against its spec (playbooks/vars/<playbook>.yml).

ansible.builtin.validate_argument_spec checks the types, the choices and the required options. A spec option may also
say what an argument spec cannot: `member_of` (the value must be a host of that inventory group) or `minimum` (with
`unit`, for the message: a whole number written in digits, at least that). This module checks those, and tells which
options still need their default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError

# What validate_argument_spec understands; our own keys and the descriptions would only lengthen what a failure prints.
ARGUMENT_SPEC_KEYS = ("type", "elements", "required", "default", "choices", "no_log")
# Digits only: the type check takes 5.0 or 1e3 for an int, which the plans' Python would not.
WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def _checked_value(name: str, rule: Mapping, given: Mapping):
    """The value a rule applies to: the one given, else the default; (False, None) when there is neither."""
    if name in given:
        return True, given[name]
    if "default" in rule:
        return True, rule["default"]
    return False, None


def _member_problem(name: str, rule: Mapping, value, groups: Mapping) -> str | None:
    group = rule["member_of"]
    members = [str(host) for host in groups.get(group, [])]
    if isinstance(value, str) and value in members:
        return None
    return "%s must name a member of group %s (%s), got '%s'" % (name, group, ", ".join(members), value)


def _minimum_problem(name: str, rule: Mapping, value) -> str | None:
    text = str(value)
    if not isinstance(value, bool) and WHOLE_NUMBER.fullmatch(text) and int(text) >= rule["minimum"]:
        return None
    return "%s must be a whole number of %s, %s or more (got '%s')" % (name, rule.get("unit", "units"), rule["minimum"], value)


def input_check(options: Mapping, given: Mapping, groups: Mapping) -> dict:
    """Judge the variables a playbook was given against the options of its spec.

    options: the spec's options (name -> rule); given: the variables that are set, name -> value as the host sees it
    (inventory or -e); groups: the `groups` magic variable. Returns:
      argument_spec: the options with only the keys validate_argument_spec reads;
      problems: one message per variable breaking `member_of` or `minimum`, the host names first, then the numbers, each
        in the spec's order; a variable neither given nor defaulted has nothing to check;
      defaults: the options not given that have a default, name -> default.
    """
    if not isinstance(options, Mapping) or not all(isinstance(rule, Mapping) for rule in options.values()):
        raise PlanError("input_check: options must map each variable name to its rule, got %r" % (options,))
    if not isinstance(given, Mapping) or not isinstance(groups, Mapping):
        raise PlanError("input_check: the variables given and the groups must be mappings")
    for name, rule in options.items():
        if "minimum" in rule and (isinstance(rule["minimum"], bool) or not isinstance(rule["minimum"], int)):
            raise PlanError("input_check: the minimum of %s must be an integer, got %r" % (name, rule["minimum"]))
        if "member_of" in rule and rule["member_of"] not in groups:
            raise PlanError("input_check: %s must be a member of group %s, which the inventory does not have" % (name, rule["member_of"]))
    problems = []
    for key, judge in (("member_of", _member_problem), ("minimum", _minimum_problem)):
        for name, rule in options.items():
            if key not in rule:
                continue
            present, value = _checked_value(name, rule, given)
            if not present:
                continue
            problem = judge(name, rule, value, groups) if key == "member_of" else judge(name, rule, value)
            if problem:
                problems.append(problem)
    return dict(
        argument_spec={name: {key: rule[key] for key in ARGUMENT_SPEC_KEYS if key in rule} for name, rule in options.items()},
        problems=problems,
        defaults={name: rule["default"] for name, rule in options.items() if "default" in rule and name not in given},
    )
