# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule that turns an inventory host into the name a member streams under (application_name and slot)."""

from __future__ import annotations

import re


def derived_member_name(host: str) -> str:
    """The postgresql role's default: the inventory name in lower case, other characters than a-z, 0-9 and _ as _."""
    return re.sub(r"[^a-z0-9_]", "_", str(host).lower())


def member_name(host: str, variables=None) -> str:
    """The member's postgresql_member_name when its variables hold one, else the derived name.

    A member that could not be inspected has no published identity: its slot still gets the name it would stream under.
    """
    name = (variables or {}).get("postgresql_member_name")
    return str(name) if name else derived_member_name(host)
