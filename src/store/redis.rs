//! One park shared by several switches, on Redis.
//!
//! Redis holds what every node must agree on: each parked call (its slot, group, parking
//! user, caller, park order, holding node, claim), the calls of each slot (for the
//! limit), one-time hand-over tokens and a heartbeat key per node. Every change that
//! must have one winner (an add under a slot's limit, a claim) is one Lua script.
//!
//! Each node keeps a mirror of the whole park (a [`MemoryStore`]) for the rules to read:
//! its own calls with what only it knows (recall plan, timers, music), the other nodes'
//! calls as Redis has them. [`ParkStore::refresh`] brings the mirror up to date when the
//! park's version counter moved, renews this node's heartbeat, removes the calls of a
//! node whose heartbeat lapsed, and, after Redis was unreachable, writes back what this
//! node holds (its calls that left while Redis was away are deleted, those parked before
//! are restored).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use redis::{Commands, Connection, Script};

use super::{
    Claim, ClaimError, Handover, InsertError, MemoryStore, ParkStore, ParkedCall, Place, RecallState, Refreshed,
    SlotState, StoreError, StoreStatus,
};
use crate::config::RecallPlan;
pub use crate::config::RedisTarget;

/// The prefix of every key callpark writes.
/// The prefix of every key callpark writes, unless the store's target names another.
pub const PREFIX: &str = "callpark:";
/// How long a node's heartbeat lasts without renewal: past it, the other nodes take it
/// for dead and remove its calls.
pub const HEARTBEAT_TTL_MS: u64 = 3000;
/// How long a hand-over token waits for the retriever's call to reach the holding node.
const TOKEN_TTL_S: u64 = 30;
/// How long a connect, a read or a write may take before Redis counts as unreachable.
const IO_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed connect, how long until the next try.
const RETRY: Duration = Duration::from_millis(1000);
/// A claim another node made on a call held here and did not redeem in this time (its
/// retriever or the node went away) is given back: a token lives TOKEN_TTL_S.
const CLAIM_TTL: Duration = Duration::from_secs(TOKEN_TTL_S + 10);

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
const LOG_LEN: i64 = 20_000;

/// Adds a call unless its slot is full. KEYS: the slot's set, the call's hash, the
/// park-order counter, the calls' hash, the version, the log. ARGV: limit, uuid, node,
/// seq (empty: the next one), then field/value pairs. {seq, version}; {-1, 0}: full.
const INSERT: &str = r"
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[1]) then return {-1, 0} end
local seq = tonumber(ARGV[4])
if not seq then
  seq = redis.call('INCR', KEYS[3])
elseif tonumber(redis.call('GET', KEYS[3]) or '0') < seq then
  redis.call('SET', KEYS[3], seq)
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'seq', seq, unpack(ARGV, 5))
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
return {seq, bump(KEYS[5], KEYS[6], ARGV[2])}
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

/// Takes a token once. KEYS: the token. Its value, or nil. (GETDEL needs Redis 6.2.)
const TAKE: &str = r"
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v
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

/// A call's hash, as Redis has it: field name to value; empty when the call is gone.
type Fields = HashMap<String, String>;

/// The Redis store of one node.
pub struct RedisStore {
    target: RedisTarget,
    keys: Keys,
    client: redis::Client,
    con: Option<Connection>,
    mirror: MemoryStore,
    /// The park's version when the mirror was last read.
    version: Option<i64>,
    /// Redis failed since the last good exchange: on the next, write back what is held here.
    lost: bool,
    /// This node's calls that left the park while Redis was unreachable.
    gone: HashSet<String>,
    /// Calls held here that another node claimed (its retriever is on its way).
    elsewhere: HashMap<String, std::time::Instant>,
    /// Claims of this node whose give-back Redis did not take (it was away): uuid, claim.
    unclaims: HashMap<String, String>,
    /// When the heartbeat was last renewed (ms since the store was made).
    beat_at: Option<std::time::Instant>,
    /// When the connection in use was made.
    connected_at: Option<std::time::Instant>,
    /// No connect before this, after one failed.
    retry_at: Option<std::time::Instant>,
    /// Set with each heartbeat: the next refresh reads the park even if its version did
    /// not move, to find the calls of nodes that stopped.
    look_for_dead: bool,
    /// When this store was made, and whether the calls of this node's earlier life were
    /// looked for since (once, a heartbeat's life after: adoption is done by then).
    born: std::time::Instant,
    swept: bool,
    others: Vec<(String, String)>,
    /// The recall plan shown for another node's call (which only that node recalls).
    plan: Arc<RecallPlan>,
    insert: Script,
    claim: Script,
    unclaim: Script,
    remove: Script,
    take: Script,
}

/// The names of callpark's keys: `<prefix><kind>|<part>|...`. Neither a domain nor an
/// extension has a '|'.
struct Keys {
    prefix: String,
}

impl Keys {
    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                k.push('|');
            }
            k.push_str(p);
        }
        k
    }

    fn call(&self, uuid: &str) -> String {
        self.key(&["call", uuid])
    }

    fn slot(&self, tenant: &str, extension: &str) -> String {
        self.key(&["slot", tenant, extension])
    }

    fn node(&self, node: &str) -> String {
        self.key(&["node", node])
    }
}

fn err(e: redis::RedisError) -> StoreError {
    StoreError(format!("redis: {e}"))
}

fn claim_text(c: &Claim) -> String {
    match c {
        Claim::Retrieve { by } => format!("retrieve:{by}"),
        Claim::RecallAnswer { leg } => format!("recall:{leg}"),
        Claim::RingGroup => "ring-group".into(),
        Claim::FinalDestination => "final-destination".into(),
        Claim::Abandon => "abandon".into(),
        Claim::Exit => "exit".into(),
    }
}

/// A claim as Redis has it: `<claiming node>|<claim>`.
fn parse_claim(s: &str) -> Claim {
    let s = s.split_once('|').map_or(s, |(_, c)| c);
    match s.split_once(':') {
        Some(("retrieve", by)) => Claim::Retrieve { by: by.into() },
        Some(("recall", leg)) => Claim::RecallAnswer { leg: leg.into() },
        _ => match s {
            "ring-group" => Claim::RingGroup,
            "final-destination" => Claim::FinalDestination,
            "exit" => Claim::Exit,
            _ => Claim::Abandon,
        },
    }
}

impl RedisStore {
    /// A store for `target`. Redis need not be up yet: until it is, parks fail (the
    /// caller is sent back) and the mirror is empty.
    pub fn new(target: RedisTarget) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(target.url.as_str()).map_err(err)?;
        let keys = Keys { prefix: if target.prefix.is_empty() { PREFIX.to_string() } else { target.prefix.clone() } };
        let mut s = RedisStore {
            target,
            keys,
            client,
            con: None,
            mirror: MemoryStore::default(),
            version: None,
            lost: false,
            gone: HashSet::new(),
            elsewhere: HashMap::new(),
            unclaims: HashMap::new(),
            beat_at: None,
            connected_at: None,
            retry_at: None,
            look_for_dead: true,
            born: std::time::Instant::now(),
            swept: false,
            others: Vec::new(),
            plan: crate::config::Config::default().tenant("").recall.clone(),
            insert: Script::new(&format!("{BUMP}{INSERT}")),
            claim: Script::new(&format!("{BUMP}{CLAIM}")),
            unclaim: Script::new(&format!("{BUMP}{UNCLAIM}")),
            remove: Script::new(&format!("{BUMP}{REMOVE}")),
            take: Script::new(TAKE),
        };
        let _ = s.refresh();
        Ok(s)
    }

    /// Runs `f` on the connection (made anew after a failure); a failure drops the
    /// connection and marks Redis lost.
    fn with<T>(&mut self, f: impl FnOnce(&mut Connection, &Scripts) -> redis::RedisResult<T>) -> Result<T, StoreError> {
        if self.con.is_none() {
            // While Redis cannot be reached, one try per RETRY: the engine's lock is not
            // held through a connect timeout on every operation.
            if let Some(next) = self.retry_at.filter(|t| *t > std::time::Instant::now()) {
                let ms = next.saturating_duration_since(std::time::Instant::now()).as_millis();
                return Err(StoreError(format!("redis is unreachable (next try in {ms} ms)")));
            }
            let con = self.client.get_connection_with_timeout(IO_TIMEOUT).map_err(|e| {
                self.lost = true;
                self.retry_at = Some(std::time::Instant::now() + RETRY);
                err(e)
            })?;
            self.retry_at = None;
            con.set_read_timeout(Some(IO_TIMEOUT)).map_err(err)?;
            con.set_write_timeout(Some(IO_TIMEOUT)).map_err(err)?;
            self.con = Some(con);
            // Heartbeats may be lost with Redis (a restart): nobody is taken for dead
            // before every live node has had the time to renew its own; ours is due now.
            self.connected_at = Some(std::time::Instant::now());
            self.beat_at = None;
        }
        let scripts = Scripts {
            k: &self.keys,
            insert: &self.insert,
            claim: &self.claim,
            unclaim: &self.unclaim,
            remove: &self.remove,
            take: &self.take,
        };
        let con = self.con.as_mut().expect("connected above");
        match f(con, &scripts) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.con = None;
                self.lost = true;
                Err(err(e))
            }
        }
    }

    fn write_call(
        con: &mut Connection,
        s: &Scripts,
        c: &ParkedCall,
        limit: usize,
        seq: Option<u64>,
    ) -> redis::RedisResult<(i64, i64)> {
        let mut inv = s.insert.prepare_invoke();
        inv.key(s.k.slot(&c.tenant, &c.extension))
            .key(s.k.call(&c.uuid))
            .key(s.k.key(&["seq"]))
            .key(s.k.key(&["calls"]))
            .key(s.k.key(&["version"]))
            .key(s.k.key(&["log"]))
            .arg(limit.min(i64::MAX as usize) as i64)
            .arg(&c.uuid)
            .arg(&c.node)
            .arg(seq.map(|s| s.to_string()).unwrap_or_default());
        let fields: [(&str, &str); 9] = [
            ("tenant", &c.tenant),
            ("extension", &c.extension),
            ("group", c.group.as_deref().unwrap_or("")),
            ("parking_user", &c.parking_user),
            ("caller_number", &c.caller_number),
            ("caller_name", &c.caller_name),
            ("node", &c.node),
            ("parked_at_ms", &c.parked_at_ms.to_string()),
            ("group_park", if c.group_park { "1" } else { "" }),
        ];
        for (f, v) in fields {
            inv.arg(f).arg(v);
        }
        if let Some(cl) = &c.claim {
            inv.arg("claim").arg(claim_text(cl));
        }
        inv.invoke(con)
    }

    fn delete_call(
        con: &mut Connection,
        s: &Scripts,
        uuid: &str,
        tenant: &str,
        extension: &str,
    ) -> redis::RedisResult<(i64, i64)> {
        s.remove
            .key(s.k.call(uuid))
            .key(s.k.slot(tenant, extension))
            .key(s.k.key(&["calls"]))
            .key(s.k.key(&["version"]))
            .key(s.k.key(&["log"]))
            .arg(uuid)
            .invoke(con)
    }

    /// A call of another node, as Redis has it.
    fn remote_call(uuid: &str, f: &HashMap<String, String>, plan: &Arc<RecallPlan>) -> Option<ParkedCall> {
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        Some(ParkedCall {
            uuid: uuid.into(),
            tenant: f.get("tenant")?.clone(),
            extension: f.get("extension")?.clone(),
            group: f.get("group").filter(|g| !g.is_empty()).cloned(),
            parking_user: get("parking_user"),
            caller_number: get("caller_number"),
            caller_name: get("caller_name"),
            music: String::new(),
            seq: f.get("seq")?.parse().ok()?,
            parked_at_ms: get("parked_at_ms").parse().unwrap_or(0),
            plan: plan.clone(),
            recall: RecallState::Waiting,
            due_ms: None,
            timer_gen: 0,
            claim: f.get("claim").map(|c| parse_claim(c)),
            operator_ring: false,
            park_info: false,
            node: get("node"),
            group_park: get("group_park") == "1",
        })
    }

    /// Writes back what this node holds after Redis was unreachable (or emptied).
    fn restore(&mut self) -> Result<(), StoreError> {
        let pending: Vec<(String, String)> = self.unclaims.iter().map(|(u, t)| (u.clone(), t.clone())).collect();
        for (uuid, text) in &pending {
            self.give_back(uuid, text)?;
            self.unclaims.remove(uuid);
        }
        let gone: Vec<String> = self.gone.iter().cloned().collect();
        let mine: Vec<ParkedCall> =
            self.mirror.calls(None).into_iter().filter(|c| c.node == self.target.node).cloned().collect();
        self.with(|con, s| {
            for uuid in &gone {
                let (t, e): (Option<String>, Option<String>) =
                    redis::cmd("HMGET").arg(s.k.call(uuid)).arg("tenant").arg("extension").query(con)?;
                if let (Some(t), Some(e)) = (t, e) {
                    Self::delete_call(con, s, uuid, &t, &e)?;
                }
            }
            for c in &mine {
                let there: bool = con.exists(s.k.call(&c.uuid))?;
                if !there {
                    Self::write_call(con, s, c, usize::MAX, Some(c.seq))?;
                }
            }
            Ok(())
        })?;
        self.gone.clear();
        self.lost = false;
        // Redis may have restarted (its version and log begun anew): read it whole.
        self.version = None;
        Ok(())
    }

    /// Renews this node's heartbeat (at most every third of its life, unless `now`) and
    /// reads the nodes alive.
    fn beat(&mut self, now: bool) -> Result<(), StoreError> {
        let due = self.beat_at.is_none_or(|t| t.elapsed() >= Duration::from_millis(HEARTBEAT_TTL_MS / 3));
        if !due && !now {
            return Ok(());
        }
        let (me, address) = (self.target.node.clone(), self.target.address.clone());
        // The nodes are listed in one hash (name: address); each one's heartbeat key
        // says whether it is alive. A node gone is left listed: it may come back.
        let others = self.with(|con, s| {
            let _: () =
                redis::cmd("SET").arg(s.k.node(&me)).arg(&address).arg("PX").arg(HEARTBEAT_TTL_MS).query(con)?;
            let _: () = con.hset(s.k.key(&["nodes"]), &me, &address)?;
            let listed: Vec<(String, String)> = con.hgetall(s.k.key(&["nodes"]))?;
            let listed: Vec<(String, String)> = listed.into_iter().filter(|(n, _)| *n != me).collect();
            if listed.is_empty() {
                return Ok(Vec::new());
            }
            let mut p = redis::pipe();
            for (n, _) in &listed {
                p.get(s.k.node(n));
            }
            let beats: Vec<Option<String>> = p.query(con)?;
            Ok(listed.into_iter().zip(beats).filter_map(|((n, _), a)| a.map(|a| (n, a))).collect())
        })?;
        self.others = others;
        self.others.sort();
        self.beat_at = Some(std::time::Instant::now());
        self.look_for_dead = true;
        Ok(())
    }

    /// Gives the claim `text` on `uuid` back, if it still stands: the new version (0: it
    /// did not stand).
    fn give_back(&mut self, uuid: &str, text: &str) -> Result<i64, StoreError> {
        self.with(|con, s| {
            s.unclaim
                .key(s.k.call(uuid))
                .key(s.k.key(&["version"]))
                .key(s.k.key(&["log"]))
                .arg(uuid)
                .arg(text)
                .invoke::<i64>(con)
        })
    }

    /// Claims other nodes made on calls held here and never redeemed (the retriever or
    /// its node went away): given back, so that the call is parked again.
    fn release_stale(&mut self) -> Result<(), StoreError> {
        let stale: Vec<String> =
            self.elsewhere.iter().filter(|(_, t)| t.elapsed() >= CLAIM_TTL).map(|(u, _)| u.clone()).collect();
        for uuid in stale {
            self.elsewhere.remove(&uuid);
            let text: Option<String> = self.with(|con, s| con.hget(s.k.call(&uuid), "claim"))?;
            if let Some(text) = text {
                self.give_back(&uuid, &text)?;
            }
        }
        Ok(())
    }

    /// This node's own write moved the park to version `v`: if nobody else wrote since
    /// the mirror was read, the mirror (changed by the same write) is still the park.
    fn wrote(&mut self, v: i64) {
        if v > 0 && self.version.is_some_and(|old| old + 1 == v) {
            self.version = Some(v);
        }
    }

    /// Removes the calls of the nodes whose heartbeat lapsed: each one's uuid and fields.
    fn reap(&mut self, me: &str) -> Result<Vec<(String, Fields)>, StoreError> {
        self.with(|con, s| {
            let nodes: Vec<(String, String)> = con.hgetall(s.k.key(&["calls"]))?;
            let names: Vec<String> =
                nodes.iter().map(|(_, n)| n.clone()).filter(|n| n != me).collect::<HashSet<_>>().into_iter().collect();
            if names.is_empty() {
                return Ok(Vec::new());
            }
            let mut p = redis::pipe();
            for n in &names {
                p.exists(s.k.node(n));
            }
            let up: Vec<bool> = p.query(con)?;
            let dead: HashSet<&String> = names.iter().zip(up).filter(|(_, up)| !up).map(|(n, _)| n).collect();
            let mut reaped = Vec::new();
            for (uuid, _) in nodes.iter().filter(|(_, n)| dead.contains(n)) {
                let f: HashMap<String, String> = con.hgetall(s.k.call(uuid))?;
                match (f.get("tenant"), f.get("extension")) {
                    // Another node may have removed it first: its `abandoned` is theirs.
                    (Some(t), Some(e)) => {
                        if Self::delete_call(con, s, uuid, t, e)?.0 == 1 {
                            reaped.push((uuid.clone(), f));
                        }
                    }
                    _ => {
                        let _: () = con.hdel(s.k.key(&["calls"]), uuid)?;
                    }
                }
            }
            Ok(reaped)
        })
    }

    /// Removes the calls Redis has as this node's that this node does not hold.
    fn sweep(&mut self, me: &str) -> Result<Vec<(String, Fields)>, StoreError> {
        let held: HashSet<String> = self.mirror.calls(None).into_iter().map(|c| c.uuid.clone()).collect();
        self.with(|con, s| {
            let nodes: Vec<(String, String)> = con.hgetall(s.k.key(&["calls"]))?;
            let mut swept = Vec::new();
            for (uuid, _) in nodes.iter().filter(|(u, n)| n == me && !held.contains(u)) {
                let f: Fields = con.hgetall(s.k.call(uuid))?;
                if let (Some(t), Some(e)) = (f.get("tenant"), f.get("extension")) {
                    if Self::delete_call(con, s, uuid, t, e)?.0 == 1 {
                        swept.push((uuid.clone(), f));
                    }
                }
            }
            Ok(swept)
        })
    }

    /// Brings the mirror's `uuid` in line with what Redis has of it (`f`, empty when it
    /// is gone).
    #[allow(clippy::too_many_arguments)]
    fn merge(
        &mut self,
        uuid: &str,
        f: HashMap<String, String>,
        me: &str,
        changed: &mut HashSet<Place>,
        released: &mut Vec<String>,
        new_calls: &mut Vec<ParkedCall>,
        missing: &mut Vec<ParkedCall>,
    ) {
        let theirs = f.get("claim").map(|c| parse_claim(c));
        match (f.is_empty(), self.mirror.get(uuid).map(|c| c.node == me)) {
            (true, None) => {}
            // Ours, and Redis has it not: written back (unless it is leaving).
            (true, Some(true)) => {
                if let Some(c) =
                    self.mirror.get(uuid).filter(|c| !matches!(c.claim, Some(Claim::Abandon | Claim::Exit)))
                {
                    missing.push(c.clone());
                }
            }
            (true, Some(false)) => {
                if let Some(c) = self.mirror.remove(uuid) {
                    changed.insert(Self::place_of(&c));
                }
            }
            // Ours: what only we know stays; the claim is whoever's won it.
            (false, Some(true)) => {
                let Some(c) = self.mirror.get_mut(uuid) else { return };
                match (&c.claim, theirs) {
                    // It left here while Redis was away: Redis is told on restore.
                    (Some(Claim::Abandon | Claim::Exit), _) => {}
                    // The node that claimed it gave it back (its retriever failed).
                    (Some(_), None) => {
                        c.claim = None;
                        let p = Self::place_of(c);
                        self.elsewhere.remove(uuid);
                        released.push(uuid.to_string());
                        changed.insert(p);
                    }
                    (None, Some(t)) => {
                        c.claim = Some(t);
                        let p = Self::place_of(c);
                        self.elsewhere.insert(uuid.to_string(), std::time::Instant::now());
                        changed.insert(p);
                    }
                    _ => {}
                }
            }
            // Another node's: only its claim changes once it is parked.
            (false, Some(false)) => {
                let Some(c) = self.mirror.get_mut(uuid) else { return };
                if c.claim.is_some() != theirs.is_some() {
                    c.claim = theirs;
                    changed.insert(Self::place_of(c));
                }
            }
            (false, None) => {
                // Ours by an earlier life of this node (before a reload): adopted anew.
                if f.get("node").is_some_and(|n| n != me) {
                    new_calls.extend(Self::remote_call(uuid, &f, &self.plan));
                }
            }
        }
    }

    fn place_of(c: &ParkedCall) -> Place {
        Place { tenant: c.tenant.clone(), extension: c.extension.clone(), group: c.group.clone() }
    }
}

struct Scripts<'a> {
    k: &'a Keys,
    insert: &'a Script,
    claim: &'a Script,
    unclaim: &'a Script,
    remove: &'a Script,
    take: &'a Script,
}

impl ParkStore for RedisStore {
    fn node(&self) -> &str {
        &self.target.node
    }

    fn refresh(&mut self) -> Result<Refreshed, StoreError> {
        // The first read after Redis restarted fails on the old connection: once more,
        // on a new one.
        // No version yet is version 0 (nothing ever changed, or Redis restarted empty).
        let get = |con: &mut Connection, s: &Scripts| {
            con.get(s.k.key(&["version"])).map(|v: Option<i64>| Some(v.unwrap_or(0)))
        };
        let mut version: Option<i64> = match self.with(get) {
            Ok(v) => v,
            Err(_) => self.with(get)?,
        };
        if self.lost {
            self.restore()?;
            version = self.with(get)?;
        }
        self.beat(false)?;
        self.release_stale()?;
        let me = self.target.node.clone();
        // A node that stopped changes no version: its heartbeat is looked at as often as
        // this node renews its own.
        if version.is_some() && version == self.version && !self.look_for_dead {
            return Ok(Refreshed::default());
        }
        let mut out = Refreshed::default();
        let mut changed: HashSet<Place> = HashSet::new();
        if std::mem::take(&mut self.look_for_dead) {
            let judge = self.connected_at.is_some_and(|t| t.elapsed() >= Duration::from_millis(HEARTBEAT_TTL_MS));
            if judge {
                let mut reaped = self.reap(&me)?;
                // Calls this node held in an earlier life (it was killed and started again
                // under its name): not adopted by now, their media is gone with it.
                if !self.swept && self.born.elapsed() >= Duration::from_millis(HEARTBEAT_TTL_MS) {
                    reaped.extend(self.sweep(&me)?);
                    self.swept = true;
                }
                for (uuid, f) in reaped {
                    if let Some(c) = self.mirror.remove(&uuid).or_else(|| Self::remote_call(&uuid, &f, &self.plan)) {
                        changed.insert(Self::place_of(&c));
                        out.lost.push(c);
                    }
                }
                if !out.lost.is_empty() {
                    version = self.with(get)?;
                }
            }
        }
        // The calls changed since the mirror was read: from the log when it still holds
        // every change since, else all of them.
        let since = self.version;
        let logged: Option<Vec<String>> = match (since, version) {
            (Some(a), Some(b)) if b == a => Some(Vec::new()),
            (Some(a), Some(b)) if b > a && b - a <= LOG_LEN => {
                let entries: Vec<String> = self.with(|con, s| {
                    redis::cmd("ZRANGEBYSCORE").arg(s.k.key(&["log"])).arg(format!("({a}")).arg(b).query(con)
                })?;
                let uuids: HashSet<String> =
                    entries.iter().filter_map(|e| e.split_once(':').map(|(_, u)| u.to_string())).collect();
                (entries.len() as i64 == b - a).then(|| uuids.into_iter().collect())
            }
            _ => None,
        };
        // A park told here is one read from the log: a whole read (a node far behind, Redis
        // restarted) finds calls told long ago.
        let incremental = logged.is_some();
        let uuids: Vec<String> = match logged {
            Some(u) => u,
            None => {
                let mut all: HashSet<String> = self.with(|con, s| con.hkeys(s.k.key(&["calls"])))?;
                all.extend(self.mirror.calls(None).into_iter().map(|c| c.uuid.clone()));
                all.into_iter().collect()
            }
        };
        let fields: Vec<HashMap<String, String>> = if uuids.is_empty() {
            Vec::new()
        } else {
            self.with(|con, s| {
                let mut p = redis::pipe();
                for u in &uuids {
                    p.hgetall(s.k.call(u));
                }
                p.query(con)
            })?
        };
        let mut new_calls = Vec::new();
        let mut missing = Vec::new();
        for (uuid, f) in uuids.iter().zip(fields) {
            self.merge(uuid, f, &me, &mut changed, &mut out.released, &mut new_calls, &mut missing);
        }
        // Calls new here join their slots in park order.
        new_calls.sort_by_key(|c: &ParkedCall| c.seq);
        for c in new_calls {
            changed.insert(Self::place_of(&c));
            // Told here only when parked since this node first read the park.
            if incremental && c.claim.is_none() {
                out.arrived.push(c.clone());
            }
            self.mirror.add(c);
        }
        self.version = version;
        // Our calls Redis lost (it restarted empty, or took this node for dead): written back.
        if !missing.is_empty() {
            self.with(|con, s| {
                for c in &missing {
                    Self::write_call(con, s, c, usize::MAX, Some(c.seq))?;
                }
                Ok(())
            })?;
            self.version = None;
        }
        out.places = changed.into_iter().collect();
        Ok(out)
    }

    fn insert(&mut self, mut call: ParkedCall, limit: usize) -> Result<(), InsertError> {
        call.node = self.target.node.clone();
        let (seq, v) = self.with(|con, s| Self::write_call(con, s, &call, limit, None)).map_err(InsertError::Store)?;
        if seq < 0 {
            return Err(InsertError::Full);
        }
        self.wrote(v);
        call.seq = seq as u64;
        self.mirror.add(call);
        Ok(())
    }

    fn get(&self, uuid: &str) -> Option<&ParkedCall> {
        self.mirror.get(uuid)
    }

    fn get_mut(&mut self, uuid: &str) -> Option<&mut ParkedCall> {
        self.mirror.get_mut(uuid)
    }

    fn claim(&mut self, uuid: &str, claim: Claim) -> Result<&mut ParkedCall, ClaimError> {
        let c = self.mirror.get(uuid).ok_or(ClaimError::NotFound)?;
        if c.claim.is_some() {
            return Err(ClaimError::AlreadyTaken);
        }
        let mine = c.node == self.target.node;
        let text = format!("{}|{}", self.target.node, claim_text(&claim));
        let won = self.with(|con, s| {
            s.claim
                .key(s.k.call(uuid))
                .key(s.k.key(&["version"]))
                .key(s.k.key(&["log"]))
                .arg(&text)
                .arg(uuid)
                .invoke::<(i64, i64)>(con)
        });
        match won.map(|(n, v)| (n, self.wrote(v)).0) {
            Ok(1) => {}
            // Another node's call that is gone: taken for claimed until the next refresh,
            // which reads the whole park and puts its lamp out.
            Ok(0) if !mine => {
                if let Some(c) = self.mirror.get_mut(uuid) {
                    c.claim = Some(Claim::Abandon);
                }
                self.version = None;
                return Err(ClaimError::NotFound);
            }
            // Ours, and Redis lost it (it restarted empty): claimed here; the next
            // refresh writes back what is still parked.
            Ok(0) => self.lost = true,
            Ok(_) => {
                // Claimed on another node since the mirror was read: so it is here too,
                // until the next refresh says by whom.
                if let Some(c) = self.mirror.get_mut(uuid) {
                    c.claim = Some(Claim::Retrieve { by: String::new() });
                    if mine {
                        self.elsewhere.entry(uuid.to_string()).or_insert_with(std::time::Instant::now);
                    }
                }
                self.version = None;
                return Err(ClaimError::AlreadyTaken);
            }
            // Our caller hung up (or pressed the exit key) while Redis is away: it leaves
            // here now, and Redis when it is back.
            Err(_) if mine && matches!(claim, Claim::Abandon | Claim::Exit) => {}
            Err(e) => return Err(ClaimError::Store(e)),
        }
        self.mirror.claim(uuid, claim)
    }

    fn unclaim(&mut self, uuid: &str) -> Option<&mut ParkedCall> {
        let ours = self.mirror.get(uuid)?.claim.as_ref().map(claim_text)?;
        let text = format!("{}|{ours}", self.target.node);
        match self.give_back(uuid, &text) {
            Ok(v) => self.wrote(v),
            // Given back when Redis answers again (restore).
            Err(_) => {
                self.unclaims.insert(uuid.to_string(), text);
            }
        }
        self.mirror.unclaim(uuid)
    }

    fn claimed_elsewhere(&self, uuid: &str) -> bool {
        self.elsewhere.contains_key(uuid)
    }

    fn remove(&mut self, uuid: &str) -> Option<ParkedCall> {
        self.elsewhere.remove(uuid);
        let c = self.mirror.remove(uuid)?;
        let (t, e) = (c.tenant.clone(), c.extension.clone());
        if c.node == self.target.node {
            match self.with(|con, s| Self::delete_call(con, s, uuid, &t, &e)) {
                Ok((_, v)) => self.wrote(v),
                Err(_) => {
                    self.gone.insert(uuid.to_string());
                }
            }
        }
        Some(c)
    }

    fn hand_over(&mut self, uuid: &str) -> Result<Handover, StoreError> {
        let node = self.mirror.get(uuid).map(|c| c.node.clone()).unwrap_or_default();
        let find = |s: &Self| s.others.iter().find(|(n, _)| *n == node).map(|(_, a)| a.clone());
        // The nodes seen at the last heartbeat may be out of date (Redis just came back):
        // read them again before giving up.
        let address = match find(self) {
            Some(a) => a,
            None => {
                self.beat(true)?;
                find(self).ok_or_else(|| StoreError(format!("node {node:?} holding {uuid} is not alive")))?
            }
        };
        let token = format!("{:016x}{:016x}", rand_u64(), rand_u64());
        // The claim the token is for: the holder takes the retriever only while it stands.
        let ours = self.mirror.get(uuid).and_then(|c| c.claim.as_ref()).map(claim_text).unwrap_or_default();
        let value = format!("{uuid}|{node}|{}|{ours}", self.target.node);
        self.with(|con, s| {
            redis::cmd("SET").arg(s.k.key(&["token", &token])).arg(&value).arg("EX").arg(TOKEN_TTL_S).query::<()>(con)
        })?;
        Ok(Handover { node, address, token })
    }

    fn redeem(&mut self, token: &str) -> Result<Option<String>, StoreError> {
        let v: Option<String> = self.with(|con, s| s.take.key(s.k.key(&["token", token])).invoke(con))?;
        let Some(v) = v else { return Ok(None) };
        let mut parts = v.splitn(3, '|');
        let (Some(uuid), Some(node), Some(claim)) = (parts.next(), parts.next(), parts.next()) else {
            return Ok(None);
        };
        let me = self.target.node.as_str();
        if node != me || self.mirror.get(uuid).is_none_or(|c| c.node != me) {
            return Ok(None);
        }
        // The claim must still be the one the token was given for.
        let now: Option<String> = self.with(|con, s| con.hget(s.k.call(uuid), "claim"))?;
        Ok((now.as_deref() == Some(claim)).then(|| uuid.to_string()))
    }

    fn node_at(&mut self, host: &str) -> Result<Option<String>, StoreError> {
        self.beat(true)?;
        let host_of = |a: &str| a.rsplit_once(':').map_or(a, |(h, _)| h).to_string();
        Ok(self.others.iter().find(|(_, a)| host_of(a).eq_ignore_ascii_case(host)).map(|(n, _)| n.clone()))
    }

    fn status(&self) -> StoreStatus {
        StoreStatus {
            kind: self.target.url.clone(),
            node: self.target.node.clone(),
            reachable: !self.lost && self.con.is_some(),
            others: self.others.clone(),
        }
    }

    fn slot_len(&self, tenant: &str, extension: &str) -> usize {
        self.mirror.slot_len(tenant, extension)
    }

    fn first_with_room<'c>(&self, tenant: &str, candidates: &'c [String], limit: usize) -> Option<&'c String> {
        self.mirror.first_with_room(tenant, candidates, limit)
    }

    fn oldest_in_slot(&self, tenant: &str, extension: &str) -> Option<&ParkedCall> {
        self.mirror.oldest_in_slot(tenant, extension)
    }

    fn oldest_in_group(&self, tenant: &str, group: &str) -> Option<&ParkedCall> {
        self.mirror.oldest_in_group(tenant, group)
    }

    fn slot_state(&self, tenant: &str, extension: &str) -> SlotState {
        self.mirror.slot_state(tenant, extension)
    }

    fn group_state(&self, tenant: &str, group: &str) -> SlotState {
        self.mirror.group_state(tenant, group)
    }

    fn calls(&self, tenant: Option<&str>) -> Vec<&ParkedCall> {
        self.mirror.calls(tenant)
    }

    fn len(&self) -> usize {
        self.mirror.len()
    }
}

/// A token nobody can guess: 64 bits from the OS's random source.
fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        if f.read_exact(&mut b).is_ok() {
            return u64::from_ne_bytes(b);
        }
    }
    // No /dev/urandom: the std hasher's random keys.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
    h.finish()
}
