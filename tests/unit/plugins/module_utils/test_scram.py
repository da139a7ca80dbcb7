import pytest

from ansible_collections.pgops.replication.plugins.module_utils.scram import (
    saslprep,
    scram_secret,
    scram_secret_matches,
)

# Secrets PostgreSQL 15 itself stored (CREATE ROLE ... PASSWORD '...'; SELECT rolpassword FROM pg_authid).
SERVER_SECRETS = {
    "simple": "SCRAM-SHA-256$4096:iBp5buZPgd/Xbxa5tmoimA==$XclPKkO0QqA7vc1egYgCmS8ZJBETFV97x9rQSFMO1yo="
    ":5VdMGt8TNyXDzXiLwetpE7C3SzuJf4km+SEigvGbRQE=",
    "pässwörd 'q' \\x $HOME %": "SCRAM-SHA-256$4096:XDUfF449Z6W5u5Fennzenw==$FTiHjg5+QBq1RuQ5Es1AHMXZwep30rIukpg4es9t5s8="
    ":F302iliHfc648x6d0+qcyeJASFbL5OlOKln91ai2LEM=",
    "ｐａｓｓ": "SCRAM-SHA-256$4096:ApvHGSURiK8MkvxG48ihGA==$f4gvKGvMXwkBFVH+ZjmQcoZiP0GmVQwB/DC/S0ZBndg="
    ":0StUVjHSIAvCAIZ/sI12ETPSVcdM44yn7fBeDoeaApU=",
}


@pytest.mark.parametrize("password", sorted(SERVER_SECRETS))
def test_matches_secrets_made_by_postgresql(password):
    assert scram_secret_matches(password, SERVER_SECRETS[password])
    assert not scram_secret_matches(password + "x", SERVER_SECRETS[password])


def test_saslprep_normalises_full_width_like_postgresql():
    assert saslprep("ｐａｓｓ") == b"pass"
    assert scram_secret_matches("pass", SERVER_SECRETS["ｐａｓｓ"])


def test_saslprep_keeps_prohibited_passwords_as_bytes():
    assert saslprep("a\u0007b\u00e9") == "a\u0007b\u00e9".encode()


def test_saslprep_maps_non_ascii_space_and_drops_soft_hyphen():
    assert saslprep("a\u00a0b\u00adc\u00e9") == "a bcé".encode()


def test_generated_secret_round_trip_and_salt():
    first, second = scram_secret("s3cret"), scram_secret("s3cret")
    assert first != second
    assert scram_secret_matches("s3cret", first) and scram_secret_matches("s3cret", second)
    assert scram_secret("s3cret", salt=b"0123456789abcdef", iterations=10).startswith("SCRAM-SHA-256$10:MDEyMzQ1Njc4OWFiY2RlZg==$")


@pytest.mark.parametrize(
    "secret",
    [
        None,
        "",
        "md5a3556571e93b0d20722ba62be61e8c2d",
        "s3cret",
        "SCRAM-SHA-256$",
        "SCRAM-SHA-256$x:abc$def:ghi",
        "SCRAM-SHA-256$0:AAAA$AAAA:AAAA",
        "SCRAM-SHA-256$4096:!!$AAAA:AAAA",
    ],
)
def test_malformed_or_other_secrets_do_not_match(secret):
    assert not scram_secret_matches("s3cret", secret)
