# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs pg_basebackup as a background job on the host and waits for it here, on the controller, printing its progress:
one task however long the clone takes, where a loop of tasks would nest one include per look."""

from __future__ import annotations

import os
import time

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.pgops.replication.plugins.plugin_utils.clone_progress import (
    OWN_ARGUMENT_SPEC,
    BadArguments,
    CloneProgress,
    check_own_options,
    expected_total,
    failure_message,
    finished_line,
    module_result,
    split_arguments,
)

display = Display()

CLONE_MODULE = "pgops.replication.pg_basebackup"
STATUS_MODULE = "ansible.legacy.async_status"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    # The clone is a background job of this plugin's own making; the task's async keyword would start a second one.
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        try:
            own, clone_args = split_arguments(self._task.args)
            validation = ArgumentSpecValidator(OWN_ARGUMENT_SPEC).validate(own)
            if validation.error_messages:
                raise BadArguments("; ".join(validation.error_messages))
            options = validation.validated_parameters
            check_own_options(options)
        except BadArguments as error:
            result.update(failed=True, msg=str(error))
            return result

        try:
            # Check mode only connects and reports; a member that holds a copy already has nothing to wait for.
            if self._task.check_mode or not options["background"]:
                result.update(self._execute_module(module_name=CLONE_MODULE, module_args=clone_args, task_vars=task_vars))
            else:
                result.update(self._clone_in_background(options, clone_args, task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _clone_in_background(self, options: dict, clone_args: dict, task_vars: dict) -> dict:
        host = task_vars.get("inventory_hostname", "this host")
        source = options["source_name"] or str(clone_args.get("primary_host"))
        # async_wrapper reads its time limit from the task (core's gather_facts sets it the same way).
        task_async_val = self._task.async_val
        self._task.async_val = options["timeout"]
        try:
            job = self._execute_module(module_name=CLONE_MODULE, module_args=clone_args, task_vars=task_vars, wrap_async=True)
        finally:
            self._task.async_val = task_async_val
        if job.get("failed") or not job.get("ansible_job_id"):
            return job

        status_args = {"jid": job["ansible_job_id"], "_async_dir": os.path.dirname(job["results_file"])}
        progress = CloneProgress(
            source, expected_total(options["source_size_bytes"]), options["progress_interval"], options["timeout"], time.monotonic()
        )
        counting_failed = False
        while True:
            time.sleep(progress.next_look(time.monotonic()))
            status = self._execute_module(module_name=STATUS_MODULE, module_args=status_args, task_vars=task_vars)
            if status.get("finished") or status.get("failed"):
                break
            now = time.monotonic()
            if progress.gave_up(now):
                return dict(
                    failed=True,
                    ansible_job_id=job["ansible_job_id"],
                    msg="The clone of %s from %s has not ended %d s after its timeout of %d s, and its job reports no end; it may"
                    " still run on %s (async job %s)."
                    % (host, source, now - progress.started - options["timeout"], options["timeout"], host, job["ansible_job_id"]),
                )
            if not progress.line_due(now):
                continue
            counted = self._execute_module(
                module_name=CLONE_MODULE, module_args=dict(clone_args, report_progress=True), task_vars=task_vars
            )
            if counted.get("failed"):
                # The clone goes on without its progress lines: say why once, not at every line.
                if not counting_failed:
                    display.warning("%s: cannot count what the clone has written: %s" % (host, counted.get("msg")))
                counting_failed = True
                progress.skip_line(now)
                continue
            display.display("[%s] %s" % (host, progress.line(counted["written_bytes"], counted["measured_at"], now)))

        # The job's status file has served its purpose; one already gone leaves nothing to clean.
        self._execute_module(module_name=STATUS_MODULE, module_args=dict(status_args, mode="cleanup"), task_vars=task_vars)
        clone = module_result(status)
        if clone.get("failed"):
            data_dir = str(clone_args.get("data_dir", "")).rstrip("/")
            clone["msg"] = failure_message(host, source, clone, options["timeout"], data_dir)
        else:
            display.display("[%s] %s" % (host, finished_line(source, clone)))
        return clone
