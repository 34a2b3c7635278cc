"""A pipelined Redis connection for the receiver's one call per delivery.

redis-py's asyncio client spends about 150 µs of CPU on each command (a connection
taken from its pool and given back, the command packed in Python), which was a quarter
of the receiver's cost per delivery. The receiver needs one kind of call, ``EVALSHA``
of the queueing script, many at once. This client keeps one connection, writes each
command as it comes and matches replies to callers in order (Redis answers a pipelined
connection in order), so concurrent deliveries share the connection and its round trips.

Commands written in one turn of the event loop go out in one write (a system call
costs more than the rest of a call). It speaks RESP2 over TCP (``redis://``) or a unix
socket (``unix://``), with ``AUTH`` and ``SELECT`` from the URL. A lost connection fails
the calls in flight (the receiver answers 503 and GitHub retries) and the next call
reconnects. So does a call that gets no reply within ``timeout``: a connection that
stopped answering (a stalled server, a half-open TCP connection whose peer is gone) is
dropped with every call on it, never waited on again. Other URLs (``rediss://``,
Sentinel) use redis-py (:func:`supports`).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import urllib.parse
from dataclasses import dataclass
from typing import Any


class RedisReplyError(Exception):
    """An error reply (``-ERR …``, ``-NOSCRIPT …``)."""


@dataclass(frozen=True)
class Address:
    """Where and how to connect, from a Redis URL."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> Address:
        """From ``redis://[user:pass@]host[:port][/db]`` or ``unix:///path?db=N``."""
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        db = query.get("db", [parts.path.strip("/") if parts.scheme == "redis" else "0"])[0]
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            path=parts.path if parts.scheme == "unix" else None,
            db=int(db or 0),
            username=urllib.parse.unquote(parts.username) if parts.username else None,
            password=urllib.parse.unquote(parts.password) if parts.password else None,
        )


def supports(url: str) -> bool:
    """Whether this client can talk to ``url`` (plain TCP or a unix socket)."""
    return urllib.parse.urlsplit(url).scheme in ("redis", "unix")


def encode(args: tuple[Any, ...]) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def read_reply(reader: asyncio.StreamReader) -> Any:
    """One RESP2 reply (an error reply is returned as a :class:`RedisReplyError`)."""
    line = await reader.readuntil(b"\r\n")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisReplyError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [await read_reply(reader) for _ in range(size)]
    raise ConnectionError(f"unexpected reply from Redis: {line[:40]!r}")


class PipelinedRedis:
    """One connection; commands pipelined, replies handed back in order."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        """Connect lazily to ``url`` (see :class:`Address`)."""
        self.address = Address.parse(url)
        self.timeout = timeout
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        #: Calls waiting for their reply, oldest first: (future, when it was sent).
        self._pending: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._connecting = asyncio.Lock()
        self._scripts: dict[str, str] = {}
        self._watchdog: asyncio.TimerHandle | None = None
        #: Commands written since the last flush: sent together, one system call per loop turn.
        self._outgoing: list[bytes] = []

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        a = self.address
        if a.path:
            return await asyncio.open_unix_connection(a.path)
        return await asyncio.open_connection(a.host, a.port)

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            reader, writer = await self._open()
            try:
                await self._set_up(reader, writer)
            except BaseException:
                writer.close()
                raise
            self._writer = writer
            self._reader_task = asyncio.create_task(self._read_replies(reader))
            return writer

    async def _set_up(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``AUTH`` and ``SELECT`` as the URL says."""
        a = self.address
        setup: list[tuple[Any, ...]] = []
        if a.password is not None:
            setup.append(("AUTH", a.username, a.password) if a.username else ("AUTH", a.password))
        if a.db:
            setup.append(("SELECT", a.db))
        for command in setup:
            writer.write(encode(command))
            reply = await read_reply(reader)
            if isinstance(reply, RedisReplyError):
                raise reply

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                reply = await read_reply(reader)
                future, _ = self._pending.popleft()
                if not future.done():
                    future.set_result(reply)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, IndexError) as exc:
            self._fail_pending(ConnectionError(f"Redis connection lost: {exc!r}"))

    def _fail_pending(self, exc: Exception) -> None:
        if self._reader_task is not None and self._reader_task is not asyncio.current_task():
            self._reader_task.cancel()
        self._reader_task = None
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        while self._pending:
            future, _ = self._pending.popleft()
            if not future.done():
                future.set_exception(exc)

    async def call(self, *args: Any) -> Any:
        """Send one command; its reply (an error reply is raised). Connecting takes at
        most ``timeout`` seconds, and so does a reply: a connection whose oldest call had
        no reply for ``timeout`` (checked every quarter of it) is dropped with every call
        on it (:class:`TimeoutError`), so the next call makes a new one."""
        writer = self._writer
        if writer is None or writer.is_closing():
            async with asyncio.timeout(self.timeout):
                writer = await self._connect()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((future, loop.time()))
        if not self._outgoing:
            loop.call_soon(self._flush, writer)
        self._outgoing.append(encode(args))
        if self._watchdog is None:
            self._watchdog = loop.call_later(self.timeout / 4, self._check_replies)
        reply = await future
        if isinstance(reply, RedisReplyError):
            raise reply
        return reply

    def _flush(self, writer: asyncio.StreamWriter) -> None:
        """Send what this loop turn's calls wrote, in one write."""
        data, self._outgoing = b"".join(self._outgoing), []
        if writer is self._writer and not writer.is_closing():
            writer.write(data)
        # Else the connection was dropped meanwhile, and these calls failed with it.

    def _check_replies(self) -> None:
        """The watchdog: drop a connection whose oldest call waited ``timeout``."""
        self._watchdog = None
        if not self._pending:
            return
        loop = asyncio.get_running_loop()
        if loop.time() - self._pending[0][1] >= self.timeout:
            self._fail_pending(TimeoutError(f"Redis gave no reply in {self.timeout} s"))
            return
        self._watchdog = loop.call_later(self.timeout / 4, self._check_replies)

    async def evalsha(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run ``script`` by its SHA1, loading it the first time Redis does not know it."""
        sha = self._scripts.get(script)
        if sha is None:
            sha = self._scripts[script] = hashlib.sha1(script.encode()).hexdigest()
        try:
            return await self.call("EVALSHA", sha, len(keys), *keys, *args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self.call("EVAL", script, len(keys), *keys, *args)

    async def close(self) -> None:
        """Close the connection (calls in flight fail)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._fail_pending(ConnectionError("closed"))
