import pytest

from ansible_collections.pgops.replication.plugins.module_utils.lsn import (
    MAX_LSN,
    InvalidLsn,
    format_lsn,
    lsn_at_least,
    lsn_bytes_between,
    newest_wal_timeline,
    parse_lsn,
    received_timeline,
    timeline_history,
)


@pytest.mark.parametrize(
    "text, value",
    [
        ("0/0", 0),
        ("0/3000060", 0x3000060),
        ("1/0", 1 << 32),
        ("16/B374D848", (0x16 << 32) | 0xB374D848),
        ("ffffffff/ffffffff", MAX_LSN),
        (" 0/1A ", 0x1A),
    ],
)
def test_parse_lsn(text, value):
    assert parse_lsn(text) == value


@pytest.mark.parametrize("text", ["", "0", "0/", "/1", "0/G", "123456789/0", "0/123456789", "0x1/2", "1/2/3", None, 5])
def test_parse_lsn_rejects(text):
    with pytest.raises(InvalidLsn):
        parse_lsn(text)


@pytest.mark.parametrize("value", [0, 1, 0xFFFFFFFF, 1 << 32, (0x16 << 32) | 0xB374D848, MAX_LSN])
def test_format_round_trip(value):
    assert parse_lsn(format_lsn(value)) == value


def test_format_is_postgres_style():
    assert format_lsn(0x3000060) == "0/3000060"
    assert format_lsn((0x16 << 32) | 0xB374D848) == "16/B374D848"


@pytest.mark.parametrize("value", [-1, MAX_LSN + 1])
def test_format_rejects_out_of_range(value):
    with pytest.raises(InvalidLsn):
        format_lsn(value)


def test_bytes_between_crosses_the_32_bit_boundary():
    assert lsn_bytes_between("1/0", "0/FFFFFFFF") == 1
    assert lsn_bytes_between("0/FFFFFFFF", "1/0") == -1
    assert lsn_bytes_between("0/3000060", "0/3000060") == 0


def test_bytes_between_unknown():
    assert lsn_bytes_between(None, "0/1") is None
    assert lsn_bytes_between("0/1", None) is None


def test_at_least():
    assert lsn_at_least("0/3000060", "0/3000060")
    assert lsn_at_least("1/0", "0/FFFFFFFF")
    assert not lsn_at_least("0/FFFFFFFF", "1/0")
    assert not lsn_at_least(None, "0/0")


@pytest.mark.parametrize(
    "names, timeline",
    [
        (["000000010000000000000003", "000000010000000000000004", "archive_status"], 1),
        # After a switch: the new timeline's history file, then its segments (the last one may be partial).
        (["000000010000000000000004", "00000002.history"], 2),
        (["000000010000000000000004", "00000002.history", "00000002000000000000000A.partial"], 2),
        (["0000000A0000000000000001", "000000090000000000000007"], 10),
        ([], None),
        (None, None),
        (["archive_status", "RECOVERYXLOG", "00000002.history.tmp", "000000020000000000000001.backup", "xlogtemp.42"], None),
    ],
)
def test_newest_wal_timeline_reads_segments_and_history_files(names, timeline):
    assert newest_wal_timeline(names) == timeline


def test_received_timeline_is_the_newest_known():
    # The WAL receiver is gone (the primary died) and no restartpoint ran since the switch: pg_wal knows better.
    assert received_timeline(None, 2, 1) == 2
    assert received_timeline(3, 2, 1) == 3
    assert received_timeline(None, None, 1) == 1
    assert received_timeline(0, None, None) is None


def test_timeline_history_lists_the_ancestors_then_the_timeline():
    text = "1\t0/30000A0\tno recovery target specified\n\n# a comment\n2\t0/5000060\tno recovery target specified\n"
    assert timeline_history(text, 3) == [1, 2, 3]
    assert timeline_history("", 1) == [1]
    assert timeline_history(None, 1) == [1]
