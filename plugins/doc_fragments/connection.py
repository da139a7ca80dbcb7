# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or address of the PostgreSQL server this module talks to.
      - When neither O(login_host) nor O(login_unix_socket) is set, libpq's default Unix socket is used.
      - Mutually exclusive with O(login_unix_socket).
    type: str
    aliases: [host]
  login_port:
    description: TCP port, also the suffix of the Unix socket file.
    type: int
    default: 5432
    aliases: [port]
  login_user:
    description: Role to log in as.
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Not needed for peer authentication over the local socket.
    type: str
  login_db:
    description: Database to connect to.
    type: str
    default: postgres
    aliases: [db]
  login_unix_socket:
    description: Directory holding the server's Unix socket.
    type: path
  ssl_mode:
    description: libpq C(sslmode) for the connection; libpq's default applies when unset.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ssl_rootcert:
    description: CA certificate file used to verify the server with O(ssl_mode=verify-ca) or O(ssl_mode=verify-full).
    type: path
    aliases: [ca_cert]
  connect_timeout:
    description: Seconds to wait for the connection before failing.
    type: int
    default: 10
notes:
  - The aliases are the names other PostgreSQL modules use for these options. When both an option and its alias
    reach a module, Ansible takes the alias's value.
  - To set these options once for many tasks, use C(module_defaults) with C(group/pgops.replication.login), the
    modules that take them (C(group/pgops.replication.all) also holds modules that take none of them). Give the
    defaults their C(login_*) and C(ssl_rootcert) names, so that a task's own option under the same name overrides them.
requirements:
  - psycopg 3.1 or newer on the managed host (Debian package C(python3-psycopg))
"""
