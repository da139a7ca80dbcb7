"""When the postgresql role issues a member's generated certificate again: certificates made here with the names and
end dates each case needs."""

import datetime
import ipaddress

import pytest
from ansible.errors import AnsibleFilterError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.pgops.replication.plugins.filter.certificates import certificate_renewal as renewal_filter
from ansible_collections.pgops.replication.plugins.plugin_utils.certificates import certificate_renewal

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.timezone.utc)
KEY = ec.generate_private_key(ec.SECP256R1())


def certificate(days_left: float, dns=("node1.example.net", "node1"), addresses=("10.0.1.11",), names=True) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[0])])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=100))
        .not_valid_after(NOW + datetime.timedelta(days=days_left))
    )
    if names:
        entries = [x509.DNSName(entry) for entry in dns] + [x509.IPAddress(ipaddress.ip_address(entry)) for entry in addresses]
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    return builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def decide(pem, renew_days=30, dns=("node1.example.net", "node1"), addresses=("10.0.1.11",)):
    return certificate_renewal(pem, list(dns), list(addresses), renew_days, now=NOW)


def test_a_valid_certificate_naming_the_member_is_kept():
    decision = decide(certificate(400))
    assert decision == dict(renew=False, reason="valid until 2028-01-10 12:00 UTC", not_after="2028-01-10 12:00 UTC")


def test_the_same_names_in_another_order_or_form_are_the_same():
    assert not decide(certificate(400, dns=("node1", "node1.example.net"), addresses=("10.0.1.11",)))["renew"]
    assert not decide(certificate(400, addresses=("fd00::11",)), addresses=("fd00:0:0::11",))["renew"]


@pytest.mark.parametrize(
    "pem, reason",
    [
        (None, "no certificate yet"),
        ("", "no certificate yet"),
        ("-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n", "the certificate cannot be read"),
        (certificate(29.5), "expires on 2027-01-05 00:00 UTC, within 30 days"),
        (certificate(-1), "expired on 2026-12-05 12:00 UTC"),
        (certificate(400, addresses=("10.0.1.99",)), "its names changed: without IP:10.0.1.11, still with IP:10.0.1.99"),
        (certificate(400, dns=("node1",)), "its names changed: without DNS:node1.example.net"),
        (certificate(400, names=False), "its names changed: without DNS:node1, without DNS:node1.example.net, without IP:10.0.1.11"),
    ],
)
def test_a_certificate_is_issued_again(pem, reason):
    decision = decide(pem)
    assert decision["renew"] and decision["reason"].startswith(reason), decision


def test_the_window_moves_the_decision():
    pem = certificate(100)
    assert not decide(pem, renew_days=30)["renew"] and decide(pem, renew_days=101)["renew"]


def test_the_filter_checks_its_input():
    assert renewal_filter("", ["node1"], ["10.0.1.11"], "30")["renew"]
    with pytest.raises(AnsibleFilterError, match="renew_days must be a whole number of days, got 'soon'"):
        renewal_filter("", ["node1"], ["10.0.1.11"], "soon")
    with pytest.raises(AnsibleFilterError, match="expected the certificate as PEM text"):
        renewal_filter(5, ["node1"], ["10.0.1.11"])
    with pytest.raises(AnsibleFilterError, match="certificate_renewal: .*node1.example.net"):
        renewal_filter(certificate(400), ["node1"], ["node1.example.net"])
