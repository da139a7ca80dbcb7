# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter wrappers for the application rules of pg_hba.conf."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.plugin_utils.hba import hba_lines as _hba_lines
from ansible_collections.pgops.replication.plugins.plugin_utils.hba import hba_problems as _hba_problems


def _rules(name: str, entries) -> list:
    if entries is None:
        return []
    if isinstance(entries, (str, dict)) or not hasattr(entries, "__iter__"):
        raise AnsibleFilterError("%s: expected a list of pg_hba.conf rules, got %r" % (name, entries))
    return list(entries)


def hba_problems(entries) -> list:
    return _hba_problems(_rules("hba_problems", entries))


def hba_lines(entries) -> list:
    try:
        return _hba_lines(_rules("hba_lines", entries))
    except ValueError as error:
        raise AnsibleFilterError("hba_lines: postgresql_hba_entries: %s" % error) from None


class FilterModule:
    def filters(self) -> dict:
        return {"hba_problems": hba_problems, "hba_lines": hba_lines}
