"""Each scenario test's CPU, printed at the end of verify beside pytest's durations: CI is CPU-bound (two cores, two
lanes of scenarios and the other checks at once), so a test's wall time says how busy the machine was, and its CPU
says what it costs. Counted: this pytest process and every child it waited for (ansible-playbook runs and their
workers, docker clients, psql), and the CPU of the scenario's containers from their cgroups (the members' module
runs, servers, guards and health checks). The Docker engine's share is left out: other lanes' work lands there too.
The figures are also written to tests/output/molecule/<scenario>-cpu.json for docs/BENCHMARKS.md."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import pytest
import testinfra.utils.ansible_runner

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(CHECKOUT, "bench"))
from cpu_split import container_cpu_file, cpu_used_since, parse_cpu_seconds  # noqa: E402

SHOWN = 25


def own_and_children_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class ScenarioCpu:
    def __init__(self, scenario: str, containers: list[str]):
        self.scenario = scenario
        self.containers = containers
        self.tests: list[dict] = []
        self._started: tuple[float, float, dict[str, float]] | None = None

    def containers_cpu(self) -> dict[str, float]:
        used = {}
        for container in self.containers:
            try:
                path, kind = container_cpu_file(container)
                with open(path, encoding="ascii") as handle:
                    used[container] = parse_cpu_seconds(handle.read(), kind)
            except (LookupError, OSError, ValueError):
                # A container between a kill and its start has no cgroup: its CPU is counted once it runs again.
                continue
        return used

    def start(self) -> None:
        self._started = (time.monotonic(), own_and_children_cpu(), self.containers_cpu())

    def stop(self, test: str) -> None:
        if self._started is None:
            return
        wall, controller, members = self._started
        # A test that kills members reads a little low: what a member used before its kill is lost with its cgroup.
        used = cpu_used_since(members, self.containers_cpu())
        self.tests.append(
            dict(
                test=test,
                wall=round(time.monotonic() - wall, 1),
                controller=round(own_and_children_cpu() - controller, 1),
                members=round(used, 1),
            )
        )
        self._started = None


def scenario_containers() -> list[str]:
    """The full ids of the scenario's containers (the inventory's hosts), which stay the same across docker kill and
    docker start."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        return []
    ids = []
    for name in testinfra.utils.ansible_runner.AnsibleRunner(inventory).get_hosts("all"):
        found = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True, check=False)
        if found.returncode == 0:
            ids.append(found.stdout.strip())
    return ids


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("MOLECULE_SCENARIO_NAME"):
        config.pluginmanager.register(ScenarioCpu(os.environ["MOLECULE_SCENARIO_NAME"], scenario_containers()), "pgops-scenario-cpu")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    accounting = item.config.pluginmanager.get_plugin("pgops-scenario-cpu")
    if accounting is not None:
        accounting.start()
    yield
    if accounting is not None:
        accounting.stop(item.nodeid.rpartition("/")[2])


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    accounting = config.pluginmanager.get_plugin("pgops-scenario-cpu")
    if accounting is None or not accounting.tests:
        return
    tests = sorted(accounting.tests, key=lambda test: test["controller"] + test["members"], reverse=True)
    controller = sum(test["controller"] for test in tests)
    members = sum(test["members"] for test in tests)
    terminalreporter.section("CPU by test: %s" % accounting.scenario)
    wall = sum(test["wall"] for test in tests)
    terminalreporter.write_line(
        "all %d tests: %.0f CPU-s (controller %.0f, containers %.0f) in %.0f s"
        % (len(tests), controller + members, controller, members, wall)
    )
    terminalreporter.write_line(
        "the scenario's containers since they last started (converge, idempotence and every test): %.0f CPU-s"
        % sum(accounting.containers_cpu().values())
    )
    for test in tests[:SHOWN]:
        terminalreporter.write_line(
            "%7.1f CPU-s (controller %6.1f, containers %6.1f) %7.1f s  %s"
            % (test["controller"] + test["members"], test["controller"], test["members"], test["wall"], test["test"])
        )
    output = os.path.join(CHECKOUT, "tests", "output", "molecule")
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "%s-cpu.json" % accounting.scenario), "w", encoding="utf-8") as handle:
        json.dump(tests, handle, indent=1)
