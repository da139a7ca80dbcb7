# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the judgements and plans of plugin_utils: what the playbooks decide from every member's facts."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.plugin_utils import cluster, plans, restore


def _filter(function):
    """The function as a filter: a mistake in its input fails the task with the function's own message."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except cluster.PlanError as error:
            raise AnsibleFilterError(str(error)) from error

    return wrapper


cluster_status = _filter(cluster.cluster_status)
endpoints_status = _filter(cluster.endpoints_status)
failover_choice = _filter(cluster.failover_choice)
needed_wal_gone = _filter(cluster.needed_wal_gone)
switchover_checks = _filter(cluster.switchover_checks)
site_plan = _filter(plans.site_plan)
switchover_plan = _filter(plans.switchover_plan)
switchover_abort_plan = _filter(plans.switchover_abort_plan)
failover_plan = _filter(plans.failover_plan)
rejoin_plan = _filter(plans.rejoin_plan)
backup_plan = _filter(plans.backup_plan)
remove_plan = _filter(plans.remove_plan)
restart_plan = _filter(plans.restart_plan)
restore_plan = _filter(restore.restore_plan)
update_plan = _filter(plans.update_plan)


class FilterModule:
    def filters(self) -> dict:
        return {
            "cluster_status": cluster_status,
            "endpoints_status": endpoints_status,
            "failover_choice": failover_choice,
            "failover_plan": failover_plan,
            "needed_wal_gone": needed_wal_gone,
            "rejoin_plan": rejoin_plan,
            "backup_plan": backup_plan,
            "remove_plan": remove_plan,
            "restart_plan": restart_plan,
            "restore_plan": restore_plan,
            "site_plan": site_plan,
            "switchover_abort_plan": switchover_abort_plan,
            "switchover_checks": switchover_checks,
            "switchover_plan": switchover_plan,
            "update_plan": update_plan,
        }
