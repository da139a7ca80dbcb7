# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: status
type: stdout
short_description: The status playbook's report as plain text, with the monitoring convention's exit status
version_added: 0.2.0
description:
  - For C(pgops.replication.status) only. Prints the report alone, as plain lines - the verdict first, then one row
    per member with columns as wide as their values, then the problems, critical ones first - and nothing of the
    tasks that made it.
  - Ends the run with the exit status monitoring expects - 0 healthy, 1 warnings only, 2 critical, 3 unknown (the
    run stopped before it judged the cluster - a bad variable, an inventory without the cluster's group - and the
    reason is printed as C(UNKNOWN:) and the task's message).
  - Enable it for one run with the environment variable E(ANSIBLE_STDOUT_CALLBACK=pgops.replication.status).
author: pgops.replication contributors (@pgops)
notes:
  - Without this callback the status playbook prints the same lines as a list through the default callback, and exits
    2 when a problem is critical (C(status_fail_on_critical)), 0 otherwise.
  - For scripts, C(-e status_json=PATH) writes the whole report as JSON on the controller, with either callback.
"""

from ansible.plugins.callback import CallbackBase

REPORT_FACT = "status_report"
UNKNOWN = 3


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "pgops.replication.status"

    def __init__(self) -> None:
        super().__init__()
        self.report = None
        self.failures: list = []

    def v2_runner_on_ok(self, result) -> None:
        facts = result._result.get("ansible_facts") or {}
        if isinstance(facts.get(REPORT_FACT), dict) and "exit_code" in facts[REPORT_FACT]:
            self.report = facts[REPORT_FACT]

    def v2_runner_on_failed(self, result, ignore_errors: bool = False) -> None:
        if not ignore_errors:
            self.failures.append("%s: %s" % (result._host.get_name(), result._result.get("msg") or "task failed"))

    def v2_playbook_on_stats(self, stats) -> None:
        # The last event of a run, in ansible-playbook's own process: ending it here is the one way a run can exit
        # with 1 or 3, which the monitoring convention needs and ansible-playbook never returns for a task's outcome.
        if self.report is None:
            reason = self.failures[0] if self.failures else "the run ended before it judged the cluster"
            self._display.display("UNKNOWN: %s" % reason)
            raise SystemExit(UNKNOWN)
        for line in self.report.get("lines") or [self.report.get("verdict", "")]:
            self._display.display(line)
        raise SystemExit(int(self.report["exit_code"]))
