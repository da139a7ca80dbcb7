# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter wrapper for the renewal of a member's generated certificate."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def certificate_renewal(pem, dns_names, addresses, renew_days=30) -> dict:
    # Imported here, not when the file loads: Ansible loads every filter file of the collection in each worker that
    # looks up any of its filters, and the certificate reader's cryptography import was the largest part of that.
    from ansible_collections.pgops.replication.plugins.plugin_utils.certificates import (  # pylint: disable=import-outside-toplevel
        certificate_renewal as _certificate_renewal,
    )

    if pem is not None and not isinstance(pem, str):
        raise AnsibleFilterError("certificate_renewal: expected the certificate as PEM text, got %r" % (pem,))
    try:
        days = int(renew_days)
    except (TypeError, ValueError):
        raise AnsibleFilterError("certificate_renewal: renew_days must be a whole number of days, got %r" % (renew_days,)) from None
    try:
        return _certificate_renewal(pem, list(dns_names), list(addresses), days)
    except ValueError as error:
        raise AnsibleFilterError("certificate_renewal: %s" % error) from None


class FilterModule:
    def filters(self) -> dict:
        return {"certificate_renewal": certificate_renewal}
