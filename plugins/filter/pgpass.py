# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A libpq password file line, escaped exactly as the modules write it, so roles and modules never fight over it."""

from __future__ import annotations

from ansible_collections.pgops.replication.plugins.module_utils.conninfo import escape_passfile_field


def pgpass_line(password, host, port, database, user) -> str:
    """host:port:database:user:password with ':' and '\\' escaped in every field."""
    return ":".join(escape_passfile_field(field) for field in (host, port, database, user, password))


class FilterModule:
    def filters(self) -> dict:
        return {"pgpass_line": pgpass_line}
