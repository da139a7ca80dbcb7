# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter wrapper for synchronous_standby_names."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError
from ansible_collections.pgops.replication.plugins.plugin_utils.synchronous import synchronous_standby_names as _names


def synchronous_standby_names(setting, member_names) -> str:
    if isinstance(member_names, str) or not hasattr(member_names, "__iter__"):
        raise AnsibleFilterError("synchronous_standby_names: member_names must be a list of member names, got %r" % (member_names,))
    try:
        return _names(setting, member_names)
    except PlanError as error:
        raise AnsibleFilterError(str(error)) from error


class FilterModule:
    def filters(self) -> dict:
        return {"synchronous_standby_names": synchronous_standby_names}
