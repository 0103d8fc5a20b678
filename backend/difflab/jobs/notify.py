"""Pushing "job X has something new" from workers to API processes.

The database stays the source of truth: a notification carries nothing but a job id (and
`END_MARK` when the job may have ended), and an API process that gets one reads the job's
events and state from the database, as it would on a poll. Event streams wake on every
notification; a waiter that wants only the job's end (the A1111 routes) wakes on marked ones,
so a generation's step events do not make it read the job row each step. A notification
that is lost (the listener reconnecting, a datagram dropped) costs latency only: every waiter
also wakes after EVENT_POLL_S, and after DEGRADED_POLL_S while its process's listener is down.

Transports, chosen by the broker:
- Redis (production): PUBLISH on one channel; each API process keeps one subscription.
- embedded (no Redis): a UDP datagram to each API process on 127.0.0.1. Every API process
  binds an ephemeral port and registers it as `DATA_DIR/notify/<pid>.port`; a worker sends
  to every registered port whose process is alive. Datagrams carry only a job id; a stray
  one only makes a stream read the database early.

The embedded broker is woken the same way (`ring_workers`, after a job is committed): its
workers register as `worker-<pid>.port` and poll their queue table once a second otherwise
(jobs/sqlite_broker.py). Redis delivers to Celery workers itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from difflab.config import Settings, get_settings
from difflab.jobs.embedded import pid_alive

log = logging.getLogger(__name__)

CHANNEL = "difflab:jobs"
DEGRADED_POLL_S = 0.1  # how often a waiter re-reads while its listener is down
END_MARK = " end"  # appended to the job id: its state may have become terminal
_REFRESH_S = 1.0  # how often a publisher re-reads the registered API ports


def _uses_redis(settings: Settings) -> bool:
    return settings.broker_url.startswith(("redis://", "rediss://"))


def _registry(settings: Settings) -> Path:
    return settings.data_dir / "notify"


def _register(registry: Path, name: str, port: int) -> None:
    """Publish `name` -> port in the registry, whole or not at all."""
    registry.mkdir(parents=True, exist_ok=True)
    tmp = registry / f".{name}.tmp"
    tmp.write_text(str(port))
    os.replace(tmp, registry / f"{name}.port")


# ---- publishing (workers) ----


class _UdpPublisher:
    def __init__(self, registry: Path, pattern: str) -> None:
        self.registry, self.pattern = registry, pattern
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self._ports: list[int] = []
        self._read_at = 0.0

    def _targets(self) -> list[int]:
        now = time.monotonic()
        if now - self._read_at >= _REFRESH_S:
            self._read_at = now
            ports = []
            for entry in self.registry.glob(self.pattern) if self.registry.is_dir() else []:
                try:
                    pid = int(entry.stem.rpartition("-")[2])
                    port = int(entry.read_text().strip())
                except (OSError, ValueError):
                    continue
                if pid_alive(pid):
                    ports.append(port)
                else:
                    with contextlib.suppress(OSError):
                        entry.unlink()  # its API process is gone
            self._ports = ports
        return self._ports

    def send(self, job_id: str) -> None:
        data = job_id.encode()
        for port in self._targets():
            with contextlib.suppress(OSError):  # a full buffer drops it: the poll catches up
                self.sock.sendto(data, ("127.0.0.1", port))


class _RedisPublisher:
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)

    def send(self, job_id: str) -> None:
        self.client.publish(CHANNEL, job_id)


_publisher: Any = None
_publisher_lock = threading.Lock()


def publish(job_id: str, ended: bool = False) -> None:
    """Tell every API process that job_id has new events or a new state; `ended` when that
    state may be terminal. Never raises: a failed notification degrades to the API's poll."""
    global _publisher
    try:
        with _publisher_lock:
            if _publisher is None:
                settings = get_settings()
                _publisher = (
                    _RedisPublisher(settings.broker_url)
                    if _uses_redis(settings)
                    else _UdpPublisher(_registry(settings), "[0-9]*.port")
                )
            publisher = _publisher
        publisher.send(job_id + END_MARK if ended else job_id)
    except Exception as exc:
        log.debug("notification for %s not sent: %s", job_id, exc)


_bell: _UdpPublisher | None = None


def ring_workers() -> None:
    """Wake the embedded broker's workers: a job was committed (no-op with Redis)."""
    global _bell
    try:
        with _publisher_lock:
            if _bell is None:
                settings = get_settings()
                if _uses_redis(settings) or settings.broker_url:
                    return
                _bell = _UdpPublisher(_registry(settings), "worker-*.port")
            bell = _bell
        bell.send("queue")
    except Exception as exc:
        log.debug("workers not rung: %s", exc)


def reset_publisher() -> None:
    global _publisher, _bell
    with _publisher_lock:
        _publisher = _bell = None


class Doorbell:
    """A worker's side of ring_workers: a registered UDP port that `wait` listens on."""

    def __init__(self, registry: Path) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.entry = registry / f"worker-{os.getpid()}.port"
        self.registry = registry
        self._register()

    def _register(self) -> None:
        try:
            _register(self.registry, f"worker-{os.getpid()}", self.sock.getsockname()[1])
        except OSError as exc:
            log.warning("cannot register the worker's doorbell: %s", exc)

    def wait(self, timeout: float) -> bool:
        """True when rung within timeout; drains any further rings."""
        if not self.entry.exists():
            self._register()
        self.sock.settimeout(timeout)
        try:
            self.sock.recv(64)
        except (TimeoutError, OSError):
            return False
        self.sock.setblocking(False)
        with contextlib.suppress(OSError):
            while True:
                self.sock.recv(64)
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.entry.unlink()
        self.sock.close()


# ---- listening (API processes) ----


class Watch:
    """One waiter's interest in one job: `wait` returns when a notification came for it since
    the last wait (with `ends_only`, one that says the job may have ended), or after the poll
    period."""

    def __init__(self, hub: Listener, job_id: str, ends_only: bool = False) -> None:
        self.hub, self.job_id, self.ends_only = hub, job_id, ends_only
        self.flag = asyncio.Event()

    async def wait(self) -> bool:
        """True when woken by a notification, False on the poll timeout."""
        timeout = self.hub.poll_s if self.hub.healthy else min(self.hub.poll_s, DEGRADED_POLL_S)
        try:
            await asyncio.wait_for(self.flag.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.flag.clear()


class Listener:
    """The API process's receiver: one thread reads notifications and wakes the watches of
    their job on the event loop."""

    def __init__(self, settings: Settings, poll_s: float) -> None:
        self.settings = settings
        self.poll_s = poll_s
        self.healthy = False
        self.received = 0
        self._watches: dict[str, set[Watch]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._close: Callable[[], None] = lambda: None

    # the event loop side
    @contextlib.asynccontextmanager
    async def watch(self, job_id: str, ends_only: bool = False) -> AsyncIterator[Watch]:
        """Register before reading the database, so nothing sent after the read is missed.
        With `ends_only`, only notifications that the job may have ended wake it."""
        w = Watch(self, job_id, ends_only)
        self._watches.setdefault(job_id, set()).add(w)
        try:
            yield w
        finally:
            group = self._watches.get(job_id)
            if group is not None:
                group.discard(w)
                if not group:
                    del self._watches[job_id]

    def _wake(self, job_id: str, ended: bool) -> None:
        self.received += 1
        for w in self._watches.get(job_id, ()):
            if ended or not w.ends_only:
                w.flag.set()

    def _deliver(self, message: str) -> None:
        ended = message.endswith(END_MARK)
        job_id = message[: -len(END_MARK)] if ended else message
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake, job_id, ended)

    # lifetime
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        target = self._redis_loop if _uses_redis(self.settings) else self._udp_loop
        self._thread = threading.Thread(target=target, name="notify-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._close()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def _udp_loop(self) -> None:
        registry = _registry(self.settings)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)
        entry = registry / f"{os.getpid()}.port"  # a worker's is worker-<pid>.port

        def close() -> None:
            with contextlib.suppress(OSError):
                entry.unlink()

        self._close = close
        try:
            while not self._stop.is_set():
                # (re-)register: a removed registration is put back within a second
                if not entry.exists():
                    try:
                        _register(registry, str(os.getpid()), sock.getsockname()[1])
                        self.healthy = True
                    except OSError as exc:
                        self.healthy = False
                        log.warning("cannot register for notifications: %s", exc)
                try:
                    data = sock.recv(256)
                except TimeoutError:
                    continue
                except OSError:
                    if self._stop.is_set():
                        return
                    raise
                self._deliver(data.decode(errors="replace"))
        finally:
            close()
            sock.close()

    def _redis_loop(self) -> None:
        import redis

        client = redis.Redis.from_url(self.settings.broker_url, socket_connect_timeout=2)
        while not self._stop.is_set():
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(CHANNEL)
                self.healthy = True
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=0.5)
                    if msg is not None and msg.get("type") == "message":
                        data = msg["data"]
                        self._deliver(data.decode() if isinstance(data, bytes) else str(data))
            except Exception as exc:  # Redis down or our connection killed: poll meanwhile
                if self.healthy:
                    log.warning("notifications lost (%s); polling until Redis is back", exc)
                self.healthy = False
                self._stop.wait(0.5)
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()


_listener: Listener | None = None


def listener() -> Listener:
    """This process's listener (a started one in the app; a never-woken one elsewhere, whose
    waits are plain polls)."""
    global _listener
    if _listener is None:
        settings = get_settings()
        _listener = Listener(settings, settings.event_poll_s)
    return _listener


def start_listener(settings: Settings) -> Listener:
    global _listener
    _listener = Listener(settings, settings.event_poll_s)
    _listener.start()
    return _listener


def stop_listener() -> None:
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
