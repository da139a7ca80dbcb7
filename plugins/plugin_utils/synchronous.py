# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""synchronous_standby_names from the postgresql role's postgresql_synchronous and the members' names."""

from __future__ import annotations

import re

from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError

_EXPLICIT = re.compile(r"^(FIRST|ANY) ([1-9][0-9]*)$")


def confirmations_needed(setting, member_count: int) -> tuple:
    """(method, number of other members that confirm each commit) for a postgresql_synchronous value; (None, 0)
    for off. `quorum` is ANY floor(n/2): with the primary, a majority of the n members holds every acknowledged
    commit, so a primary cut off in a minority cannot acknowledge one, and any majority that promotes has it."""
    text = str(setting if setting is not None else "").strip()
    count = int(member_count)
    if text == "off":
        return None, 0
    if text == "quorum":
        if count < 2:
            raise PlanError("postgresql_synchronous quorum needs at least 2 members, got %d" % count)
        return "ANY", count // 2
    match = _EXPLICIT.match(text)
    if match is None:
        raise PlanError("postgresql_synchronous must be off, quorum, 'FIRST n' or 'ANY n', got %r" % (setting,))
    needed = int(match.group(2))
    if needed >= count:
        raise PlanError(
            "postgresql_synchronous %s needs n below the number of members (%d): every commit would wait for more "
            "standbys than there are" % (text, count)
        )
    return match.group(1), needed


def synchronous_standby_names(setting, member_names) -> str:
    """The setting's value, the same on every member (a server never waits for itself), so that it holds whichever
    member is primary; empty for off."""
    names = list(member_names or [])
    method, needed = confirmations_needed(setting, len(names))
    if method is None:
        return ""
    return "%s %d (%s)" % (method, needed, ", ".join('"%s"' % name.replace('"', '""') for name in names))
