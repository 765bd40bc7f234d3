//! Park state behind one narrow interface, [`ParkStore`].
//!
//! The rules (the engine) decide; a store only keeps calls, per tenant, per slot (an
//! extension) and per group, in park order, and makes a claim or an add that must be
//! one step for everyone who shares it. The engine holds the store under its
//! one lock, so a store needs no locking of its own. Two stores: [`MemoryStore`], one
//! switch's park (the default), and [`RedisStore`], one park shared by several switches.

mod memory;
mod redis;

pub use memory::MemoryStore;
pub use redis::{rand_u64 as random_u64, round_trips, RedisStore, RedisTarget};

use std::fmt;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::RecallPlan;

/// Who took a call out of the park. Exactly one claim per call, ever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    Retrieve {
        by: String,
    },
    RecallAnswer {
        leg: String,
    },
    RingGroup,
    FinalDestination,
    Abandon,
    /// The caller pressed the exit key.
    Exit,
}

/// Where a parked call's recall is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecallState {
    /// Parked; the recall starts when the timer lapses.
    Waiting,
    /// Attempt `n` rings.
    Ringing(u32),
    /// Attempt `n` was not answered; the next one starts when the timer lapses.
    Retrying(u32),
    /// Every attempt failed and there is no final destination: parked until retrieved.
    Exhausted,
}

/// The state of a slot (one extension) or of a group, for lamps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotState {
    pub count: usize,
    /// A call here is being recalled (its recall is ringing).
    pub recalling: bool,
    /// The oldest parked call: (uuid, caller number, caller name).
    pub oldest: Option<(String, String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedCall {
    pub uuid: String,
    pub tenant: String,
    /// The slot: the extension the call is parked at.
    pub extension: String,
    /// The group of the slot's extension, when it has one.
    pub group: Option<String>,
    pub parking_user: String,
    pub caller_number: String,
    pub caller_name: String,
    pub music: String,
    /// Park order, unique and increasing.
    pub seq: u64,
    pub parked_at_ms: u64,
    pub plan: Arc<RecallPlan>,
    pub recall: RecallState,
    /// When the pending timer lapses, if one is pending.
    pub due_ms: Option<u64>,
    /// Bumped whenever the pending timer is replaced: an older timer is ignored.
    pub timer_gen: u64,
    pub claim: Option<Claim>,
    /// An operator's retrieve rings a user for it (`callpark retrieve`): a claim stops
    /// that ring too.
    pub operator_ring: bool,
    /// Its tenant sent visual park notices when it was parked: its leaving is told too,
    /// whatever a reload changed since.
    pub park_info: bool,
    /// The node holding the call's media, in a store shared by several switches; empty
    /// where the store is this switch's alone. Set by the store.
    pub node: String,
    /// Parked by a group park (`*58`, a group key): every member was told.
    pub group_park: bool,
}

/// A shared store could not be reached or answered nonsense.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the park store cannot be used: {}", self.0)
    }
}

/// Why a call was not added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// Its extension already holds as many calls as allowed (another node may have
    /// filled it since this one looked).
    Full,
    Store(StoreError),
}

/// Why a claim did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimError {
    NotFound,
    /// Someone (on any node) claimed it first.
    AlreadyTaken,
    Store(StoreError),
}

/// A slot whose state another node changed: its lamps (and its group's) are due.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Place {
    pub tenant: String,
    pub extension: String,
    pub group: Option<String>,
}

/// What [`ParkStore::refresh`] found other nodes changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Slots whose state changed: their lamps are due.
    pub places: Vec<Place>,
    /// Calls of a node that stopped (its heartbeat lapsed), removed by this node: each
    /// is `abandoned`, with its media.
    pub lost: Vec<ParkedCall>,
    /// Calls held here that another node had claimed and gave back: unclaimed in the
    /// store, their recall timers are due again.
    pub released: Vec<String>,
    /// Calls another node parked since: this node tells the phones registered with it.
    pub arrived: Vec<ParkedCall>,
    /// Operator's commands other nodes sent this node to carry out (it holds the call):
    /// (id, the command's text), as read; the engine checks them.
    pub commands: Vec<(String, String)>,
    /// Records read from the store that fail the checks of what they hold (a node's
    /// name or address, a call's fields): skipped, each said here once, to be logged.
    pub skipped: Vec<String>,
}

/// What a token redeemed is for: the call held here, and whether the node that gave
/// the token claimed it for the retriever (a hand-over) or left it to be claimed here
/// (a redirect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeemed {
    pub uuid: String,
    pub claimed: bool,
}

/// The most redirect tokens looked up in a second for calls that come from no node: a
/// flood of forged ones costs Redis at most this.
pub const PHONE_REDEEMS_PER_S: u32 = 20;

/// How a retriever on this node reaches a call another node holds: a call to `address`
/// (the holding node's SIP address) carrying `token`, which that node redeems once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    pub node: String,
    pub address: String,
    pub token: String,
}

/// What `callpark status` tells of the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// `memory`, or the Redis address.
    pub kind: String,
    pub node: String,
    /// Whether the last exchange with a shared store worked.
    pub reachable: bool,
    /// The other nodes seen alive: (name, SIP address).
    pub others: Vec<(String, String)>,
    /// Why the shared store is not used now (no password in it); empty when reachable.
    pub why: String,
}

impl ParkedCall {
    /// A call parked at `extension` of `tenant` under `plan`, with nothing else known of
    /// it yet (no group, no caller, waiting for its recall, unclaimed).
    pub fn new(uuid: &str, tenant: &str, extension: &str, plan: Arc<RecallPlan>) -> ParkedCall {
        ParkedCall {
            uuid: uuid.into(),
            tenant: tenant.into(),
            extension: extension.into(),
            group: None,
            parking_user: String::new(),
            caller_number: String::new(),
            caller_name: String::new(),
            music: String::new(),
            seq: 0,
            parked_at_ms: 0,
            plan,
            recall: RecallState::Waiting,
            due_ms: None,
            timer_gen: 0,
            claim: None,
            operator_ring: false,
            park_info: false,
            node: String::new(),
            group_park: false,
        }
    }
}

/// The store's interface: what the rules need, nothing more.
///
/// One trait, though its methods do four jobs: reading the park (`get`, `slot_len`,
/// `first_with_room`, `oldest_in_*`, `*_state`, `calls`, `len`), changing it (`insert`,
/// `claim`, `unclaim`, `remove`), keeping a shared park (`node`, `use_clock`, `refresh`,
/// `pending_writes`, `leave`, `status`) and reaching another node's calls (`hand_over`,
/// `redirect`, `redeem`, `node_at`, `claimed_elsewhere`, the operator's commands'
/// `send_command`, `answer_of`, `answer`). It stays one because of who uses it and who
/// implements it: the engine holds exactly one store, as `Box<dyn ParkStore>` under its
/// one lock, and needs every job of it (a park reads, adds, and on a shared park may
/// hand over, all under that lock); a trait object can be of one trait only, so smaller
/// traits would come back together as a supertrait of all of them, which code that
/// calls a store directly would import part by part. The two stores are [`MemoryStore`],
/// which implements the reads and changes and takes the defaults of the shared jobs
/// (one switch: nothing to share), and [`RedisStore`], which implements them all and
/// answers the reads from its mirror, a `MemoryStore`.
pub trait ParkStore: Send {
    /// The node this store speaks for; empty where the store is this switch's alone.
    fn node(&self) -> &str {
        ""
    }
    /// The engine's clock: a shared store keeps park times on the cluster's clock and
    /// gives them back on this one.
    fn use_clock(&mut self, clock: Arc<dyn Clock>) {
        let _ = clock;
    }
    /// The node leaves the shared park (a module unload): it renews its heartbeat no
    /// more, and the next life under its name takes over at once.
    fn leave(&mut self) {}
    /// Changes made here that the shared store has not taken yet (a removal, a park while
    /// it did not answer): the next [`ParkStore::refresh`] writes them.
    fn pending_writes(&self) -> bool {
        false
    }
    /// Takes in what other nodes changed since the last call. Nothing to do for a store
    /// of one switch.
    fn refresh(&mut self) -> Result<Refreshed, StoreError> {
        Ok(Refreshed::default())
    }
    /// Adds `call` (the store sets its `node` and, when shared, its `seq`) unless its
    /// extension already holds `limit` calls: the check and the add are one step for
    /// every node.
    fn insert(&mut self, call: ParkedCall, limit: usize) -> Result<(), InsertError>;
    fn get(&self, uuid: &str) -> Option<&ParkedCall>;
    fn get_mut(&mut self, uuid: &str) -> Option<&mut ParkedCall>;
    /// Claims `uuid` for `claim` if nobody (on any node) has: exactly one claim wins.
    fn claim(&mut self, uuid: &str, claim: Claim) -> Result<&mut ParkedCall, ClaimError>;
    /// Gives a claimed call back to the park (its taker failed).
    fn unclaim(&mut self, uuid: &str) -> Option<&mut ParkedCall>;
    fn remove(&mut self, uuid: &str) -> Option<ParkedCall>;
    /// A call held here that a retriever on another node claimed and has not reached.
    fn claimed_elsewhere(&self, uuid: &str) -> bool {
        let _ = uuid;
        false
    }
    /// For a call another node holds, claimed here: how this node's retriever reaches it.
    fn hand_over(&mut self, uuid: &str) -> Result<Handover, StoreError> {
        Err(StoreError(format!("call {uuid} is held by no other node: this store is one switch's")))
    }
    /// For a call another node holds, left unclaimed: a token for a retriever this node
    /// redirects (SIP 302) to that node, which claims the call when the retriever
    /// arrives (`cross-node-pickup` `redirect`).
    fn redirect(&mut self, uuid: &str) -> Result<Handover, StoreError> {
        Err(StoreError(format!("call {uuid} is held by no other node: this store is one switch's")))
    }
    /// The call (held here) that `token` is for, once: `None` for a token unknown, used
    /// or not for this node. `from_node`: the call carrying it comes from another node
    /// (a hand-over, whose claim must stand); else from a phone another node redirected
    /// here, which only a redirect's token lets in (at most [`PHONE_REDEEMS_PER_S`] a
    /// second are looked up).
    fn redeem(&mut self, token: &str, from_node: bool) -> Result<Option<Redeemed>, StoreError> {
        let _ = (token, from_node);
        Ok(None)
    }
    /// The other node alive whose SIP address has host `host`, read now.
    fn node_at(&mut self, host: &str) -> Result<Option<String>, StoreError> {
        let _ = host;
        Ok(None)
    }
    /// Sends `node` the operator's command `text` to carry out, as `id`; its answer comes
    /// back through [`ParkStore::answer_of`].
    fn send_command(&mut self, node: &str, id: &str, text: &str) -> Result<(), StoreError> {
        let _ = (id, text);
        Err(StoreError(format!("node {node:?}: this store is one switch's")))
    }
    /// The answer to the command `id` this node sent, once it came (taken).
    fn answer_of(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        let _ = id;
        Ok(None)
    }
    /// Answers the command `id` another node sent here with `line`.
    fn answer(&mut self, id: &str, line: &str) -> Result<(), StoreError> {
        let _ = (id, line);
        Ok(())
    }
    fn status(&self) -> StoreStatus {
        StoreStatus { kind: "memory".into(), reachable: true, ..StoreStatus::default() }
    }
    /// Calls parked at `extension` of `tenant`.
    fn slot_len(&self, tenant: &str, extension: &str) -> usize;
    /// The first of `candidates` (extensions of `tenant`) holding fewer than `limit` calls.
    fn first_with_room<'c>(&self, tenant: &str, candidates: &'c [String], limit: usize) -> Option<&'c String> {
        candidates.iter().find(|e| self.slot_len(tenant, e) < limit)
    }
    /// The oldest unclaimed call at `extension`.
    fn oldest_in_slot(&self, tenant: &str, extension: &str) -> Option<&ParkedCall>;
    /// The oldest unclaimed call parked against any member of `group`.
    fn oldest_in_group(&self, tenant: &str, group: &str) -> Option<&ParkedCall>;
    fn slot_state(&self, tenant: &str, extension: &str) -> SlotState;
    fn group_state(&self, tenant: &str, group: &str) -> SlotState;
    /// Every call of `tenant` (all tenants when `None`), oldest first.
    fn calls(&self, tenant: Option<&str>) -> Vec<&ParkedCall>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
