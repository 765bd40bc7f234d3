//! The engine: the rules of parking, retrieving and recalling, applied to a store.
//!
//! One lock guards the store and the outbox of notices. Every operation changes the
//! store and queues its notices under that lock, then releases it and only then asks
//! the host to act. Notices are delivered in the order their changes happened, by
//! whichever thread finds the outbox non-empty and nobody else delivering.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Mutex, RwLock};

use crate::clock::{Clock, ManualClock, SystemClock};
use crate::codes::{self, Intent, BLF_PREFIX};
use crate::config::{valid_domain, Config, RecallPlan, Tenant};
pub use crate::error::{CallError, DialError, DialFailure};
use crate::host::{Action, BridgeError, Event, Host, LogLevel, Message, Notice, Presence, Ring, Target};
use crate::listing::CallInfo;
use crate::recall::{self, HandOff, Trigger};
use crate::store::{Claim, MemoryStore, ParkStore, ParkedCall, RecallState};

/// `Inner::plans` is first pruned when it holds this many plans.
const PLANS_PRUNE_AT: usize = 64;

/// Longest identifier (uuid, user, caller number) accepted from the host.
pub const MAX_ID_LEN: usize = 256;
/// Caller names are cut to this many characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A request from a channel that dialed a feature code.
#[derive(Clone, Debug, Default)]
pub struct DialRequest<'a> {
    /// The channel's domain.
    pub tenant: &'a str,
    /// The channel running the code: the call to park (park codes) or the retriever.
    pub uuid: &'a str,
    pub dialed: &'a str,
    /// The extension of the channel's own authenticated user, if any.
    pub user: Option<&'a str>,
    /// The extension of the user who transferred this channel here, if any.
    pub transferor: Option<&'a str>,
    pub caller_number: &'a str,
    pub caller_name: &'a str,
}

/// What the engine did with the channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialOutcome {
    /// The channel is parked at `extension` and on hold.
    Parked { extension: String },
    /// The channel is bridged to the parked call `parked_uuid`.
    Retrieved { parked_uuid: String, extension: String },
}

/// How the engine keeps time.
pub enum Timing {
    /// The system clock and a timer thread of the engine.
    Thread,
    /// A clock moved by [`Engine::advance`]; timers fire on the caller's thread.
    Manual(Arc<ManualClock>),
}

struct Inner {
    store: Box<dyn ParkStore>,
    outbox: VecDeque<Notice>,
    /// An empty buffer with capacity, swapped with the outbox by the delivering thread.
    spare: VecDeque<Notice>,
    seq: u64,
    gen: u64,
    /// One shared copy of each recall plan in use, by [`plan_key`]: parked calls point to it.
    plans: HashMap<u64, Vec<Arc<RecallPlan>>>,
    plan_count: usize,
    /// The plan shared last: most parks in a row are under the same one.
    last_plan: Option<Arc<RecallPlan>>,
    /// `plans` is pruned of plans no call uses when `plan_count` reaches this.
    plans_prune_at: usize,
}

/// Pending timers by (deadline ms, generation): the call's uuid. A call has at most one;
/// it is removed when the call's timer is replaced, disarmed or claimed.
type Timers = BTreeMap<(u64, u64), String>;

struct Shared {
    host: Arc<dyn Host>,
    clock: Arc<dyn Clock>,
    config: RwLock<Arc<Config>>,
    inner: Mutex<Inner>,
    timers: Mutex<Timers>,
    delivering: AtomicBool,
    stop: AtomicBool,
    wake: Option<Sender<()>>,
}

/// The call-park engine of one switch.
pub struct Engine {
    shared: Arc<Shared>,
    manual: Option<Arc<ManualClock>>,
    thread: Option<JoinHandle<()>>,
}

/// Host work decided under the lock, done after it.
enum Act {
    CancelRing(String),
    Ring(Ring),
    Transfer { uuid: String, hand_off: HandOff, dest: crate::config::Destination },
}

fn clean_id<'a>(what: &str, s: &'a str) -> Result<&'a str, String> {
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.len() > MAX_ID_LEN {
        return Err(format!("{what} is longer than {MAX_ID_LEN} bytes"));
    }
    let bad = |c: char| c.is_control() || c.is_whitespace();
    // ASCII: control characters and whitespace are the bytes up to the space, and DEL.
    if if s.is_ascii() { s.bytes().any(|b| b <= b' ' || b == 0x7f) } else { s.chars().any(bad) } {
        return Err(format!("{what} has a space or control character"));
    }
    Ok(s)
}

fn clean_ext<'a>(what: &str, s: Option<&'a str>) -> Result<Option<&'a str>, String> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(e) if e.len() <= 20 && e.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(e)),
        Some(e) => Err(format!("{what} \"{}\" is not an extension (digits only)", e.escape_default())),
    }
}

/// Keeps what a caller number may hold: digits, `+`, `*`, `#`.
pub fn clean_number(s: &str) -> String {
    // Every character kept is ASCII: bytes will do.
    let mut kept = Vec::with_capacity(s.len().min(32));
    kept.extend(s.bytes().filter(|b| b.is_ascii_digit() || b"+*#".contains(b)).take(32));
    String::from_utf8(kept).expect("only ASCII is kept")
}

/// Keeps what a caller name may safely carry into a dial string or a SIP header.
pub fn clean_name(s: &str) -> String {
    let keep = |c: char| c.is_alphanumeric() || " .-_+()&/".contains(c);
    let mut kept = String::with_capacity(s.len().min(MAX_NAME_CHARS * 4));
    if s.is_ascii() {
        let keep = |b: &u8| b.is_ascii_alphanumeric() || b" .-_+()&/".contains(b);
        kept.extend(s.bytes().filter(keep).take(MAX_NAME_CHARS).map(char::from));
    } else {
        kept.extend(s.chars().filter(|c| keep(*c)).take(MAX_NAME_CHARS));
    }
    // Trimmed in place, without a second string.
    kept.truncate(kept.trim_end().len());
    let lead = kept.len() - kept.trim_start().len();
    kept.drain(..lead);
    kept
}

/// A hash of every field of `plan`, to find its shared copy.
fn plan_key(p: &RecallPlan) -> u64 {
    let mut h = DefaultHasher::new();
    (p.policy.name(), p.recall_time, p.ring_time, p.retry_interval, p.attempts, p.alert_wait).hash(&mut h);
    for d in [&p.ring_group, &p.final_destination] {
        d.as_ref().map(|d| (&d.extension, &d.dialplan, &d.context)).hash(&mut h);
    }
    p.alternate_user.hash(&mut h);
    h.finish()
}

/// The domain, lower-case: borrowed when it already is.
fn clean_tenant(s: &str) -> Result<Cow<'_, str>, String> {
    let trimmed = s.trim();
    let t = if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    };
    if valid_domain(&t) {
        Ok(t)
    } else {
        Err(format!("tenant \"{}\" is not a domain", s.escape_default()))
    }
}

impl Engine {
    pub fn new(config: Config, host: Arc<dyn Host>, timing: Timing) -> Engine {
        Self::with_store(config, host, timing, Box::<MemoryStore>::default())
    }

    pub fn with_store(config: Config, host: Arc<dyn Host>, timing: Timing, store: Box<dyn ParkStore>) -> Engine {
        let (clock, manual, wake): (Arc<dyn Clock>, _, _) = match timing {
            Timing::Thread => {
                let (tx, rx) = crossbeam_channel::bounded(1);
                (Arc::new(SystemClock::default()), None, Some((tx, rx)))
            }
            Timing::Manual(c) => (c.clone(), Some(c), None),
        };
        let shared = Arc::new(Shared {
            host,
            clock,
            config: RwLock::new(Arc::new(config)),
            inner: Mutex::new(Inner {
                store,
                outbox: VecDeque::new(),
                spare: VecDeque::new(),
                seq: 0,
                gen: 0,
                plans: HashMap::new(),
                plan_count: 0,
                last_plan: None,
                plans_prune_at: PLANS_PRUNE_AT,
            }),
            timers: Mutex::new(Timers::new()),
            delivering: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            wake: wake.as_ref().map(|(tx, _)| tx.clone()),
        });
        let thread = wake.map(|(_, rx)| {
            let s = shared.clone();
            std::thread::Builder::new()
                .name("callpark-timers".into())
                .spawn(move || timer_thread(&s, rx))
                .expect("spawn the callpark timer thread")
        });
        Engine { shared, manual, thread }
    }

    /// Replaces the configuration. Parked calls keep their recall plans and timers.
    pub fn reload(&self, config: Config) {
        *self.shared.config.write() = Arc::new(config);
        self.shared.host.log(LogLevel::Notice, "callpark: configuration reloaded");
    }

    pub fn config(&self) -> Arc<Config> {
        self.shared.config.read().clone()
    }

    pub fn dial(&self, req: &DialRequest) -> Result<DialOutcome, DialFailure> {
        self.shared.dial(req)
    }

    /// The parked caller `uuid` hung up.
    pub fn hangup(&self, uuid: &str) -> Result<(), CallError> {
        self.shared.hangup(uuid)
    }

    /// Recall attempt `attempt` of `parked_uuid` was answered on `leg_uuid`.
    pub fn recall_answered(&self, parked_uuid: &str, attempt: u32, leg_uuid: &str) -> Result<(), CallError> {
        self.shared.recall_answered(parked_uuid, attempt, leg_uuid)
    }

    /// Recall attempt `attempt` of `parked_uuid` ended unanswered (or could not start).
    pub fn recall_failed(&self, parked_uuid: &str, attempt: u32) -> Result<(), CallError> {
        self.shared.recall_failed(parked_uuid, attempt)
    }

    /// Publishes the state of `target` (`park+102`, `102`, `park+sales`) of `tenant`
    /// to `subscriber`. Unknown targets are `NotFound`.
    pub fn probe(&self, tenant: &str, target: &str, subscriber: Option<&str>) -> Result<(), CallError> {
        self.shared.probe(tenant, target, subscriber)
    }

    /// Parked calls of `tenant` (all when `None`), oldest first.
    pub fn list(&self, tenant: Option<&str>) -> Result<Vec<CallInfo>, CallError> {
        self.shared.list(tenant)
    }

    pub fn parked_count(&self) -> usize {
        self.shared.inner.lock().store.len()
    }

    pub fn pending_timers(&self) -> usize {
        self.shared.timers.lock().len()
    }

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

    pub fn now_ms(&self) -> u64 {
        self.shared.clock.now_ms()
    }
}

impl Drop for Engine {
    /// Stops the timer thread and waits for it: nothing of the engine runs afterwards.
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.shared.stop.store(true, Ordering::SeqCst);
            if let Some(w) = &self.shared.wake {
                let _ = w.try_send(());
            }
            let _ = t.join();
        }
    }
}

fn timer_thread(s: &Shared, rx: Receiver<()>) {
    loop {
        let next = s.timers.lock().first_key_value().map(|(&(d, _), _)| d);
        let wait = match next {
            Some(d) => Duration::from_millis(d.saturating_sub(s.clock.now_ms())),
            None => Duration::from_secs(3600),
        };
        let woken = rx.recv_timeout(wait);
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        match woken {
            Ok(()) => {}
            Err(RecvTimeoutError::Timeout) => s.run_due(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl Shared {
    /// Delivers queued notices in order; returns at once if another thread delivers.
    fn deliver(&self) {
        loop {
            if self.delivering.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
                return;
            }
            // The outbox is swapped with an empty buffer (kept between deliveries in
            // `spare`), so that neither side allocates once both have grown.
            let mut batch = VecDeque::new();
            loop {
                {
                    let mut inner = self.inner.lock();
                    if inner.outbox.is_empty() {
                        if batch.capacity() > inner.spare.capacity() {
                            inner.spare = batch;
                        }
                        break;
                    }
                    if batch.capacity() == 0 {
                        batch = std::mem::take(&mut inner.spare);
                    }
                    std::mem::swap(&mut batch, &mut inner.outbox);
                }
                for n in batch.drain(..) {
                    self.host.notify(&n);
                }
            }
            self.delivering.store(false, Ordering::Release);
            if self.inner.lock().outbox.is_empty() {
                return;
            }
        }
    }

    /// Arms `call`'s timer `secs` from now, replacing any pending one. Under the lock.
    fn arm(&self, inner: &mut Inner, uuid: &str, secs: u32) {
        self.arm_at(inner, uuid, self.clock.now_ms().saturating_add(u64::from(secs) * 1000));
    }

    /// Arms `call`'s timer for `due` (ms), replacing any pending one. Under the lock.
    fn arm_at(&self, inner: &mut Inner, uuid: &str, due: u64) {
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
    fn push_timer(&self, old: Option<(u64, u64)>, due: u64, gen: u64, uuid: &str) {
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
    fn disarm(&self, inner: &mut Inner, uuid: &str) {
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
    fn forget_timer(&self, old: Option<(u64, u64)>) {
        if let Some(old) = old {
            self.timers.lock().remove(&old);
        }
    }

    fn run_due(&self) {
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

    /// Queues the lamps of `call`'s slot and group. Under the lock.
    fn queue_lamps(inner: &mut Inner, tenant: &str, extension: &str, group: Option<&str>) {
        let state = inner.store.slot_state(tenant, extension);
        inner.outbox.push_back(Notice::Presence(Presence {
            tenant: tenant.into(),
            target: Target::Extension(extension.into()),
            state,
            subscriber: None,
        }));
        if let Some(g) = group {
            let state = inner.store.group_state(tenant, g);
            inner.outbox.push_back(Notice::Presence(Presence {
                tenant: tenant.into(),
                target: Target::Group(g.into()),
                state,
                subscriber: None,
            }));
        }
    }

    fn event(action: Action, c: &ParkedCall, other: Option<&str>, attempt: u32, detail: Option<String>) -> Notice {
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
        })
    }

    fn attempt_of(c: &ParkedCall) -> u32 {
        match c.recall {
            RecallState::Ringing(n) | RecallState::Retrying(n) => n,
            _ => 0,
        }
    }

    /// Removes a claimed call and queues its lamps and event. Under the lock.
    fn finish(inner: &mut Inner, uuid: &str, action: Action, other: Option<&str>, detail: Option<String>) {
        if let Some(c) = inner.store.remove(uuid) {
            Self::queue_lamps(inner, &c.tenant, &c.extension, c.group.as_deref());
            let ev = Self::event(action, &c, other, Self::attempt_of(&c), detail);
            inner.outbox.push_back(ev);
        }
    }

    /// Claims `uuid` for `claim` if nobody has. Returns whether a recall was ringing.
    /// The pending timer is ignored from now on, but its deadline is kept for
    /// [`Shared::unclaim`].
    fn claim(&self, inner: &mut Inner, uuid: &str, claim: Claim) -> Result<bool, CallError> {
        inner.gen += 1;
        let gen = inner.gen;
        let c = inner.store.get_mut(uuid).ok_or(CallError::NotFound)?;
        if c.claim.is_some() {
            return Err(CallError::AlreadyTaken);
        }
        c.claim = Some(claim);
        let old = c.due_ms.map(|d| (d, c.timer_gen));
        c.timer_gen = gen;
        let ringing = matches!(c.recall, RecallState::Ringing(_));
        self.forget_timer(old);
        Ok(ringing)
    }

    /// Puts a claimed call back in the park (its taker failed), with its timer. Under the lock.
    fn unclaim(&self, inner: &mut Inner, uuid: &str) {
        let Some(c) = inner.store.get_mut(uuid) else { return };
        c.claim = None;
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

    fn dial(&self, req: &DialRequest) -> Result<DialOutcome, DialFailure> {
        let bad = |e: String| DialFailure { error: DialError::BadRequest(e), sent_back: false };
        let tenant = clean_tenant(req.tenant).map_err(bad)?;
        let uuid = clean_id("uuid", req.uuid).map_err(bad)?;
        let user = clean_ext("user", req.user).map_err(bad)?;
        let transferor = clean_ext("transferor", req.transferor).map_err(bad)?;
        let config = self.config.read().clone();
        let t = config.tenant(&tenant);
        let intent = codes::parse(req.dialed, &t.codes, t.extensions);
        let result = match intent {
            Err(e) => Err(DialError::Code(e)),
            Ok(Intent::Retrieve) | Ok(Intent::RetrieveFrom(_)) => {
                let from = match intent {
                    Ok(Intent::RetrieveFrom(e)) => Some(e),
                    _ => None,
                };
                return self
                    .retrieve(t, &tenant, uuid, user, from)
                    .map_err(|error| DialFailure { error, sent_back: false });
            }
            Ok(i) => self.park(t, &tenant, uuid, i, transferor.or(user), req),
        };
        result.map_err(|error| {
            let sent_back = match &transferor {
                Some(to) => self.send_back(&tenant, uuid, to, req, &error),
                None => false,
            };
            DialFailure { error, sent_back }
        })
    }

    fn send_back(&self, tenant: &str, uuid: &str, to: &str, req: &DialRequest, why: &DialError) -> bool {
        let ok = match self.host.send_back(uuid, tenant, to, why) {
            Ok(()) => true,
            Err(e) => {
                self.host
                    .log(LogLevel::Error, &format!("callpark: could not send {uuid} back to {to}@{tenant}: {}", e.0));
                false
            }
        };
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
        }));
        self.deliver();
        ok
    }

    fn park(
        &self,
        t: &Tenant,
        tenant: &str,
        uuid: &str,
        intent: Intent,
        parking_user: Option<&str>,
        req: &DialRequest,
    ) -> Result<DialOutcome, DialError> {
        let parking_user = parking_user.ok_or(DialError::NoParkingUser)?;
        let group_of_parker = t.group_of(parking_user);
        let own: [String; 1];
        let (candidates, limit, group_park): (&[String], usize, bool) = match intent {
            Intent::ParkOwn => {
                own = [parking_user.to_string()];
                (&own, t.max_calls_per_extension, false)
            }
            Intent::ParkAt(ext) => {
                if ext != parking_user && t.group_of(&ext).is_none() && !self.host.user_exists(tenant, &ext) {
                    return Err(DialError::UnknownExtension(ext));
                }
                own = [ext];
                (&own, t.max_calls_per_extension, false)
            }
            Intent::GroupPark => {
                let g = group_of_parker.ok_or_else(|| DialError::NoGroup { user: parking_user.into() })?;
                (&g.members, 1, true)
            }
            Intent::Retrieve | Intent::RetrieveFrom(_) => unreachable!("retrieve intents are handled apart"),
        };
        let plan = group_of_parker.map_or(&t.recall, |g| &g.recall);
        let music = group_of_parker.map(|g| g.music.as_str()).filter(|m| !m.is_empty()).unwrap_or(&t.music).to_string();
        let caller_number = clean_number(req.caller_number);
        let caller_name = clean_name(req.caller_name);
        // The message: "<who> parked on <ext>, dial <retrieve code><ext>"; <ext> added below.
        let mut text = String::with_capacity(caller_number.len() + caller_name.len() + 64);
        if caller_name.is_empty() || caller_name == caller_number {
            text.push_str(&caller_number);
        } else if caller_number.is_empty() {
            text.push_str(&caller_name);
        } else {
            for part in [caller_number.as_str(), " (", caller_name.as_str(), ")"] {
                text.push_str(part);
            }
        }
        if text.is_empty() {
            text.push_str("A call");
        }

        let extension = {
            let mut inner = self.inner.lock();
            if inner.store.get(uuid).is_some() {
                return Err(DialError::AlreadyParked);
            }
            let Some(ext) = inner.store.first_with_room(tenant, candidates, limit) else {
                return Err(if group_park {
                    DialError::NoFreeMember { group: group_of_parker.map(|g| g.name.clone()).unwrap_or_default() }
                } else {
                    DialError::SlotFull { extension: candidates[0].clone(), max: limit }
                });
            };
            inner.seq += 1;
            inner.gen += 1;
            let due = self.clock.now_ms().saturating_add(u64::from(plan.recall_time) * 1000);
            let call = ParkedCall {
                uuid: uuid.into(),
                tenant: tenant.into(),
                extension: ext.clone(),
                group: t.group_of(ext).map(|g| g.name.clone()),
                parking_user: parking_user.into(),
                caller_number,
                caller_name,
                music: music.clone(),
                seq: inner.seq,
                parked_at_ms: self.clock.now_ms(),
                plan: Self::shared_plan(&mut inner, plan),
                recall: RecallState::Waiting,
                due_ms: Some(due),
                timer_gen: inner.gen,
                claim: None,
            };
            let ev = Self::event(Action::Parked, &call, None, 0, group_park.then(|| "group-park".to_string()));
            let group = call.group.clone();
            let gen = call.timer_gen;
            inner.store.insert(call);
            self.push_timer(None, due, gen, uuid);
            Self::queue_lamps(&mut inner, tenant, ext, group.as_deref());
            for part in [" parked on ", ext, ", dial ", &t.codes.retrieve, ext] {
                text.push_str(part);
            }
            let recipients: &[String] = if group_park { candidates } else { std::slice::from_ref(ext) };
            let message = |r: &String, text: String| {
                Notice::Message(Message { tenant: tenant.into(), extension: r.clone(), text })
            };
            if let Some((last, rest)) = recipients.split_last() {
                for r in rest {
                    inner.outbox.push_back(message(r, text.clone()));
                }
                inner.outbox.push_back(message(last, text));
            }
            inner.outbox.push_back(ev);
            ext.clone()
        };
        if let Err(e) = self.host.hold(uuid, &music) {
            let mut inner = self.inner.lock();
            if self.claim(&mut inner, uuid, Claim::Abandon).is_ok() {
                Self::finish(&mut inner, uuid, Action::Abandoned, None, Some(format!("hold failed: {}", e.0)));
            }
            drop(inner);
            self.deliver();
            return Err(DialError::HostFailed(e.0));
        }
        self.deliver();
        Ok(DialOutcome::Parked { extension })
    }

    /// The engine's one copy of `plan`, shared by every call parked under it. Under the lock.
    fn shared_plan(inner: &mut Inner, plan: &RecallPlan) -> Arc<RecallPlan> {
        if let Some(p) = inner.last_plan.as_ref().filter(|p| ***p == *plan) {
            return p.clone();
        }
        let p = Self::find_plan(inner, plan);
        inner.last_plan = Some(p.clone());
        p
    }

    fn find_plan(inner: &mut Inner, plan: &RecallPlan) -> Arc<RecallPlan> {
        let key = plan_key(plan);
        if let Some(p) = inner.plans.get(&key).and_then(|v| v.iter().find(|p| ***p == *plan)) {
            return p.clone();
        }
        if inner.plan_count >= inner.plans_prune_at {
            // Drop the plans no parked call uses any more (configurations reloaded away).
            inner.plans.retain(|_, v| {
                v.retain(|p| Arc::strong_count(p) > 1);
                !v.is_empty()
            });
            inner.plan_count = inner.plans.values().map(Vec::len).sum();
            inner.plans_prune_at = (inner.plan_count * 2).max(PLANS_PRUNE_AT);
        }
        let p = Arc::new(plan.clone());
        inner.plans.entry(key).or_default().push(p.clone());
        inner.plan_count += 1;
        p
    }

    fn retrieve(
        &self,
        t: &Tenant,
        tenant: &str,
        uuid: &str,
        user: Option<&str>,
        from: Option<String>,
    ) -> Result<DialOutcome, DialError> {
        let user = user.ok_or(DialError::NoRetriever)?;
        let group = t.group_of(user).map(|g| g.name.as_str());
        loop {
            let (parked, extension, was_ringing) = {
                let mut inner = self.inner.lock();
                let found = match &from {
                    Some(ext) => inner.store.oldest_in_slot(tenant, ext),
                    None => inner
                        .store
                        .oldest_in_slot(tenant, user)
                        .or_else(|| group.and_then(|g| inner.store.oldest_in_group(tenant, g))),
                }
                .filter(|c| c.uuid != uuid)
                .map(|c| (c.uuid.clone(), c.extension.clone()));
                let Some((parked, extension)) = found else {
                    let place = match (&from, &group) {
                        (Some(e), _) => e.clone(),
                        (None, Some(g)) => format!("{user} or in group \"{g}\""),
                        (None, None) => user.to_string(),
                    };
                    return Err(DialError::Empty { place });
                };
                let ringing = self
                    .claim(&mut inner, &parked, Claim::Retrieve { by: uuid.into() })
                    .expect("an unclaimed call found under the same lock");
                (parked, extension, ringing)
            };
            if was_ringing {
                self.host.cancel_ring(&parked);
            }
            let bridged = self.host.bridge(uuid, &parked);
            let mut inner = self.inner.lock();
            match bridged {
                Ok(()) => {
                    Self::finish(&mut inner, &parked, Action::Retrieved, Some(uuid), None);
                    drop(inner);
                    self.deliver();
                    return Ok(DialOutcome::Retrieved { parked_uuid: parked, extension });
                }
                Err(BridgeError::ParkedGone(e)) => {
                    Self::finish(
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
        }
    }

    fn hangup(&self, uuid: &str) -> Result<(), CallError> {
        let uuid = clean_id("uuid", uuid).map_err(CallError::BadRequest)?;
        let ringing = {
            let mut inner = self.inner.lock();
            let ringing = self.claim(&mut inner, uuid, Claim::Abandon)?;
            Self::finish(&mut inner, uuid, Action::Abandoned, None, Some("caller hung up".into()));
            ringing
        };
        if ringing {
            self.host.cancel_ring(uuid);
        }
        self.deliver();
        Ok(())
    }

    fn recall_answered(&self, parked: &str, attempt: u32, leg: &str) -> Result<(), CallError> {
        let parked = clean_id("uuid", parked).map_err(CallError::BadRequest)?;
        let leg = clean_id("leg uuid", leg).map_err(CallError::BadRequest)?;
        {
            let mut inner = self.inner.lock();
            self.claim(&mut inner, parked, Claim::RecallAnswer { leg: leg.to_string() })?;
        }
        let bridged = self.host.bridge(leg, parked);
        let mut inner = self.inner.lock();
        let result = match bridged {
            Ok(()) => {
                if let Some(c) = inner.store.get(parked).cloned() {
                    inner.outbox.push_back(Self::event(Action::RecallAnswered, &c, Some(leg), attempt, None));
                }
                Self::finish(&mut inner, parked, Action::Retrieved, Some(leg), Some("recall".into()));
                Ok(())
            }
            Err(BridgeError::ParkedGone(e)) => {
                Self::finish(&mut inner, parked, Action::Abandoned, Some(leg), Some(format!("bridge failed: {e}")));
                Err(CallError::BridgeFailed(e))
            }
            Err(BridgeError::Failed(e)) => {
                self.unclaim(&mut inner, parked);
                Err(CallError::BridgeFailed(e))
            }
        };
        drop(inner);
        self.deliver();
        result
    }

    fn recall_failed(&self, parked: &str, attempt: u32) -> Result<(), CallError> {
        let parked = clean_id("uuid", parked).map_err(CallError::BadRequest)?;
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
    fn advance_recall(&self, uuid: &str, trigger: Trigger, gen: Option<u64>) -> bool {
        let mut acts = Vec::new();
        {
            let mut inner = self.inner.lock();
            let Some(c) = inner.store.get(uuid) else { return false };
            if c.claim.is_some() || gen.is_some_and(|g| g != c.timer_gen) {
                return false;
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
                let ringing = self.claim(&mut inner, uuid, claim).unwrap_or(false);
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
                        caller_name: c.caller_name.clone(),
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
                            Ok(()) => Self::finish(&mut inner, &uuid, action, None, Some(dest.to_string())),
                            Err(e) => {
                                let why = format!("{what} transfer failed: {}", e.0);
                                Self::finish(&mut inner, &uuid, Action::Abandoned, None, Some(why));
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

    fn probe(&self, tenant: &str, target: &str, subscriber: Option<&str>) -> Result<(), CallError> {
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
        let target = if !bare.is_empty() && bare.len() <= 20 && bare.bytes().all(|b| b.is_ascii_digit()) {
            Target::Extension(bare.into())
        } else if t.group(bare).is_some() {
            Target::Group(bare.into())
        } else {
            return Err(CallError::NotFound);
        };
        {
            let mut inner = self.inner.lock();
            let state = match &target {
                Target::Extension(e) => inner.store.slot_state(&tenant, e),
                Target::Group(g) => inner.store.group_state(&tenant, g),
            };
            inner.outbox.push_back(Notice::Presence(Presence {
                tenant: tenant.into_owned(),
                target,
                state,
                subscriber: subscriber.map(str::to_string),
            }));
        }
        self.deliver();
        Ok(())
    }

    fn list(&self, tenant: Option<&str>) -> Result<Vec<CallInfo>, CallError> {
        let tenant = tenant.map(clean_tenant).transpose().map_err(CallError::BadRequest)?;
        let now = self.clock.now_ms();
        let inner = self.inner.lock();
        Ok(inner.store.calls(tenant.as_deref()).into_iter().map(|c| CallInfo::of(c, now)).collect())
    }
}

mod adopt;
pub use adopt::AdoptRequest;
