"""Fixtures: a lab of PostgreSQL servers per test, and the module runner."""

import os
import re
import shutil
import tempfile

import pytest
from pglab import Lab, ModuleRunner, chown_to_server_user


@pytest.fixture(scope="session")
def base_dir():
    base = tempfile.mkdtemp(prefix="pgops-it-", dir="/tmp")
    os.chmod(base, 0o755)
    chown_to_server_user(base)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def modules(base_dir):
    return ModuleRunner(base_dir)


@pytest.fixture
def lab(base_dir, request):
    # Tests of two files may share a name: the random suffix keeps their directories apart. Short enough that a Unix
    # socket's path in it stays within 107 bytes.
    test_dir = tempfile.mkdtemp(prefix=re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:50] + "-", dir=base_dir)
    os.chmod(test_dir, 0o755)
    chown_to_server_user(test_dir)
    created = Lab(test_dir)
    yield created
    created.close()
