//! The timer index (every pending recall deadline, earliest first) and the thread
//! that fires it; with [`Timing::Manual`](super::Timing::Manual),
//! [`Engine::advance`] fires it instead.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::{Engine, Inner, Shared};
use crate::clock::Clock;
use crate::recall::Trigger;

/// Pending timers by (deadline ms, generation): the call's uuid. A call has at most one;
/// it is removed when the call's timer is replaced, disarmed or claimed.
pub(super) type Timers = BTreeMap<(u64, u64), String>;

impl Engine {
    /// Manual timing only: moves the clock forward by `ms`, firing every timer due on
    /// the way, each at its own deadline. Returns false with the thread timing.
    pub fn advance(&self, ms: u64) -> bool {
        let Some(clock) = &self.manual else { return false };
        let target = clock.now_ms().saturating_add(ms);
        loop {
            let next = self.shared.timers.lock().first_key_value().map(|(&(d, _), _)| d);
            match next {
                Some(d) if d <= target => {
                    if d > clock.now_ms() {
                        clock.advance(d - clock.now_ms());
                    }
                    self.shared.run_due();
                }
                _ => break,
            }
        }
        let now = clock.now_ms();
        if target > now {
            clock.advance(target - now);
        }
        true
    }
}

/// The timer thread of [`Timing::Thread`](super::Timing::Thread): sleeps until the earliest deadline or a
/// wake-up (a new earliest timer, or the engine stopping).
pub(super) fn timer_thread(s: &Shared, rx: Receiver<()>) {
    loop {
        let next = s.timers.lock().first_key_value().map(|(&(d, _), _)| d);
        let mut wait = match next {
            Some(d) => Duration::from_millis(d.saturating_sub(s.clock.now_ms())),
            None => Duration::from_secs(3600),
        };
        if s.shared_store {
            wait = wait.min(Duration::from_millis(super::SYNC_MS));
        }
        let woken = rx.recv_timeout(wait);
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        match woken {
            // Woken to write what the shared store has not taken yet (a caller who left),
            // or to carry out what an event thread handed over.
            Ok(()) if s.flush_due.swap(false, Ordering::AcqRel) => {
                // Steady wake-ups must not starve the timers nor the commands.
                s.run_due();
                if s.shared_store {
                    let mut inner = s.inner.lock();
                    s.refresh(&mut inner);
                }
                s.deliver();
                s.run_commands();
            }
            Ok(()) => {}
            Err(RecvTimeoutError::Timeout) => {
                s.run_due();
                if s.shared_store {
                    let mut inner = s.inner.lock();
                    s.refresh(&mut inner);
                    drop(inner);
                    s.deliver();
                    s.run_commands();
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl Shared {
    /// Arms `call`'s timer `secs` from now, replacing any pending one. Under the lock.
    pub(super) fn arm(&self, inner: &mut Inner, uuid: &str, secs: u32) {
        self.arm_at(inner, uuid, self.clock.now_ms().saturating_add(u64::from(secs) * 1000));
    }

    /// Arms `call`'s timer for `due` (ms), replacing any pending one. Under the lock.
    pub(super) fn arm_at(&self, inner: &mut Inner, uuid: &str, due: u64) {
        inner.gen += 1;
        let gen = inner.gen;
        let old = match inner.store.get_mut(uuid) {
            Some(c) => {
                let old = c.due_ms.map(|d| (d, c.timer_gen));
                c.timer_gen = gen;
                c.due_ms = Some(due);
                old
            }
            None => None,
        };
        self.push_timer(old, due, gen, uuid);
    }

    /// Replaces the pending timer `old` (if still pending) with one at `due`. Under the lock.
    pub(super) fn push_timer(&self, old: Option<(u64, u64)>, due: u64, gen: u64, uuid: &str) {
        let mut timers = self.timers.lock();
        if let Some(old) = old {
            timers.remove(&old);
        }
        let earliest = timers.first_key_value().is_none_or(|(&(d, _), _)| due < d);
        timers.insert((due, gen), uuid.to_string());
        drop(timers);
        if earliest {
            if let Some(w) = &self.wake {
                let _ = w.try_send(());
            }
        }
    }

    /// Disarms `call`'s timer. Under the lock.
    pub(super) fn disarm(&self, inner: &mut Inner, uuid: &str) {
        inner.gen += 1;
        let gen = inner.gen;
        if let Some(c) = inner.store.get_mut(uuid) {
            let old = c.due_ms.map(|d| (d, c.timer_gen));
            c.timer_gen = gen;
            c.due_ms = None;
            self.forget_timer(old);
        }
    }

    /// Removes the pending timer `old`, if it is still pending. Under the lock.
    pub(super) fn forget_timer(&self, old: Option<(u64, u64)>) {
        if let Some(old) = old {
            self.timers.lock().remove(&old);
        }
    }

    pub(super) fn run_due(&self) {
        let now = self.clock.now_ms();
        let mut due = Vec::new();
        {
            let mut timers = self.timers.lock();
            while let Some(entry) = timers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let ((_, gen), uuid) = entry.remove_entry();
                due.push((gen, uuid));
            }
        }
        for (gen, uuid) in due {
            self.advance_recall(&uuid, Trigger::TimerLapsed, Some(gen));
        }
    }
}
