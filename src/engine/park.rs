//! The parking rules: a dialed code parks the call (at the parking user's own
//! extension, at another, or at the first free member of a group) or retrieves one;
//! a park that fails sends the call back to whoever transferred it, and a call sent back
//! that nobody takes is parked at that user's own extension.

use std::collections::VecDeque;
use std::sync::Arc;

use super::clean::{clean_id, clean_name, clean_number, clean_tenant, clean_user};
use super::{DialOutcome, DialRequest, Inner, Shared};
use crate::codes::{self, Intent};
use crate::config::{Lot, LotChoice, RecallPlan, Tenant};
use crate::error::{CallError, DialError, DialFailure};
use crate::host::{Action, BridgeError, Event, LogLevel, Message, Notice};
use crate::identity::valid_user;
use crate::store::{Claim, InsertError, ParkedCall, RecallState};

/// A call about to be parked: what park and adopt each know of it.
pub(super) struct NewCall<'a> {
    pub tenant: &'a str,
    pub uuid: &'a str,
    pub extension: &'a str,
    pub parking_user: &'a str,
    /// Cleaned ([`clean_number`], [`clean_name`]).
    pub caller_number: String,
    pub caller_name: String,
    pub music: String,
    pub parked_at_ms: u64,
    /// When the recall timer lapses; `None`: never (a call's own timeout of 0).
    pub due_ms: Option<u64>,
    pub plan: Arc<RecallPlan>,
}

/// The plan of a call parked at `from_ms` with its own recall time `own` (see
/// [`crate::config::own_recall_time`]), and when its recall timer lapses (`None`: never).
pub(super) fn own_recall(plan: &Arc<RecallPlan>, own: Option<u32>, from_ms: u64) -> (Arc<RecallPlan>, Option<u64>) {
    let at = |s: u32| Some(from_ms.saturating_add(u64::from(s) * 1000));
    match own {
        None => (plan.clone(), at(plan.recall_time)),
        Some(0) => (plan.clone(), None),
        Some(s) if s == plan.recall_time => (plan.clone(), at(s)),
        Some(s) => (Arc::new(RecallPlan { recall_time: s, ..(**plan).clone() }), at(s)),
    }
}

/// Where `uuid` stands among the calls waiting at `ext` (1: the oldest, what `*88<ext>`
/// takes; `*88<ext>*<n>` takes the `n`-th).
pub(super) fn place_in_slot(inner: &Inner, tenant: &str, ext: &str, uuid: &str) -> usize {
    let waiting = inner.store.calls(Some(tenant));
    let mut here = waiting.iter().filter(|c| c.extension == ext && c.claim.is_none());
    here.position(|c| c.uuid == uuid).map_or(1, |p| p + 1)
}

/// The recall plan and hold music of a call parked in `lot` (its own, over the
/// tenant's), else of one parked by `parking_user`: its group's, else the tenant's.
pub(super) fn terms<'t>(t: &'t Tenant, lot: Option<&'t Lot>, parking_user: &str) -> (&'t Arc<RecallPlan>, String) {
    if let Some(l) = lot {
        return (&l.recall, l.music.clone());
    }
    let group = t.group_of(parking_user);
    let plan = group.map_or(&t.recall, |g| &g.recall);
    let music = group.map(|g| g.music.as_str()).filter(|m| !m.is_empty()).unwrap_or(&t.music);
    (plan, music.to_string())
}

/// The text messages of a park at `ext` of `tenant`: "<who> parked on <ext>, dial
/// <retrieve code><ext>" to `recipients` (its extension, or every member after a group
/// park) when the tenant sends messages, and "Parked <who> at <ext>, dial ..." to the
/// parking user when that does not reach it already (above all after *58, where it did
/// not choose). Each node of a shared park sends them to the phones registered with it.
#[allow(clippy::too_many_arguments)]
pub(super) fn park_messages(
    t: &Tenant,
    tenant: &str,
    ext: &str,
    parking_user: &str,
    caller_number: &str,
    caller_name: &str,
    recipients: &[String],
    position: usize,
    out: &mut VecDeque<Notice>,
) {
    // Behind other calls at the slot: the code that takes this one (`*88102*2`); a slot
    // of a lot with a prefix is dialed as such (`*5901`).
    let code = if let Some(l) = t.lot_of(ext).filter(|l| !l.prefix.is_empty()) {
        l.slot_name(ext)
    } else if position > 1 {
        format!("{}{ext}*{position}", t.codes.retrieve)
    } else {
        format!("{}{ext}", t.codes.retrieve)
    };
    let mut text = String::with_capacity(caller_number.len() + caller_name.len() + 64);
    if caller_name.is_empty() || caller_name == caller_number {
        text.push_str(caller_number);
    } else if caller_number.is_empty() {
        text.push_str(caller_name);
    } else {
        for part in [caller_number, " (", caller_name, ")"] {
            text.push_str(part);
        }
    }
    if text.is_empty() {
        text.push_str("A call");
    }
    let who_len = text.len();
    for part in [" parked on ", ext, ", dial ", &code] {
        text.push_str(part);
    }
    let message = |r: &str, text: String| Notice::Message(Message { tenant: tenant.into(), extension: r.into(), text });
    let told = (t.tell_parker && !recipients.iter().any(|r| r == parking_user)).then(|| {
        let mut told = String::with_capacity(who_len + 32);
        for part in ["Parked ", &text[..who_len], " at ", ext, ", dial ", &code] {
            told.push_str(part);
        }
        told
    });
    if let Some((last, rest)) = recipients.split_last().filter(|_| t.notices.message) {
        for r in rest {
            out.push_back(message(r, text.clone()));
        }
        out.push_back(message(last, text));
    }
    if let Some(told) = told {
        out.push_back(message(parking_user, told));
    }
}

/// Where a retrieve looks: the retriever's own extension (then its group), a slot, a group.
enum Where {
    Own,
    Slot(String),
    Group(String),
    /// The `n`-th call at the slot in park order (1: the oldest).
    Nth(String, u32),
}

/// Where a park puts the call.
enum Spot {
    /// The parking user's own extension (`*68`, a call sent back to be parked).
    Own,
    /// An extension, or a slot of a lot (`*68<ext>`, a call transferred to `park+<ext>`).
    At(String),
    /// The first free member of the parking user's group (`*58`).
    OwnGroup,
    /// The first free member of the group of this name (a call transferred to its key).
    Group(String),
    /// A free slot of the lot of this name (its key or number).
    Lot(String),
}

/// What a dial does, as the engine decides it from the code parsed ([`Intent`]), the
/// tenant's lots and groups, and whether the call was transferred there.
enum Decision {
    Park(Spot),
    Retrieve(Where),
}

/// What `req` asks of tenant `t`: a park key or a lot's number parks when the call was
/// transferred to it and retrieves when a phone dialed it.
fn decide(t: &Tenant, req: &DialRequest) -> Result<Decision, codes::CodeError> {
    let bare = req.dialed.strip_prefix(codes::BLF_PREFIX).unwrap_or(req.dialed);
    let lot_dialed = t.lot_dialed(bare);
    match codes::parse(req.dialed, &t.codes, t.extensions) {
        _ if req.back_to_park => Ok(Decision::Park(Spot::Own)),
        // A lot's number (valet parking's `*5900`, Asterisk's parking extension)
        // parks in the lot: the call transferred to it, or the call that dials it (a
        // consult call, which hears its slot, then swaps in the caller by an attended
        // transfer). A slot by its prefix (`*5901`): transferred to, it parks there;
        // dialed, it picks up from there.
        _ if lot_dialed.is_some() => {
            let (lot, slot) = lot_dialed.expect("matched");
            Ok(match (slot, req.transferred) {
                (Some(s), true) => Decision::Park(Spot::At(s.into())),
                (Some(s), false) => Decision::Retrieve(Where::Slot(s.into())),
                (None, _) => Decision::Park(Spot::Lot(lot.name.clone())),
            })
        }
        // A park key: pressed during a call (the call transferred to it) it parks there;
        // dialed by a phone, it picks up from there. A key of no group is a user's own
        // slot (park+alice), if it names a user id.
        Ok(Intent::Key { target, group }) => {
            let of_lot = group && t.lot(&target).is_some();
            let of_group = group && (of_lot || t.group(&target).is_some());
            match (of_group, req.transferred) {
                _ if group && !of_group && !valid_user(&target) => Err(codes::CodeError::Unknown(req.dialed.into())),
                // A lot's key: parks in a free slot; dialed, picks up its oldest call.
                (true, true) if of_lot => Ok(Decision::Park(Spot::Lot(target))),
                (true, true) => Ok(Decision::Park(Spot::Group(target))),
                (true, false) => Ok(Decision::Retrieve(Where::Group(target))),
                (false, true) => Ok(Decision::Park(Spot::At(target))),
                (false, false) => Ok(Decision::Retrieve(Where::Slot(target))),
            }
        }
        Ok(Intent::ParkOwn) => Ok(Decision::Park(Spot::Own)),
        Ok(Intent::ParkAt(ext)) => Ok(Decision::Park(Spot::At(ext))),
        Ok(Intent::GroupPark) => Ok(Decision::Park(Spot::OwnGroup)),
        Ok(Intent::Retrieve) => Ok(Decision::Retrieve(Where::Own)),
        Ok(Intent::RetrieveFrom(ext)) => Ok(Decision::Retrieve(Where::Slot(ext))),
        Ok(Intent::RetrieveNth { extension, position }) => Ok(Decision::Retrieve(Where::Nth(extension, position))),
        Err(e) => Err(e),
    }
}

impl Shared {
    pub(super) fn dial(&self, req: &DialRequest) -> Result<DialOutcome, DialFailure> {
        let bad = |e: String| DialFailure { error: DialError::BadRequest(e), sent_back: false };
        let tenant = clean_tenant(req.tenant).map_err(bad)?;
        let uuid = clean_id("uuid", req.uuid).map_err(bad)?;
        let user = clean_user("user", req.user).map_err(bad)?;
        let transferor = clean_user("transferor", req.transferor).map_err(bad)?;
        let config = self.config.read().clone();
        let t = config.tenant(&tenant);
        let result = match decide(t, req) {
            Err(e) => Err(DialError::Code(e)),
            Ok(Decision::Retrieve(from)) => {
                return self
                    .retrieve(t, &tenant, uuid, user, from)
                    .map_err(|error| DialFailure { error, sent_back: false });
            }
            Ok(Decision::Park(spot)) => self.park(t, &tenant, uuid, spot, transferor.or(user), req),
        };
        result.map_err(|error| {
            let to = transferor.filter(|_| !req.back_to_park && !req.operator);
            if let Some(to) = to {
                self.send_back(&tenant, uuid, to, req, &error);
            }
            DialFailure { error, sent_back: to.is_some() }
        })
    }

    /// The call goes back to `to`, who transferred it (the host carries it out with the
    /// dial's answer): its `sent-back` event.
    fn send_back(&self, tenant: &str, uuid: &str, to: &str, req: &DialRequest, why: &DialError) {
        self.inner.lock().outbox.push_back(Notice::Event(Event {
            action: Action::SentBack,
            tenant: tenant.into(),
            extension: String::new(),
            group: None,
            uuid: uuid.into(),
            other_uuid: None,
            parking_user: to.into(),
            caller_number: clean_number(req.caller_number),
            caller_name: clean_name(req.caller_name),
            attempt: 0,
            detail: Some(why.to_string()),
            adopted: false,
            channel_data: true,
        }));
        self.deliver();
    }

    fn park(
        &self,
        t: &Tenant,
        tenant: &str,
        uuid: &str,
        spot: Spot,
        parking_user: Option<&str>,
        req: &DialRequest,
    ) -> Result<DialOutcome, DialError> {
        // A call parked at an extension by nobody the switch knows (the one who transferred
        // it is of no record, or of another tenant) is parked for that extension's user.
        let fallback: String;
        let parking_user = match (parking_user, &spot) {
            (Some(p), _) => p,
            (None, Spot::At(ext))
                if req.transferred && (t.group_of(ext).is_some() || self.host.user_exists(tenant, ext)) =>
            {
                fallback = ext.clone();
                &fallback
            }
            (None, Spot::At(ext)) if req.transferred => return Err(DialError::UnknownExtension(ext.clone())),
            (None, _) => return Err(DialError::NoParkingUser),
        };
        let group_of_parker = t.group_of(parking_user);
        let own: [String; 1];
        let rotated: Vec<String>;
        // The lot parked in (a lot's key, or one of its slots named): its calls follow its
        // plan, and a slot holds one call.
        let lot = match &spot {
            Spot::Lot(name) => t.lot(name),
            Spot::At(ext) => t.lot_of(ext),
            _ => None,
        };
        // The park chooses the slot (among a lot's, a group's members), which the code did
        // not name.
        let chosen = matches!(spot, Spot::Lot(_) | Spot::OwnGroup | Spot::Group(_));
        // The slots to try, how many calls each may hold, and the group parked in.
        let (candidates, limit, group) = match spot {
            Spot::Own => {
                own = [parking_user.to_string()];
                (&own[..], t.max_calls_per_extension, None)
            }
            Spot::At(ext) => {
                if ext != parking_user
                    && lot.is_none()
                    && t.group_of(&ext).is_none()
                    && !self.host.user_exists(tenant, &ext)
                {
                    return Err(DialError::UnknownExtension(ext));
                }
                own = [ext];
                (&own[..], if lot.is_some() { 1 } else { t.max_calls_per_extension }, None)
            }
            Spot::Lot(_) => {
                let l = lot.expect("a lot's key names a lot");
                // `next`: from the slot after the one used last, wrapping.
                let start = match l.choose {
                    LotChoice::FirstFree => 0,
                    LotChoice::Next => {
                        let key = (tenant.to_string(), l.name.clone());
                        self.inner.lock().lot_last.get(&key).map_or(0, |i| (i + 1) % l.slots.len().max(1))
                    }
                };
                rotated = l.slots[start..].iter().chain(&l.slots[..start]).cloned().collect();
                (&rotated[..], 1, None)
            }
            Spot::OwnGroup => {
                let g = group_of_parker.ok_or_else(|| DialError::NoGroup { user: parking_user.into() })?;
                (&g.members[..], 1, Some(g))
            }
            Spot::Group(name) => {
                let g = t.group(&name).ok_or_else(|| DialError::NoGroup { user: parking_user.into() })?;
                (&g.members[..], 1, Some(g))
            }
        };
        let (plan, music) = terms(t, lot, parking_user);
        // The call's own recall time: one that is no such time is said, and the
        // configured one used (the caller is parked all the same).
        let own = crate::config::own_recall_time(req.timeout).unwrap_or_else(|e| {
            self.host
                .log(LogLevel::Notice, &format!("callpark: {uuid}: {e}; recall-time {} s is used", plan.recall_time));
            None
        });
        let caller_number = clean_number(req.caller_number);
        let caller_name = clean_name(req.caller_name);
        let extension = {
            // With a shared store, the mirror the timer thread keeps (at most SYNC_MS old)
            // is read as it is: the add is one round trip, which checks the slot's limit
            // for every node. Only a slot that looks full, or fills meanwhile, costs a
            // read of what the other nodes changed.
            let mut inner = self.inner.lock();
            if inner.store.get(uuid).is_some() {
                return Err(DialError::AlreadyParked);
            }
            let full = || match (group, lot) {
                (Some(g), _) => DialError::NoFreeMember { group: g.name.clone() },
                (None, Some(l)) if candidates.len() > 1 => DialError::LotFull { lot: l.name.clone() },
                _ => DialError::SlotFull { extension: candidates[0].clone(), max: limit },
            };
            // Another node may fill the slot chosen between the look and the add (a
            // shared store): the add fails, and the next slot with room is tried.
            let mut tries = 0;
            let mut fresh = !self.shared_store;
            let (ext, ev) = loop {
                let Some(ext) = inner.store.first_with_room(tenant, candidates, limit) else {
                    if !std::mem::replace(&mut fresh, true) {
                        self.refresh(&mut inner);
                        continue;
                    }
                    return Err(full());
                };
                let now = self.clock.now_ms();
                let (plan, due_ms) = own_recall(plan, own, now);
                let call = NewCall {
                    tenant,
                    uuid,
                    extension: ext,
                    parking_user,
                    caller_number: caller_number.clone(),
                    caller_name: caller_name.clone(),
                    music: music.clone(),
                    parked_at_ms: now,
                    due_ms,
                    plan,
                };
                let detail = match (group, lot) {
                    (Some(_), _) => Some("group-park".to_string()),
                    (None, Some(l)) => Some(format!("lot {}", l.name)),
                    _ => None,
                };
                match self.place(&mut inner, t, call, detail, limit) {
                    Ok(ev) => break (ext, ev),
                    Err(InsertError::Full) if tries < candidates.len() => {
                        tries += 1;
                        fresh = true;
                        self.refresh(&mut inner);
                    }
                    Err(InsertError::Full) => return Err(full()),
                    Err(InsertError::Store(e)) => return Err(DialError::Store(e)),
                }
            };
            // A lot's slot is nobody's extension: only the parking user is told where it went.
            let recipients: &[String] = match (group, lot) {
                (Some(_), _) => candidates,
                (None, Some(_)) => &[],
                _ => std::slice::from_ref(ext),
            };
            if let Some(l) = lot.filter(|l| l.choose == LotChoice::Next) {
                if let Some(i) = l.slots.iter().position(|s| s == ext) {
                    inner.lot_last.insert((tenant.to_string(), l.name.clone()), i);
                }
            }
            let (number, name) = (&caller_number, &caller_name);
            let position = place_in_slot(&inner, tenant, ext, uuid);
            park_messages(t, tenant, ext, parking_user, number, name, recipients, position, &mut inner.outbox);
            inner.outbox.push_back(ev);
            ext.clone()
        };
        self.deliver();
        Ok(DialOutcome::Parked { extension, music, exit_key: plan.exit_key, chosen })
    }

    /// Parks `call` (under the lock) unless its extension holds `limit` calls: stores it,
    /// arms its recall timer and queues its lamps. Returns its `parked` event (with
    /// `detail`), for the caller to queue after anything that must come first.
    pub(super) fn place(
        &self,
        inner: &mut Inner,
        t: &Tenant,
        call: NewCall,
        detail: Option<String>,
        limit: usize,
    ) -> Result<Notice, InsertError> {
        let (tenant, uuid, extension, due) = (call.tenant, call.uuid, call.extension, call.due_ms);
        // A lot's calls are grouped under the lot's name: its lamp and key (`park+<lot>`).
        let group =
            t.group_of(extension).map(|g| g.name.clone()).or_else(|| t.lot_of(extension).map(|l| l.name.clone()));
        // Park order: the park time (in thousandths of a millisecond), unique and
        // increasing for parks made now; an older park (adopted after a reload) takes
        // its place by its time.
        let base = call.parked_at_ms.saturating_mul(1000);
        let seq = if base.saturating_add(999) >= inner.seq { base.max(inner.seq + 1) } else { base + inner.gen % 1000 };
        inner.seq = inner.seq.max(seq);
        inner.gen += 1;
        let gen = inner.gen;
        let parked = ParkedCall {
            uuid: uuid.into(),
            tenant: tenant.into(),
            extension: extension.into(),
            group: group.clone(),
            parking_user: call.parking_user.into(),
            caller_number: call.caller_number,
            caller_name: call.caller_name,
            music: call.music,
            seq,
            parked_at_ms: call.parked_at_ms,
            plan: call.plan,
            recall: RecallState::Waiting,
            due_ms: due,
            timer_gen: gen,
            claim: None,
            operator_ring: false,
            park_info: t.notices.callpark_info,
            node: String::new(),
            group_park: detail.as_deref() == Some("group-park"),
        };
        let ev = Self::event(Action::Parked, &parked, None, 0, detail);
        inner.store.insert(parked, limit)?;
        if let Some(due) = due {
            self.push_timer(None, due, gen, uuid);
        }
        Self::queue_lamps(inner, tenant, extension, group.as_deref());
        Self::queue_park_info(inner, t, tenant, extension, false);
        Ok(ev)
    }

    fn retrieve(
        &self,
        t: &Tenant,
        tenant: &str,
        uuid: &str,
        user: Option<&str>,
        from: Where,
    ) -> Result<DialOutcome, DialError> {
        let user = user.ok_or(DialError::NoRetriever)?;
        let group = t.group_of(user).map(|g| g.name.as_str());
        // While the shared store does not answer, only this node's own calls can be
        // taken: the oldest of them that the retrieve would find.
        // The `n`-th unclaimed call at `ext` in park order, of this node only if `mine`.
        let nth = |inner: &Inner, ext: &str, n: u32, mine: bool| {
            let me = inner.store.node();
            inner
                .store
                .calls(Some(tenant))
                .into_iter()
                .filter(|c| c.extension == ext && c.claim.is_none() && c.uuid != uuid && (!mine || c.node == me))
                .nth(n as usize - 1)
                .map(|c| (c.uuid.clone(), c.extension.clone()))
        };
        let own_only = |inner: &Inner| {
            let me = inner.store.node();
            let here = |c: &&ParkedCall| match &from {
                Where::Slot(ext) => c.extension == *ext,
                Where::Group(g) => c.group.as_deref() == Some(g.as_str()),
                Where::Own => c.extension == user || (group.is_some() && c.group.as_deref() == group),
                Where::Nth(..) => false,
            };
            match &from {
                Where::Nth(ext, n) => nth(inner, ext, *n, true),
                _ => inner
                    .store
                    .calls(Some(tenant))
                    .into_iter()
                    .filter(|c| c.node == me && c.claim.is_none() && c.uuid != uuid)
                    .find(here)
                    .map(|c| (c.uuid.clone(), c.extension.clone())),
            }
        };
        let mut local_only = false;
        let find = |inner: &Inner| {
            let other =
                |c: Option<&ParkedCall>| c.filter(|c| c.uuid != uuid).map(|c| (c.uuid.clone(), c.extension.clone()));
            match &from {
                Where::Nth(ext, n) => nth(inner, ext, *n, false),
                Where::Slot(ext) => other(inner.store.oldest_in_slot(tenant, ext)),
                Where::Group(g) => other(inner.store.oldest_in_group(tenant, g)),
                Where::Own => other(
                    inner
                        .store
                        .oldest_in_slot(tenant, user)
                        .or_else(|| group.and_then(|g| inner.store.oldest_in_group(tenant, g))),
                ),
            }
        };
        // As for a park: the mirror as the timer thread keeps it, read again only when it
        // shows nothing, or the call it shows was taken meanwhile.
        let mut fresh = !self.shared_store;
        let redirects = self.shared_store && self.config.read().store.redirects();
        let (parked, extension, h) = loop {
            let (parked, extension, was_ringing, elsewhere) = {
                let mut inner = self.inner.lock();
                let look = |inner: &Inner| if local_only { own_only(inner) } else { find(inner) };
                let mut found = look(&inner);
                if found.is_none() && !std::mem::replace(&mut fresh, true) {
                    self.refresh(&mut inner);
                    found = look(&inner);
                }
                let Some((parked, extension)) = found else {
                    let place = match (&from, &group) {
                        (Where::Slot(e), _) => e.clone(),
                        (Where::Nth(e, n), _) => format!("{e} (call {n})"),
                        (Where::Group(g), _) => format!("group \"{g}\""),
                        (Where::Own, Some(g)) => format!("{user} or in group \"{g}\""),
                        (Where::Own, None) => user.to_string(),
                    };
                    return Err(DialError::Empty { place });
                };
                // With `cross-node-pickup` `redirect`, another node's call is claimed by
                // that node when the retriever, redirected there, arrives.
                if redirects && inner.store.get(&parked).is_some_and(|c| c.node != inner.store.node()) {
                    match inner.store.redirect(&parked) {
                        Ok(h) => break (parked, extension, h),
                        Err(_) if !local_only => {
                            local_only = true;
                            continue;
                        }
                        Err(e) => return Err(DialError::Store(e)),
                    }
                }
                // Under one lock the call found is unclaimed here; another node sharing
                // the store may have claimed it since this one last looked.
                let ringing = match self.claim(&mut inner, &parked, Claim::Retrieve { by: uuid.into() }) {
                    Ok(r) => r,
                    // Another node's call, and the store does not answer: this node's own
                    // calls there can still be taken.
                    Err(CallError::Store(_)) if !local_only => {
                        local_only = true;
                        continue;
                    }
                    Err(CallError::Store(e)) => return Err(DialError::Store(e)),
                    Err(_) => {
                        self.refresh(&mut inner);
                        fresh = true;
                        continue;
                    }
                };
                let elsewhere = match inner.store.get(&parked) {
                    Some(c) if c.node != inner.store.node() => match inner.store.hand_over(&parked) {
                        Ok(h) => Some(h),
                        Err(e) => {
                            self.unclaim(&mut inner, &parked);
                            return Err(DialError::Store(e));
                        }
                    },
                    _ => None,
                };
                (parked, extension, ringing, elsewhere)
            };
            if let Some(h) = elsewhere {
                // The node holding the call bridges it when the retriever's call arrives
                // with the token (`Engine::take_over`), and tells who took it.
                return match self.host.bridge_to_node(uuid, &h.address, &h.token) {
                    Ok(()) => Ok(DialOutcome::Retrieved { parked_uuid: parked, extension }),
                    Err(BridgeError::Failed(e) | BridgeError::ParkedGone(e)) => {
                        self.unclaim(&mut self.inner.lock(), &parked);
                        self.host.log(
                            LogLevel::Warning,
                            &format!(
                                "callpark: {uuid} could not reach node {} for {parked} ({e}), it stays parked",
                                h.node
                            ),
                        );
                        Err(DialError::HostFailed(e))
                    }
                };
            }
            if was_ringing {
                self.host.cancel_ring(&parked);
            }
            let bridged = self.host.bridge(uuid, &parked, crate::host::Joining::Retriever);
            let mut inner = self.inner.lock();
            match bridged {
                Ok(()) => {
                    self.finish(&mut inner, &parked, Action::Retrieved, Some(uuid), None);
                    drop(inner);
                    self.deliver();
                    return Ok(DialOutcome::Retrieved { parked_uuid: parked, extension });
                }
                Err(BridgeError::ParkedGone(e)) => {
                    self.finish(
                        &mut inner,
                        &parked,
                        Action::Abandoned,
                        Some(uuid),
                        Some(format!("bridge failed: {e}")),
                    );
                    drop(inner);
                    self.deliver();
                    self.host
                        .log(LogLevel::Warning, &format!("callpark: {parked} is gone ({e}), offering the next call"));
                }
                Err(BridgeError::Failed(e)) => {
                    self.unclaim(&mut inner, &parked);
                    drop(inner);
                    self.host.log(
                        LogLevel::Warning,
                        &format!("callpark: bridge of {uuid} to {parked} failed ({e}), it stays parked"),
                    );
                    return Err(DialError::HostFailed(e));
                }
            }
        };
        // Redirected: the node holding the call claims it when the phone arrives there and
        // tells who took it; a phone that does not follow leaves the call parked.
        match self.host.redirect_to_node(uuid, &h.address, &h.token) {
            Ok(()) => Ok(DialOutcome::Retrieved { parked_uuid: parked, extension }),
            Err(BridgeError::Failed(e) | BridgeError::ParkedGone(e)) => {
                self.host.log(
                    LogLevel::Warning,
                    &format!(
                        "callpark: {uuid} could not be sent to node {} for {parked} ({e}), it stays parked",
                        h.node
                    ),
                );
                Err(DialError::HostFailed(e))
            }
        }
    }
}
