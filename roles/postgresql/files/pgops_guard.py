# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgops guard: the majority rule of one PostgreSQL member, run by systemd, never resident.

  pgops_guard.py start CONFIG   before every start of the server (ExecStartPre of its unit)
  pgops_guard.py watch CONFIG   every few seconds (a systemd timer), acting only on a running primary
  pgops_guard.py health CONFIG  one HTTP request on standard input, answered on standard output (a systemd socket,
                                one run per connection): GET /primary, /replica[?lag=BYTES] or /health, 200 or 503

A member votes for a primary while it streams from it. A primary keeps running only while a majority of the
members, itself included, vote for it; after `isolation_timeout` seconds in a minority it stops with
standby.signal, and it stops at once when another member runs as primary on a newer timeline of the same cluster.
A server about to start as primary first needs a majority of the members answering as standbys of its cluster on
its timeline or an older one; it waits up to `start_timeout` seconds for that, then starts read-only with
standby.signal. No member running as primary elsewhere is ever joined by a second one. Both rules hold once the
member has seen a majority vote for it ("armed", kept across reboots): a primary built before its standbys stays up,
and so does one whose cluster grew by more members than stream from it, until a majority of them all has streamed.

The health check tells a proxy or load balancer what the member is, by the same rules: /primary answers 200 only from
a running primary that is not fenced (standby.signal written) and not in a minority of the members; /replica only
from a standby that streams, and with ?lag= whose replay is at most that many bytes behind what its primary last
reported; /health from any running server. Anything else answers 503, and nothing runs between two requests.

CONFIG is the JSON file the postgresql role writes. The program runs as the server's OS user; every connection is
made by libpq from keyword arguments, and a peer is judged by the outcome of the connection, never by error text.
"""

from __future__ import annotations

# The health check starts this program for every request a proxy sends, and the fence every few seconds: what is
# imported here is paid on each run. Records are named tuples from collections, which json's own imports load anyway
# (typing's NamedTuple and dataclasses each cost more than the rest of a run on a standby); programs run through
# run_program, not subprocess, whose imports cost as much again; what only some commands need is imported where they
# use it.
import json
import os
import re
import sys
import time
from collections import namedtuple

START = "start"
STANDBY = "standby"
WAIT = "wait"
OK = "ok"
IDLE = "idle"
MINORITY = "minority"
FENCE = "fence"

SEGMENT_NAME = re.compile(r"^([0-9A-F]{8})[0-9A-F]{16}$")
HISTORY_NAME = re.compile(r"^([0-9A-F]{8})\.history$")


class Peer(namedtuple("Peer", "name host port address", defaults=("",))):
    """A member as the guard reaches it (name, host: str; port: int; address: str): at `address` when known, so that no
    name is resolved on the way (a slow or failing name server must not cost a vote); `host` names it for its
    certificate and its password file entry."""

    __slots__ = ()


class PeerAnswer(namedtuple("PeerAnswer", "name answered primary system timeline follows error", defaults=(False, None, None, False, ""))):
    """What one peer said over a replication connection; `answered` is False when no session was opened. `primary`,
    `follows`: bools; `system`: str or None; `timeline`: int or None. `follows`: its primary_slot_name is set, so it
    follows a primary (failover.yml empties it on the standbys it detaches)."""

    __slots__ = ()


class GuardState(namedtuple("GuardState", "system armed armed_members minority_since replies", defaults=(None, False, None, None, {}))):
    """What survives between runs and reboots: whether this cluster (`system`, str or None) has seen a majority vote
    for this member (`armed`), how many members the majority that armed it was counted among (`armed_members`; None in
    a state written before it was kept), since when it is in a minority (`minority_since`, a time or None), and the
    last status reply time each voter sent (`replies`, never changed in place: each new state gets a dict of its own)."""

    __slots__ = ()


Verdict = namedtuple("Verdict", "action reason state")


def majority(votes: int, members: int) -> bool:
    return 2 * votes > members


def armed_for(state: GuardState, members: int) -> bool:
    """Armed, and not since grown: members added (several hosts cloned in one run) have never streamed from this
    primary, so it arms again only once a majority of them all has. Until then no majority of them all can promote
    another member either, since fewer than a majority hold a copy that streamed from it."""
    return state.armed and (state.armed_members is None or members <= state.armed_members)


def majority_size(members: int) -> int:
    return members // 2 + 1


def _same_cluster(answer: PeerAnswer, system: str | None) -> bool:
    return answer.system is not None and answer.system == system


def stands_by(answer: PeerAnswer, system: str | None, timeline: int | None) -> bool:
    """A peer that answers as a standby of this cluster on this server's timeline or an older one, and follows a
    primary: it can follow this one (a standby restarting, or reconnecting), and has not been detached from it."""
    return (
        answer.answered
        and not answer.primary
        and answer.follows
        and _same_cluster(answer, system)
        and answer.timeline is not None
        and timeline is not None
        and answer.timeline <= timeline
    )


def start_verdict(system: str | None, timeline: int | None, answers: list, members: int, state: GuardState) -> Verdict:
    """Whether a server about to start without standby.signal may start as primary (START), must start read-only
    (STANDBY), or must wait for more members to answer (WAIT)."""
    primaries = [answer for answer in answers if answer.answered and answer.primary and _same_cluster(answer, system)]
    if primaries:
        found = primaries[0]
        return Verdict(
            STANDBY,
            "%s runs as primary of this cluster (timeline %s), so this server starts read-only as a standby" % (found.name, found.timeline),
            state,
        )
    armed = armed_for(state, members) and state.system == system and members >= 3
    if not armed:
        return Verdict(START, "no other member runs as primary of this cluster", state)
    voters = [answer.name for answer in answers if stands_by(answer, system, timeline)]
    votes = 1 + len(voters)
    if majority(votes, members):
        return Verdict(START, "%d of %d members agree (itself, %s)" % (votes, members, ", ".join(voters)), state)
    return Verdict(WAIT, _start_shortfall(answers, voters, votes, members, system, timeline), state)


def _start_shortfall(answers: list, voters: list, votes: int, members: int, system: str | None, timeline: int | None) -> str:
    reasons = []
    for answer in answers:
        if answer.name in voters:
            continue
        if not answer.answered:
            reasons.append("%s does not answer (%s)" % (answer.name, answer.error or "no session"))
        elif not _same_cluster(answer, system):
            reasons.append("%s holds another cluster (system identifier %s)" % (answer.name, answer.system))
        elif answer.timeline is None or timeline is None or answer.timeline > timeline:
            reasons.append("%s is on timeline %s, newer than this server's %s" % (answer.name, answer.timeline, timeline))
        else:
            reasons.append("%s follows no primary (primary_slot_name is empty: detached by a failover)" % answer.name)
    return "%d of %d members agree, a majority needs %d: %s" % (votes, members, majority_size(members), "; ".join(reasons))


def fresh_voters(streaming: dict, state: GuardState) -> list:
    """The members streaming from this server whose status reply changed since the look before."""
    return sorted(name for name, reply in streaming.items() if reply is not None and state.replies.get(name) != reply)


def watch_verdict(
    primary: bool,
    system: str | None,
    timeline: int | None,
    streaming: dict,
    answers: list,
    members: int,
    state: GuardState,
    now: float,
    timeout: float,
) -> Verdict:
    """What a member does at one check. `streaming` maps each member streaming from this server to the time of its last
    status reply; a member votes when that reply is newer than the one seen at the look before (1.5 s earlier in the
    same run; the clocks of two hosts are never compared), or when it answers as a standby that stands by this server
    (one restarting or reconnecting). `answers` are the peers' own answers, asked only when the replies are too few."""
    if not primary or members < 3:
        return Verdict(
            IDLE, "not a primary" if not primary else "fewer than three members", state._replace(minority_since=None, replies={})
        )
    if state.system != system:
        state = GuardState(system=system)
    newer = [
        answer
        for answer in answers
        if answer.answered
        and answer.primary
        and _same_cluster(answer, system)
        and answer.timeline is not None
        and timeline is not None
        and answer.timeline > timeline
    ]
    if newer:
        return Verdict(
            FENCE,
            "%s runs as primary on timeline %d, newer than this server's %d" % (newer[0].name, newer[0].timeline, timeline),
            state._replace(minority_since=None, replies={}),
        )
    voters = fresh_voters(streaming, state)
    voters += sorted(answer.name for answer in answers if answer.name not in voters and stands_by(answer, system, timeline))
    votes = 1 + len(voters)
    state = state._replace(replies={name: reply for name, reply in streaming.items() if reply is not None})
    if majority(votes, members):
        return Verdict(
            OK,
            "%d of %d members vote for this primary (itself, %s)" % (votes, members, ", ".join(voters)),
            state._replace(armed=True, armed_members=members, minority_since=None),
        )
    if not state.armed:
        return Verdict(OK, "%d of %d members vote for this primary; the fence arms once a majority has" % (votes, members), state)
    if not armed_for(state, members):
        return Verdict(
            OK,
            "%d of %d members vote for this primary; the fence arms once a majority of the %d has" % (votes, members, members),
            state._replace(minority_since=None),
        )
    since = state.minority_since if state.minority_since is not None else now
    held = now - since
    if held >= timeout:
        return Verdict(
            FENCE,
            "only %d of %d members voted for this primary (a majority needs %d) for %d s"
            % (votes, members, majority_size(members), int(held)),
            state._replace(minority_since=None, replies={}),
        )
    return Verdict(
        MINORITY,
        "%d of %d members vote for this primary; it stops in %d s unless a majority returns" % (votes, members, int(timeout - held)),
        state._replace(minority_since=since),
    )


def timeline_of_files(names: list) -> int | None:
    """The newest timeline a data directory holds: its WAL segments' and history files' names."""
    timelines = []
    for name in names:
        found = SEGMENT_NAME.match(name) or HISTORY_NAME.match(name)
        if found:
            timelines.append(int(found.group(1), 16))
    return max(timelines) if timelines else None


def parse_controldata(text: str) -> dict:
    values = {}
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if separator:
            values[key.strip()] = value.strip()
    return values


# Everything below touches the host: configuration, files, connections, systemd.


CONFIG_FIELDS = (
    "member data_dir bin_dir port socket_dir peers replication_user passfile state_file isolation_timeout start_timeout"
    " connect_timeout local_user sslmode sslrootcert"
)


class Config(namedtuple("Config", CONFIG_FIELDS, defaults=(2, "postgres", "", ""))):
    """The JSON file the postgresql role writes, with `peers` as a tuple of Peer."""

    __slots__ = ()

    @property
    def members(self) -> int:
        return len(self.peers) + 1


def load_config(path: str) -> Config:
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    peers = tuple(
        Peer(str(peer["name"]), str(peer["host"]), int(peer["port"]), str(peer.get("address") or "")) for peer in raw.pop("peers")
    )
    return Config(peers=peers, **raw)


def load_state(path: str) -> GuardState:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
        return GuardState(
            system=raw.get("system"),
            armed=bool(raw.get("armed")),
            armed_members=raw.get("armed_members"),
            minority_since=raw.get("minority_since"),
            replies=dict(raw.get("replies") or {}),
        )
    except (OSError, ValueError):
        return GuardState()


def save_state(path: str, state: GuardState) -> None:
    new = "%s.new" % path
    with open(new, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "system": state.system,
                "armed": state.armed,
                "armed_members": state.armed_members,
                "minority_since": state.minority_since,
                "replies": state.replies,
            },
            handle,
        )
    os.replace(new, path)


def run_program(command: list, environment: dict | None = None, timeout: float | None = None) -> tuple:
    """(exit status, standard output) of a program run with its standard input and error on /dev/null; (None, "") when
    it cannot start, or outlasts `timeout` seconds and is killed."""
    import select  # pylint: disable=import-outside-toplevel

    read_end, write_end = os.pipe()
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, write_end, 1),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    try:
        pid = os.posix_spawn(command[0], command, os.environ if environment is None else environment, file_actions=actions)
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None, ""
    os.close(write_end)
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks = []
    try:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and (remaining <= 0 or not select.select([read_end], [], [], remaining)[0]):
                import signal  # pylint: disable=import-outside-toplevel

                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None, ""
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
    status = os.waitpid(pid, 0)[1]
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def log(message: str) -> None:
    print("pgops guard: %s" % message, file=sys.stderr, flush=True)


def peer_connection_kwargs(config: Config, peer: Peer) -> dict:
    kwargs = dict(
        host=peer.host,
        hostaddr=peer.address or None,
        port=peer.port,
        user=config.replication_user,
        passfile=config.passfile,
        dbname="replication",
        replication="true",
        application_name="pgops-guard",
        connect_timeout=config.connect_timeout,
        sslmode=config.sslmode or None,
        sslrootcert=config.sslrootcert or None,
    )
    return {key: value for key, value in kwargs.items() if value is not None}


def ask_peer(config: Config, peer: Peer) -> PeerAnswer:
    import psycopg  # pylint: disable=import-outside-toplevel

    try:
        with psycopg.connect(autocommit=True, cursor_factory=psycopg.ClientCursor, **peer_connection_kwargs(config, peer)) as connection:
            in_hot_standby = connection.execute("SHOW in_hot_standby").fetchone()[0]
            slot = connection.execute("SHOW primary_slot_name").fetchone()[0]
            system, timeline = connection.execute("IDENTIFY_SYSTEM").fetchone()[:2]
    except psycopg.Error as error:
        return PeerAnswer(peer.name, False, error=str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
    return PeerAnswer(
        peer.name, True, primary=_text(in_hot_standby) == "off", system=_text(system), timeline=int(timeline), follows=bool(_text(slot))
    )


def _text(value) -> str:
    # A replication session leaves text columns undecoded.
    return value.decode() if isinstance(value, bytes) else str(value)


def ask_peers(config: Config, within: float | None = None) -> list:
    """Every peer at once. One that has not answered within connect_timeout of the driver being loaded, or by `within`
    seconds after the call when that comes first, did not answer."""
    called = time.monotonic()
    import threading  # pylint: disable=import-outside-toplevel

    if sys.flags.no_site:
        # Started with -S (the fence's runs, most of which ask no peer): psycopg is in site-packages. Added here, before
        # the threads, which would otherwise each add them at once.
        import site  # pylint: disable=import-outside-toplevel

        site.main()
    # The driver is loaded before the peers' time starts: on a busy host its import takes seconds, which would otherwise
    # come out of that time (and a new primary's votes with it). `within` (the end of a minority's timeout) still
    # counts from the call, so a slow import never delays a fence.
    import psycopg  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import

    answers: dict = {}
    loaded = time.monotonic()
    deadline = loaded + config.connect_timeout
    if within is not None:
        deadline = min(deadline, called + max(0.1, within))

    def ask(peer: Peer) -> None:
        answers[peer.name] = ask_peer(config, peer)

    threads = [threading.Thread(target=ask, args=(peer,), daemon=True) for peer in config.peers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    silence = "no answer within %.1f s" % max(0.0, deadline - loaded)
    return [answers.get(peer.name, PeerAnswer(peer.name, False, error=silence)) for peer in config.peers]


def stopped_server_identity(config: Config) -> tuple:
    """The system identifier and newest timeline of the data directory of a server that is not running."""
    status, output = run_program([os.path.join(config.bin_dir, "pg_controldata"), "-D", config.data_dir], dict(os.environ, LC_ALL="C"))
    values = parse_controldata(output) if status == 0 else {}
    timelines = [int(values["Latest checkpoint's TimeLineID"])] if values.get("Latest checkpoint's TimeLineID", "").isdigit() else []
    try:
        from_files = timeline_of_files(os.listdir(os.path.join(config.data_dir, "pg_wal")))
    except OSError:
        from_files = None
    if from_files is not None:
        timelines.append(from_files)
    return values.get("Database system identifier"), (max(timelines) if timelines else None)


def write_standby_signal(config: Config) -> None:
    path = os.path.join(config.data_dir, "standby.signal")
    with open(path, "a", encoding="utf-8"):
        pass
    os.chmod(path, 0o600)


def run_start(config: Config) -> int:
    if not os.path.exists(os.path.join(config.data_dir, "PG_VERSION")) or os.path.exists(os.path.join(config.data_dir, "standby.signal")):
        return 0
    system, timeline = stopped_server_identity(config)
    state = load_state(config.state_file)
    deadline = time.monotonic() + config.start_timeout
    waited = False
    while True:
        verdict = start_verdict(system, timeline, ask_peers(config), config.members, state)
        if verdict.action == START:
            if waited:
                log("starting as primary: %s" % verdict.reason)
            save_state(config.state_file, state._replace(minority_since=None))
            return 0
        if verdict.action == STANDBY:
            write_standby_signal(config)
            log("%s; run the rejoin playbook (pgops.replication.rejoin) to make it follow the primary" % verdict.reason)
            return 0
        if time.monotonic() >= deadline:
            write_standby_signal(config)
            log(
                "starting read-only with standby.signal after waiting %d s for a majority: %s. Once the members agree, the "
                "failover playbook (pgops.replication.failover) chooses the primary" % (config.start_timeout, verdict.reason)
            )
            return 0
        if not waited:
            log("waiting up to %d s before starting as primary: %s" % (config.start_timeout, verdict.reason))
            waited = True
        time.sleep(2)


# One psql run, not psycopg: importing psycopg costs about ten times what the rest of a check does, and a primary
# runs the check every few seconds. Fields are separated by the unit separator, which no value here holds.
FIELD = "\x1f"
PRIMARY_STATE_QUERIES = (
    "SELECT pg_is_in_recovery(), system_identifier::text,"
    " CASE WHEN pg_is_in_recovery() THEN '' ELSE pg_walfile_name(pg_current_wal_lsn()) END FROM pg_control_system()",
    # A standby replays what it receives; pg_basebackup's and pg_receivewal's streams report no replay.
    "SELECT application_name, reply_time::text FROM pg_stat_replication"
    " WHERE state IN ('streaming', 'catchup') AND replay_lsn IS NOT NULL AND reply_time IS NOT NULL",
)


def parse_primary_state(output: str, names: set) -> tuple:
    """(primary, system identifier, timeline, {member: last reply time}) from the psql output of PRIMARY_STATE_QUERIES."""
    lines = output.splitlines()
    if not lines:
        return False, None, None, {}
    in_recovery, system, walfile = (lines[0].split(FIELD) + ["", "", ""])[:3]
    if in_recovery != "f" or len(walfile) < 8:
        return False, system or None, None, {}
    streaming = {}
    for line in lines[1:]:
        name, _separator, reply = line.partition(FIELD)
        if name in names and reply:
            streaming[name] = reply
    return True, system, int(walfile[:8], 16), streaming


def local_primary_state(config: Config) -> tuple:
    """(primary, system identifier, timeline, {member: last reply time}) of the running server; (False, ...) when it
    does not run or does not answer."""
    command = [os.path.join(config.bin_dir, "psql"), "-X", "-A", "-t", "-q", "-F", FIELD, "-h", config.socket_dir, "-p", str(config.port)]
    command += ["-U", config.local_user, "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    for query in PRIMARY_STATE_QUERIES:
        command += ["-c", query]
    environment = dict(os.environ, PGCONNECT_TIMEOUT="5", PGAPPNAME="pgops-guard")
    status, output = run_program(command, environment, timeout=30)
    if status != 0:
        return False, None, None, {}
    return parse_primary_state(output, {peer.name for peer in config.peers})


def fence(config: Config, reason: str) -> None:
    write_standby_signal(config)
    log("%s: stopping this primary, standby.signal left in place; run the rejoin playbook (pgops.replication.rejoin)" % reason)
    # A fast stop refuses new sessions and ends the running ones at once; -W: the stop's end (the walsenders' last
    # WAL) is not waited for here.
    run_program([os.path.join(config.bin_dir, "pg_ctl"), "stop", "-D", config.data_dir, "-m", "fast", "-W"])


# A member votes when its status reply changed between two looks this far apart (standbys reply every second), so
# that a run judges from what it sees, not from what an earlier run saw seconds before.
SAMPLE_GAP = 1.5
# In a minority the run goes on checking at this period until a majority returns or the timeout passes: the stop comes
# at the timeout, not at the first timer tick after it.
MINORITY_PERIOD = 1.5


def look(config: Config) -> tuple:
    if os.path.exists(os.path.join(config.data_dir, "standby.signal")):
        return False, None, None, {}
    return local_primary_state(config)


def run_watch(config: Config) -> int:
    saved = load_state(config.state_file)
    primary, system, timeline, streaming = look(config)
    timeout = config.isolation_timeout
    if not primary:
        verdict = watch_verdict(False, system, timeline, streaming, [], config.members, saved, time.time(), timeout)
        if verdict.state != saved:
            save_state(config.state_file, verdict.state)
        return 0
    # The first look is what the second one is compared with.
    state = saved._replace(replies=streaming) if saved.system == system else GuardState(system=system, replies=streaming)
    time.sleep(SAMPLE_GAP)
    for _check in range(int(timeout / MINORITY_PERIOD) + 10):
        primary, system, timeline, streaming = look(config)
        now = time.time()
        verdict = watch_verdict(primary, system, timeline, streaming, [], config.members, state, now, timeout)
        if verdict.action == MINORITY:
            # Too few fresh replies: the peers may be restarting standbys (votes), or a newer primary (a fence at once).
            # Past the timeout there is no asking; the asking itself ends by the timeout.
            since = verdict.state.minority_since
            answers = ask_peers(config, within=since + timeout - now)
            asked = state._replace(minority_since=since)
            verdict = watch_verdict(primary, system, timeline, streaming, answers, config.members, asked, time.time(), timeout)
        if verdict.action == FENCE:
            fence(config, verdict.reason)
        elif verdict.action == MINORITY and state.minority_since is None:
            log(verdict.reason)
        save_state(config.state_file, verdict.state)
        if verdict.action != MINORITY:
            return 0
        state = verdict.state
        time.sleep(max(0.0, min(now + MINORITY_PERIOD, state.minority_since + timeout) - time.time()))
    return 0


class Health(
    namedtuple("Health", "running in_recovery streaming lag_bytes standby_signal isolated", defaults=(False, False, None, False, False))
):
    """What the health check knows of the member: whether its server answers, and as what. `lag_bytes`: bytes the
    standby has yet to replay of what its primary last reported having; None when not known."""

    __slots__ = ()

    @property
    def role(self) -> str:
        if not self.running:
            return "stopped"
        return "replica" if self.in_recovery else "primary"

    @property
    def fenced(self) -> bool:
        """A primary with standby.signal: the guard or a playbook has fenced it and is stopping it."""
        return self.running and not self.in_recovery and self.standby_signal


HEALTH_QUERY = (
    "SELECT pg_is_in_recovery(), coalesce((SELECT status FROM pg_stat_wal_receiver), ''),"
    " coalesce((SELECT pg_wal_lsn_diff(latest_end_lsn, pg_last_wal_replay_lsn())::bigint::text"
    " FROM pg_stat_wal_receiver WHERE pg_is_in_recovery()), '')"
)
HEALTH_PATHS = ("/primary", "/replica", "/health")
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
# A request line or header longer than this, or more headers than this, is refused: no client of a check sends them.
MAX_LINE = 8192
MAX_HEADERS = 64
REQUEST_TIMEOUT = 5


def parse_health(output: str, standby_signal: bool, isolated: bool) -> Health:
    """Health from the psql output of HEALTH_QUERY (empty when the server did not answer)."""
    fields = output.splitlines()[0].split(FIELD) if output.strip() else []
    if len(fields) != 3:
        return Health(False, standby_signal=standby_signal, isolated=isolated)
    in_recovery, receiver, lag = fields
    return Health(
        True,
        in_recovery=in_recovery == "t",
        streaming=receiver == "streaming",
        lag_bytes=max(0, int(lag)) if re.fullmatch(r"-?[0-9]+", lag) else None,
        standby_signal=standby_signal,
        isolated=isolated,
    )


def health_answer(method: str, target: str, health: Health) -> tuple:
    """(HTTP status, JSON body) for one request."""
    from urllib.parse import parse_qs, urlsplit  # pylint: disable=import-outside-toplevel

    if method not in ("GET", "HEAD"):
        return 405, {"error": "only GET and HEAD are answered"}
    parts = urlsplit(target)
    if parts.path not in HEALTH_PATHS:
        return 404, {"error": "ask for %s" % ", ".join(HEALTH_PATHS)}
    body = dict(health._asdict(), role=health.role, fenced=health.fenced)
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        return 400, {"error": "the query %r is not name=value pairs" % parts.query}
    unknown = sorted(set(query) - ({"lag"} if parts.path == "/replica" else set()))
    if unknown:
        return 400, {"error": "%s takes no parameter %s" % (parts.path, ", ".join(unknown))}
    lag_limit = None
    if "lag" in query:
        if len(query["lag"]) != 1 or not query["lag"][0].isdigit():
            return 400, {"error": "lag must be one whole number of bytes, got %s" % ", ".join(query["lag"])}
        lag_limit = int(query["lag"][0])
    if parts.path == "/health":
        healthy = health.running
    elif parts.path == "/primary":
        healthy = health.running and not health.in_recovery and not health.standby_signal and not health.isolated
    else:
        healthy = (
            health.running
            and health.in_recovery
            and health.streaming
            and (lag_limit is None or (health.lag_bytes is not None and health.lag_bytes <= lag_limit))
        )
    return (200 if healthy else 503), body


def read_request(reader) -> tuple:
    """(method, target) of the request read from `reader`; ValueError for one that is not HTTP."""
    line = reader.readline(MAX_LINE + 1)
    if not line.endswith(b"\n") or len(line) > MAX_LINE:
        raise ValueError("the request line is missing, cut short or too long")
    words = line.decode("latin-1").split()
    if len(words) != 3 or not words[2].startswith("HTTP/1."):
        raise ValueError("the request line is not METHOD TARGET HTTP/1.x")
    for _header in range(MAX_HEADERS):
        header = reader.readline(MAX_LINE + 1)
        if header in (b"\r\n", b"\n"):
            return words[0], words[1]
        if not header.endswith(b"\n"):
            raise ValueError("a header line is cut short or too long")
    raise ValueError("more than %d header lines" % MAX_HEADERS)


def write_response(writer, status: int, body: dict, head_only: bool) -> None:
    payload = (json.dumps(body, sort_keys=True) + "\n").encode()
    head = "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (
        status,
        REASONS[status],
        len(payload),
    )
    answer = memoryview(head.encode("latin-1") + (b"" if head_only else payload))
    while answer:
        answer = answer[writer.write(answer) :]
    writer.flush()


def local_health(config: Config) -> Health:
    standby_signal = os.path.exists(os.path.join(config.data_dir, "standby.signal"))
    isolated = load_state(config.state_file).minority_since is not None
    command = [os.path.join(config.bin_dir, "psql"), "-X", "-A", "-t", "-q", "-F", FIELD, "-h", config.socket_dir, "-p", str(config.port)]
    command += ["-U", config.local_user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", HEALTH_QUERY]
    environment = dict(os.environ, PGCONNECT_TIMEOUT="2", PGAPPNAME="pgops-health")
    status, output = run_program(command, environment, timeout=4)
    return parse_health(output if status == 0 else "", standby_signal, isolated)


def serve_health(config: Config, reader, writer) -> int:
    """Answer the one request of a connection. The member is looked at only for a request that asks about it."""
    try:
        method, target = read_request(reader)
    except (ValueError, OSError) as error:
        write_response(writer, 400, {"error": str(error)}, False)
        return 0
    status, body = health_answer(method, target, Health(False))
    if status in (200, 503):
        status, body = health_answer(method, target, local_health(config))
    write_response(writer, status, body, method == "HEAD")
    return 0


def run_health(config: Config) -> int:
    """The connection systemd accepted is standard input and output."""
    import socket  # pylint: disable=import-outside-toplevel

    connection = socket.socket(fileno=sys.stdin.fileno())
    connection.settimeout(REQUEST_TIMEOUT)
    # Unbuffered: an answer the client no longer waits for fails in write_response, not again when the files close.
    reader, writer = connection.makefile("rb"), connection.makefile("wb", buffering=0)
    try:
        return serve_health(config, reader, writer)
    except OSError:
        # The client went away or was too slow (a proxy whose check timed out): nothing to answer.
        return 0
    finally:
        reader.close()
        writer.close()
        connection.close()


USAGE = "usage: pgops_guard.py {start,watch,health} CONFIG"
COMMANDS = {"start": run_start, "watch": run_watch, "health": run_health}


def main(argv: list | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 2 or arguments[0] not in COMMANDS:
        print("%s\npgops guard: the majority rule of one PostgreSQL member" % USAGE, file=sys.stderr)
        return 2
    command, config_path = arguments
    return COMMANDS[command](load_config(config_path))


if __name__ == "__main__":
    sys.exit(main())
