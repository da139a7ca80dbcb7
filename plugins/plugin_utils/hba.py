# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which client addresses of pg_hba.conf rules the postgresql role refuses as open to too many hosts."""

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


def open_hba_rules(entries) -> list:
    """One message per application rule whose address is too open."""
    problems = []
    for entry in entries or []:
        address = entry.get("address") if isinstance(entry, dict) else None
        reason = open_address_reason(address)
        if reason is not None:
            problems.append("address %s %s" % (address, reason))
    return problems
