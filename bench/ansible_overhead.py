"""What ansible-playbook itself costs on this machine, with no module run on any host: the CPU of starting it, of a task
evaluated for each host of a play even when its condition skips it, and of the same task run once. A playbook's
controller CPU is about start + pairs x per-pair + module runs x their own cost, so this says which of those a cut
should aim at (docs/BENCHMARKS.md, "Where the CPU goes").

Usage: .venv/bin/python bench/ansible_overhead.py [HOSTS] [TASKS]
Runs four playbooks against HOSTS local hosts (default 5) with TASKS tasks each (default 40) and prints the CPU of
each (ansible-playbook and its workers), then the costs per start, per task-host pair and per run-once task, and the
ratio of a skipped task on every host to the same task run once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAYBOOK_BIN = os.path.join(CHECKOUT, ".venv", "bin", "ansible-playbook")


def playbook_text(tasks: int, body: str) -> str:
    lines = ["- hosts: all", "  gather_facts: false", "  tasks:" if tasks else "  tasks: []"]
    for number in range(tasks):
        lines.append("    - name: task %d" % number)
        lines.extend("      " + line for line in body.splitlines())
    return "\n".join(lines) + "\n"


PLAYBOOKS = {
    "empty": (0, ""),
    "skipped on every host": (None, "ansible.builtin.debug:\n  msg: never\nwhen: inventory_hostname == 'nobody'"),
    "set_fact on every host": (None, "ansible.builtin.set_fact:\n  bench_value: 1"),
    "set_fact run once": (None, "ansible.builtin.set_fact:\n  bench_value: 1\nrun_once: true"),
}


def children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def run_cpu(directory: str, name: str) -> float:
    environment = dict(
        os.environ,
        ANSIBLE_CONFIG=os.path.join(CHECKOUT, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(CHECKOUT, ".venv", "collections"),
    )
    before = children_cpu()
    result = subprocess.run(
        [PLAYBOOK_BIN, "-i", os.path.join(directory, "inventory.ini"), os.path.join(directory, name)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    spent = children_cpu() - before
    if result.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (name, result.stdout[-2000:]))
    return spent


def main(argv: list) -> int:
    hosts = int(argv[1]) if len(argv) > 1 else 5
    tasks = int(argv[2]) if len(argv) > 2 else 40
    if hosts < 1 or tasks < 1:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pgops-bench-") as directory:
        with open(os.path.join(directory, "inventory.ini"), "w", encoding="utf-8") as inventory:
            inventory.write("[all]\n" + "".join("bench%d\n" % number for number in range(hosts)))
            inventory.write("[all:vars]\nansible_connection=local\nansible_python_interpreter=%s\n" % sys.executable)
        cpu = {}
        for label, (count, body) in PLAYBOOKS.items():
            name = label.replace(" ", "_") + ".yml"
            with open(os.path.join(directory, name), "w", encoding="utf-8") as playbook:
                playbook.write(playbook_text(tasks if count is None else count, body))
            cpu[label] = run_cpu(directory, name)
            print("%-24s %6.2f CPU-s" % (label, cpu[label]))
    start = cpu["empty"]
    skipped_pair = (cpu["skipped on every host"] - start) / (hosts * tasks)
    set_fact_pair = (cpu["set_fact on every host"] - start) / (hosts * tasks)
    run_once = (cpu["set_fact run once"] - start) / tasks
    print("start of ansible-playbook: %.2f CPU-s" % start)
    print("per task-host pair, skipped: %.1f ms; set_fact: %.1f ms" % (1000 * skipped_pair, 1000 * set_fact_pair))
    print("per run-once task: %.1f ms" % (1000 * run_once))
    print("a task skipped on %d hosts / the same task run once: %.2f" % (hosts, skipped_pair * hosts / run_once))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
