//! Recall: what a parked call's policy does next, as a pure function of its plan, its
//! recall state and what just happened. The engine applies the steps.

use crate::config::{RecallPlan, RecallPolicy};
use crate::store::RecallState;

/// What happened to a parked call's recall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Its timer lapsed.
    TimerLapsed,
    /// The host reports that attempt `n` failed (unregistered, rejected, busy, no answer).
    NoAnswer(u32),
}

/// Where a call goes when it leaves the park without being picked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandOff {
    RingGroup,
    FinalDestination,
}

/// What the engine must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Steps {
    pub next: RecallState,
    /// Stop the attempt that rings now.
    pub cancel_ring: bool,
    /// Start attempt `n`, ringing for this many seconds.
    pub ring: Option<(u32, u32)>,
    /// Arm the timer this many seconds from now.
    pub timer_secs: Option<u32>,
    pub hand_off: Option<HandOff>,
    /// The attempt that was not answered, if one just ended that way.
    pub unanswered: Option<u32>,
}

impl Steps {
    /// True when nothing happens: a late report, or a timer of a state already left.
    pub fn is_nothing(&self, from: RecallState) -> bool {
        *self == Steps::stay(from)
    }

    fn stay(state: RecallState) -> Self {
        Steps { next: state, cancel_ring: false, ring: None, timer_secs: None, hand_off: None, unanswered: None }
    }
}

/// The next steps for a call in `state` under `plan`, on `trigger`.
pub fn step(plan: &RecallPlan, state: RecallState, trigger: Trigger) -> Steps {
    let ring_secs = match plan.policy {
        RecallPolicy::ParkingUserThenRingGroup => plan.alert_wait,
        _ => plan.ring_time,
    };
    let ring = |n: u32| Steps {
        next: RecallState::Ringing(n),
        ring: Some((n, ring_secs)),
        timer_secs: Some(ring_secs),
        ..Steps::stay(RecallState::Ringing(n))
    };
    match (state, trigger) {
        (RecallState::Waiting, Trigger::TimerLapsed) => match plan.policy {
            RecallPolicy::RingGroup => Steps { hand_off: Some(HandOff::RingGroup), ..Steps::stay(state) },
            _ => ring(1),
        },
        (RecallState::Ringing(n), Trigger::TimerLapsed) => unanswered(plan, n, true),
        (RecallState::Ringing(n), Trigger::NoAnswer(m)) if n == m => unanswered(plan, n, false),
        (RecallState::Retrying(n), Trigger::TimerLapsed) => ring(n + 1),
        // A late report of an earlier attempt, or a timer of a state already left.
        _ => Steps::stay(state),
    }
}

fn unanswered(plan: &RecallPlan, n: u32, timed_out: bool) -> Steps {
    let base = Steps { cancel_ring: timed_out, unanswered: Some(n), ..Steps::stay(RecallState::Ringing(n)) };
    match plan.policy {
        RecallPolicy::ParkingUserThenRingGroup | RecallPolicy::RingGroup => {
            Steps { hand_off: Some(HandOff::RingGroup), ..base }
        }
        RecallPolicy::ParkingUser if n < plan.attempts => {
            Steps { next: RecallState::Retrying(n), timer_secs: Some(plan.retry_interval), ..base }
        }
        RecallPolicy::ParkingUser if plan.final_destination.is_some() => {
            Steps { hand_off: Some(HandOff::FinalDestination), ..base }
        }
        RecallPolicy::ParkingUser => Steps { next: RecallState::Exhausted, ..base },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Destination;

    fn plan(policy: RecallPolicy, final_dest: bool) -> RecallPlan {
        RecallPlan {
            policy,
            recall_time: 60,
            ring_time: 20,
            retry_interval: 10,
            attempts: 2,
            alert_wait: 15,
            ring_group: Some(Destination::parse("6000 XML acme").unwrap()),
            final_destination: final_dest.then(|| Destination::parse("voicemail").unwrap()),
            alternate_user: None,
            alert_info: String::new(),
            name_prefix: "Recall".into(),
            exit_key: None,
            exit_destination: None,
        }
    }

    #[test]
    fn parking_user_retries_then_final() {
        let p = plan(RecallPolicy::ParkingUser, true);
        let s = step(&p, RecallState::Waiting, Trigger::TimerLapsed);
        assert_eq!((s.next, s.ring, s.timer_secs), (RecallState::Ringing(1), Some((1, 20)), Some(20)));
        let s = step(&p, RecallState::Ringing(1), Trigger::TimerLapsed);
        assert_eq!(
            (s.next, s.cancel_ring, s.timer_secs, s.unanswered),
            (RecallState::Retrying(1), true, Some(10), Some(1))
        );
        let s = step(&p, RecallState::Retrying(1), Trigger::TimerLapsed);
        assert_eq!((s.next, s.ring), (RecallState::Ringing(2), Some((2, 20))));
        let s = step(&p, RecallState::Ringing(2), Trigger::NoAnswer(2));
        assert_eq!((s.hand_off, s.cancel_ring), (Some(HandOff::FinalDestination), false));
    }

    #[test]
    fn parking_user_without_final_destination_stays_parked() {
        let p = plan(RecallPolicy::ParkingUser, false);
        let s = step(&p, RecallState::Ringing(2), Trigger::TimerLapsed);
        assert_eq!((s.next, s.hand_off), (RecallState::Exhausted, None));
        assert_eq!(step(&p, RecallState::Exhausted, Trigger::TimerLapsed), Steps::stay(RecallState::Exhausted));
    }

    #[test]
    fn then_ring_group_rings_for_alert_wait() {
        let p = plan(RecallPolicy::ParkingUserThenRingGroup, false);
        let s = step(&p, RecallState::Waiting, Trigger::TimerLapsed);
        assert_eq!((s.ring, s.timer_secs), (Some((1, 15)), Some(15)));
        let s = step(&p, RecallState::Ringing(1), Trigger::NoAnswer(1));
        assert_eq!(s.hand_off, Some(HandOff::RingGroup));
    }

    #[test]
    fn ring_group_only_and_stale_reports() {
        let p = plan(RecallPolicy::RingGroup, false);
        assert_eq!(step(&p, RecallState::Waiting, Trigger::TimerLapsed).hand_off, Some(HandOff::RingGroup));
        let p = plan(RecallPolicy::ParkingUser, false);
        assert_eq!(step(&p, RecallState::Ringing(2), Trigger::NoAnswer(1)), Steps::stay(RecallState::Ringing(2)));
        assert_eq!(step(&p, RecallState::Waiting, Trigger::NoAnswer(1)), Steps::stay(RecallState::Waiting));
    }
}
