"""The health check (roles/postgresql/files/pgops_guard.py `health`) run for real, as the server's OS user, with the
accepted connection as its standard input and output as systemd hands it over, against servers on loopback: what each
path answers from a primary, a streaming standby, a fenced primary, a primary in a minority and a stopped server."""

from __future__ import annotations

import json
import os
import socket
import subprocess

from pglab import MODULE_PYTHON, as_server_user
from test_guard import GUARD, cluster, write_config


def ask(config: str, request: str) -> tuple:
    """(status, body) for one request, the program run once on one end of a connected socket pair."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        program = subprocess.Popen(as_server_user([MODULE_PYTHON, GUARD, "health", config]), stdin=theirs, stdout=theirs)
        theirs.close()
        ours.sendall(request.encode())
        answer = b""
        while chunk := ours.recv(65536):
            answer += chunk
        assert program.wait(timeout=30) == 0
    head, _separator, payload = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(payload) if payload else None


def get(config: str, target: str) -> tuple:
    return ask(config, "GET %s HTTP/1.1\r\nHost: check\r\n\r\n" % target)


def test_each_member_answers_what_it_is(lab, modules):
    primary, standby, _other = cluster(lab, modules)
    members = [primary, standby, _other]
    on_primary, on_standby = write_config(primary, members), write_config(standby, members)
    assert get(on_primary, "/primary")[0] == 200 and get(on_primary, "/replica")[0] == 503 and get(on_primary, "/health")[0] == 200
    status, body = get(on_standby, "/replica")
    assert status == 200 and body["role"] == "replica" and body["streaming"] is True and body["lag_bytes"] is not None
    assert get(on_standby, "/primary")[0] == 503 and get(on_standby, "/health")[0] == 200
    assert get(on_standby, "/replica?lag=%d" % (16 * 1024 * 1024))[0] == 200


def test_a_standby_behind_its_bound_or_cut_from_its_primary_is_not_a_replica(lab, modules):
    primary, standby, other = cluster(lab, modules)
    on_standby = write_config(standby, [primary, standby, other])
    # Replay paused while the primary writes: received, not replayed, so the lag grows past a small bound.
    standby.query("SELECT pg_wal_replay_pause()")
    primary.query("CREATE TABLE filler AS SELECT g FROM generate_series(1, 100000) g")
    standby.wait_for("SELECT pg_wal_lsn_diff(latest_end_lsn, pg_last_wal_replay_lsn()) > 65536 FROM pg_stat_wal_receiver", True)
    status, body = get(on_standby, "/replica?lag=65536")
    assert status == 503 and body["lag_bytes"] > 65536
    assert get(on_standby, "/replica")[0] == 200
    standby.query("SELECT pg_wal_replay_resume()")
    primary.stop()
    standby.wait_for("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'", 0)
    status, body = get(on_standby, "/replica")
    assert status == 503 and body["streaming"] is False and body["role"] == "replica"


def test_a_fenced_primary_one_in_a_minority_and_a_stopped_one_are_not_primaries(lab, modules):
    primary, standby, other = cluster(lab, modules)
    on_primary = write_config(primary, [primary, standby, other])
    signal = os.path.join(primary.data_dir, "standby.signal")
    with open(signal, "w"):
        pass
    status, body = get(on_primary, "/primary")
    assert status == 503 and body["fenced"] is True and body["role"] == "primary"
    os.remove(signal)
    assert get(on_primary, "/primary")[0] == 200
    # What the isolation fence keeps while it counts down in a minority.
    state_file = os.path.join(primary.home, "guard-state.json")
    with open(state_file, "w") as handle:
        json.dump({"system": None, "armed": True, "minority_since": 1.0, "replies": {}}, handle)
    status, body = get(on_primary, "/primary")
    assert status == 503 and body["isolated"] is True
    os.remove(state_file)
    primary.stop()
    status, body = get(on_primary, "/health")
    assert status == 503 and body["role"] == "stopped"


def test_head_a_bad_request_and_an_unknown_path(lab, modules):
    primary = lab.primary("a")
    config = write_config(primary, [primary])
    assert ask(config, "HEAD /primary HTTP/1.1\r\n\r\n") == (200, None)
    assert get(config, "/metrics")[0] == 404
    assert ask(config, "nonsense\r\n\r\n")[0] == 400
