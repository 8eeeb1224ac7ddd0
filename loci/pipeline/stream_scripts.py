"""The Lua scripts behind StreamQueue (loci/pipeline/streams.py), and why each one is atomic.

Redis runs a script as one command: no other client's command runs between two of its
calls. Every step that reads a queue's state and then changes it is therefore one script,
so processes sharing a queue can never interleave between the check and the change.

Keys, in this order in every script (all under one `{prefix}` hash tag, so in a cluster
they live in the same slot as the namespace's graph):

1. `stream`: entries `id`, `attempts`, read through the consumer group;
2. `pending`: HASH memory id -> attempts, the ids queued and not yet taken (in the stream,
   delayed or parked): an id is queued once because HSETNX is the first step of every put;
3. `delayed`: ZSET memory id -> not-before time (ms, the server's clock): retries;
4. `parked`: ZSET memory id -> latest release time: ids re-queued while in flight,
   released into the stream by their owner's `done` (or at the visibility timeout);
5. `isolated`: SET of memory ids to be handed out alone;
6. `inflight`: HASH memory id -> "<consumer> <entry id>", the in-flight marker.

Time is the server's (`TIME`), so every process compares the same clock; ARGV carries an
offset in ms that only tests move (a fake clock).
"""

from __future__ import annotations

PRELUDE = """
local stream, pending, delayed, parked, isolated, inflight = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local function server_now(offset)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(offset)
end
local function enqueue(id)
  redis.call('XADD', stream, '*', 'id', id, 'attempts', redis.call('HGET', pending, id) or '0')
end
local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end
local function unpark(id)
  if redis.call('ZREM', parked, id) == 1 then enqueue(id) end
end
local function drop(group, eid)
  redis.call('XACK', stream, group, eid)
  redis.call('XDEL', stream, eid)
end
"""

PUT = (
    PRELUDE
    + """
-- ARGV: offset, delay_ms, skip_inflight (1 for adopt), then id, attempts pairs.
-- Atomic: HSETNX (queued yet?) and the XADD/ZADD that queues happen together, so two
-- processes putting (or adopting) the same id at once queue it once; adopt's in-flight
-- check sees every consumer's marker in the same instant.
local now, delay, skip_inflight = server_now(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local added = 0
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  if not (skip_inflight and redis.call('HEXISTS', inflight, id) == 1)
      and redis.call('HSETNX', pending, id, ARGV[i + 1]) == 1 then
    if delay > 0 then redis.call('ZADD', delayed, now + delay, id) else enqueue(id) end
    added = added + 1
  end
end
return added
"""
)

RETRY = (
    PRELUDE
    + """
-- ARGV: offset, delay_ms, id, attempts, isolate. Atomic for the same reason as PUT; the
-- id stays in flight (its marker untouched) until its owner's done.
local now = server_now(ARGV[1])
local id = ARGV[3]
if ARGV[5] == '1' then redis.call('SADD', isolated, id) end
if redis.call('HSETNX', pending, id, ARGV[4]) == 1 then
  redis.call('ZADD', delayed, now + tonumber(ARGV[2]), id)
end
return 1
"""
)

_CLAIM = """
-- Hand out entries this consumer has read (they are in its pending entries list).
-- An id in flight anywhere is parked until its owner's done; an isolated id goes alone;
-- entries after a batch closed by isolation go back to the front of the delayed set.
local batch, closed, putbacks = {}, false, {}
local function claim(group, consumer, now, park_ms, eid, id, attempts, joining)
  if closed then table.insert(putbacks, id); drop(group, eid); return end
  if redis.call('HEXISTS', inflight, id) == 1 then
    drop(group, eid)
    redis.call('ZADD', parked, now + park_ms, id)
    return
  end
  if redis.call('SISMEMBER', isolated, id) == 1 then
    if #batch + joining > 0 then
      closed = true; table.insert(putbacks, id); drop(group, eid); return
    end
    redis.call('SREM', isolated, id)
    closed = true
  end
  redis.call('HDEL', pending, id)
  redis.call('HSET', inflight, id, consumer .. ' ' .. eid)
  table.insert(batch, id); table.insert(batch, attempts or '0'); table.insert(batch, eid)
end
local function put_back(now)
  for i, id in ipairs(putbacks) do redis.call('ZADD', delayed, now - #putbacks + i - 1, id) end
end
local function reply(cursor)
  local result = {cursor, closed and 1 or 0}
  for _, value in ipairs(batch) do table.insert(result, value) end
  return result
end
"""

TAKE = (
    PRELUDE
    + _CLAIM
    + """
-- ARGV: offset, group, consumer, max_items, visibility_ms, cursor, promote_max.
-- Atomic: promoting due entries, reclaiming a dead consumer's entries, reading new ones and
-- marking them in flight is one step, so no other consumer sees an id between "read" and
-- "in flight", and a reclaimed id is re-queued exactly once.
local now, group, consumer = server_now(ARGV[1]), ARGV[2], ARGV[3]
local max_items, visibility, cursor, promote_max = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
for _, zset in ipairs({delayed, parked}) do
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', zset, '-inf', now, 'LIMIT', 0, promote_max)) do
    redis.call('ZREM', zset, id)
    enqueue(id)
  end
end
-- entries idle longer than the visibility timeout: their consumer died (or stopped heartbeating)
local reclaimed = redis.call('XAUTOCLAIM', stream, group, consumer, visibility, cursor, 'COUNT', max_items)
cursor = reclaimed[1]
for _, entry in ipairs(reclaimed[2]) do
  local eid, id, attempts = entry[1], field(entry[2], 'id'), field(entry[2], 'attempts') or '0'
  drop(group, eid)
  local marker = redis.call('HGET', inflight, id)
  if marker and string.match(marker, ' (%S+)$') == eid then
    redis.call('HDEL', inflight, id)  -- the dead owner's claim ends; its id is queued again, once
    unpark(id)
    if redis.call('HSETNX', pending, id, attempts) == 1 then enqueue(id) end
  else
    redis.call('HSETNX', pending, id, attempts)  -- read but never claimed: still queued, new entry
    enqueue(id)
  end
end
for _ = 1, 8 do
  local want = max_items - math.floor(#batch / 3)
  if closed or want <= 0 then break end
  local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', want, 'STREAMS', stream, '>')
  if not read then break end
  for _, entry in ipairs(read[1][2]) do
    claim(group, consumer, now, visibility, entry[1], field(entry[2], 'id'), field(entry[2], 'attempts'), 0)
  end
end
put_back(now)
return reply(cursor)
"""
)

CLAIM = (
    PRELUDE
    + _CLAIM
    + """
-- ARGV: offset, group, consumer, visibility_ms, joining, then entry id, memory id, attempts
-- triples: entries a blocking XREADGROUP just returned. Atomic like TAKE's claim step.
local now, group, consumer = server_now(ARGV[1]), ARGV[2], ARGV[3]
local visibility, joining = tonumber(ARGV[4]), tonumber(ARGV[5])
for i = 6, #ARGV, 3 do
  claim(group, consumer, now, visibility, ARGV[i], ARGV[i + 1], ARGV[i + 2], joining)
end
put_back(now)
return reply('')
"""
)

DONE = (
    PRELUDE
    + """
-- ARGV: group, consumer, then memory id, entry id pairs. Atomic: the marker is compared and
-- cleared with the ack, so a consumer whose claim was taken over cannot end the new owner's.
local group, mine = ARGV[1], ARGV[2]
local released = 0
for i = 3, #ARGV, 2 do
  local id, eid = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', inflight, id) == mine .. ' ' .. eid then
    drop(group, eid)
    redis.call('HDEL', inflight, id)
    unpark(id)
    released = released + 1
  end
end
return released
"""
)

STATS = (
    PRELUDE
    + """
-- ARGV: group. One snapshot: depth (unread entries, and parked ids), delayed, pending, inflight.
local unread = redis.call('XLEN', stream) - redis.call('XPENDING', stream, ARGV[1])[1]
return {unread + redis.call('ZCARD', parked), redis.call('ZCARD', delayed), redis.call('HLEN', pending),
        redis.call('HLEN', inflight)}
"""
)
