"""Where a command's CPU time goes on this machine: the command itself (ansible-playbook and every process it waited
for: its workers and their docker clients), the lab containers whose names start with a prefix, and the Docker
engine's own processes. Lab members share the controller's cores, so their CPU time bounds what a run can take.

Usage: .venv/bin/python bench/cpu_split.py PREFIX OUTPUT.json -- COMMAND [ARG...]
Runs COMMAND, writes {"wall": s, "controller": s, "members": s, "engine": s, "cores": n} to OUTPUT.json and exits with
COMMAND's status. Reads the containers' CPU from their cgroup (v1 cpuacct or v2 cpu.stat); a member it cannot read
makes it fail rather than under-count.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

USAGE = "usage: bench/cpu_split.py PREFIX OUTPUT.json -- COMMAND [ARG...]"
ENGINE_PROCESSES = ("dockerd", "containerd", "containerd-shim-runc-v2", "docker-proxy")
CGROUP_ROOT = "/sys/fs/cgroup"


def container_cpu_file(container_id: str, root: str = CGROUP_ROOT) -> tuple[str, str]:
    """The file holding a container's CPU time, and its format ("ns" for cpuacct.usage, "stat" for cpu.stat)."""
    candidates = (
        (os.path.join(root, "cpuacct", "docker", container_id, "cpuacct.usage"), "ns"),
        (os.path.join(root, "cpu,cpuacct", "docker", container_id, "cpuacct.usage"), "ns"),
        (os.path.join(root, "system.slice", "docker-%s.scope" % container_id, "cpu.stat"), "stat"),
        (os.path.join(root, "docker", container_id, "cpu.stat"), "stat"),
        (os.path.join(root, "unified", "docker", container_id, "cpu.stat"), "stat"),
    )
    for path, kind in candidates:
        if os.path.exists(path):
            return path, kind
    raise LookupError("no CPU accounting file for container %s under %s" % (container_id, root))


def parse_cpu_seconds(text: str, kind: str) -> float:
    """Seconds of CPU from a cpuacct.usage (nanoseconds) or cpu.stat (usage_usec line) file's text."""
    if kind == "ns":
        return int(text.strip()) / 1e9
    for line in text.splitlines():
        key, _separator, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) / 1e6
    raise ValueError("cpu.stat has no usage_usec line")


def process_cpu_seconds(stat_line: str, clock_ticks: int) -> float:
    """A process's own CPU and its waited-for children's, from its /proc/PID/stat line."""
    # The command name may hold spaces and parentheses: the fields start after the last ")".
    fields = stat_line[stat_line.rindex(")") + 2 :].split()
    # utime, stime, cutime, cstime are fields 14 to 17 of the whole line, 12 to 15 after the name and state.
    return sum(int(field) for field in fields[11:15]) / clock_ticks


def cpu_used_since(before: dict, now: dict) -> float:
    """CPU seconds the containers used between two readings ({container: seconds}). A container started again in
    between (docker kill, docker start) has a new cgroup counted from zero: only what it used since its start is known,
    so such a reading is a lower bound."""
    used = 0.0
    for container, seconds in now.items():
        earlier = before.get(container, 0.0)
        used += seconds - earlier if seconds >= earlier else seconds
    return used


def members_cpu(prefix: str) -> float:
    ids = subprocess.run(
        ["docker", "ps", "-q", "--no-trunc", "--filter", "name=^%s-" % prefix],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    total = 0.0
    for container_id in ids:
        path, kind = container_cpu_file(container_id)
        with open(path, encoding="ascii") as handle:
            total += parse_cpu_seconds(handle.read(), kind)
    return total


def engine_cpu() -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/comm" % pid, encoding="utf-8") as handle:
                if handle.read().strip() not in ENGINE_PROCESSES:
                    continue
            with open("/proc/%s/stat" % pid, encoding="utf-8") as handle:
                total += process_cpu_seconds(handle.read(), ticks)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(USAGE, file=sys.stderr)
        return 2
    prefix, output, command = argv[0], argv[1], argv[3:]
    members_before, engine_before = members_cpu(prefix), engine_cpu()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    status = subprocess.run(command, check=False).returncode
    wall = time.monotonic() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    split = {
        "wall": wall,
        "controller": children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime,
        "members": members_cpu(prefix) - members_before,
        "engine": engine_cpu() - engine_before,
        "cores": os.cpu_count(),
    }
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(split, handle)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
