//! Claims: a call leaves the park through exactly one claim (retrieve, recall answer,
//! hand-off, abandon); a claim whose taker failed is put back with its timer.

use std::sync::atomic::Ordering;

use parking_lot::MutexGuard;

use super::clean::clean_id;
use super::{Inner, Posted, Shared};
use crate::error::CallError;
use crate::host::Action;
use crate::store::{Claim, RecallState};

impl Shared {
    /// Removes a claimed call and queues its lamps and event. Under the lock.
    pub(super) fn finish(
        &self,
        inner: &mut Inner,
        uuid: &str,
        action: Action,
        other: Option<&str>,
        detail: Option<String>,
    ) {
        if let Some(c) = inner.store.remove(uuid) {
            // A timer still armed (a call another node claimed and took over) goes too.
            self.forget_timer(c.due_ms.map(|d| (d, c.timer_gen)));
            Self::queue_lamps(inner, &c.tenant, &c.extension, c.group.as_deref());
            if c.park_info {
                let config = self.config.read().clone();
                Self::queue_park_info(inner, config.tenant(&c.tenant), &c.tenant, &c.extension, true);
            }
            let ev = Self::event(action, &c, other, Self::attempt_of(&c), detail);
            inner.outbox.push_back(ev);
        }
    }

    /// Claims `uuid` for `claim` if nobody has. Returns whether a recall was ringing.
    /// The pending timer is ignored from now on, but its deadline is kept for
    /// [`Shared::unclaim`].
    pub(super) fn claim(&self, inner: &mut Inner, uuid: &str, claim: Claim) -> Result<bool, CallError> {
        inner.gen += 1;
        let gen = inner.gen;
        let c = inner.store.claim(uuid, claim)?;
        let old = c.due_ms.map(|d| (d, c.timer_gen));
        c.timer_gen = gen;
        let ringing = matches!(c.recall, RecallState::Ringing(_)) || std::mem::take(&mut c.operator_ring);
        self.forget_timer(old);
        Ok(ringing)
    }

    /// Puts a claimed call back in the park (its taker failed), with its timer. Under the lock.
    pub(super) fn unclaim(&self, inner: &mut Inner, uuid: &str) {
        if inner.store.unclaim(uuid).is_some() {
            self.rearm(inner, uuid);
        }
    }

    /// Arms the timer of a call given back to the park. Under the lock.
    pub(super) fn rearm(&self, inner: &mut Inner, uuid: &str) {
        let Some(c) = inner.store.get_mut(uuid) else { return };
        // A recall that was ringing was cancelled when the call was claimed.
        if let RecallState::Ringing(n) = c.recall {
            c.recall = RecallState::Retrying(n);
        }
        let (state, due, retry) = (c.recall, c.due_ms, c.plan.retry_interval);
        match (state, due) {
            (RecallState::Retrying(_), _) => self.arm(inner, uuid, retry),
            (_, Some(d)) => self.arm_at(inner, uuid, d.max(self.clock.now_ms())),
            (_, None) => {}
        }
    }

    /// The parked caller `uuid` hung up (told by a switch's event thread). Carried out at
    /// once when the engine's lock is free (always, with a store of one switch, which
    /// holds it only for memory work); with a shared store, when the lock is taken (an
    /// operation may wait on the store), handed over to whoever delivers next and
    /// answered `Ok`, so that the switch's thread never waits on the store.
    pub(super) fn hangup(&self, uuid: &str) -> Result<(), CallError> {
        let uuid = clean_id("uuid", uuid).map_err(CallError::BadRequest)?;
        let inner = if self.shared_store { self.inner.try_lock() } else { Some(self.inner.lock()) };
        match inner {
            Some(inner) => self.abandon_locked(inner, uuid, "caller hung up", true),
            None => {
                self.post(Posted::Hangup(uuid.to_string()));
                Ok(())
            }
        }
    }

    /// The call leaves the park for good (`abandoned`, with `why`); a recall or
    /// operator's ring for it stops.
    pub(super) fn abandon(&self, uuid: &str, why: &str) -> Result<(), CallError> {
        self.abandon_locked(self.inner.lock(), uuid, why, false)
    }

    /// `event_thread`: told by a switch's event thread, which hands the delivery over.
    fn abandon_locked(
        &self,
        mut inner: MutexGuard<'_, Inner>,
        uuid: &str,
        why: &str,
        event_thread: bool,
    ) -> Result<(), CallError> {
        let ringing = match self.claim(&mut inner, uuid, Claim::Abandon) {
            // Its retriever on another node finds it gone (`Engine::take_over`).
            Err(CallError::AlreadyTaken) if inner.store.claimed_elsewhere(uuid) => false,
            r => r?,
        };
        self.finish(&mut inner, uuid, Action::Abandoned, None, Some(why.into()));
        let flush = inner.store.pending_writes();
        drop(inner);
        if ringing {
            self.host.cancel_ring(uuid);
        }
        if flush {
            self.flush_soon();
        }
        self.deliver_from(event_thread);
        Ok(())
    }

    /// Delivers the outbox; on a switch's event thread with a shared store, hands it to
    /// the timer thread instead (the delivery takes the engine's lock, which an operation
    /// waiting on the store may hold).
    pub(super) fn deliver_from(&self, event_thread: bool) {
        if event_thread && self.shared_store && self.wake.is_some() {
            self.flush_soon();
        } else {
            self.deliver();
        }
    }

    /// Hands `work` over to the next thread that delivers (or the timer thread).
    pub(super) fn post(&self, work: Posted) {
        self.posted.lock().push(work);
        self.flush_soon();
    }

    /// Wakes the timer thread to write what the shared store has not taken yet.
    pub(super) fn flush_soon(&self) {
        self.flush_due.store(true, Ordering::Release);
        if let Some(w) = &self.wake {
            let _ = w.try_send(());
        }
    }

    /// Carries out what event threads handed over.
    pub(super) fn run_posted(&self) {
        let work = std::mem::take(&mut *self.posted.lock());
        for w in work {
            match w {
                Posted::Hangup(uuid) => {
                    let _ = self.abandon(&uuid, "caller hung up");
                }
                Posted::Probe { tenant, target, subscriber } => {
                    let _ = self.probe_now(&tenant, &target, subscriber.as_deref());
                }
            }
        }
    }
}
