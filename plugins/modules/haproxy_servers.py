#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_servers
short_description: Read which servers HAProxy sends each backend's clients to, and which it has marked down
version_added: 0.3.0
description:
  - Asks HAProxy's runtime API (its C(stats socket)) for C(show stat) and returns each server of each backend with the
    state its health checks gave it (C(UP), C(DOWN), C(NOLB), C(MAINT), and the transitions such as C(UP 1/2)).
  - Changes nothing. C(playbooks/status.yml) uses it on the hosts of the C(haproxy) group to show where each proxy
    sends writes and reads.
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
    details: Only reads; the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  socket:
    description: HAProxy's stats socket (the C(stats socket) of its C(global) section).
    type: path
    default: /run/haproxy/admin.sock
  backends:
    description: The backends to report; every one when empty. A name HAProxy does not have is an error.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for HAProxy's answer (more than 0).
    type: float
    default: 5
"""

EXAMPLES = r"""
- name: Where HAProxy sends writes and reads
  pgops.replication.haproxy_servers:
    backends: [postgresql_write, postgresql_read]
  become: true
  register: proxy
"""

RETURN = r"""
servers:
  description: Each server of the backends asked for, in HAProxy's order.
  returned: success
  type: list
  elements: dict
  contains:
    backend:
      description: The backend's name.
      type: str
    server:
      description: The server's name (for the haproxy role, the member's inventory name).
      type: str
    status:
      description: Its state, as HAProxy shows it (C(UP), C(DOWN), C(UP 1/2), ...).
      type: str
    backup:
      description: Whether it only takes clients when no other server is up.
      type: bool
"""

import csv
import io
import socket

from ansible.module_utils.basic import AnsibleModule


def ask(path: str, command: str, timeout: float) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(path)
        connection.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def parse_stat(text: str) -> list:
    """The servers in `show stat`'s CSV (its header starts with '# '); the FRONTEND and BACKEND summary rows are left out."""
    lines = text.lstrip("# ").splitlines()
    servers = []
    for row in csv.DictReader(io.StringIO("\n".join(line for line in lines if line.strip()))):
        if row.get("svname") in ("FRONTEND", "BACKEND") or not row.get("pxname"):
            continue
        servers.append(dict(backend=row["pxname"], server=row["svname"], status=row.get("status", ""), backup=row.get("bck") == "1"))
    return servers


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", default="/run/haproxy/admin.sock"),
            backends=dict(type="list", elements="str", default=[]),
            timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be more than 0 seconds, got %s" % params["timeout"])
    try:
        answer = ask(params["socket"], "show stat", params["timeout"])
    except OSError as error:
        module.fail_json(msg="could not ask HAProxy on its stats socket %s: %s" % (params["socket"], error))
    if not answer.startswith("# pxname"):
        module.fail_json(msg="HAProxy's stats socket %s did not answer show stat: %s" % (params["socket"], answer.strip()[:200]))
    servers = parse_stat(answer)
    known = sorted({server["backend"] for server in servers})
    unknown = [name for name in params["backends"] if name not in known]
    if unknown:
        module.fail_json(msg="backends: HAProxy has no backend %s (it has %s)" % (", ".join(unknown), ", ".join(known) or "none"))
    wanted = params["backends"] or known
    module.exit_json(changed=False, servers=[server for server in servers if server["backend"] in wanted])


if __name__ == "__main__":
    main()
