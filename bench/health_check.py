"""What one health check request costs a member, against the same question asked by hand with psql.

Usage: .venv/bin/python bench/health_check.py CONTAINER [REQUESTS]
CONTAINER is a running lab member with the health check (a Molecule scenario's db1..db3 or node1.., `make demo`'s
members). In one run, on that member's cgroup: the CPU of REQUESTS (default 100) HTTP requests to its health port
(/primary on a primary, /replica on a standby), one after the other as a proxy sends them; then the CPU of as many runs
of psql asking the check's question over the member's Unix socket (what an operator would type). Prints both per
request in milliseconds and their ratio. Stop the proxies that check the member first: their requests would count.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from cpu_split import container_cpu_file, parse_cpu_seconds

USAGE = "usage: bench/health_check.py CONTAINER [REQUESTS]"
HEALTH_PORT = 8008
QUESTION = "SELECT pg_is_in_recovery(), coalesce((SELECT status FROM pg_stat_wal_receiver), '')"


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent busy (/proc/stat): the member's cgroup misses what its requests cost
    outside it, such as the container engine's file system serving the program's files."""
    with open("/proc/stat") as handle:
        fields = handle.readline().split()
    return sum(int(fields[index]) for index in (1, 2, 3, 6, 7)) / os.sysconf("SC_CLK_TCK")


def container_cpu(container_id: str) -> float:
    path, kind = container_cpu_file(container_id)
    with open(path) as handle:
        return parse_cpu_seconds(handle.read(), kind)


def inspect(container: str) -> tuple[str, str]:
    output = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True).stdout
    details = json.loads(output)[0]
    address = next(network["IPAddress"] for network in details["NetworkSettings"]["Networks"].values() if network["IPAddress"])
    return details["Id"], address


def ask(address: str, path: str) -> int:
    with socket.create_connection((address, HEALTH_PORT), timeout=10) as connection:
        connection.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode())
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2 or (len(argv) == 2 and not argv[1].isdigit()):
        print(USAGE, file=sys.stderr)
        return 2
    container, requests = argv[0], int(argv[1]) if len(argv) == 2 else 100
    container_id, address = inspect(container)
    path = "/primary" if ask(address, "/primary") == 200 else "/replica"
    before, machine_before = container_cpu(container_id), machine_cpu()
    started = time.monotonic()
    statuses = {ask(address, path) for _request in range(requests)}
    check_wall = time.monotonic() - started
    check_cpu, check_machine = container_cpu(container_id) - before, machine_cpu() - machine_before
    loop = 'for i in $(seq %d); do psql -XAtq -h /var/run/postgresql -c "%s" >/dev/null; done' % (requests, QUESTION)
    # psql's own binary: /usr/bin/psql is a wrapper script that would count its interpreter too.
    server_bin = "PATH=$(ls -d /usr/lib/postgresql/*/bin | tail -1):$PATH; "
    command = ["docker", "exec", "-u", "postgres", container, "sh", "-c", server_bin + loop]
    before, machine_before = container_cpu(container_id), machine_cpu()
    subprocess.run(command, check=True)
    psql_cpu, psql_machine = container_cpu(container_id) - before, machine_cpu() - machine_before
    print("%s %s: %d requests answered %s in %.1f s" % (container, path, requests, sorted(statuses), check_wall))
    print(
        "health check: %.1f ms of the member's CPU per request, %.1f ms of the machine's"
        % (1000 * check_cpu / requests, 1000 * check_machine / requests)
    )
    print(
        "psql asking the same by hand: %.1f ms per run, %.1f ms of the machine's"
        % (1000 * psql_cpu / requests, 1000 * psql_machine / requests)
    )
    print("ratio health check / psql: %.2f" % (check_cpu / psql_cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
