"""Lanes: where each task message waits in Redis, and the scripts that move it.

One stream per queue, class and installation, ``steward:q:<queue>:<class>:<lane>``
(class ``i`` interactive, ``b`` background, from the task's contract; lane the
installation id, ``0`` for none). ``steward:ring:<queue>:<class>`` (a sorted set) holds
the lanes that have messages no consumer took yet, ordered by when each was last served;
``steward:lanes:<queue>`` (a set) names every lane stream that holds messages (for claims,
depth and purges); ``steward:bell:<queue>`` is a one-entry stream an idle consumer
blocks on. Every change is one Lua script: a message added (:data:`QUEUE_SCRIPT` for
the receiver, :data:`FANOUT_SCRIPT` for the route task, :data:`PUT_SCRIPT` for kombu),
taken (:data:`FETCH_SCRIPT`: round-robin over lanes, interactive first) or claimed
(:data:`CLAIM_SCRIPT`). The consumer side is :mod:`core.streams`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import random
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from core.tasks import BACKGROUND, INTERACTIVE, TASKS, priority_of

STREAM_PREFIX = "steward:q:"
GROUP = "workers"
FIELD = "m"
#: The lane of work that names no installation (periodic jobs, odd deliveries).
NO_LANE = "0"
#: Classes in the order they are served.
CLASSES = (INTERACTIVE, BACKGROUND)
#: Append one message to a lane: the lane's stream (and group) made on first use, the
#: lane put at the back of its ring unless it is in it already, the bell rung.
_ADD = """
local function add(queue, class, lane, message)
  local stream = 'steward:q:' .. queue .. ':' .. class .. ':' .. lane
  if redis.call('SADD', 'steward:lanes:' .. queue, stream) == 1 then
    redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
  end
  redis.call('XADD', stream, '*', 'm', message)
  local ring = 'steward:ring:' .. queue .. ':' .. class
  if not redis.call('ZSCORE', ring, lane) then
    local last = redis.call('ZRANGE', ring, -1, -1, 'WITHSCORES')
    redis.call('ZADD', ring, (tonumber(last[2]) or 0) + 1, lane)
  end
  redis.call('XADD', 'steward:bell:' .. queue, 'MAXLEN', '1', '*', 'b', '1')
end
"""

#: The receiver's one call per delivery. KEYS[1]: the delivery key; ARGV[1]: its time to
#: live, ARGV[2]: its value (the body the route task reads), then (queue, class, lane,
#: message) fours. Nothing is added for a delivery already seen (returns 0).
QUEUE_SCRIPT = (
    _ADD
    + """
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1]) then return 0 end
for i = 3, #ARGV, 4 do add(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]) end
return 1
"""
)

#: The route task's fan-out, once per delivery. KEYS[1]: the delivery key, holding the
#: body until this runs; ARGV: (queue, class, lane, message) fours. The key keeps its
#: time to live but its value becomes '1' (routed), so a second run adds nothing.
FANOUT_SCRIPT = (
    _ADD
    + """
local held = redis.call('GET', KEYS[1])
if not held or held == '1' then return 0 end
for i = 1, #ARGV, 4 do add(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]) end
redis.call('SET', KEYS[1], '1', 'KEEPTTL')
return 1
"""
)

#: One message into a lane (kombu's publish, a give-back): ARGV[1..4] (queue, class,
#: lane, message); with ARGV[5], ARGV[6] (stream, entry) that entry is acknowledged and
#: deleted in the same step.
PUT_SCRIPT = (
    _ADD
    + """
add(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
if ARGV[5] then
  redis.call('XACK', ARGV[5], 'workers', ARGV[6])
  redis.call('XDEL', ARGV[5], ARGV[6])
end
return 1
"""
)

#: A consumer's read. ARGV: group, consumer, free slots, room for background messages,
#: then the queues. Interactive lanes first, then background ones, round-robin over the
#: queues and, in each queue's ring, over its lanes: the head lane gives one message and
#: goes to the back; a lane with nothing new leaves the ring. Returns the bells' last ids
#: (one per queue, for a blocking wait) and the (queue, stream, id, fields) taken.
FETCH_SCRIPT = """
local group, consumer = ARGV[1], ARGV[2]
local free, room = tonumber(ARGV[3]), tonumber(ARGV[4])
local bells, out = {}, {}
for q = 5, #ARGV do
  local last = redis.call('XREVRANGE', 'steward:bell:' .. ARGV[q], '+', '-', 'COUNT', 1)
  bells[#bells + 1] = last[1] and last[1][1] or '0-0'
end
local function take(queue, class)
  local ring = 'steward:ring:' .. queue .. ':' .. class
  while true do
    local head = redis.call('ZRANGE', ring, 0, 0)
    if #head == 0 then return nil end
    local stream = 'steward:q:' .. queue .. ':' .. class .. ':' .. head[1]
    local got = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1,
                            'STREAMS', stream, '>')
    if type(got) == 'table' and not got.err and got[1] and #got[1][2] > 0 then
      local last = redis.call('ZRANGE', ring, -1, -1, 'WITHSCORES')
      redis.call('ZADD', ring, tonumber(last[2]) + 1, head[1])
      local entry = got[1][2][1]
      return {queue, stream, entry[1], entry[2]}
    end
    redis.call('ZREM', ring, head[1])
  end
end
for _, class in ipairs({'i', 'b'}) do
  local want = free - #out
  if class == 'b' then want = math.min(want, room) end
  local busy = true
  while want > 0 and busy do
    busy = false
    for q = 5, #ARGV do
      if want > 0 then
        local got = take(ARGV[q], class)
        if got then out[#out + 1] = got; want = want - 1; busy = true end
      end
    end
  end
end
return {bells, out}
"""

#: Upkeep. ARGV: group, consumer, min idle (ms), at most how many, then the queues.
#: Every lane stream of the queues: an empty one is dropped (a new message makes it
#: again), messages idle past the claim time are claimed (``XAUTOCLAIM``). A queue's
#: stream from before lanes (``steward:q:<queue>``) is one more lane, read to its end.
CLAIM_SCRIPT = """
local group, consumer, idle, want = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local out = {}
for q = 5, #ARGV do
  local lanes = 'steward:lanes:' .. ARGV[q]
  local legacy = 'steward:q:' .. ARGV[q]
  if redis.call('EXISTS', legacy) == 1 then redis.call('SADD', lanes, legacy) end
  for _, stream in ipairs(redis.call('SMEMBERS', lanes)) do
    if redis.call('XLEN', stream) == 0 then
      redis.call('SREM', lanes, stream)
      redis.call('DEL', stream)
    elseif #out < want then
      local got = redis.pcall('XAUTOCLAIM', stream, group, consumer, idle, '0-0',
                              'COUNT', want - #out)
      if type(got) == 'table' and not got.err then
        for _, e in ipairs(got[2]) do
          if e[2] then
            out[#out + 1] = {ARGV[q], stream, e[1], e[2], 1}
          else
            redis.call('XACK', stream, group, e[1])
          end
        end
      end
      if stream == legacy and #out < want then
        local new = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT',
                                want - #out, 'STREAMS', stream, '>')
        if type(new) == 'table' and not new.err and new[1] then
          for _, e in ipairs(new[1][2]) do out[#out + 1] = {ARGV[q], stream, e[1], e[2], 0} end
        end
      end
    end
  end
end
return out
"""


#: How many messages of one queue wait or are held, all lanes (and the queue's stream
#: from before lanes) together: ARGV[1] the queue. One call, for a scrape's pipeline.
DEPTH_SCRIPT = """
local n = redis.call('XLEN', 'steward:q:' .. ARGV[1])
for _, stream in ipairs(redis.call('SMEMBERS', 'steward:lanes:' .. ARGV[1])) do
  n = n + redis.call('XLEN', stream)
end
return n
"""


def stream_key(queue: str) -> str:
    """The stream that held all of ``queue`` before lanes (still read to its end)."""
    return STREAM_PREFIX + queue


def lane_key(queue: str, priority: str, lane: str) -> str:
    """The stream of one lane: ``queue``'s messages of class ``priority`` for ``lane``."""
    return f"{STREAM_PREFIX}{queue}:{priority}:{lane}"


def ring_key(queue: str, priority: str) -> str:
    """The lanes of ``queue`` and class ``priority`` with messages nobody took yet."""
    return f"steward:ring:{queue}:{priority}"


def lanes_key(queue: str) -> str:
    """Every lane stream of ``queue`` that holds messages."""
    return f"steward:lanes:{queue}"


def bell_key(queue: str) -> str:
    """What an idle consumer of ``queue`` waits on."""
    return f"steward:bell:{queue}"


def lane_of(installation_id: Any) -> str:
    """The lane of an installation id (:data:`NO_LANE` for none or an odd value)."""
    if isinstance(installation_id, int) and not isinstance(installation_id, bool):
        return str(installation_id) if installation_id > 0 else NO_LANE
    return NO_LANE


# ------------------------------------------------------------------ publishing

_origin: tuple[int, str, random.Random] = (0, "", random.Random())


def _process() -> tuple[str, random.Random]:
    """``host/pid`` of this process and its id generator (a forked child has its own)."""
    global _origin
    pid = os.getpid()
    if _origin[0] != pid:
        _origin = (pid, f"{socket.gethostname()}/{pid}", random.Random(os.urandom(16)))
    return _origin[1], _origin[2]


def _task_id(ids: random.Random) -> str:
    """A fresh task id in UUID form (unique, not secret: no system call per id)."""
    h = f"{ids.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


#: What every message of :func:`task_message` shares, around its task, ids and arguments.
_STATIC_HEADERS = (
    '"lang":"py","shadow":null,"eta":null,"expires":null,"group":null,"group_index":null,'
    '"retries":0,"timelimit":[null,null],"parent_id":null,"argsrepr":"()","ignore_result":true'
)
_EMBED = ',{"callbacks":null,"errbacks":null,"chain":null}]'


def task_message(task: str, kwargs: Mapping[str, Any], queue: str) -> str:
    """A Celery (protocol 2) task message for this transport, built without kombu.

    What ``send_task`` would publish, at a fraction of its cost: the web process queues
    one of these per delivery, the route task one per feature task. The JSON is put
    together from pre-written parts, each value encoded by orjson.
    """
    origin, ids = _process()
    task_id = _task_id(ids)
    dumps = orjson.dumps
    body = b"[[]," + dumps(dict(kwargs)) + _EMBED.encode()
    tid = dumps(task_id).decode()
    headers = (
        f'{{{_STATIC_HEADERS},"task":{dumps(task).decode()},"id":{tid},"root_id":{tid},'
        f'"kwargsrepr":{dumps(repr(dict(kwargs))[:500]).decode()},'
        f'"origin":{dumps(origin).decode()}}}'
    )
    properties = (
        f'{{"correlation_id":{tid},"reply_to":"","delivery_mode":2,'
        f'"delivery_info":{{"exchange":"","routing_key":{dumps(queue).decode()}}},'
        f'"priority":0,"delivery_tag":{tid}}}'
    )
    return (
        f'{{"body":{dumps(body.decode()).decode()},"content-encoding":"utf-8",'
        f'"content-type":"application/json","headers":{headers},"properties":{properties}}}'
    )


def placed(task: str, kwargs: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """``(queue, class, lane, message)`` of one task: the argument group of the scripts."""
    contract = TASKS[task]
    message = task_message(task, kwargs, contract.queue)
    return contract.queue, contract.priority, lane_of(kwargs.get("installation_id")), message


def queue_once_args(
    delivery_key: str, ttl: int, messages: Sequence[tuple[str, str]], *, value: str = "1"
) -> tuple[list[str], list[str | int]]:
    """Keys and arguments of :data:`QUEUE_SCRIPT` for ``(queue, message)`` pairs, each
    placed in the lane its message's task and installation say; ``value`` is kept under
    the delivery key."""
    args: list[str | int] = [ttl, value]
    for queue, message in messages:
        args += [queue, *_placement(message)[1:], message]
    return [delivery_key], args


def _placement(message: str | bytes) -> tuple[str, str, str]:
    """``(queue, class, lane)`` of a message built by :func:`task_message`."""
    data = orjson.loads(message)
    queue = str(data["properties"]["delivery_info"]["routing_key"])
    kwargs = orjson.loads(data["body"])[1] if isinstance(data.get("body"), str) else {}
    return queue, priority_of(data["headers"]["task"]), lane_of(kwargs.get("installation_id"))


# ----------------------------------------------------------------- inspecting


def lane_streams(client: Any, queue: str) -> list[str]:
    """Every stream that may hold messages of ``queue`` (its lanes, its old stream)."""
    streams = sorted(
        m.decode() if isinstance(m, bytes) else m for m in client.smembers(lanes_key(queue))
    )
    if client.exists(stream_key(queue)) and stream_key(queue) not in streams:
        streams.append(stream_key(queue))
    return streams


def queued_messages(client: Any, queues: Iterable[str]) -> list[dict[str, Any]]:
    """Every message of ``queues`` not yet acknowledged (waiting or held), decoded."""
    found = []
    for queue in queues:
        for stream in lane_streams(client, queue):
            for _, fields in client.xrange(stream):
                found.append(json.loads(fields[FIELD.encode()]))
    return found


def queue_depth(client: Any, queue: str) -> int:
    """How many messages of ``queue`` are waiting or held, over all its lanes."""
    return sum(int(client.xlen(stream)) for stream in lane_streams(client, queue))


def queued_count(client: Any, queues: Iterable[str]) -> int:
    """How many messages of ``queues`` are waiting or held (0: all done)."""
    return sum(queue_depth(client, queue) for queue in queues)


def lane_of_stream(stream: str, queue: str) -> tuple[str, str]:
    """``(class, lane)`` of a lane stream of ``queue`` (empty for the old stream)."""
    rest = (
        stream[len(stream_key(queue)) + 1 :] if stream.startswith(stream_key(queue) + ":") else ""
    )
    priority, _, lane = rest.partition(":")
    return (priority, lane) if priority in CLASSES and lane else ("", "")


def class_of_stream(stream: str, queue: str) -> str:
    return lane_of_stream(stream, queue)[0] or INTERACTIVE


def kombu_placement(message: Mapping[str, Any]) -> tuple[str, str]:
    """``(class, lane)`` of a message kombu built (its task's class, the installation id
    in its keyword arguments); interactive and no lane where it says neither."""
    headers = message.get("headers") or {}
    priority = priority_of(str(headers.get("task", "")))
    try:
        body = message.get("body") or ""
        if (message.get("properties") or {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        kwargs = orjson.loads(body)[1]
        lane = lane_of(kwargs.get("installation_id")) if isinstance(kwargs, dict) else NO_LANE
    except (binascii.Error, ValueError, TypeError, IndexError, KeyError):
        lane = NO_LANE
    return priority, lane
