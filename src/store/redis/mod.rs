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

mod link;
mod scripts;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{Commands, Connection, IntoConnectionInfo};

use super::{
    Claim, ClaimError, Handover, InsertError, MemoryStore, ParkStore, ParkedCall, Place, RecallState, Redeemed,
    Refreshed, SlotState, StoreError, StoreStatus, PHONE_REDEEMS_PER_S,
};
use crate::caller::{clean_name, clean_number};
use crate::clock::{Clock, SystemClock};
pub use crate::config::RedisTarget;
use crate::config::{parse_store_url, valid_node_name, RecallPlan};
use crate::identity::valid_user;
use link::{err, Link, Source};

/// Round trips to Redis this process made so far, every store together (a pipeline or
/// a script is one).
pub fn round_trips() -> u64 {
    link::ROUND_TRIPS.load(std::sync::atomic::Ordering::Relaxed)
}
use scripts::{Scripts, LOG_LEN};

/// The prefix of every key callpark writes, unless the store's target names another.
pub const PREFIX: &str = "callpark:";
/// How long a hand-over token waits for the retriever's call to reach the holding node.
const TOKEN_TTL_S: u64 = 30;
/// A claim another node made on a call held here and did not redeem in this time (its
/// retriever or the node went away) is given back: a token lives TOKEN_TTL_S.
const CLAIM_TTL: Duration = Duration::from_secs(TOKEN_TTL_S + 10);
/// How long an operator's command sent to another node, and its answer, wait there.
const COMMAND_TTL_S: u64 = 30;
/// The longest time between two heartbeats (shorter where the grace is short).
const BEAT_EVERY_MS: u64 = 1000;

/// A call's hash, as Redis has it: field name to value; empty when the call is gone.
type Fields = HashMap<String, String>;

/// What a call is on the cluster's clock when written.
struct OnCluster {
    /// Park order.
    seq: u64,
    /// Park time, ms since 1970 by Redis's clock.
    parked_at: u64,
    /// The other nodes' phones were told of it already (it comes back after a fault).
    quiet: bool,
}

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

/// Where `target`'s connections go: Redis at its URL, or the master its Sentinels name;
/// with the password of `password_file` if one is named, over TLS with the CA and this
/// node's certificate named (`rediss://`). Why not, in words that show no password.
fn source_for(target: &RedisTarget) -> Result<Source, String> {
    let shown = target.shown_url();
    let url = parse_store_url(&target.url)?;
    let read_password = |path: &str, what: &str| -> Result<Option<String>, String> {
        if path.is_empty() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{what} {path}: {e}"))?;
        let password = text.lines().next().unwrap_or("").trim_end_matches('\r').to_string();
        if password.is_empty() {
            return Err(format!("{what} {path} is empty"));
        }
        Ok(Some(password))
    };
    let password = read_password(&target.password_file, "store-password-file")?.or(url.password.clone());
    let sentinel_password = read_password(&target.sentinel_password_file, "store-sentinel-password-file")?;
    // rustls finds its crypto provider by its features: ring, and only ring, is compiled
    // in (Cargo.toml), else the first TLS connection would panic.
    let read = |what: &str, path: &str| std::fs::read(path).map_err(|e| format!("{what} {path}: {e}"));
    let certificates = || -> Result<redis::TlsCertificates, String> {
        let root_cert = if target.tls_ca.is_empty() { None } else { Some(read("store-tls-ca", &target.tls_ca)?) };
        let client_tls = if target.tls_cert.is_empty() {
            None
        } else {
            Some(redis::ClientTlsConfig {
                client_cert: read("store-tls-cert", &target.tls_cert)?,
                client_key: read("store-tls-key", &target.tls_key)?,
            })
        };
        Ok(redis::TlsCertificates { client_tls, root_cert })
    };
    // Redis's address, or a Sentinel's: over TLS with `rediss`.
    let addr_of = |(host, port): &(String, u16)| {
        if url.tls {
            redis::ConnectionAddr::TcpTls { host: host.clone(), port: *port, insecure: false, tls_params: None }
        } else {
            redis::ConnectionAddr::Tcp(host.clone(), *port)
        }
    };
    let Some(master) = &url.master else {
        let addr = addr_of(&url.hosts[0]);
        let mut settings = redis::RedisConnectionInfo::default().set_db(url.db);
        if let Some(u) = &url.username {
            settings = settings.set_username(u);
        }
        if let Some(p) = password {
            settings = settings.set_password(p);
        }
        let info = addr.into_connection_info().map_err(|e| format!("store {shown}: {:?}", e.kind()))?;
        let info = info.set_redis_settings(settings);
        let client = if url.tls {
            redis::Client::build_with_tls(info, certificates()?).map_err(|e| format!("store {shown}: TLS: {e}"))?
        } else {
            redis::Client::open(info).map_err(|e| format!("store {shown}: {:?}", e.kind()))?
        };
        return Ok(Source::Direct(Box::new(client)));
    };
    use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
    let addrs: Vec<_> = url.hosts.iter().map(addr_of).collect();
    let mut b = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)
        .map_err(|e| format!("store {shown}: {e}"))?
        .set_client_to_redis_db(url.db);
    if let Some(u) = &url.username {
        b = b.set_client_to_redis_username(u);
    }
    if let Some(p) = password {
        b = b.set_client_to_redis_password(p);
    }
    if let Some(p) = sentinel_password {
        b = b.set_client_to_sentinel_password(p);
    }
    if url.tls {
        let (to_redis, to_sentinels) = (certificates()?, certificates()?);
        b = b
            .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
            .set_client_to_redis_certificates(to_redis)
            .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure)
            .set_client_to_sentinel_certificates(to_sentinels);
    }
    let client = b.build().map_err(|e| format!("store {shown}: {e}"))?;
    Ok(Source::sentinel(client))
}

/// A node's SIP address read from Redis, if it is one a configuration allows
/// (`<IP address>[:port]`): anything else (`10.0.0.5:5080,sofia/gateway/...`) never
/// reaches a dial string.
fn node_address(heartbeat: &str) -> Option<&str> {
    let a = heartbeat.split('|').next()?;
    let (host, port) = match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (a, None),
    };
    let port_ok = port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0));
    (host.parse::<std::net::Ipv4Addr>().is_ok() && port_ok).then_some(a)
}

/// `s` without control characters, at most `max` characters: a record read back from
/// Redis, quoted in a log line.
fn printable(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Milliseconds since 1970 by this machine's clock.
fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl RedisStore {
    /// A token for a retriever of `uuid` (held by another node) and the node's address:
    /// `claim` is the claim the holder must find standing, or `*` for none.
    fn token(&mut self, uuid: &str, claim: String) -> Result<Handover, StoreError> {
        let node = self.mirror.get(uuid).map(|c| c.node.clone()).unwrap_or_default();
        let find = |s: &Self| s.others.iter().find(|(n, _)| *n == node).map(|(_, a)| a.clone());
        // The nodes seen at the last heartbeat may be out of date (Redis just came back):
        // read them again before giving up.
        let address = match find(self) {
            Some(a) => a,
            None => {
                self.read_others()?;
                find(self).ok_or_else(|| StoreError(format!("node {node:?} holding {uuid} is not alive")))?
            }
        };
        let token = format!("{:016x}{:016x}", rand_u64(), rand_u64());
        let value = format!("{uuid}|{node}|{claim}");
        let key = self.keys.key(&["token", &token]);
        self.link.run(|con| redis::cmd("SET").arg(&key).arg(&value).arg("EX").arg(TOKEN_TTL_S).query::<()>(con))?;
        Ok(Handover { node, address, token })
    }
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

    fn grace(&self) -> Duration {
        Duration::from_millis(self.target.grace_ms)
    }

    /// The heartbeat's value up to its beat count: `<address>|<instance>|`.
    fn mark(&self) -> String {
        format!("{}|{}|", self.target.address, self.instance)
    }

    /// Refuses a name another live process renews the heartbeat of. A heartbeat left by
    /// an unload is taken over at once; one that is not renewed within a beat's time is
    /// an earlier life of this node (killed), taken over too.
    fn check_name(&mut self) -> Result<(), StoreError> {
        let key = self.keys.node(&self.target.node);
        let read = |link: &mut Link| link.run(|con| con.get::<_, Option<String>>(&key));
        let Ok(Some(first)) = read(&mut self.link) else { return Ok(()) };
        if first.ends_with("|left") {
            return Ok(());
        }
        // A running node renews its heartbeat at least every BEAT_EVERY_MS, on its timer
        // thread's ticks (250 ms): waited for, with a margin.
        std::thread::sleep(Duration::from_millis(BEAT_EVERY_MS + 250 + 350));
        match read(&mut self.link) {
            Ok(Some(now)) if now != first && !now.ends_with("|left") => Err(StoreError(format!(
                "node \"{}\" is running at {}: every node needs a name of its own (<param name=\"node\"/>)",
                self.target.node,
                node_address(&now).unwrap_or("an address that is no IP address")
            ))),
            _ => Ok(()),
        }
    }

    fn beat_every(&self) -> Duration {
        Duration::from_millis(BEAT_EVERY_MS.min(self.target.grace_ms / 3))
    }

    /// The cluster's clock minus the engine's, as of the last heartbeat.
    fn offset(&self) -> i64 {
        self.offset_ms
    }

    /// Takes the difference of the two clocks anew (with each heartbeat, and when the
    /// engine gives its clock): between two readings park times keep their intervals.
    fn set_offset(&mut self) {
        let cluster_now = self.cluster_at.0 + self.cluster_at.1.elapsed().as_millis() as u64;
        self.offset_ms = cluster_now as i64 - self.clock.now_ms() as i64;
    }

    fn to_cluster(v: u64, offset: i64, scale: i64) -> u64 {
        (v as i64).saturating_add(offset.saturating_mul(scale)).max(0) as u64
    }

    /// Writes `c` unless its slot holds `limit` calls, with its park order and time on
    /// the cluster's clock (`at`; a call Redis has already keeps its order).
    fn write_call(
        con: &mut Connection,
        k: &Keys,
        sc: &Scripts,
        c: &ParkedCall,
        limit: usize,
        at: OnCluster,
    ) -> redis::RedisResult<(i64, i64)> {
        let OnCluster { seq, parked_at, quiet } = at;
        let mut inv = sc.insert.prepare_invoke();
        inv.key(k.slot(&c.tenant, &c.extension))
            .key(k.call(&c.uuid))
            .key(k.key(&["calls"]))
            .key(k.key(&["version"]))
            .key(k.key(&["log"]))
            .arg(limit.min(i64::MAX as usize) as i64)
            .arg(&c.uuid)
            .arg(&c.node)
            .arg(seq);
        let fields: [(&str, &str); 10] = [
            ("tenant", &c.tenant),
            ("extension", &c.extension),
            ("group", c.group.as_deref().unwrap_or("")),
            ("parking_user", &c.parking_user),
            ("caller_number", &c.caller_number),
            ("caller_name", &c.caller_name),
            ("node", &c.node),
            ("parked_at", &parked_at.to_string()),
            ("group_park", if c.group_park { "1" } else { "" }),
            ("quiet", if quiet { "1" } else { "" }),
        ];
        for (f, v) in fields {
            inv.arg(f).arg(v);
        }
        if let Some(cl) = &c.claim {
            inv.arg("claim").arg(format!("{}|{}", c.node, claim_text(cl)));
        }
        inv.invoke(con)
    }

    fn delete_call(
        con: &mut Connection,
        k: &Keys,
        sc: &Scripts,
        uuid: &str,
        tenant: &str,
        extension: &str,
    ) -> redis::RedisResult<(i64, i64)> {
        sc.remove
            .key(k.call(uuid))
            .key(k.slot(tenant, extension))
            .key(k.key(&["calls"]))
            .key(k.key(&["version"]))
            .key(k.key(&["log"]))
            .arg(uuid)
            .invoke(con)
    }

    /// A call of another node, as Redis has it (its park time on this engine's clock).
    /// A record that does not pass the checks a call's fields pass on their way in
    /// (a tenant that is no domain, a slot or user that is no user id, a uuid or node of
    /// other characters) is none: it reaches no lamp, message, event or dial string.
    fn remote_call(uuid: &str, f: &Fields, plan: &Arc<RecallPlan>, offset: i64) -> Option<ParkedCall> {
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        let id_ok =
            |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let tenant = f.get("tenant").filter(|t| crate::config::valid_domain(t))?.clone();
        let extension = f.get("extension").filter(|e| valid_user(e))?.clone();
        let group = f.get("group").filter(|g| !g.is_empty()).cloned();
        let parking_user = get("parking_user");
        let node = get("node");
        if !id_ok(uuid)
            || group.as_deref().is_some_and(|g| !valid_user(g))
            || (!parking_user.is_empty() && !valid_user(&parking_user))
            || !valid_node_name(&node)
        {
            return None;
        }
        let parked_at: u64 = get("parked_at").parse().unwrap_or(0);
        Some(ParkedCall {
            uuid: uuid.into(),
            tenant,
            extension,
            group,
            parking_user,
            caller_number: clean_number(&get("caller_number")),
            caller_name: clean_name(&get("caller_name")),
            music: String::new(),
            seq: f.get("seq")?.parse().ok()?,
            parked_at_ms: Self::to_cluster(parked_at, -offset, 1),
            plan: plan.clone(),
            recall: RecallState::Waiting,
            due_ms: None,
            timer_gen: 0,
            claim: f.get("claim").map(|c| parse_claim(c)),
            operator_ring: false,
            park_info: false,
            node,
            group_park: get("group_park") == "1",
        })
    }

    /// Writes back what this node did while Redis did not answer (or what Redis lost):
    /// claims given back, removals, and the calls it holds that Redis has not, in their
    /// park order (those Redis never had are told to the other nodes' phones then; the
    /// others come back quietly).
    fn restore(&mut self) -> Result<(), StoreError> {
        let pending: Vec<(String, String)> = self.unclaims.iter().map(|(u, t)| (u.clone(), t.clone())).collect();
        for (uuid, text) in &pending {
            self.give_back(uuid, text)?;
            self.unclaims.remove(uuid);
        }
        self.flush_gone()?;
        let me = self.target.node.clone();
        let mine: Vec<ParkedCall> = self
            .mirror
            .calls(None)
            .into_iter()
            .filter(|c| c.node == me && !matches!(c.claim, Some(Claim::Abandon | Claim::Exit)))
            .cloned()
            .collect();
        let offset = self.offset();
        let (k, sc, unsynced) = (&self.keys, &self.scripts, &self.unsynced);
        self.link.run(|con| {
            for c in &mine {
                let there: bool = con.exists(k.call(&c.uuid))?;
                if !there {
                    let parked_at = Self::to_cluster(c.parked_at_ms, offset, 1);
                    let at = OnCluster { seq: c.seq, parked_at, quiet: !unsynced.contains(&c.uuid) };
                    Self::write_call(con, k, sc, c, usize::MAX, at)?;
                } else if let Some(cl) = &c.claim {
                    // Claimed here while Redis was away (a pick-up, an answered recall): the
                    // claim is written, unless another node's stands (whose retriever finds
                    // the call gone when its token is redeemed here).
                    let text = format!("{me}|{}", claim_text(cl));
                    let _: (i64, i64) = sc
                        .claim
                        .key(k.call(&c.uuid))
                        .key(k.key(&["version"]))
                        .key(k.key(&["log"]))
                        .arg(&text)
                        .arg(&c.uuid)
                        .invoke(con)?;
                }
            }
            Ok(())
        })?;
        self.unsynced.clear();
        self.link.recovered();
        // Redis may have restarted (its version and log begun anew): read it whole.
        self.version = None;
        Ok(())
    }

    /// Writes the removals of this node's calls that left.
    fn flush_gone(&mut self) -> Result<(), StoreError> {
        let gone: Vec<(String, (String, String))> = self.gone.iter().map(|(u, p)| (u.clone(), p.clone())).collect();
        for (uuid, (t, e)) in gone {
            let (k, sc) = (&self.keys, &self.scripts);
            let (_, v) = self.link.run(|con| Self::delete_call(con, k, sc, &uuid, &t, &e))?;
            self.gone.remove(&uuid);
            self.wrote(v);
        }
        Ok(())
    }

    /// Renews this node's heartbeat (at most once a beat's time, unless `now`), reads
    /// the nodes alive and the cluster's time.
    fn beat(&mut self, now: bool) -> Result<(), StoreError> {
        let due = self.beat_at.is_none_or(|t| t.elapsed() >= self.beat_every());
        if self.left || (!due && !now) {
            return Ok(());
        }
        self.beats += 1;
        let me = self.target.node.clone();
        let value = format!("{}{}", self.mark(), self.beats);
        let (key, nodes, grace) = (self.keys.node(&me), self.keys.key(&["nodes"]), self.target.grace_ms);
        let address = self.target.address.clone();
        let asked = Instant::now();
        let sc = &self.scripts;
        let time: (u64, u64) = self
            .link
            .run(|con| sc.beat.key(&key).key(&nodes).arg(&value).arg(grace).arg(&me).arg(&address).invoke(con))?;
        // The cluster's time, taken as at the middle of the round trip.
        let rtt = asked.elapsed();
        self.cluster_at = (time.0 * 1000 + time.1 / 1000, asked + rtt / 2);
        self.set_offset();
        self.read_others()?;
        self.beat_at = Some(Instant::now());
        self.look_for_dead = true;
        Ok(())
    }

    /// Reads the other nodes alive and their SIP addresses: those whose name or address
    /// is none a configuration allows are left out (they reach no dial string).
    fn read_others(&mut self) -> Result<(), StoreError> {
        let me = self.target.node.clone();
        let k = &self.keys;
        let (sc, node_prefix) = (&self.scripts, k.node(""));
        let flat: Vec<String> = self.link.run(|con| sc.nodes.key(k.key(&["nodes"])).arg(&node_prefix).invoke(con))?;
        let others: Vec<(String, String)> =
            flat.chunks(2).filter(|p| p.len() == 2 && p[0] != me).map(|p| (p[0].clone(), p[1].clone())).collect();
        self.others.clear();
        for (n, b) in &others {
            match node_address(b).filter(|_| valid_node_name(n)) {
                Some(a) => self.others.push((n.clone(), a.to_string())),
                None => {
                    let what = format!("node {:?} at {:?}", printable(n, 80), printable(b, 120));
                    self.note_bad(what);
                }
            }
        }
        self.others.sort();
        Ok(())
    }

    /// A record read that fails the checks: kept to be said once.
    fn note_bad(&mut self, what: String) {
        if self.bad_seen.len() < 10_000 && self.bad_seen.insert(what.clone()) {
            self.bad.push(what);
        }
    }

    /// Gives the claim `text` on `uuid` back, if it still stands: the new version (0: it
    /// did not stand).
    fn give_back(&mut self, uuid: &str, text: &str) -> Result<i64, StoreError> {
        let (k, sc) = (&self.keys, &self.scripts);
        self.link.run(|con| {
            sc.unclaim
                .key(k.call(uuid))
                .key(k.key(&["version"]))
                .key(k.key(&["log"]))
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
            let key = self.keys.call(&uuid);
            let text: Option<String> = self.link.run(|con| con.hget(&key, "claim"))?;
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
        let (k, sc) = (&self.keys, &self.scripts);
        self.link.run(|con| {
            let nodes: Vec<(String, String)> = con.hgetall(k.key(&["calls"]))?;
            let names: Vec<String> =
                nodes.iter().map(|(_, n)| n.clone()).filter(|n| n != me).collect::<HashSet<_>>().into_iter().collect();
            if names.is_empty() {
                return Ok(Vec::new());
            }
            let mut inv = sc.exist.prepare_invoke();
            for n in &names {
                inv.key(k.node(n));
            }
            let up: Vec<bool> = inv.invoke(con)?;
            let dead: HashSet<&String> = names.iter().zip(up).filter(|(_, up)| !up).map(|(n, _)| n).collect();
            let mut reaped = Vec::new();
            for (uuid, _) in nodes.iter().filter(|(_, n)| dead.contains(n)) {
                let f: Fields = con.hgetall(k.call(uuid))?;
                match (f.get("tenant"), f.get("extension")) {
                    // Another node may have removed it first: its `abandoned` is theirs.
                    (Some(t), Some(e)) => {
                        if Self::delete_call(con, k, sc, uuid, t, e)?.0 == 1 {
                            reaped.push((uuid.clone(), f));
                        }
                    }
                    _ => {
                        let _: () = con.hdel(k.key(&["calls"]), uuid)?;
                    }
                }
            }
            Ok(reaped)
        })
    }

    /// Removes the calls Redis has as this node's that this node does not hold.
    fn sweep(&mut self, me: &str) -> Result<Vec<(String, Fields)>, StoreError> {
        let held: HashSet<String> = self.mirror.calls(None).into_iter().map(|c| c.uuid.clone()).collect();
        let (k, sc) = (&self.keys, &self.scripts);
        self.link.run(|con| {
            let nodes: Vec<(String, String)> = con.hgetall(k.key(&["calls"]))?;
            let mut swept = Vec::new();
            for (uuid, _) in nodes.iter().filter(|(u, n)| n == me && !held.contains(u)) {
                let f: Fields = con.hgetall(k.call(uuid))?;
                if let (Some(t), Some(e)) = (f.get("tenant"), f.get("extension")) {
                    if Self::delete_call(con, k, sc, uuid, t, e)?.0 == 1 {
                        swept.push((uuid.clone(), f));
                    }
                }
            }
            Ok(swept)
        })
    }

    /// Brings the mirror's `uuid` in line with what Redis has of it (`f`, empty when it
    /// is gone). A call new here is added to `new_calls`, with whether it comes back
    /// quietly (its node restored it: the phones were told of it before).
    #[allow(clippy::too_many_arguments)]
    fn merge(
        &mut self,
        uuid: &str,
        f: Fields,
        me: &str,
        offset: i64,
        changed: &mut HashSet<Place>,
        released: &mut Vec<String>,
        new_calls: &mut Vec<(ParkedCall, bool)>,
        missing: &mut Vec<ParkedCall>,
        stale: &mut Vec<(String, String, String)>,
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
                    // The node that claimed it gave it back (its retriever failed). A claim
                    // this node made itself (during an outage) stands: written on restore.
                    (Some(_), None) if self.elsewhere.contains_key(uuid) => {
                        c.claim = None;
                        let p = Self::place_of(c);
                        self.elsewhere.remove(uuid);
                        released.push(uuid.to_string());
                        changed.insert(p);
                    }
                    (None, Some(t)) => {
                        c.claim = Some(t);
                        let p = Self::place_of(c);
                        self.elsewhere.insert(uuid.to_string(), Instant::now());
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
                if f.get("node").is_some_and(|n| n != me) {
                    let quiet = f.get("quiet").is_some_and(|q| q == "1");
                    match Self::remote_call(uuid, &f, &self.plan, offset) {
                        Some(c) => new_calls.push((c, quiet)),
                        None => self.note_bad(format!(
                            "call {:?} of node {:?}",
                            printable(uuid, 80),
                            printable(&f.get("node").cloned().unwrap_or_default(), 80)
                        )),
                    }
                } else if self.swept {
                    // This node's by Redis, and held here by nobody, past the time an
                    // earlier life's calls are adopted: a removal Redis lost (a failover
                    // to a replica that had not received it). Removed, or every node
                    // would show a call nobody can pick up.
                    if let (Some(t), Some(e)) = (f.get("tenant"), f.get("extension")) {
                        stale.push((uuid.to_string(), t.clone(), e.clone()));
                    }
                }
            }
        }
    }

    fn place_of(c: &ParkedCall) -> Place {
        Place { tenant: c.tenant.clone(), extension: c.extension.clone(), group: c.group.clone() }
    }

    /// The park's version, and in the same round trip the operator's commands other
    /// nodes sent this one (up to 16 at a time).
    fn read_version(&mut self) -> Result<Option<i64>, StoreError> {
        // No version yet is version 0 (nothing ever changed, or Redis restarted empty).
        let key = self.keys.key(&["version"]);
        let ops = self.keys.key(&["ops", &self.target.node]);
        let sc = &self.scripts;
        let (version, commands): (Option<i64>, Vec<String>) =
            self.link.run(|con| sc.version.key(&key).key(&ops).invoke(con))?;
        for c in commands {
            // `<id>|<text>`: an id of hex digits and dashes; the engine checks the text.
            if let Some((id, text)) = c.split_once('|') {
                if !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                    self.inbox.push((id.to_string(), text.to_string()));
                }
            }
        }
        Ok(Some(version.unwrap_or(0)))
    }
}

impl ParkStore for RedisStore {
    fn node(&self) -> &str {
        &self.target.node
    }

    fn use_clock(&mut self, clock: Arc<dyn Clock>) {
        let before = self.offset_ms;
        self.clock = clock;
        self.set_offset();
        // The other nodes' calls were read with the store's own clock: their park times
        // moved to the engine's.
        let (me, shift) = (self.target.node.clone(), before - self.offset_ms);
        let theirs: Vec<String> =
            self.mirror.calls(None).into_iter().filter(|c| c.node != me).map(|c| c.uuid.clone()).collect();
        for u in theirs {
            if let Some(c) = self.mirror.get_mut(&u) {
                c.parked_at_ms = Self::to_cluster(c.parked_at_ms, shift, 1);
            }
        }
    }

    fn refresh(&mut self) -> Result<Refreshed, StoreError> {
        let mut version = self.read_version()?;
        // Alive first: a node back after its grace is not reaped again while it writes.
        if self.link.lost() {
            self.beat_at = None;
        }
        self.beat(false)?;
        // A node that left (an unload) writes nothing back: its next life adopts.
        if !self.left && (self.link.lost() || !self.unsynced.is_empty() || !self.unclaims.is_empty()) {
            self.restore()?;
            version = self.read_version()?;
        }
        self.flush_gone()?;
        self.release_stale()?;
        let me = self.target.node.clone();
        // A node that stopped changes no version: its heartbeat is looked at as often as
        // this node renews its own.
        if version.is_some() && version == self.version && !self.look_for_dead {
            return Ok(Refreshed {
                commands: std::mem::take(&mut self.inbox),
                skipped: std::mem::take(&mut self.bad),
                ..Refreshed::default()
            });
        }
        let offset = self.offset();
        let mut out = Refreshed::default();
        let mut changed: HashSet<Place> = HashSet::new();
        if std::mem::take(&mut self.look_for_dead) {
            // Heartbeats may be lost with Redis (a restart): nobody is taken for dead
            // before every live node has had the time to renew its own.
            let judge = self.link.connected_at.is_some_and(|t| t.elapsed() >= self.grace());
            if judge {
                let mut reaped = self.reap(&me)?;
                // Calls this node held in an earlier life (it was killed and started again
                // under its name): not adopted by now, their media is gone with it.
                if !self.swept && self.born.elapsed() >= self.grace() {
                    reaped.extend(self.sweep(&me)?);
                    self.swept = true;
                }
                for (uuid, f) in reaped {
                    if let Some(c) =
                        self.mirror.remove(&uuid).or_else(|| Self::remote_call(&uuid, &f, &self.plan, offset))
                    {
                        changed.insert(Self::place_of(&c));
                        out.lost.push(c);
                    }
                }
                if !out.lost.is_empty() {
                    version = self.read_version()?;
                }
            }
        }
        // The calls changed since the mirror was read: from the log when it still holds
        // every change since, else all of them.
        let since = self.version;
        let log = self.keys.key(&["log"]);
        let logged: Option<Vec<String>> = match (since, version) {
            (Some(a), Some(b)) if b == a => Some(Vec::new()),
            (Some(a), Some(b)) if b > a && b - a <= LOG_LEN => {
                let entries: Vec<String> = self
                    .link
                    .run(|con| redis::cmd("ZRANGEBYSCORE").arg(&log).arg(format!("({a}")).arg(b).query(con))?;
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
                let calls = self.keys.key(&["calls"]);
                let mut all: HashSet<String> = self.link.run(|con| con.hkeys(&calls))?;
                all.extend(self.mirror.calls(None).into_iter().map(|c| c.uuid.clone()));
                all.into_iter().collect()
            }
        };
        let fields: Vec<Fields> = if uuids.is_empty() {
            Vec::new()
        } else {
            let (k, sc) = (&self.keys, &self.scripts);
            let flat: Vec<Vec<String>> = self.link.run(|con| {
                let mut inv = sc.fetch.prepare_invoke();
                for u in &uuids {
                    inv.key(k.call(u));
                }
                inv.invoke(con)
            })?;
            flat.into_iter()
                .map(|f| f.chunks(2).filter(|p| p.len() == 2).map(|p| (p[0].clone(), p[1].clone())).collect())
                .collect()
        };
        let mut new_calls = Vec::new();
        let mut missing = Vec::new();
        let mut stale = Vec::new();
        for (uuid, f) in uuids.iter().zip(fields) {
            self.merge(uuid, f, &me, offset, &mut changed, &mut out.released, &mut new_calls, &mut missing, &mut stale);
        }
        if !stale.is_empty() && !self.left {
            let (k, sc) = (&self.keys, &self.scripts);
            self.link.run(|con| {
                for (uuid, t, e) in &stale {
                    Self::delete_call(con, k, sc, uuid, t, e)?;
                }
                Ok(())
            })?;
        }
        for (c, quiet) in new_calls {
            changed.insert(Self::place_of(&c));
            // Told here only when parked since this node first read the park, and never
            // told before (a call its node restored comes back quietly).
            if incremental && !quiet && c.claim.is_none() {
                out.arrived.push(c.clone());
            }
            self.mirror.add(c);
        }
        out.arrived.sort_by_key(|c| c.seq);
        self.version = version;
        // Our calls Redis lost (it restarted empty, or took this node for dead): written
        // back, quietly: every node told its phones of them when they were parked.
        if !missing.is_empty() && !self.left {
            let (k, sc) = (&self.keys, &self.scripts);
            self.link.run(|con| {
                for c in &missing {
                    let parked_at = Self::to_cluster(c.parked_at_ms, offset, 1);
                    Self::write_call(con, k, sc, c, usize::MAX, OnCluster { seq: c.seq, parked_at, quiet: true })?;
                }
                Ok(())
            })?;
            self.version = None;
        }
        out.places = changed.into_iter().collect();
        out.commands = std::mem::take(&mut self.inbox);
        out.skipped = std::mem::take(&mut self.bad);
        Ok(out)
    }

    fn send_command(&mut self, node: &str, id: &str, text: &str) -> Result<(), StoreError> {
        let key = self.keys.key(&["ops", node]);
        let entry = format!("{id}|{text}");
        let sc = &self.scripts;
        self.link.run(|con| sc.send.key(&key).arg(&entry).arg(COMMAND_TTL_S).invoke::<i64>(con)).map(|_| ())
    }

    fn answer_of(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        let key = self.keys.key(&["answer", id]);
        let sc = &self.scripts;
        let answer: Option<String> = self.link.run(|con| sc.take.key(&key).invoke(con))?;
        // Shown to whoever typed the command on this node: lines of printable text.
        Ok(answer.map(|a| a.chars().filter(|c| !c.is_control() || *c == '\n').take(64 * 1024).collect()))
    }

    fn answer(&mut self, id: &str, line: &str) -> Result<(), StoreError> {
        let key = self.keys.key(&["answer", id]);
        self.link.run(|con| redis::cmd("SET").arg(&key).arg(line).arg("EX").arg(COMMAND_TTL_S).query::<()>(con))
    }

    fn insert(&mut self, mut call: ParkedCall, limit: usize) -> Result<(), InsertError> {
        call.node = self.target.node.clone();
        // A removal of this call still to write (it was parked before, under this uuid)
        // goes first, or it would remove the new park.
        if self.gone.contains_key(&call.uuid) {
            let _ = self.flush_gone();
        }
        // The park order and time on the cluster's clock.
        let offset = self.offset();
        let seq = Self::to_cluster(call.seq, offset, 1000);
        let parked_at = Self::to_cluster(call.parked_at_ms, offset, 1);
        let (k, sc) = (&self.keys, &self.scripts);
        let at = || OnCluster { seq, parked_at, quiet: false };
        match self.link.run(|con| Self::write_call(con, k, sc, &call, limit, at())) {
            Ok((s, _)) if s < 0 => Err(InsertError::Full),
            Ok((s, v)) => {
                self.wrote(v);
                call.seq = s as u64;
                self.mirror.add(call);
                Ok(())
            }
            // Redis does not answer: parked on this node, within the slot's limit as this
            // node sees it; written (and told to the other nodes) when Redis is back.
            Err(_) => {
                if self.mirror.slot_len(&call.tenant, &call.extension) >= limit {
                    // Refused here; the add that timed out may still land: undone later.
                    self.gone.insert(call.uuid.clone(), (call.tenant.clone(), call.extension.clone()));
                    return Err(InsertError::Full);
                }
                call.seq = seq;
                self.unsynced.insert(call.uuid.clone());
                self.mirror.add(call);
                Ok(())
            }
        }
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
        // A caller of this node who hangs up (or presses the exit key) leaves here at
        // once: nobody else can take a call whose media is here, so no round trip (its
        // removal is written by the next refresh, off the switch's threads).
        if mine && matches!(claim, Claim::Abandon | Claim::Exit) {
            return self.mirror.claim(uuid, claim);
        }
        let text = format!("{}|{}", self.target.node, claim_text(&claim));
        let (k, sc) = (&self.keys, &self.scripts);
        let won = self.link.run(|con| {
            sc.claim
                .key(k.call(uuid))
                .key(k.key(&["version"]))
                .key(k.key(&["log"]))
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
            Ok(0) => self.link.note_lost(),
            Ok(_) => {
                // Claimed on another node since the mirror was read: so it is here too,
                // until the next refresh says by whom.
                if let Some(c) = self.mirror.get_mut(uuid) {
                    c.claim = Some(Claim::Retrieve { by: String::new() });
                    if mine {
                        self.elsewhere.entry(uuid.to_string()).or_insert_with(Instant::now);
                    }
                }
                self.version = None;
                return Err(ClaimError::AlreadyTaken);
            }
            // Redis does not answer: this node settles its own calls (a pick-up by its
            // phones, an answered recall); another node's claim could only be carried
            // out here, through Redis, so this one wins. Redis is told when it is back.
            Err(_) if mine => {}
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
        let claimed_elsewhere = self.elsewhere.remove(uuid).is_some();
        let c = self.mirror.remove(uuid)?;
        if c.node != self.target.node {
            // Another node's: its node removes it.
            return Some(c);
        }
        let (t, e) = (c.tenant.clone(), c.extension.clone());
        // A caller that left (hung up, pressed the exit key, or while another node's
        // retriever was on its way) is removed from Redis by the next refresh: the
        // switch's thread that told of it does not wait for Redis. So is a call parked
        // while Redis did not answer: its add may have reached Redis after all (a frozen
        // Redis runs what it had received when it goes on); a removal of nothing is none.
        let unsynced = self.unsynced.remove(uuid);
        if unsynced || claimed_elsewhere || matches!(c.claim, Some(Claim::Abandon | Claim::Exit)) || !self.link.is_up()
        {
            self.gone.insert(uuid.to_string(), (t, e));
            return Some(c);
        }
        let (k, sc) = (&self.keys, &self.scripts);
        match self.link.run(|con| Self::delete_call(con, k, sc, uuid, &t, &e)) {
            Ok((_, v)) => self.wrote(v),
            Err(_) => {
                self.gone.insert(uuid.to_string(), (t, e));
            }
        }
        Some(c)
    }

    fn pending_writes(&self) -> bool {
        !self.gone.is_empty() || !self.unsynced.is_empty()
    }

    fn hand_over(&mut self, uuid: &str) -> Result<Handover, StoreError> {
        // The claim the token is for: the holder takes the retriever only while it stands.
        let ours = self.mirror.get(uuid).and_then(|c| c.claim.as_ref()).map(claim_text).unwrap_or_default();
        self.token(uuid, format!("{}|{ours}", self.target.node))
    }

    fn redirect(&mut self, uuid: &str) -> Result<Handover, StoreError> {
        self.token(uuid, "*".into())
    }

    fn redeem(&mut self, token: &str, from_node: bool) -> Result<Option<Redeemed>, StoreError> {
        if !from_node {
            // A phone's: at most PHONE_REDEEMS_PER_S looked up a second.
            let now = Instant::now();
            if now.duration_since(self.phone_redeems.0) >= Duration::from_secs(1) {
                self.phone_redeems = (now, 0);
            }
            if self.phone_redeems.1 >= PHONE_REDEEMS_PER_S {
                return Ok(None);
            }
            self.phone_redeems.1 += 1;
        }
        let me = self.target.node.clone();
        let (k, sc) = (&self.keys, &self.scripts);
        let call_prefix = k.key(&["call", ""]);
        let from = if from_node { "node" } else { "phone" };
        let found: Option<(String, i64)> = self
            .link
            .run(|con| sc.redeem.key(k.key(&["token", token])).arg(&me).arg(&call_prefix).arg(from).invoke(con))?;
        // Only a call this node holds (the token names it, but Redis is no authority on
        // what this switch holds).
        Ok(found
            .filter(|(u, _)| self.mirror.get(u).is_some_and(|c| c.node == me))
            .map(|(uuid, claimed)| Redeemed { uuid, claimed: claimed == 1 }))
    }

    fn node_at(&mut self, host: &str) -> Result<Option<String>, StoreError> {
        let host_of = |a: &str| a.rsplit_once(':').map_or(a, |(h, _)| h).to_string();
        let find =
            |s: &Self| s.others.iter().find(|(_, a)| host_of(a).eq_ignore_ascii_case(host)).map(|(n, _)| n.clone());
        // The nodes seen at the last heartbeat first, then those alive now (a node that
        // has just started). A call from anywhere else costs no write, and an address
        // refused costs no read for half a second: a flood of them costs Redis next to
        // nothing.
        if let Some(n) = find(self) {
            return Ok(Some(n));
        }
        let host = host.to_ascii_lowercase();
        if self.refused.get(&host).is_some_and(|t| t.elapsed() < Duration::from_millis(500)) {
            return Ok(None);
        }
        self.read_others()?;
        let found = find(self);
        if found.is_none() {
            if self.refused.len() >= 1024 {
                self.refused.clear();
            }
            self.refused.insert(host, Instant::now());
        }
        Ok(found)
    }

    fn leave(&mut self) {
        if std::mem::replace(&mut self.left, true) {
            return;
        }
        let (key, mark, sc) = (self.keys.node(&self.target.node), self.mark(), &self.scripts);
        let _ = self.link.run(|con| sc.leave.key(&key).arg(&mark).invoke::<i64>(con));
    }

    fn status(&self) -> StoreStatus {
        StoreStatus {
            kind: self.target.shown_url(),
            node: self.target.node.clone(),
            reachable: self.link.is_up(),
            why: self.link.why(),
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

impl Drop for RedisStore {
    /// A store that goes (a module unload) marks its heartbeat as left: the next load
    /// under this name takes it over at once.
    fn drop(&mut self) {
        self.leave();
    }
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

#[cfg(test)]
mod tests {
    use super::{node_address, Fields, RedisStore};

    fn record(pairs: &[(&str, &str)]) -> Fields {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// A call's record read back is checked as its fields were on their way in.
    #[test]
    fn a_malformed_record_read_back_is_no_call() {
        let plan = crate::config::Config::default().tenant("").recall.clone();
        let good = [
            ("tenant", "acme.example"),
            ("extension", "102"),
            ("parking_user", "101"),
            ("node", "fs-a"),
            ("seq", "1"),
            ("caller_number", "104\u{7}"),
            ("caller_name", "A\nB"),
        ];
        let c = RedisStore::remote_call("4cbf1e2a", &record(&good), &plan, 0).expect("a good record");
        assert_eq!((c.caller_number.as_str(), c.caller_name.as_str()), ("104", "AB"));
        for (field, bad) in [
            ("tenant", "acme example"),
            ("extension", "102,sofia/gateway/pstn/1900"),
            ("parking_user", "10 1"),
            ("node", "a|b"),
            ("group", "sales;x"),
            ("seq", "x"),
        ] {
            let mut f = record(&good);
            f.insert(field.into(), bad.into());
            assert!(RedisStore::remote_call("4cbf1e2a", &f, &plan, 0).is_none(), "{field}={bad}");
        }
        assert!(RedisStore::remote_call("4cbf|x", &record(&good), &plan, 0).is_none());
    }

    #[test]
    fn only_an_ip_address_and_port_read_from_redis_is_a_node_s_address() {
        assert_eq!(node_address("10.0.0.5:5080|abc|3"), Some("10.0.0.5:5080"));
        assert_eq!(node_address("10.0.0.5"), Some("10.0.0.5"));
        for bad in [
            "10.0.0.5:5080,sofia/gateway/pstn/1900",
            "10.0.0.5:5080;transport=tcp",
            "evil.example:5060",
            "10.0.0.5:0",
            "10.0.0.5:+80",
            "[::1]:5060",
            "",
            "10.0.0.5:5080 ",
        ] {
            assert_eq!(node_address(bad), None, "{bad}");
        }
    }
}
