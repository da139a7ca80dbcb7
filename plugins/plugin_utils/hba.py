# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The application rules of pg_hba.conf: which ones the postgresql role refuses (open to too many hosts, or rules
PostgreSQL would reject), and the lines it writes for the others, with the documented defaults applied and names
quoted as pg_hba.conf requires."""

from __future__ import annotations

import ipaddress

# Narrower networks than these are what a team names on purpose (10.0.0.0/8 is the widest private IPv4 range,
# fc00::/7 the IPv6 unique local one); anything wider reaches far past a data centre.
NARROWEST_OPEN_PREFIX = {4: 8, 6: 7}
OPEN_KEYWORDS = {
    "all": "matches every address",
    "samenet": "matches every address of every subnet the server is on, which the inventory does not show",
}


def open_address_reason(address) -> str | None:
    """Why a rule's address opens the server to too many hosts, or None when it does not (host names, domain
    suffixes and samehost included, since they name hosts)."""
    text = str(address or "").strip()
    if text.lower() in OPEN_KEYWORDS:
        return OPEN_KEYWORDS[text.lower()]
    if "/" not in text:
        return None
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    widest = NARROWEST_OPEN_PREFIX[network.version]
    if network.prefixlen < widest:
        return "is wider than /%d (%s addresses)" % (widest, format(network.num_addresses, ","))
    return None


# The documented defaults of postgresql_hba_entries' options (roles/postgresql/meta/argument_specs.yml): ansible-core
# checks a role's argument spec but never fills in the defaults of sub-options, so they are applied here.
ENTRY_DEFAULTS = {"type": "host", "method": "scram-sha-256"}
TYPES = ("host", "hostssl", "hostnossl", "local")
METHODS = ("scram-sha-256", "peer", "reject", "cert")
# Words with a meaning of their own in the DATABASE and USER columns: written as they are, never quoted.
KEYWORDS = {
    "database": {"all", "sameuser", "samerole", "samegroup", "replication"},
    "user": {"all"},
}
# A name holding any of these would be split, cut short or read as a comment unless it is double-quoted.
NEEDS_QUOTES = set(" \t,#\\") | {"'"}


def with_defaults(entry: dict) -> dict:
    return {**ENTRY_DEFAULTS, **{key: value for key, value in entry.items() if value is not None}}


def _names(value) -> list:
    return [name.strip() for name in str(value).split(",")]


def _name_problem(column: str, name: str) -> str | None:
    if not name:
        return "an empty name in %s" % column
    if '"' in name or "\n" in name or "\r" in name:
        return "%s name %r holds a double quote or a line break, which pg_hba.conf cannot hold" % (column, name)
    return None


def entry_problems(index: int, entry) -> list:
    """Why PostgreSQL would reject this rule (with the defaults applied), or refuses to load pg_hba.conf at all."""
    where = "rule %d" % (index + 1)
    if not isinstance(entry, dict):
        return ["%s is not a mapping of type, database, user, address and method: %r" % (where, entry)]
    rule = with_defaults(entry)
    problems = []
    if rule["type"] not in TYPES:
        problems.append("%s: type %r is not one of %s" % (where, rule["type"], ", ".join(TYPES)))
    if rule["method"] not in METHODS:
        problems.append("%s: method %r is not one of %s" % (where, rule["method"], ", ".join(METHODS)))
    for column in ("database", "user"):
        if not str(rule.get(column) or "").strip():
            problems.append("%s: %s is required (a name, names separated by commas, or all)" % (where, column))
            continue
        problems += [
            "%s: %s" % (where, problem) for problem in map(lambda name: _name_problem(column, name), _names(rule[column])) if problem
        ]
    address = str(rule.get("address") or "").strip()
    if rule["type"] == "local":
        if address:
            problems.append("%s: a local rule (Unix socket) takes no address, got %r" % (where, address))
        if rule["method"] == "cert":
            problems.append("%s: method cert needs type hostssl" % where)
    else:
        if not address:
            problems.append("%s: type %s needs an address, for example 10.0.1.0/24" % (where, rule["type"]))
        elif " " in address or '"' in address:
            problems.append("%s: address %r must be one network, host name or keyword" % (where, address))
        else:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                try:
                    ipaddress.ip_network(address, strict=False)
                except ValueError:
                    if "/" in address:
                        problems.append("%s: address %r is not a network with a prefix length" % (where, address))
            else:
                problems.append(
                    "%s: address %s needs a prefix length, for example %s/%d" % (where, address, address, 128 if ":" in address else 32)
                )
        if rule["method"] == "peer":
            problems.append("%s: method peer works only for type local (Unix socket connections)" % where)
        if rule["method"] == "cert" and rule["type"] != "hostssl":
            problems.append("%s: method cert needs type hostssl, got %s" % (where, rule["type"]))
        reason = open_address_reason(address)
        if reason is not None:
            problems.append("%s: address %s %s" % (where, address, reason))
    return problems


def hba_problems(entries) -> list:
    """One message per problem of every application rule, empty when pg_hba.conf can hold them all."""
    return [problem for index, entry in enumerate(entries or []) for problem in entry_problems(index, entry)]


def quote_name(name: str, column: str) -> str:
    """A name as the DATABASE or USER column of pg_hba.conf must hold it: keywords, +group and @file as they are (they
    mean what pg_hba.conf says), a name with a blank, a comma, a comment sign, a quote or a backslash double-quoted."""
    if name in KEYWORDS[column] or name.startswith(("+", "@")):
        return name
    if set(name) & NEEDS_QUOTES:
        return '"%s"' % name
    return name


def hba_lines(entries) -> list:
    """The pg_hba.conf lines of the application rules, or ValueError naming every problem."""
    problems = hba_problems(entries)
    if problems:
        raise ValueError("; ".join(problems))
    lines = []
    for entry in entries or []:
        rule = with_defaults(entry)
        columns = [
            rule["type"],
            ",".join(quote_name(name, "database") for name in _names(rule["database"])),
            ",".join(quote_name(name, "user") for name in _names(rule["user"])),
        ]
        if rule["type"] != "local":
            columns.append(str(rule["address"]).strip())
        columns.append(rule["method"])
        lines.append("    ".join(columns))
    return lines
