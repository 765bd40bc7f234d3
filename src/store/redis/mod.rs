//! One park shared by several switches, on Redis.
//!
//! Redis holds what every node must agree on: each parked call (its slot, group, parking
//! user, caller, park time and order on the cluster's one clock, holding node, claim),
//! the calls of each slot (for the limit), one-time hand-over tokens and a heartbeat key
//! per node. Every change that must have one winner (an add under a slot's limit, a
//! claim) is one Lua script (`scripts`), one round trip; the connection and what
//! happens when Redis does not answer is `link`.
//!
//! Each node keeps a mirror of the whole park (a [`MemoryStore`]) for the rules to read:
//! its own calls with what only it knows (recall plan, timers, music), the other nodes'
//! calls as Redis has them. [`ParkStore::refresh`] brings the mirror up to date when the
//! park's version counter moved, renews this node's heartbeat, removes the calls of a
//! node whose heartbeat lapsed, and writes what this node did while Redis was away.
//!
//! While Redis does not answer, a node goes on with what it holds: it parks on itself
//! (within the slot limits it sees), its phones pick up its calls, its recalls are
//! answered and its callers leave; only another node's call cannot be taken. When Redis
//! answers again the node writes its calls back (keeping their park order, told to the
//! other nodes' phones only if they never were) and removes those that left.
//!
//! The files, from the engine's side down: `store` (the operations the engine asks),
//! `sync` (the mirror kept in line with Redis, and written back after a fault), `nodes`
//! (heartbeat, the other nodes, the cluster's clock), `record` (a call as Redis holds it,
//! and the checks of what is read back), `source` and `link` (where the connection goes,
//! and the connection), `scripts` (the Lua).

mod link;
mod nodes;
mod record;
mod scripts;
mod source;
mod store;
mod sync;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{MemoryStore, ParkStore, StoreError};
use crate::clock::{Clock, SystemClock};
use crate::config::RecallPlan;
pub use crate::config::RedisTarget;
use link::{err, Link, Source};
use record::Keys;
use scripts::Scripts;
use source::source_for;

/// Round trips to Redis this process made so far, every store together (a pipeline or
/// a script is one).
pub fn round_trips() -> u64 {
    link::ROUND_TRIPS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The prefix of every key callpark writes, unless the store's target names another.
pub const PREFIX: &str = "callpark:";
/// How long a hand-over token waits for the retriever's call to reach the holding node.
const TOKEN_TTL_S: u64 = 30;
/// A claim another node made on a call held here and did not redeem in this time (its
/// retriever or the node went away) is given back: a token lives TOKEN_TTL_S.
const CLAIM_TTL: Duration = Duration::from_secs(TOKEN_TTL_S + 10);

/// The Redis store of one node.
pub struct RedisStore {
    target: RedisTarget,
    keys: Keys,
    link: Link,
    scripts: Scripts,
    mirror: MemoryStore,
    /// The park's version when the mirror was last read.
    version: Option<i64>,
    /// This node's calls that left and are still in Redis (their removal is written by
    /// the next refresh): uuid to (tenant, extension).
    gone: HashMap<String, (String, String)>,
    /// This node's calls parked or adopted while Redis did not answer: written, and told
    /// to the other nodes, when it answers again.
    unsynced: HashSet<String>,
    /// Calls held here that another node claimed (its retriever is on its way).
    elsewhere: HashMap<String, Instant>,
    /// Claims of this node whose give-back Redis did not take (it was away): uuid, claim.
    unclaims: HashMap<String, String>,
    /// When the heartbeat was last renewed, and how many times it was.
    beat_at: Option<Instant>,
    beats: u64,
    /// This store's own mark in the heartbeat, apart from any other process that would
    /// run under the same node name.
    instance: String,
    /// The node left the cluster (a module unload): no heartbeat any more.
    left: bool,
    /// Set with each heartbeat: the next refresh reads the park even if its version did
    /// not move, to find the calls of nodes that stopped.
    look_for_dead: bool,
    /// When this store was made, and whether the calls of this node's earlier life were
    /// looked for since (once, a grace time after: adoption is done by then).
    born: Instant,
    swept: bool,
    others: Vec<(String, String)>,
    /// Addresses of hand-overs refused as no node's, and when: not looked up again for
    /// half a second.
    refused: HashMap<String, Instant>,
    /// Redirect tokens looked up for phones in the second that began then.
    phone_redeems: (Instant, u32),
    /// Records read that fail the checks: said once each (`skipped` of a refresh).
    bad_seen: HashSet<String>,
    bad: Vec<String>,
    /// Operator's commands read for this node, not yet handed to the engine.
    inbox: Vec<(String, String)>,
    /// The recall plan shown for another node's call (which only that node recalls).
    plan: Arc<RecallPlan>,
    /// The engine's clock; the cluster's (Redis's) time at an instant of this process,
    /// read with each heartbeat; and the cluster's clock minus the engine's then. Park
    /// times and order are stored on the cluster's clock.
    clock: Arc<dyn Clock>,
    cluster_at: (u64, Instant),
    offset_ms: i64,
}

impl RedisStore {
    /// A store for `target`. Redis need not be up yet: until it is, this node parks on
    /// itself. Refused when another node runs under the same name (its heartbeat is
    /// renewed by another process).
    pub fn new(target: RedisTarget) -> Result<RedisStore, StoreError> {
        // A password file or a certificate that cannot be read is no reason to refuse the
        // module: the node parks on itself, and `callpark status` says why.
        let (source, broken) = match source_for(&target) {
            Ok(s) => (s, None),
            Err(e) => (Source::Direct(Box::new(redis::Client::open("redis://127.0.0.1:1/0").map_err(err)?)), Some(e)),
        };
        // Through Sentinel: the master, asked once here (not under the engine's lock).
        if let (Source::Sentinel(_), None) = (&source, &broken) {
            let _ = source.find();
        }
        let keys = Keys { prefix: if target.prefix.is_empty() { PREFIX.to_string() } else { target.prefix.clone() } };
        let mut s = RedisStore {
            target,
            keys,
            link: Link::new(source, broken),
            scripts: Scripts::new(),
            mirror: MemoryStore::default(),
            version: None,
            gone: HashMap::new(),
            unsynced: HashSet::new(),
            elsewhere: HashMap::new(),
            unclaims: HashMap::new(),
            beat_at: None,
            beats: 0,
            instance: format!("{:016x}", rand_u64()),
            left: false,
            look_for_dead: true,
            born: Instant::now(),
            swept: false,
            others: Vec::new(),
            refused: HashMap::new(),
            phone_redeems: (Instant::now(), 0),
            bad_seen: HashSet::new(),
            bad: Vec::new(),
            inbox: Vec::new(),
            plan: crate::config::Config::default().tenant("").recall.clone(),
            clock: Arc::new(SystemClock::default()),
            cluster_at: (wall_ms(), Instant::now()),
            offset_ms: 0,
        };
        s.set_offset();
        s.check_name()?;
        // Its lamps and commands are the engine's, once it has the store: kept for it.
        if let Ok(r) = s.refresh() {
            s.inbox.extend(r.commands);
            s.bad.extend(r.skipped);
        }
        Ok(s)
    }
}

impl Drop for RedisStore {
    /// A store that goes (a module unload) marks its heartbeat as left: the next load
    /// under this name takes it over at once.
    fn drop(&mut self) {
        self.leave();
    }
}

/// Milliseconds since 1970 by this machine's clock.
fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A token nobody can guess: 64 bits from the OS's random source (getrandom).
pub fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_ok() {
        return u64::from_ne_bytes(b);
    }
    // No random source answered: the std hasher's random keys.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(wall_ms());
    h.finish()
}
