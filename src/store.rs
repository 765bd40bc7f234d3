//! Park state behind one narrow interface, [`ParkStore`].
//!
//! The rules (the engine) decide; a store only keeps calls, per tenant, per slot (an
//! extension) and per group, in park order. The engine holds the store under its one
//! lock, so a store needs no locking of its own; a store shared by several switches can
//! replace [`MemoryStore`] without touching the rules.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crate::config::RecallPlan;
use crate::host::SlotState;

/// Who took a call out of the park. Exactly one claim per call, ever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    Retrieve { by: String },
    RecallAnswer { leg: String },
    RingGroup,
    FinalDestination,
    Abandon,
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
}

/// The store's interface: what the rules need, nothing more.
pub trait ParkStore: Send {
    fn insert(&mut self, call: ParkedCall);
    fn get(&self, uuid: &str) -> Option<&ParkedCall>;
    fn get_mut(&mut self, uuid: &str) -> Option<&mut ParkedCall>;
    fn remove(&mut self, uuid: &str) -> Option<ParkedCall>;
    /// Calls parked at `extension` of `tenant`.
    fn slot_len(&self, tenant: &str, extension: &str) -> usize;
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

#[derive(Default)]
struct TenantCalls {
    slots: HashMap<String, VecDeque<String>>,
    groups: HashMap<String, BTreeMap<u64, String>>,
}

/// The in-memory store of one switch.
#[derive(Default)]
pub struct MemoryStore {
    calls: HashMap<String, ParkedCall>,
    tenants: HashMap<String, TenantCalls>,
}

impl MemoryStore {
    fn state_of<'a>(&'a self, uuids: impl Iterator<Item = &'a String>) -> SlotState {
        let mut s = SlotState::default();
        for u in uuids {
            let Some(c) = self.calls.get(u) else { continue };
            s.count += 1;
            s.recalling |= matches!(c.recall, RecallState::Ringing(_));
            if s.oldest.is_none() {
                s.oldest = Some((c.uuid.clone(), c.caller_number.clone(), c.caller_name.clone()));
            }
        }
        s
    }
}

impl ParkStore for MemoryStore {
    fn insert(&mut self, call: ParkedCall) {
        let t = self.tenants.entry(call.tenant.clone()).or_default();
        t.slots.entry(call.extension.clone()).or_default().push_back(call.uuid.clone());
        if let Some(g) = &call.group {
            t.groups.entry(g.clone()).or_default().insert(call.seq, call.uuid.clone());
        }
        self.calls.insert(call.uuid.clone(), call);
    }

    fn get(&self, uuid: &str) -> Option<&ParkedCall> {
        self.calls.get(uuid)
    }

    fn get_mut(&mut self, uuid: &str) -> Option<&mut ParkedCall> {
        self.calls.get_mut(uuid)
    }

    fn remove(&mut self, uuid: &str) -> Option<ParkedCall> {
        let call = self.calls.remove(uuid)?;
        if let Some(t) = self.tenants.get_mut(&call.tenant) {
            if let Some(q) = t.slots.get_mut(&call.extension) {
                q.retain(|u| u != uuid);
                if q.is_empty() {
                    t.slots.remove(&call.extension);
                }
            }
            if let Some(g) = &call.group {
                if let Some(m) = t.groups.get_mut(g) {
                    m.remove(&call.seq);
                    if m.is_empty() {
                        t.groups.remove(g);
                    }
                }
            }
            if t.slots.is_empty() && t.groups.is_empty() {
                self.tenants.remove(&call.tenant);
            }
        }
        Some(call)
    }

    fn slot_len(&self, tenant: &str, extension: &str) -> usize {
        self.tenants.get(tenant).and_then(|t| t.slots.get(extension)).map_or(0, |q| q.len())
    }

    fn oldest_in_slot(&self, tenant: &str, extension: &str) -> Option<&ParkedCall> {
        let q = self.tenants.get(tenant)?.slots.get(extension)?;
        q.iter().filter_map(|u| self.calls.get(u)).find(|c| c.claim.is_none())
    }

    fn oldest_in_group(&self, tenant: &str, group: &str) -> Option<&ParkedCall> {
        let m = self.tenants.get(tenant)?.groups.get(group)?;
        m.values().filter_map(|u| self.calls.get(u)).find(|c| c.claim.is_none())
    }

    fn slot_state(&self, tenant: &str, extension: &str) -> SlotState {
        match self.tenants.get(tenant).and_then(|t| t.slots.get(extension)) {
            Some(q) => self.state_of(q.iter()),
            None => SlotState::default(),
        }
    }

    fn group_state(&self, tenant: &str, group: &str) -> SlotState {
        match self.tenants.get(tenant).and_then(|t| t.groups.get(group)) {
            Some(m) => self.state_of(m.values()),
            None => SlotState::default(),
        }
    }

    fn calls(&self, tenant: Option<&str>) -> Vec<&ParkedCall> {
        let mut v: Vec<&ParkedCall> = match tenant {
            Some(t) => match self.tenants.get(t) {
                Some(tc) => tc.slots.values().flatten().filter_map(|u| self.calls.get(u)).collect(),
                None => Vec::new(),
            },
            None => self.calls.values().collect(),
        };
        v.sort_by_key(|c| c.seq);
        v
    }

    fn len(&self) -> usize {
        self.calls.len()
    }
}
