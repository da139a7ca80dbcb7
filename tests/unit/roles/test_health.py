"""The health check's answers (roles/postgresql/files/pgops_guard.py `health`): each path for each state of the
member, the lag bound, requests that are not what a check sends, and one whole request read and answered."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys

import pytest

GUARD_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "postgresql", "files", "pgops_guard.py")
spec = importlib.util.spec_from_file_location("pgops_guard_health", GUARD_PATH)
guard = importlib.util.module_from_spec(spec)
# dataclasses look their module up by name.
sys.modules["pgops_guard_health"] = guard
spec.loader.exec_module(guard)

Health = guard.Health
PRIMARY = Health(True)
STREAMING = Health(True, in_recovery=True, streaming=True, lag_bytes=100, standby_signal=True)
STATES = {
    "primary": PRIMARY,
    "stopped": Health(False),
    "fenced primary": Health(True, standby_signal=True),
    "isolated primary": Health(True, isolated=True),
    "streaming standby": STREAMING,
    "standby that streams from nobody": Health(True, in_recovery=True, streaming=False, standby_signal=True),
    "stopped, fenced": Health(False, standby_signal=True),
}
EXPECTED = {
    # state: (/primary, /replica, /health)
    "primary": (200, 503, 200),
    "stopped": (503, 503, 503),
    "fenced primary": (503, 503, 200),
    "isolated primary": (503, 503, 200),
    "streaming standby": (503, 200, 200),
    "standby that streams from nobody": (503, 503, 200),
    "stopped, fenced": (503, 503, 503),
}


@pytest.mark.parametrize("state", sorted(STATES))
@pytest.mark.parametrize("path, column", [("/primary", 0), ("/replica", 1), ("/health", 2)])
def test_each_path_for_each_state(state, path, column):
    status, body = guard.health_answer("GET", path, STATES[state])
    assert status == EXPECTED[state][column]
    assert body["role"] == STATES[state].role and body["fenced"] == STATES[state].fenced


@pytest.mark.parametrize(
    "target, lag_bytes, expected",
    [
        ("/replica?lag=100", 100, 200),
        ("/replica?lag=99", 100, 503),
        ("/replica?lag=0", 0, 200),
        ("/replica?lag=1048576", None, 503),
        ("/replica", None, 200),
    ],
    ids=["at the bound", "past the bound", "zero", "lag unknown", "no bound"],
)
def test_lag_bound_on_replica(target, lag_bytes, expected):
    status, body = guard.health_answer("GET", target, Health(True, in_recovery=True, streaming=True, lag_bytes=lag_bytes))
    assert status == expected and body["lag_bytes"] == lag_bytes


@pytest.mark.parametrize(
    "method, target, status, message",
    [
        ("POST", "/primary", 405, "only GET and HEAD"),
        ("GET", "/master", 404, "ask for /primary, /replica, /health"),
        ("GET", "/replica?lag=-1", 400, "lag must be one whole number of bytes, got -1"),
        ("GET", "/replica?lag=16MB", 400, "got 16MB"),
        ("GET", "/replica?lag=1&lag=2", 400, "got 1, 2"),
        ("GET", "/primary?lag=10", 400, "/primary takes no parameter lag"),
        ("GET", "/replica?max_lag=10", 400, "/replica takes no parameter max_lag"),
        ("GET", "/replica?lag", 400, "the query 'lag' is not name=value pairs"),
    ],
)
def test_requests_a_check_does_not_send(method, target, status, message):
    answer, body = guard.health_answer(method, target, STREAMING)
    assert answer == status and message in body["error"]


@pytest.mark.parametrize(
    "output, expected",
    [
        ("f\x1f\x1f\n", Health(True)),
        ("t\x1fstreaming\x1f2048\n", Health(True, in_recovery=True, streaming=True, lag_bytes=2048)),
        # Replay a little past what the primary last reported: no lag, not a negative one.
        ("t\x1fstreaming\x1f-16\n", Health(True, in_recovery=True, streaming=True, lag_bytes=0)),
        ("t\x1fwaiting\x1f\n", Health(True, in_recovery=True, streaming=False, lag_bytes=None)),
        ("t\x1f\x1f\n", Health(True, in_recovery=True)),
        ("", Health(False)),
        ("garbage\n", Health(False)),
    ],
    ids=["primary", "streaming", "replay ahead", "receiver waiting", "no receiver", "no answer", "not the query's"],
)
def test_parse_health(output, expected):
    assert guard.parse_health(output, False, False) == expected


def answer_of(raw: bytes, health: Health, monkeypatch) -> tuple:
    looked = []
    monkeypatch.setattr(guard, "local_health", lambda config: looked.append(config) or health)
    writer = io.BytesIO()
    assert guard.serve_health("config", io.BytesIO(raw), writer) == 0
    head, _separator, payload = writer.getvalue().partition(b"\r\n\r\n")
    return head.decode().split("\r\n"), payload, looked


def test_one_request_read_and_answered(monkeypatch):
    head, payload, looked = answer_of(b"GET /primary HTTP/1.1\r\nHost: node1:8008\r\nUser-Agent: check\r\n\r\n", PRIMARY, monkeypatch)
    assert head[0] == "HTTP/1.1 200 OK" and "Connection: close" in head and looked == ["config"]
    assert "Content-Length: %d" % len(payload) in head
    assert json.loads(payload) == dict(
        running=True, in_recovery=False, streaming=False, lag_bytes=None, standby_signal=False, isolated=False, role="primary", fenced=False
    )


def test_head_has_no_body_and_503_has_one(monkeypatch):
    head, payload, _looked = answer_of(b"HEAD /primary HTTP/1.0\r\n\r\n", STREAMING, monkeypatch)
    assert head[0] == "HTTP/1.1 503 Service Unavailable" and payload == b""
    head, payload, _looked = answer_of(b"GET /primary HTTP/1.0\n\n", STREAMING, monkeypatch)
    assert head[0] == "HTTP/1.1 503 Service Unavailable" and json.loads(payload)["role"] == "replica"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"GET /primary",
        b"GET /primary HTTP/1.1",
        b"HELLO\r\n\r\n",
        b"GET /primary SPDY/3\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
    ],
    ids=["nothing", "cut short", "no end of line", "not a request line", "not HTTP", "too long"],
)
def test_what_is_not_a_request_gets_400_and_no_look_at_the_member(raw, monkeypatch):
    head, payload, looked = answer_of(raw, PRIMARY, monkeypatch)
    assert head[0] == "HTTP/1.1 400 Bad Request" and "error" in json.loads(payload) and looked == []


def test_endless_headers_get_400(monkeypatch):
    head, _payload, looked = answer_of(b"GET /health HTTP/1.1\r\n" + b"X: y\r\n" * 100 + b"\r\n", PRIMARY, monkeypatch)
    assert head[0] == "HTTP/1.1 400 Bad Request" and looked == []


def test_a_path_that_does_not_exist_is_answered_without_looking(monkeypatch):
    head, _payload, looked = answer_of(b"GET /metrics HTTP/1.1\r\n\r\n", PRIMARY, monkeypatch)
    assert head[0] == "HTTP/1.1 404 Not Found" and looked == []


def test_a_client_gone_before_the_answer_ends_the_run_quietly(monkeypatch):
    """A proxy whose check timed out has closed its end: the answer cannot be written, and the run ends with status 0
    and nothing on standard error, not a traceback in the journal for every late check."""
    import socket

    served, client = socket.socketpair()
    client.sendall(b"GET /primary HTTP/1.1\r\n\r\n")
    client.close()
    monkeypatch.setattr(guard, "local_health", lambda _config: PRIMARY)
    descriptor = served.detach()
    monkeypatch.setattr(guard.sys, "stdin", type("SystemdStdin", (), {"fileno": lambda _self: descriptor})())
    errors = io.StringIO()
    monkeypatch.setattr(guard.sys, "stderr", errors)
    assert guard.run_health("config") == 0
    assert errors.getvalue() == ""
