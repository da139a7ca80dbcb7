# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""max_wal_senders and max_replication_slots sized from the cluster, so that a first run that clones many standbys
at once never finds the primary out of WAL senders."""

from __future__ import annotations

from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError

# Beyond the standbys and the clones in flight: a rejoin's re-clone and a backup taken with pg_basebackup, each of
# which holds a WAL sender for the copy and one for its WAL stream.
SPARE_WAL_SENDERS = 2
# A slot for a rejoin that has not dropped its old one yet, and one for a backup tool.
SPARE_SLOTS = 2
# A value raised above the one asked for is rounded up to a multiple of this: each change needs a restart of every
# member, so a cluster that grows or shrinks by a member or two seldom changes it.
STEP = 8


def _raised(wanted: int, needed: int) -> int:
    return wanted if wanted >= needed else -(-needed // STEP) * STEP


def _count(name: str, value, smallest: int) -> int:
    if isinstance(value, bool):
        raise PlanError("%s must be a whole number, got %r" % (name, value))
    try:
        number = int(str(value).strip())
    except ValueError:
        raise PlanError("%s must be a whole number, got %r" % (name, value)) from None
    if number < smallest:
        raise PlanError("%s must be at least %d, got %d" % (name, smallest, number))
    return number


def replication_capacity(member_count, clones_in_flight, max_wal_senders=0, max_replication_slots=0) -> dict:
    """The settings for every member (a standby needs at least the primary's values to replay its WAL).

    A standby that streams holds one WAL sender on the primary; one being cloned (pg_basebackup --wal-method=stream)
    holds two, the copy and its WAL stream. With s standbys of which c are cloned at once: s + c senders, plus the
    spare. Each standby has its slot. The values asked for are kept when they are larger; otherwise what is needed,
    rounded up to a multiple of STEP."""
    members = _count("the number of members", member_count, 1)
    in_flight = _count("postgresql_clone_parallel", clones_in_flight, 1)
    wanted_senders = _count("postgresql_max_wal_senders", max_wal_senders, 0)
    wanted_slots = _count("postgresql_max_replication_slots", max_replication_slots, 0)
    standbys = members - 1
    needed_senders = standbys + min(in_flight, standbys) + SPARE_WAL_SENDERS
    needed_slots = standbys + SPARE_SLOTS
    return {
        "max_wal_senders": _raised(wanted_senders, needed_senders),
        "max_replication_slots": _raised(wanted_slots, needed_slots),
        "needed_wal_senders": needed_senders,
        "needed_replication_slots": needed_slots,
    }
