"""The status stdout callback: it prints the report's lines alone and exits with the report's code, or 3 with the
first failure when the run never judged the cluster."""

from types import SimpleNamespace

import pytest

from ansible_collections.pgops.replication.plugins.callback.status import CallbackModule


class Shown:
    def __init__(self):
        self.lines = []

    def display(self, line, **_options):
        self.lines.append(line)


def callback():
    plugin = CallbackModule()
    plugin._display = Shown()
    return plugin


def result(host, outcome):
    return SimpleNamespace(_host=SimpleNamespace(get_name=lambda: host), _result=outcome)


def test_the_report_is_printed_alone_and_its_code_is_the_exit_status():
    plugin = callback()
    plugin.v2_runner_on_ok(result("node1", dict(ansible_facts=dict(other=1))))
    report = dict(exit_code=1, lines=["WARNING: 1 warning; ...", "", "host  role"])
    plugin.v2_runner_on_ok(result("node1", dict(ansible_facts=dict(status_report=report))))
    plugin.v2_runner_on_failed(result("node1", dict(msg="Critical: ...")))
    with pytest.raises(SystemExit) as ended:
        plugin.v2_playbook_on_stats(None)
    assert ended.value.code == 1 and plugin._display.lines == report["lines"]


def test_a_run_without_a_report_is_unknown_with_the_first_failure():
    plugin = callback()
    plugin.v2_runner_on_failed(result("node2", dict(msg="ignored")), ignore_errors=True)
    plugin.v2_runner_on_failed(result("node1", dict(msg="status_max_lag_bytes must be a whole number")))
    plugin.v2_runner_on_failed(result("node2", dict(msg="later")))
    with pytest.raises(SystemExit) as ended:
        plugin.v2_playbook_on_stats(None)
    assert ended.value.code == 3 and plugin._display.lines == ["UNKNOWN: node1: status_max_lag_bytes must be a whole number"]


def test_a_run_that_ended_early_without_a_failure_is_unknown_too():
    plugin = callback()
    with pytest.raises(SystemExit) as ended:
        plugin.v2_playbook_on_stats(None)
    assert ended.value.code == 3 and plugin._display.lines == ["UNKNOWN: the run ended before it judged the cluster"]
