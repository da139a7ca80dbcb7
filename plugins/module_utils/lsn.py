# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log sequence numbers: PostgreSQL prints them as two hex halves, 'X/Y'."""

from __future__ import annotations

import re

_LSN_PATTERN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
MAX_LSN = (1 << 64) - 1


class InvalidLsn(ValueError):
    pass


def parse_lsn(text: str) -> int:
    """Return the 64-bit position written as 'X/Y'; raise InvalidLsn otherwise."""
    if not isinstance(text, str):
        raise InvalidLsn("an LSN must be a string like '0/3000060', got %r" % (text,))
    match = _LSN_PATTERN.match(text.strip())
    if match is None:
        raise InvalidLsn("%r is not an LSN: expected two hexadecimal halves like '0/3000060'" % (text,))
    high, low = (int(part, 16) for part in match.groups())
    return (high << 32) | low


def format_lsn(position: int) -> str:
    if not 0 <= position <= MAX_LSN:
        raise InvalidLsn("%r is outside the 64-bit LSN range" % (position,))
    return "%X/%X" % (position >> 32, position & 0xFFFFFFFF)


def lsn_bytes_between(later: str | None, earlier: str | None) -> int | None:
    """Bytes of WAL from `earlier` up to `later` (negative when `later` is behind); None when either is unknown."""
    if later is None or earlier is None:
        return None
    return parse_lsn(later) - parse_lsn(earlier)


def lsn_at_least(position: str | None, target: str) -> bool:
    """True when `position` has reached `target`; an unknown position has not."""
    if position is None:
        return False
    return parse_lsn(position) >= parse_lsn(target)


# WAL segment (whole or partial) and timeline history file names start with their timeline, eight hex digits.
_WAL_FILE_TIMELINE = re.compile(r"^([0-9A-F]{8})(?:[0-9A-F]{16}(?:\.partial)?|\.history)$")


def newest_wal_timeline(names) -> int | None:
    """The newest timeline among the names of pg_wal's files, or None when none is a WAL segment or history file."""
    timelines = [int(match.group(1), 16) for match in (_WAL_FILE_TIMELINE.match(str(name)) for name in names or []) if match]
    return max(timelines, default=None)


def received_timeline(*known) -> int | None:
    """The timeline a standby has received WAL on: the newest of what each source knows (the WAL receiver's, pg_wal's
    files, the last checkpoint's). The checkpoint's alone is stale: it only moves at a restartpoint, which may come
    minutes after a timeline switch; pg_wal holds the new timeline's history file and segments as soon as they arrive."""
    timelines = [int(timeline) for timeline in known if timeline]
    return max(timelines, default=None)


def timeline_history(text: str, timeline: int) -> list:
    """The timelines a server on `timeline` descends from, its own last, from its history file's text (lines
    'parent-timeline<TAB>switch-LSN<TAB>reason'; comments and blank lines ignored). Timeline 1 has no file."""
    parents = []
    for line in (text or "").splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#") and fields[0].isdigit():
            parents.append(int(fields[0]))
    return parents + [int(timeline)]
