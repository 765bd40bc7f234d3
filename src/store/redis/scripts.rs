//! The Lua scripts: every change of the shared park that must have one winner across
//! the nodes is one script, so one round trip.

use redis::Script;

/// Every change moves the park's version by one and logs `<version>:<uuid>` in a sorted
/// set (the last [`LOG_LEN`] changes), so that a node reads only the calls changed since
/// it last looked. Prepended to every script that changes the park.
const BUMP: &str = r"
local function bump(version, log, uuid)
  local n = redis.call('INCR', version)
  redis.call('ZADD', log, n, n .. ':' .. uuid)
  redis.call('ZREMRANGEBYRANK', log, 0, -20001)
  return n
end
";

/// How many changes the log keeps (BUMP): a node further behind reads the whole park.
pub(super) const LOG_LEN: i64 = 20_000;

/// Adds a call unless its slot is full. KEYS: the slot's set, the call's hash, the
/// calls' hash, the version, the log. ARGV: limit, uuid, node, seq, then field/value
/// pairs. A call Redis has already (adopted again after a reload) keeps its park order
/// and its place in the slot. {seq, version}; {-1, 0}: full.
const INSERT: &str = r"
local had = tonumber(redis.call('HGET', KEYS[2], 'seq'))
if not had and redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[1]) then return {-1, 0} end
local seq = had or tonumber(ARGV[4])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'seq', seq, unpack(ARGV, 5))
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return {seq, bump(KEYS[4], KEYS[5], ARGV[2])}
";

/// Claims a call if nobody has. KEYS: the call's hash, the version, the log. ARGV: the
/// claim, the uuid. {1, version}: claimed; {0, 0}: no such call; {-1, 0}: already claimed.
const CLAIM: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
if redis.call('HSETNX', KEYS[1], 'claim', ARGV[1]) == 0 then return {-1, 0} end
return {1, bump(KEYS[2], KEYS[3], ARGV[2])}
";

/// Gives a claim back, if it is still the one given. KEYS: the call's hash, the version,
/// the log. ARGV: the uuid, the claim. The version, or 0 when that was not its claim.
const UNCLAIM: &str = r"
if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], 'claim')
return bump(KEYS[2], KEYS[3], ARGV[1])
";

/// Takes a token once and says which call it is for, if that call is held by this node
/// and still claimed as when the token was given (a hand-over), or unclaimed (a
/// redirect: `*`, claimed by the caller next). KEYS: the token. ARGV: this node, the
/// prefix of the calls' hashes, `node` or `phone` (where the call carrying it came from:
/// a phone brings only a redirect's token). {uuid, 1 if claimed} or false (the token is
/// used up either way). A token is `<uuid>|<holding node>|<claim or *>`.
const REDEEM: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return false end
redis.call('DEL', KEYS[1])
local uuid, holder, claim = string.match(v, '^([^|]+)|([^|]+)|(.+)$')
if not uuid or holder ~= ARGV[1] then return false end
local now = redis.call('HGET', ARGV[2] .. uuid, 'claim')
if claim == '*' then
  if now or redis.call('EXISTS', ARGV[2] .. uuid) == 0 then return false end
  return {uuid, 0}
end
if ARGV[3] ~= 'node' or now ~= claim then return false end
return {uuid, 1}
";

/// Removes a call. KEYS: the call's hash, its slot's set, the calls' hash, the version,
/// the log. ARGV: uuid. {1, version} when it was there, else {0, 0}.
const REMOVE: &str = r"
local n = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if n == 0 then return {0, 0} end
return {1, bump(KEYS[4], KEYS[5], ARGV[1])}
";

/// Marks this node's heartbeat as left (a module unload): the next life under its name
/// takes it over at once, and it lapses as before. KEYS: the heartbeat. ARGV: the
/// heartbeat's value up to its beat count (`<address>|<instance>|`).
const LEAVE: &str = r"
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1] .. 'left', 'PX', ttl) end
end
return 0
";

// The reads and the heartbeat of a refresh, each one script: one reply, so that a Redis
// that stops answering costs one time-out (the client reads every reply of a pipeline,
// each with its own time-out, before it says the first failed).

/// The park's version and up to 16 operator's commands sent to this node, taken.
/// KEYS: the version, this node's command list. {version or false, {commands}}.
const VERSION: &str = r"
local v = redis.call('GET', KEYS[1])
local ops = redis.call('LRANGE', KEYS[2], 0, 15)
if #ops > 0 then redis.call('LTRIM', KEYS[2], #ops, -1) end
return {v or false, ops}
";

/// Renews this node's heartbeat and lists it, then reads the cluster's clock. KEYS: the
/// heartbeat, the nodes' hash. ARGV: the heartbeat's value, its life (ms), this node's
/// name, its address. Redis's TIME (after the writes, as Redis 6 wants it).
const BEAT: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return redis.call('TIME')
";

/// The nodes listed and alive: KEYS: the nodes' hash. ARGV: the heartbeats' key prefix.
/// {name, heartbeat, name, heartbeat...} of those whose heartbeat is there.
const NODES: &str = r"
local out = {}
for _, n in ipairs(redis.call('HKEYS', KEYS[1])) do
  local b = redis.call('GET', ARGV[1] .. n)
  if b then out[#out + 1] = n; out[#out + 1] = b end
end
return out
";

/// Whether each key exists: KEYS: the keys. {0 or 1, ...}.
const EXIST: &str = r"
local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('EXISTS', k) end
return out
";

/// Every field of each hash: KEYS: the hashes. {{field, value, ...}, ...}.
const FETCH: &str = r"
local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('HGETALL', k) end
return out
";

/// Appends to a list that lasts a while. KEYS: the list. ARGV: the entry, its life (s).
const SEND: &str = r"
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
";

/// Takes a value once. KEYS: the key. The value, or false.
const TAKE: &str = r"
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v
";

pub(super) struct Scripts {
    pub insert: Script,
    pub claim: Script,
    pub unclaim: Script,
    pub redeem: Script,
    pub remove: Script,
    pub leave: Script,
    pub version: Script,
    pub beat: Script,
    pub nodes: Script,
    pub exist: Script,
    pub fetch: Script,
    pub send: Script,
    pub take: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            insert: Script::new(&format!("{BUMP}{INSERT}")),
            claim: Script::new(&format!("{BUMP}{CLAIM}")),
            unclaim: Script::new(&format!("{BUMP}{UNCLAIM}")),
            redeem: Script::new(REDEEM),
            remove: Script::new(&format!("{BUMP}{REMOVE}")),
            leave: Script::new(LEAVE),
            version: Script::new(VERSION),
            beat: Script::new(BEAT),
            nodes: Script::new(NODES),
            exist: Script::new(EXIST),
            fetch: Script::new(FETCH),
            send: Script::new(SEND),
            take: Script::new(TAKE),
        }
    }
}
