# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """How PostgreSQL is asked about its configuration files: the options of pg_config_check and pg_config_files."""

    DOCUMENTATION = r"""
options:
  config_dir:
    description:
      - The directory the server is started with as C(-D), where it finds C(postgresql.conf). On Debian
        C(/etc/postgresql/<version>/<cluster>); elsewhere usually the data directory.
    type: path
    required: true
  bin_dir:
    description: Directory of the C(postgres) program. By default the newest installed under C(/usr/lib/postgresql).
    type: path
  hba:
    description: Ask the running server what it makes of C(pg_hba.conf). Skipped when the server does not answer.
    type: bool
    default: true
"""
