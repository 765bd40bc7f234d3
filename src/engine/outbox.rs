//! The outbox: notices (lamps, messages, events) queued under the engine's lock in the
//! order their changes happened, and delivered to the host after it, by one thread at
//! a time. A probe is answered through it too.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use super::clean::{clean_id, clean_tenant};
use super::{Inner, Posted, Shared};
use crate::codes::BLF_PREFIX;
use crate::config::Tenant;
use crate::error::CallError;
use crate::host::{Action, Event, Notice, ParkInfo, Presence, Target};
use crate::identity::valid_user;
use crate::park_info::body as callpark_info_body;
use crate::store::{ParkedCall, RecallState};

impl Shared {
    /// Delivers queued notices in order; returns at once if another thread delivers.
    pub(super) fn deliver(&self) {
        if !self.posted.lock().is_empty() {
            self.run_posted();
        }
        loop {
            if self.delivering.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
                return;
            }
            // The outbox is swapped with an empty buffer (kept between deliveries in
            // `spare`), so that neither side allocates once both have grown.
            let mut batch = VecDeque::new();
            loop {
                let logs = {
                    let mut inner = self.inner.lock();
                    let logs = std::mem::take(&mut inner.logs);
                    if inner.outbox.is_empty() {
                        if batch.capacity() > inner.spare.capacity() {
                            inner.spare = batch;
                        }
                        drop(inner);
                        for (level, line) in &logs {
                            self.host.log(*level, line);
                        }
                        break;
                    }
                    if batch.capacity() == 0 {
                        batch = std::mem::take(&mut inner.spare);
                    }
                    std::mem::swap(&mut batch, &mut inner.outbox);
                    logs
                };
                for (level, line) in &logs {
                    self.host.log(*level, line);
                }
                let config = self.config.read().clone();
                for mut n in batch.drain(..) {
                    // A lamp shows a parked call as its tenant says, as configured now, and
                    // is published under a lot's other names too (`park+*5901`); a tenant
                    // with `lamps` `none` publishes none. An event carries the channel's
                    // data as the tenant says.
                    let mut alias = None;
                    if let Notice::Event(e) = &mut n {
                        e.channel_data = config.tenant(&e.tenant).event_channel_data;
                    }
                    if let Notice::Presence(p) = &mut n {
                        let t = config.tenant(&p.tenant);
                        if !t.lamps && !p.last_word {
                            continue;
                        }
                        let other = match &p.target {
                            Target::Extension(e) => {
                                p.parked_as = t.lamp_state_of_slot(e);
                                t.lot_of(e).filter(|l| !l.prefix.is_empty()).map(|l| Target::Extension(l.slot_name(e)))
                            }
                            Target::Group(g) => {
                                p.parked_as = t.lamp_state_of_key(g);
                                t.lot(g).and_then(|l| l.number.clone()).map(Target::Group)
                            }
                        };
                        alias = other.map(|target| Notice::Presence(Presence { target, ..p.clone() }));
                    }
                    self.host.notify(&n);
                    if let Some(a) = alias {
                        self.host.notify(&a);
                    }
                }
            }
            self.delivering.store(false, Ordering::Release);
            if self.inner.lock().outbox.is_empty() {
                return;
            }
        }
    }

    /// Queues the lamps of `call`'s slot and group. Under the lock.
    pub(super) fn queue_lamps(inner: &mut Inner, tenant: &str, extension: &str, group: Option<&str>) {
        let lamp = |target, state| Notice::Presence(Presence::new(tenant, target, state, None));
        let state = inner.store.slot_state(tenant, extension);
        inner.outbox.push_back(lamp(Target::Extension(extension.into()), state));
        if let Some(g) = group {
            let state = inner.store.group_state(tenant, g);
            inner.outbox.push_back(lamp(Target::Group(g.into()), state));
        }
    }

    /// Queues the visual park notices of a change at `extension` (tenants with
    /// `notices` `callpark-info` or `both`): to it, and to every other member of its group
    /// whose own slot is empty, each showing what `*88` would pick up there (the oldest
    /// call at its extension, else in its group) or nothing. Under the lock.
    /// `told`: the call that left was parked with visual notices (sent whatever the
    /// tenant's setting is now).
    pub(super) fn queue_park_info(inner: &mut Inner, t: &Tenant, tenant: &str, extension: &str, told: bool) {
        // A lot's slot has no phones of its own to tell.
        if (!t.notices.callpark_info && !told) || t.lot_of(extension).is_some() {
            return;
        }
        let group = t.group_of(extension);
        let others = group.map(|g| &g.members[..]).unwrap_or(&[]);
        let own = std::iter::once(extension).chain(others.iter().map(String::as_str).filter(|m| *m != extension));
        for to in own {
            let mine = inner.store.oldest_in_slot(tenant, to);
            if to != extension && mine.is_some() {
                continue; // its notice shows its own call, which did not change
            }
            let shown = mine.or_else(|| group.and_then(|g| inner.store.oldest_in_group(tenant, &g.name)));
            let body = callpark_info_body(tenant, shown.map(|c| (c.caller_number.as_str(), c.caller_name.as_str())));
            inner.outbox.push_back(Notice::ParkInfo(ParkInfo { tenant: tenant.into(), extension: to.into(), body }));
        }
    }

    pub(super) fn event(
        action: Action,
        c: &ParkedCall,
        other: Option<&str>,
        attempt: u32,
        detail: Option<String>,
    ) -> Notice {
        Notice::Event(Event {
            action,
            tenant: c.tenant.clone(),
            extension: c.extension.clone(),
            group: c.group.clone(),
            uuid: c.uuid.clone(),
            other_uuid: other.map(str::to_string),
            parking_user: c.parking_user.clone(),
            caller_number: c.caller_number.clone(),
            caller_name: c.caller_name.clone(),
            attempt,
            detail,
            adopted: false,
            channel_data: true,
        })
    }

    pub(super) fn attempt_of(c: &ParkedCall) -> u32 {
        match c.recall {
            RecallState::Ringing(n) | RecallState::Retrying(n) => n,
            _ => 0,
        }
    }

    /// Answers a new subscriber of `target` (told by a switch's event thread): at once
    /// when the engine's lock is free, else handed over (see [`Shared::hangup`]).
    pub(super) fn probe(&self, tenant: &str, target: &str, subscriber: Option<&str>) -> Result<(), CallError> {
        self.answer_probe(tenant, target, subscriber, false)
    }

    /// [`Shared::probe`], waiting for the lock: work handed over.
    pub(super) fn probe_now(&self, tenant: &str, target: &str, subscriber: Option<&str>) -> Result<(), CallError> {
        self.answer_probe(tenant, target, subscriber, true)
    }

    fn answer_probe(&self, tenant: &str, target: &str, subscriber: Option<&str>, wait: bool) -> Result<(), CallError> {
        let tenant = clean_tenant(tenant).map_err(CallError::BadRequest)?;
        let bare = target.strip_prefix(BLF_PREFIX).unwrap_or(target);
        let bare = match bare.split_once('@') {
            Some((name, domain)) if domain.eq_ignore_ascii_case(&tenant) => name,
            Some(_) => return Err(CallError::NotFound),
            None => bare,
        };
        let subscriber = match subscriber {
            Some(s) if !s.is_empty() => Some(clean_id("subscriber", s).map_err(CallError::BadRequest)?),
            _ => None,
        };
        let config = self.config.read().clone();
        let t = config.tenant(&tenant);
        // A number is a slot, a group's name its lamp, any other user id (`park+alice`) a
        // slot too: the same slots a park key parks at.
        let target = if let Some((lot, slot)) = t.lot_dialed(bare) {
            // A lot's slot by its prefix (`park+*5901`), or the lot by its number.
            match slot {
                Some(s) => Target::Extension(s.into()),
                None => Target::Group(lot.name.clone()),
            }
        } else if !bare.is_empty() && bare.len() <= 20 && bare.bytes().all(|b| b.is_ascii_digit()) {
            Target::Extension(bare.into())
        } else if t.group(bare).is_some() || t.lot(bare).is_some() {
            Target::Group(bare.into())
        } else if valid_user(bare) && (self.host.user_exists(&tenant, bare) || self.holds_calls_at(&tenant, bare)) {
            Target::Extension(bare.into())
        } else {
            return Err(CallError::NotFound);
        };
        {
            let mut inner = match self.inner.try_lock() {
                Some(inner) => inner,
                None if wait || !self.shared_store => self.inner.lock(),
                None => {
                    let (tenant, target) = (tenant.into_owned(), target_text(&target));
                    let subscriber = subscriber.map(str::to_string);
                    self.post(Posted::Probe { tenant, target, subscriber });
                    return Ok(());
                }
            };
            let state = match &target {
                Target::Extension(e) => inner.store.slot_state(&tenant, e),
                Target::Group(g) => inner.store.group_state(&tenant, g),
            };
            inner.outbox.push_back(Notice::Presence(Presence::new(&tenant, target, state, subscriber)));
        }
        self.deliver_from(!wait);
        Ok(())
    }
}

impl Shared {
    /// Whether calls are parked at `extension` of `tenant` (as the engine last saw).
    fn holds_calls_at(&self, tenant: &str, extension: &str) -> bool {
        self.inner.try_lock().is_some_and(|i| i.store.slot_len(tenant, extension) > 0)
    }
}

/// A lamp's target as a probe names it.
fn target_text(t: &Target) -> String {
    match t {
        Target::Extension(e) | Target::Group(e) => e.clone(),
    }
}
