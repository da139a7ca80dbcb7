# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  primary_host:
    description: Host name or address of the primary the standby follows.
    type: str
    required: true
  primary_port:
    description: TCP port of the primary.
    type: int
    default: 5432
  replication_user:
    description: Role with the REPLICATION attribute used for streaming (see M(pgops.replication.pg_replication_user)).
    type: str
    default: replicator
  replication_password:
    description:
      - Password of O(replication_user). It is written to O(passfile) only; C(primary_conninfo) names
        the password file and never holds the password.
      - May be left out when O(passfile) already holds the entry.
    type: str
  passfile:
    description:
      - libpq password file holding the replication password, kept at mode 0600.
      - Other entries in the file are preserved.
    type: path
    default: ~/.pgpass
  application_name:
    description:
      - Name the standby reports to the primary (C(pg_stat_replication.application_name)); it is what
        C(synchronous_standby_names) matches.
      - Defaults to the short host name.
    type: str
  slot_name:
    description: Physical replication slot on the primary the standby streams from (C(primary_slot_name)).
    type: str
  primary_ssl_mode:
    description: libpq C(sslmode) for replication connections to the primary.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  primary_ssl_rootcert:
    description: CA certificate used to verify the primary with O(primary_ssl_mode=verify-ca) or O(primary_ssl_mode=verify-full).
    type: path
  standby_config_file:
    description:
      - File that receives C(primary_conninfo) and C(primary_slot_name).
      - Defaults to C(postgresql.auto.conf) in the data directory. Point it at a file your
        C(postgresql.conf) includes (for example C(/etc/postgresql/15/main/conf.d/standby.conf)) to
        keep the settings beside your other configuration.
    type: path
  connect_timeout:
    description: Seconds to wait for a connection to the primary.
    type: int
    default: 10
"""
