# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter wrapper for replication_capacity."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.plugin_utils.capacity import replication_capacity as _capacity
from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError


def replication_capacity(members, clones_in_flight, max_wal_senders=0, max_replication_slots=0) -> dict:
    if isinstance(members, (str, dict)) or not hasattr(members, "__iter__"):
        raise AnsibleFilterError("replication_capacity: the input must be the list of members, got %r" % (members,))
    try:
        return _capacity(len(list(members)), clones_in_flight, max_wal_senders, max_replication_slots)
    except PlanError as error:
        raise AnsibleFilterError("replication_capacity: %s" % error) from error


class FilterModule:
    def filters(self) -> dict:
        return {"replication_capacity": replication_capacity}
