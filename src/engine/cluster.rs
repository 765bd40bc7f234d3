//! What a park shared by several switches adds to the rules: reading what the other
//! nodes changed (their lamps, the calls of a node that stopped), and taking over, on
//! the node that holds a call, the retriever another node sent with a token.

use super::park::park_messages;
use super::{DialOutcome, Engine, Inner, Shared};
use crate::error::DialError;
use crate::host::{Action, BridgeError, LogLevel};
use crate::store::StoreStatus;
use parking_lot::MutexGuard;
use std::sync::atomic::Ordering;

impl Shared {
    /// The engine's lock, with the store up to date with the other nodes.
    pub(super) fn lock_fresh(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock();
        self.refresh(&mut inner);
        inner
    }

    /// Takes in what the other nodes changed: lamps of the slots they changed, an
    /// `abandoned` event for each call of a node that stopped, timers of calls given
    /// back. A store that cannot be reached is logged once, until it answers again; the
    /// park goes on with what this node last saw. Under the lock.
    pub(super) fn refresh(&self, inner: &mut Inner) {
        match inner.store.refresh() {
            Ok(r) => {
                if self.store_down.swap(false, Ordering::SeqCst) {
                    inner.logs.push((LogLevel::Notice, "callpark: the park store answers again".into()));
                }
                let config = self.config.read().clone();
                for p in &r.places {
                    Self::queue_lamps(inner, &p.tenant, &p.extension, p.group.as_deref());
                    // The visual park notice shows what *88 picks up there, as the lamp.
                    Self::queue_park_info(inner, config.tenant(&p.tenant), &p.tenant, &p.extension, false);
                }
                for c in &r.lost {
                    let ev = Self::event(
                        Action::Abandoned,
                        c,
                        None,
                        Self::attempt_of(c),
                        Some(format!("node {} stopped", c.node)),
                    );
                    inner.outbox.push_back(ev);
                }
                for uuid in &r.released {
                    self.rearm(inner, uuid);
                }
                if !r.arrived.is_empty() {
                    for c in &r.arrived {
                        let t = config.tenant(&c.tenant);
                        let group = c.group.as_deref().and_then(|g| t.group(g)).filter(|_| c.group_park);
                        let recipients = match group {
                            Some(g) => &g.members[..],
                            None => std::slice::from_ref(&c.extension),
                        };
                        let (number, name) = (&c.caller_number, &c.caller_name);
                        park_messages(
                            t,
                            &c.tenant,
                            &c.extension,
                            &c.parking_user,
                            number,
                            name,
                            recipients,
                            &mut inner.outbox,
                        );
                    }
                }
            }
            Err(e) => {
                if !self.store_down.swap(true, Ordering::SeqCst) {
                    inner.logs.push((
                        LogLevel::Error,
                        format!("callpark: {e}; this node keeps serving the calls it holds, and parks on itself, until it answers"),
                    ));
                }
            }
        }
    }
}

impl Engine {
    /// Reads what the other nodes changed and tells this node's phones (the engine's
    /// timer thread does it every [`SYNC_MS`] with a shared store).
    pub fn sync(&self) {
        {
            let mut inner = self.shared.inner.lock();
            self.shared.refresh(&mut inner);
        }
        self.shared.deliver();
    }

    /// A retriever sent by another node arrived here on `leg_uuid` with `token`: it is
    /// bridged to the call the token is for, held here, which leaves the park
    /// (`retrieved`). A token unknown, used, expired or not for this node is `NotFound`.
    /// It must come from `from`, the host of a node seen alive in the store.
    pub fn take_over(&self, token: &str, leg_uuid: &str, from: &str) -> Result<DialOutcome, DialError> {
        let bad = |e: String| DialError::BadRequest(e);
        let token = super::clean::clean_id("token", token).map_err(bad)?;
        let leg = super::clean::clean_id("uuid", leg_uuid).map_err(bad)?;
        let s = &self.shared;
        let (parked, extension, ringing) = {
            // Checked against the nodes known before anything is written: a call from
            // anywhere else changes nothing in the store.
            let mut inner = s.inner.lock();
            if inner.store.node_at(from).map_err(DialError::Store)?.is_none() {
                return Err(DialError::NotANode { from: from.into() });
            }
            let parked = inner.store.redeem(token).map_err(DialError::Store)?;
            let found = parked.and_then(|p| inner.store.get(&p).map(|c| (p, c.extension.clone(), c.recall)));
            let Some((parked, extension, recall)) = found else {
                return Err(DialError::NotParked { uuid: format!("for token {token}") });
            };
            (parked, extension, matches!(recall, crate::store::RecallState::Ringing(_)))
        };
        if ringing {
            s.host.cancel_ring(&parked);
        }
        let bridged = s.host.bridge(leg, &parked);
        let mut inner = s.inner.lock();
        let result = match bridged {
            Ok(()) => {
                s.finish(&mut inner, &parked, Action::Retrieved, Some(leg), None);
                Ok(DialOutcome::Retrieved { parked_uuid: parked, extension })
            }
            Err(BridgeError::ParkedGone(e)) => {
                s.finish(&mut inner, &parked, Action::Abandoned, Some(leg), Some(format!("bridge failed: {e}")));
                Err(DialError::HostFailed(e))
            }
            Err(BridgeError::Failed(e)) => {
                s.unclaim(&mut inner, &parked);
                Err(DialError::HostFailed(e))
            }
        };
        drop(inner);
        s.deliver();
        result
    }

    /// The store behind the park, this node and the other nodes seen.
    pub fn store_status(&self) -> StoreStatus {
        self.shared.inner.lock().store.status()
    }
}

/// What a node dials at another to hand it a retriever: `callpark-handover-<token>`.
pub const HANDOVER_PREFIX: &str = "callpark-handover-";

/// How often the timer thread reads what other nodes changed, with a shared store.
pub const SYNC_MS: u64 = 250;
