#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name; this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_clone
short_description: Clone a standby with pg_basebackup in the background and print its progress until it ends
version_added: 0.2.0
description:
  - >-
    Starts M(pgops.replication.pg_basebackup), with every option given here except the few of its own, as a
    background job on the host, then waits for it on the controller and prints a line such as
    "clone from node1: 43% (136 MiB of about 314 MiB) at 30.2 MiB/s" every O(progress_interval) seconds, and
    "clone from node1: done, 314 MiB in 10.4 s" at the end. One task, however long the clone takes.
  - Returns the result of M(pgops.replication.pg_basebackup) itself, as if it had run in the foreground.
  - A clone that fails, or runs longer than O(timeout) and is stopped, fails the task with pg_basebackup's message and
    what it means for O(data_dir). pg_basebackup copies into a directory of its own and moves the copy into place only
    once it is complete, so an interrupted clone leaves O(data_dir) as it was.
  - >-
    The bytes written are counted by M(pgops.replication.pg_basebackup) itself
    (O(pgops.replication.pg_basebackup#module:report_progress=true)), which alone knows where a clone writes. The
    total is an estimate, O(source_size_bytes) plus one WAL segment: the exact figure (C(backup_total) in
    C(pg_stat_progress_basebackup)) can only be read with SQL on the primary, which the replication role cannot run,
    and this task talks to the standby only.
  - In check mode, and with O(background=false), pg_basebackup runs as an ordinary task in the foreground and
    nothing is printed.
  - Must run as the PostgreSQL OS user (C(become_user=postgres)), as M(pgops.replication.pg_basebackup) must.
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.basebackup
  - pgops.replication.upstream
  - pgops.replication.attributes
attributes:
  action:
    description: Runs on the controller, and runs modules on the host.
    support: full
  async:
    description: Can run with the C(async) task keyword.
    support: none
    details: The clone is a background job already; O(timeout) bounds it.
  check_mode:
    support: full
    details: Runs M(pgops.replication.pg_basebackup) in check mode, which connects to the primary and writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  background:
    description:
      - Run the clone in the background and print its progress. With V(false), run M(pgops.replication.pg_basebackup)
        as an ordinary task, for a host that holds a copy of the primary's cluster already and has nothing to copy.
    type: bool
    default: true
  timeout:
    description:
      - Seconds the clone may run. One still running after this long is stopped (with SIGKILL, as C(async) stops a job)
        and the task fails.
      - The background job is started without pipelining; when Ansible logs in as a user other than root, C(become)
        to the postgres user then needs C(setfacl) (package C(acl)) on the host, as for any such task.
    type: int
    default: 86400
  progress_interval:
    description: Seconds between two progress lines.
    type: int
    default: 10
  source_name:
    description: How the progress lines name the primary, for example its inventory name. Defaults to O(primary_host).
    type: str
  source_size_bytes:
    description:
      - Size of the primary's databases (the C(databases_size_bytes) fact of M(pgops.replication.pg_replication_facts)),
        from which the lines compute the share copied. Without it they show the MiB copied only.
    type: int
notes:
  - The lines are printed from the controller as the clone runs, one per host, beside the task's own output.
  - Interrupting ansible-playbook stops the wait, not the clone, which goes on on the host until it ends or O(timeout).
seealso:
  - module: pgops.replication.pg_basebackup
"""

EXAMPLES = r"""
- name: Clone this host from the primary, printing the progress every 30 seconds
  pgops.replication.pg_clone:
    data_dir: /var/lib/postgresql/15/main
    primary_host: db1.example.net
    replication_password: "{{ postgresql_replication_password }}"
    slot_name: db2
    application_name: db2
    max_rate: 100M
    source_name: db1
    source_size_bytes: "{{ hostvars['db1'].ansible_facts.pg_replication.databases_size_bytes }}"
    progress_interval: 30
    timeout: 43200
  become: true
  become_user: postgres
  register: clone
"""

RETURN = r"""
action:
  description: What M(pgops.replication.pg_basebackup) did or, in check mode, would do.
  returned: always
  type: str
  sample: cloned
  choices: [cloned, replaced, unchanged]
system_identifier:
  description: System identifier of the primary's cluster, now also the standby's.
  returned: always
  type: str
  sample: "7311542937438211073"
slot_created:
  description: Whether O(slot_name) was created on the primary.
  returned: always
  type: bool
kept_aside:
  description: Where the replaced data directory was moved (O(force=true) or O(reclone=true)).
  returned: when a directory was replaced
  type: str
  sample: /var/lib/postgresql/15/main.pgops-old-20261123T101500
duration_seconds:
  description: Time the copy took.
  returned: when a copy was made
  type: float
  sample: 4.2
size_bytes:
  description: Size of the new data directory.
  returned: when a copy was made
  type: int
  sample: 31457280
wal_sender_waited_seconds:
  description: Seconds the clone waited for a WAL sender of the primary (O(wal_sender_wait)); 0 when none was refused.
  returned: when a copy was made
  type: float
  sample: 3.5
  version_added: 0.3.0
primary_conninfo:
  description: The connection string written for the standby (it holds no password).
  returned: always
  type: str
  sample: host=db1.example.net port=5432 user=replicator passfile=/var/lib/postgresql/.pgpass application_name=db2
command:
  description: The pg_basebackup command line that was run.
  returned: when a copy was made
  type: list
  elements: str
"""
