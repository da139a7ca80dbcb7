# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter wrapper for the pg_hba.conf address rule."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.plugin_utils.hba import open_hba_rules as _open_hba_rules


def open_hba_rules(entries) -> list:
    if isinstance(entries, (str, dict)) or not hasattr(entries, "__iter__"):
        raise AnsibleFilterError("open_hba_rules: expected a list of pg_hba.conf rules, got %r" % (entries,))
    return _open_hba_rules(entries)


class FilterModule:
    def filters(self) -> dict:
        return {"open_hba_rules": open_hba_rules}
