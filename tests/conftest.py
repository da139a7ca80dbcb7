"""Make this checkout importable as ansible_collections.pgops.replication, as Ansible sees it."""

import os
import sys

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS_ROOT = os.path.join(CHECKOUT, ".venv", "collections")
if not os.path.isdir(os.path.join(COLLECTIONS_ROOT, "ansible_collections", "pgops", "replication")):
    raise RuntimeError("run `make venv` first: it links this checkout as pgops.replication under %s" % COLLECTIONS_ROOT)
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)
