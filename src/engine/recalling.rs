//! Recalling: a parked call's recall moved on by its timer or by the host's report of
//! an attempt (answered, unanswered), as the plan says (`crate::recall`).

use std::sync::atomic::Ordering;

use super::clean::clean_id;
use super::operator::OPERATOR_RING;
use super::Shared;
use crate::config::Destination;
use crate::error::CallError;
use crate::host::{Action, BridgeError, LogLevel, Ring};
use crate::recall::{self, HandOff, Trigger};
use crate::store::{Claim, RecallState};

/// Which ring the host reports on. The host carries it as the ring's attempt number
/// (`cp_ring.attempt` of the C ABI, where [`OPERATOR_RING`] is the operator's); the
/// engine reads it once, into this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ringing {
    /// An operator's `callpark retrieve` ring: no part of the call's recall.
    Operator,
    /// Recall attempt `n` (from 1).
    Recall(u32),
}

impl Ringing {
    pub(super) fn of_attempt(attempt: u32) -> Ringing {
        if attempt == OPERATOR_RING {
            Ringing::Operator
        } else {
            Ringing::Recall(attempt)
        }
    }
}

/// Host work decided under the lock, done after it.
enum Act {
    CancelRing(String),
    Ring(Ring),
    Transfer { uuid: String, hand_off: HandOff, dest: Destination },
}

impl Shared {
    pub(super) fn recall_answered(&self, parked: &str, ring: Ringing, leg: &str) -> Result<(), CallError> {
        let parked = clean_id("uuid", parked).map_err(CallError::BadRequest)?;
        let leg = clean_id("leg uuid", leg).map_err(CallError::BadRequest)?;
        let ringing = {
            let mut inner = self.inner.lock();
            let ringing = self.claim(&mut inner, parked, Claim::RecallAnswer { leg: leg.to_string() })?;
            // The answer's own ring is over; an operator's ring or a recall attempt that
            // rings beside it is not (the host stops only legs not yet answered).
            ringing || ring == Ringing::Operator
        };
        if ringing {
            self.host.cancel_ring(parked);
        }
        let bridged = self.host.bridge(leg, parked, crate::host::Joining::RecallLeg);
        let mut inner = self.inner.lock();
        let result = match (bridged, ring) {
            (Ok(()), Ringing::Operator) => {
                self.finish(&mut inner, parked, Action::Retrieved, Some(leg), Some("operator".into()));
                Ok(())
            }
            (Ok(()), Ringing::Recall(attempt)) => {
                if let Some(c) = inner.store.get(parked).cloned() {
                    inner.outbox.push_back(Self::event(Action::RecallAnswered, &c, Some(leg), attempt, None));
                }
                self.finish(&mut inner, parked, Action::Retrieved, Some(leg), Some("recall".into()));
                Ok(())
            }
            (Err(BridgeError::ParkedGone(e)), _) => {
                self.finish(&mut inner, parked, Action::Abandoned, Some(leg), Some(format!("bridge failed: {e}")));
                Err(CallError::BridgeFailed(e))
            }
            (Err(BridgeError::Failed(e)), _) => {
                self.unclaim(&mut inner, parked);
                Err(CallError::BridgeFailed(e))
            }
        };
        drop(inner);
        self.deliver();
        result
    }

    pub(super) fn recall_failed(&self, parked: &str, ring: Ringing) -> Result<(), CallError> {
        let parked = clean_id("uuid", parked).map_err(CallError::BadRequest)?;
        let attempt = match ring {
            // An operator's ring nobody took changes nothing: the call stays as it is.
            Ringing::Operator => {
                if let Some(c) = self.inner.lock().store.get_mut(parked) {
                    c.operator_ring = false;
                }
                return Ok(());
            }
            Ringing::Recall(n) => n,
        };
        if !self.advance_recall(parked, Trigger::NoAnswer(attempt), None) {
            let inner = self.inner.lock();
            return match inner.store.get(parked) {
                None => Err(CallError::NotFound),
                Some(c) if c.claim.is_some() => Err(CallError::AlreadyTaken),
                Some(_) => Ok(()), // a late report of an earlier attempt: nothing to do
            };
        }
        Ok(())
    }

    /// Moves a call's recall on. `gen`: the timer that lapsed (ignored if replaced).
    /// Returns whether the call was found unclaimed.
    pub(super) fn advance_recall(&self, uuid: &str, trigger: Trigger, gen: Option<u64>) -> bool {
        let mut acts = Vec::new();
        'decide: {
            let mut inner = self.inner.lock();
            let Some(c) = inner.store.get(uuid) else { return false };
            if c.claim.is_some() || gen.is_some_and(|g| g != c.timer_gen) {
                return false;
            }
            if self.quiet.load(Ordering::SeqCst) {
                // Quiesced for an unload: the call stays as it is, for the next load.
                return true;
            }
            let steps = recall::step(&c.plan, c.recall, trigger);
            if steps.is_nothing(c.recall) {
                // Leave the pending timer alone: the report is late or the timer stale.
                return true;
            }
            let c = c.clone();
            let target = c.plan.alternate_user.clone().unwrap_or_else(|| c.parking_user.clone());
            if steps.cancel_ring {
                acts.push(Act::CancelRing(uuid.into()));
            }
            if let Some(n) = steps.unanswered {
                inner.outbox.push_back(Self::event(Action::RecallNoAnswer, &c, None, n, Some(target.clone())));
            }
            if let Some(h) = steps.hand_off {
                let claim = match h {
                    HandOff::RingGroup => Claim::RingGroup,
                    HandOff::FinalDestination => Claim::FinalDestination,
                };
                let dest = match h {
                    HandOff::RingGroup => c.plan.ring_group.clone(),
                    HandOff::FinalDestination => c.plan.final_destination.clone(),
                };
                let ringing = match self.claim(&mut inner, uuid, claim) {
                    Ok(r) => r,
                    // The shared store is away: the hand-off is tried again after the
                    // retry interval; a ring to stop is still stopped.
                    Err(CallError::Store(_)) => {
                        self.arm(&mut inner, uuid, c.plan.retry_interval);
                        acts.retain(|a| matches!(a, Act::CancelRing(_)));
                        break 'decide;
                    }
                    // Another node claimed it first (a shared store): then it is theirs.
                    Err(_) => return false,
                };
                if ringing && !steps.cancel_ring && steps.unanswered.is_none() {
                    acts.push(Act::CancelRing(uuid.into()));
                }
                match dest {
                    Some(dest) => acts.push(Act::Transfer { uuid: uuid.into(), hand_off: h, dest }),
                    None => unreachable!("configuration validation requires the destination of a policy"),
                }
            } else {
                let lamp_changed =
                    matches!(steps.next, RecallState::Ringing(_)) != matches!(c.recall, RecallState::Ringing(_));
                if let Some(cm) = inner.store.get_mut(uuid) {
                    cm.recall = steps.next;
                }
                match steps.timer_secs {
                    Some(s) => self.arm(&mut inner, uuid, s),
                    None => self.disarm(&mut inner, uuid),
                }
                if let Some((n, secs)) = steps.ring {
                    inner.outbox.push_back(Self::event(Action::RecallStarted, &c, None, n, Some(target.clone())));
                    acts.push(Act::Ring(Ring {
                        parked_uuid: uuid.into(),
                        tenant: c.tenant.clone(),
                        extension: target.clone(),
                        seconds: secs,
                        attempt: n,
                        caller_number: c.caller_number.clone(),
                        caller_name: recall_name(&c.plan.name_prefix, &c.extension, &c.caller_name, &c.caller_number),
                        alert_info: c.plan.alert_info.clone(),
                    }));
                }
                if steps.next == RecallState::Exhausted && c.recall != RecallState::Exhausted {
                    inner.outbox.push_back(Self::event(Action::RecallExhausted, &c, None, Self::attempt_of(&c), None));
                }
                if lamp_changed {
                    Self::queue_lamps(&mut inner, &c.tenant, &c.extension, c.group.as_deref());
                }
            }
        }
        self.deliver();
        for act in acts {
            match act {
                Act::CancelRing(u) => self.host.cancel_ring(&u),
                Act::Ring(r) => {
                    if let Err(e) = self.host.ring(&r) {
                        self.host.log(
                            LogLevel::Info,
                            &format!(
                                "callpark: recall of {} to {}@{} failed at once: {}",
                                r.parked_uuid, r.extension, r.tenant, e.0
                            ),
                        );
                        self.advance_recall(&r.parked_uuid, Trigger::NoAnswer(r.attempt), None);
                    }
                }
                Act::Transfer { uuid, hand_off, dest } => {
                    let (action, what) = match hand_off {
                        HandOff::RingGroup => (Action::SentToRingGroup, "ring group"),
                        HandOff::FinalDestination => (Action::SentToFinalDestination, "final destination"),
                    };
                    let r = self.host.transfer(&uuid, &dest);
                    {
                        let mut inner = self.inner.lock();
                        match &r {
                            Ok(()) => self.finish(&mut inner, &uuid, action, None, Some(dest.to_string())),
                            Err(e) => {
                                let why = format!("{what} transfer failed: {}", e.0);
                                self.finish(&mut inner, &uuid, Action::Abandoned, None, Some(why));
                            }
                        }
                    }
                    if let Err(e) = r {
                        self.host.log(
                            LogLevel::Error,
                            &format!("callpark: transfer of {uuid} to {what} {dest} failed: {}", e.0),
                        );
                    }
                    self.deliver();
                }
            }
        }
        true
    }
}

/// What a recalled phone shows: `<prefix> <slot> - <caller's name, else number>`, so that
/// the parking user tells a recall from a new call; with no prefix, the caller's name.
pub(super) fn recall_name(prefix: &str, slot: &str, name: &str, number: &str) -> String {
    let who = if name.is_empty() { number } else { name };
    match (prefix.is_empty(), who.is_empty()) {
        (true, _) => name.to_string(),
        (false, true) => format!("{prefix} {slot}"),
        (false, false) => format!("{prefix} {slot} - {who}"),
    }
}

#[cfg(test)]
mod tests {
    use super::recall_name;

    #[test]
    fn a_recall_says_what_it_is() {
        assert_eq!(recall_name("Recall", "102", "Jane Doe", "5551234"), "Recall 102 - Jane Doe");
        assert_eq!(recall_name("Recall", "102", "", "5551234"), "Recall 102 - 5551234");
        assert_eq!(recall_name("Park", "alice", "", ""), "Park alice");
        assert_eq!(recall_name("", "102", "Jane Doe", "5551234"), "Jane Doe");
    }
}
