"""Offline stand-in for ansible-test's pip bootstrap script.

ansible-test (even with --local) runs each sanity test in its own virtual environment, created without pip, and
bootstraps pip there with get-pip-<version>.py downloaded from ci-files.testing.ansible.com, which this network
cannot reach. It uses ~/.ansible/test/cache/get_pip_<version>.py instead when that file exists: `make sanity`
puts this script there. ansible-test runs it as `python get_pip_X_Y.py [pip options] pip==X.Y --no-setuptools
--no-wheel`; it installs Python's bundled pip (ensurepip), which then installs the requested packages from PyPI.
"""

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def main():
    """Bootstrap pip into the running interpreter's environment."""
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "pip", "install", *args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
