# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """What a clone copies and how: the options of pg_basebackup, which pg_clone passes on to it unchanged."""

    DOCUMENTATION = r"""
options:
  data_dir:
    description: Data directory of the standby. Its parent directory must exist.
    type: path
    required: true
  force:
    description:
      - Replace a data directory that belongs to another cluster or holds other files.
      - The old directory is renamed to C(<data_dir>.pgops-old-<timestamp>) and never deleted by this module.
    type: bool
    default: false
  reclone:
    description:
      - Clone again even when O(data_dir) holds a copy of the primary's own cluster, for a member that diverged and
        cannot be rewound. The old directory is kept aside as with O(force=true).
      - Not idempotent by nature; playbooks set it only when M(pgops.replication.pg_rewind) reported that a rewind is impossible.
    type: bool
    default: false
  create_slot:
    description: Create O(slot_name) on the primary when it does not exist yet.
    type: bool
    default: true
  max_rate:
    description:
      - Bandwidth limit for the copy, as C(pg_basebackup --max-rate) takes it, for example C(100M) or C(512k)
        (between 32k and 1024M). Unlimited when unset.
    type: str
  bin_dir:
    description: Directory holding C(pg_basebackup) and C(pg_controldata); found from the installed server packages when unset.
    type: path
  wal_sender_wait:
    description:
      - Seconds to keep trying, in all, while the primary refuses the clone because every WAL sender is taken
        (C(number of requested standby connections exceeds max_wal_senders)), as when more standbys are cloned at once
        than it has senders for; the senders free as clones end. C(0) fails at the first refusal.
      - Any other error fails at once.
    type: int
    default: 600
    version_added: 0.3.0
"""
