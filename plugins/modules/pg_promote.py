#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_promote
short_description: Promote a standby to primary, optionally only once it has replayed a given LSN
version_added: 0.1.0
description:
  - Promotes the standby it connects to with C(pg_promote) and waits until it accepts writes.
  - With O(wait_for_lsn), promotion waits until replay has reached that WAL position and is refused
    when it does not within O(lsn_timeout). A planned switchover passes the old primary's shutdown
    checkpoint LSN here, so no acknowledged write is left behind.
  - On a server that is already a primary it changes nothing.
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.connection
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
    details: Reports whether the server would be promoted and whether the LSN gate is met right now, without waiting.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  wait_for_lsn:
    description: WAL position (for example C(0/3000148)) replay must reach before promotion.
    type: str
  lsn_timeout:
    description: Seconds to wait for replay to reach O(wait_for_lsn).
    type: int
    default: 30
  checkpoint:
    description:
      - Run a CHECKPOINT once promoted. The server takes writes before it starts; the checkpoint records the new
        timeline in C(pg_control), which M(pgops.replication.pg_rewind) reads when the old primary rewinds from this server.
    type: bool
    default: false
  delay:
    description:
      - Seconds to wait before promoting, connected and with the server found in recovery. It is checked again
        afterwards, and the module fails when something else promoted it meanwhile.
      - C(failover.yml) waits here, after the standbys stopped following any primary, until a primary out of reach,
        left in a minority, has stopped itself; the wait then overlaps the module's own start.
      - Not waited in check mode.
    type: int
    default: 0
    version_added: 0.2.0
  promote_timeout:
    description:
      - Seconds to wait for the promotion to finish. When it has not finished by then, the module fails, reporting
        RV(promotion_requested=true) and C(changed=true), since the request stays in force and the server may still
        become a primary afterwards.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Promote the candidate once it has the old primary's shutdown checkpoint
  pgops.replication.pg_promote:
    wait_for_lsn: "{{ old_primary_checkpoint_lsn }}"
    lsn_timeout: 30
  become: true
  become_user: postgres
"""

RETURN = r"""
promoted:
  description: Whether this run promoted the server.
  returned: always
  type: bool
promotion_requested:
  description:
    - Whether this run asked the server to promote (C(pg_promote) was called and did not refuse). Once asked, the
      server goes on promoting even when the module fails because the promotion outlasted O(promote_timeout) or the
      connection was lost. A caller must then treat the server as a primary, and never start another member as one.
  returned: always
  type: bool
  version_added: 0.2.0
gate_reached:
  description: Whether replay reached O(wait_for_lsn); null when no gate was given.
  returned: always
  type: bool
replayed_lsn:
  description: Last replayed position before promotion.
  returned: when the server was a standby
  type: str
  sample: 0/3000148
timeline_before:
  description: Timeline before the run.
  returned: always
  type: int
timeline_after:
  description: Timeline after the run (the new timeline after a promotion).
  returned: always
  type: int
lsn:
  description: WAL insert position once the server accepts writes.
  returned: unless in check mode on a standby
  type: str
  sample: 0/30001C0
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.lsn import (
    InvalidLsn,
    lsn_at_least,
    newest_wal_timeline,
    parse_lsn,
    received_timeline,
)
from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    connect,
    connection_argument_spec,
    fetch_one,
    psycopg,
    require_psycopg,
    validate_positive,
    wal_file_names,
)

POLL_SECONDS = 0.05
STANDBY_QUERY = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_replay_lsn()::text AS replayed_lsn,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS replay_paused,
       (SELECT received_tli FROM pg_stat_wal_receiver) AS receiver_timeline,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_timeline
"""
PRIMARY_QUERY = "SELECT pg_current_wal_lsn()::text AS lsn, pg_walfile_name(pg_current_wal_lsn()) AS wal_file"


def primary_position(connection) -> tuple:
    row = fetch_one(connection, PRIMARY_QUERY)
    return row["lsn"], int(row["wal_file"][:8], 16)


def standby_state(connection) -> dict:
    state = fetch_one(connection, STANDBY_QUERY)
    # The same rule as pg_replication_facts: the checkpoint's timeline alone lags a switch by up to a restartpoint.
    state["timeline"] = received_timeline(
        state["receiver_timeline"], newest_wal_timeline(wal_file_names(connection)), state["checkpoint_timeline"]
    )
    return state


def wait_for_replay(connection, target: str, timeout: int) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = standby_state(connection)
        if not state["in_recovery"] or lsn_at_least(state["replayed_lsn"], target) or time.monotonic() >= deadline:
            return state
        time.sleep(POLL_SECONDS)


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        wait_for_lsn=dict(type="str"),
        lsn_timeout=dict(type="int", default=30),
        promote_timeout=dict(type="int", default=60),
        checkpoint=dict(type="bool", default=False),
        delay=dict(type="int", default=0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_psycopg(module)
    params = module.params
    target = params["wait_for_lsn"]
    if target is not None:
        try:
            parse_lsn(target)
        except InvalidLsn as error:
            module.fail_json(msg="wait_for_lsn: %s" % error)
    validate_positive(module, params["lsn_timeout"], "lsn_timeout", allow_zero=True)
    validate_positive(module, params["promote_timeout"], "promote_timeout")
    validate_positive(module, params["delay"], "delay", allow_zero=True)
    connection = connect(module)
    with connection:
        state = standby_state(connection)
        if not state["in_recovery"]:
            lsn, timeline = primary_position(connection)
            module.exit_json(changed=False, promoted=False, gate_reached=None, timeline_before=timeline, timeline_after=timeline, lsn=lsn)
        result = dict(promoted=False, promotion_requested=False, gate_reached=None)
        result.update(timeline_before=state["timeline"], replayed_lsn=state["replayed_lsn"])
        if state["replay_paused"]:
            module.fail_json(msg="WAL replay is paused on this standby; resume it (pg_wal_replay_resume()) before promoting", **result)
        if module.check_mode:
            if target is not None:
                result["gate_reached"] = lsn_at_least(state["replayed_lsn"], target)
            module.exit_json(changed=True, timeline_after=state["timeline"], **result)
        if params["delay"]:
            time.sleep(params["delay"])
            state = standby_state(connection)
            if not state["in_recovery"]:
                module.fail_json(
                    msg="the server left recovery during the %d s delay: something else promoted it" % params["delay"], **result
                )
            result["replayed_lsn"] = state["replayed_lsn"]
        if target is not None:
            state = wait_for_replay(connection, target, params["lsn_timeout"])
            if not state["in_recovery"]:
                module.fail_json(
                    msg="the server left recovery while waiting for replay to reach %s: something else promoted it" % target, **result
                )
            result["replayed_lsn"] = state["replayed_lsn"]
            result["gate_reached"] = lsn_at_least(state["replayed_lsn"], target)
            if not result["gate_reached"]:
                module.fail_json(
                    msg="replay reached %s, not %s, within %d seconds: not promoted"
                    % (state["replayed_lsn"], target, params["lsn_timeout"]),
                    timeline_after=state["timeline"],
                    **result,
                )
        try:
            promoted = connection.execute("SELECT pg_promote(true, %s)", (params["promote_timeout"],)).fetchone()[0]
        except psycopg.OperationalError as error:
            # The connection went away during the call: whether the server received the request cannot be known.
            result["promotion_requested"] = True
            module.fail_json(
                msg="the connection was lost during pg_promote (%s): the server may have received the request and may still become primary"
                % str(error).strip(),
                changed=True,
                **result,
            )
        except psycopg.Error as error:
            # The server refused the call (permission, not in recovery): pg_promote removes its trigger file then.
            module.fail_json(msg="pg_promote failed: %s" % str(error).strip(), **result)
        result["promotion_requested"] = True
        if not promoted:
            module.fail_json(
                msg="promotion was requested but had not finished after %d seconds: the request stays in force, so the server may "
                "still become primary" % params["promote_timeout"],
                changed=True,
                **result,
            )
        try:
            # Assigning a transaction ID fails on a read-only server: this proves writes are accepted.
            connection.execute("SELECT pg_current_xact_id()")
        except psycopg.Error as error:
            module.fail_json(msg="promoted, but the server does not accept writes: %s" % str(error).strip(), changed=True, **result)
        if params["checkpoint"]:
            # pg_rewind reads the source's timeline from pg_control, which only a checkpoint after promotion updates.
            connection.execute("CHECKPOINT")
        lsn, timeline = primary_position(connection)
        result.update(promoted=True, timeline_after=timeline, lsn=lsn)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
