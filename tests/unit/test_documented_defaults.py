"""Every documented default of every role option is the value the role uses when the option is left out. ansible-core
checks a role's argument spec but fills in no default (of an option or of a sub-option), so each one must be given
again where it is used: the role's defaults/main.yml for its own options; for an option another role owns (the
postgresql role's names, documented on the primary and standby roles too, which may run without it), every use in
the role's tasks with `| default(...)`; the code that reads each item for sub-options."""

import glob
import os
import re

import yaml

from ansible_collections.pgops.replication.plugins.plugin_utils.hba import ENTRY_DEFAULTS

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def specs():
    for path in sorted(glob.glob(os.path.join(CHECKOUT, "roles", "*", "meta", "argument_specs.yml"))):
        role = path.split(os.sep)[-3]
        with open(path) as handle:
            for entry_point, spec in yaml.safe_load(handle)["argument_specs"].items():
                yield role, entry_point, spec.get("options") or {}


def role_defaults(role):
    with open(os.path.join(CHECKOUT, "roles", role, "defaults", "main.yml")) as handle:
        return yaml.safe_load(handle) or {}


def role_tasks(role):
    text = ""
    for path in glob.glob(os.path.join(CHECKOUT, "roles", role, "tasks", "*.yml")):
        with open(path) as handle:
            text += handle.read()
    return text


def inline_default(value) -> str:
    return "default(%s)" % ("'%s'" % value if isinstance(value, str) else "[]" if value == [] else repr(value))


def test_every_option_default_is_the_one_the_role_uses():
    wrong = []
    for role, entry_point, options in specs():
        defaults, tasks = role_defaults(role), role_tasks(role)
        for name, option in options.items():
            if "default" not in option:
                continue
            where = "%s %s: %s documented %r" % (role, entry_point, name, option["default"])
            if name.startswith(role + "_"):
                if defaults.get(name, "<missing>") != option["default"]:
                    wrong.append("%s, defaults/main.yml %r" % (where, defaults.get(name, "<missing>")))
                continue
            # Uses in expressions: the name followed by a filter, the end of an expression, an item separator (not prose).
            uses = re.findall(
                r"\b%s\b(?!\.)[ \t]*(\|[ \t]*default\([^)]*\))?(?=[ \t]*[|})\],])" % re.escape(name), re.sub(r"#.*", "", tasks)
            )
            if not uses or any(use.replace(" ", "").removeprefix("|") != inline_default(option["default"]) for use in uses):
                wrong.append("%s, used in its tasks as %r" % (where, uses))
    assert wrong == []


# Where each documented sub-option default is applied, and how that code spells it.
SUB_OPTION_DEFAULTS = {
    ("postgresql", "postgresql_hba_entries", "type"): lambda value: ENTRY_DEFAULTS["type"] == value,
    ("postgresql", "postgresql_hba_entries", "method"): lambda value: ENTRY_DEFAULTS["method"] == value,
    ("primary", "postgresql_users", "conn_limit"): lambda value: "item.conn_limit | default(%s)" % value in role_tasks("primary"),
    ("primary", "postgresql_users", "state"): lambda value: "item.state | default('%s')" % value in role_tasks("primary"),
}


def test_every_sub_option_default_is_applied_where_the_items_are_read():
    found = {}
    for role, _entry_point, options in specs():
        for name, option in options.items():
            for sub, sub_option in (option.get("options") or {}).items():
                if "default" in sub_option:
                    found[(role, name, sub)] = sub_option["default"]
    assert sorted(found) == sorted(SUB_OPTION_DEFAULTS), "a sub-option default was added or removed: say where it is applied"
    assert [key for key, value in found.items() if not SUB_OPTION_DEFAULTS[key](value)] == []
