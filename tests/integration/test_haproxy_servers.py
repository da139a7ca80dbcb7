"""haproxy_servers against a real HAProxy on loopback whose servers are checked over HTTP, as the haproxy role checks
the members' health: the states its checks gave them, and the mistakes it names."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
from pglab import assert_clean_failure, chown_to_server_user, free_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


class Health(http.server.BaseHTTPRequestHandler):
    """Answers every check with the status its server was given."""

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        self.send_response(self.server.answer)
        self.end_headers()

    def log_message(self, *_args):
        pass


def health_server(answer: int) -> http.server.HTTPServer:
    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    server.answer = answer
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def proxy():
    home = tempfile.mkdtemp(prefix="hap-", dir="/tmp")
    os.chmod(home, 0o755)
    chown_to_server_user(home)
    primary, standby = health_server(200), health_server(503)
    socket_path = os.path.join(home, "admin.sock")
    config = os.path.join(home, "haproxy.cfg")
    with open(config, "w") as handle:
        handle.write(
            "global\n    stats socket %s mode 666 level admin\n"
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
            "listen postgresql_write\n    bind 127.0.0.1:%d\n    option httpchk GET /primary\n    http-check expect status 200\n"
            "    default-server inter 200ms fall 1 rise 1\n"
            "    server node1 127.0.0.1:5432 check port %d\n    server node2 127.0.0.1:5432 check port %d\n"
            "    server node2_primary 127.0.0.1:5432 backup track postgresql_write/node2\n"
            % (socket_path, free_port(), primary.server_port, standby.server_port)
        )
    process = subprocess.Popen([HAPROXY, "-f", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(socket_path):
        assert time.monotonic() < deadline and process.poll() is None, "HAProxy did not start"
        time.sleep(0.05)
    yield socket_path
    process.terminate()
    process.wait(timeout=10)
    for server in (primary, standby):
        server.shutdown()
    shutil.rmtree(home, ignore_errors=True)


def test_reads_each_server_state_as_the_checks_left_it(modules, proxy):
    deadline = time.monotonic() + 10
    while True:
        result = modules.run("haproxy_servers", dict(socket=proxy), check=True)
        states = {server["server"]: server["status"] for server in result.get("servers", [])}
        if states.get("node1") == "UP" and states.get("node2") == "DOWN":
            break
        assert time.monotonic() < deadline, result
        time.sleep(0.2)
    assert result["changed"] is False
    assert [(server["backend"], server["server"], server["backup"]) for server in result["servers"]] == [
        ("postgresql_write", "node1", False),
        ("postgresql_write", "node2", False),
        ("postgresql_write", "node2_primary", True),
    ]
    only = modules.run("haproxy_servers", dict(socket=proxy, backends=["postgresql_write"]))
    assert [server["server"] for server in only["servers"]] == ["node1", "node2", "node2_primary"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (dict(backends=["postgresql_read"]), r"backends: HAProxy has no backend postgresql_read \(it has postgresql_write\)"),
        (dict(timeout=0), r"timeout must be more than 0 seconds, got 0"),
    ],
    ids=["unknown backend", "zero timeout"],
)
def test_bad_input_is_named(modules, proxy, extra, message):
    assert_clean_failure(modules.run("haproxy_servers", dict(socket=proxy, **extra)), message)


def test_no_proxy_on_the_socket_is_named(modules):
    assert_clean_failure(
        modules.run("haproxy_servers", dict(socket="/nonexistent/admin.sock")),
        r"could not ask HAProxy on its stats socket /nonexistent/admin.sock: .*No such file",
    )
