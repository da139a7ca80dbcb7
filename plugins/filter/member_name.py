# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter wrapper for the member name rule."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.plugin_utils.members import member_name as _member_name


def member_name(host, hostvars=None) -> str:
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError("member_name: expected an inventory host name, got %r" % (host,))
    if hostvars is None:
        return _member_name(host)
    if not isinstance(hostvars, Mapping) and not hasattr(hostvars, "get"):
        raise AnsibleFilterError("member_name: hostvars must be a mapping of host name to variables, got %r" % (hostvars,))
    variables = hostvars.get(host) if host in hostvars else None
    return _member_name(host, variables)


class FilterModule:
    def filters(self) -> dict:
        return {"member_name": member_name}
