# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter wrapper for a playbook's variables judged against its spec."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.plugin_utils import inputs
from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError


def input_check(options, given, groups) -> dict:
    try:
        return inputs.input_check(options, given, groups)
    except PlanError as error:
        raise AnsibleFilterError(str(error)) from error


class FilterModule:
    def filters(self) -> dict:
        return {"input_check": input_check}
