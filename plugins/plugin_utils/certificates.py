# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a member's generated certificate must be issued again: missing, unreadable, expiring within the renewal
window, or no longer naming the member as the inventory does (its connect name, inventory name and address)."""

from __future__ import annotations

import datetime
import ipaddress

try:
    from cryptography import x509
except ImportError:  # ansible-core depends on it, but a controller may have been installed without its dependencies
    x509 = None


def _names_in(certificate) -> set:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {"DNS:%s" % name for name in extension.get_values_for_type(x509.DNSName)}
    names |= {"IP:%s" % address for address in extension.get_values_for_type(x509.IPAddress)}
    return names


def wanted_names(dns_names, addresses) -> set:
    names = {"DNS:%s" % name for name in dns_names if name}
    for address in addresses:
        if address:
            names.add("IP:%s" % ipaddress.ip_address(str(address)))
    return names


def certificate_renewal(pem, dns_names, addresses, renew_days: int, now: datetime.datetime | None = None) -> dict:
    """{renew, reason, not_after}: renew when there is no certificate, when it cannot be read, when it ends within
    `renew_days` days, or when its subject alternative names differ from the ones wanted."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if x509 is None:
        raise ValueError("reading certificates needs the Python library cryptography on the controller (pip install cryptography)")
    if not pem:
        return dict(renew=True, reason="no certificate yet", not_after=None)
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as error:
        return dict(renew=True, reason="the certificate cannot be read (%s)" % error, not_after=None)
    # cryptography 42 added the aware form; older releases give naive UTC.
    not_after = getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    shown = not_after.strftime("%Y-%m-%d %H:%M UTC")
    left = not_after - now
    if left <= datetime.timedelta(days=int(renew_days)):
        reason = "expired on %s" % shown if left.total_seconds() <= 0 else "expires on %s, within %d days" % (shown, int(renew_days))
        return dict(renew=True, reason=reason, not_after=shown)
    have, want = _names_in(certificate), wanted_names(dns_names, addresses)
    if have != want:
        changes = ["without %s" % name for name in sorted(want - have)] + ["still with %s" % name for name in sorted(have - want)]
        return dict(renew=True, reason="its names changed: " + ", ".join(changes), not_after=shown)
    return dict(renew=False, reason="valid until %s" % shown, not_after=shown)
