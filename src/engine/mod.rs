//! The engine: the rules of parking, retrieving and recalling, applied to a store.
//!
//! One lock guards the store and the outbox of notices. Every operation changes the
//! store and queues its notices under that lock, then releases it and only then asks
//! the host to act. Notices are delivered in the order their changes happened, by
//! whichever thread finds the outbox non-empty and nobody else delivering.
//!
//! The parts, each in its own file: request cleaning (`clean`), the timer index and its
//! thread (`timers`), the outbox (`outbox`), and the rules: parking and retrieving
//! (`park`), claims (`claims`), recalling (`recalling`), adopting calls after a reload
//! (`adopt`).

mod adopt;
mod answer;
mod claims;
mod clean;
mod cluster;
mod operator;
mod outbox;
mod park;
mod recalling;
mod timers;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};

use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::{Config, RedisTarget, StoreSetting};
use crate::host::{Host, LogLevel, Notice, Presence, Target};
use crate::listing::CallInfo;
use crate::store::{MemoryStore, ParkStore, RedisStore, SlotState, StoreError};
use clean::clean_tenant;
use timers::{timer_thread, Timers};

pub use crate::error::{CallError, DialError, DialFailure};
pub use adopt::{after_adopt, secs_since, AdoptRequest, Adoption, AfterAdopt, TakenBack};
pub use clean::{clean_name, clean_number, MAX_ID_LEN, MAX_NAME_CHARS};
pub use cluster::{HANDOVER_PREFIX, SYNC_MS};
pub use operator::OPERATOR_RING;

/// A request from a channel that dialed a feature code.
#[derive(Clone, Debug, Default)]
pub struct DialRequest<'a> {
    /// The channel's domain.
    pub tenant: &'a str,
    /// The channel running the code: the call to park (park codes) or the retriever.
    pub uuid: &'a str,
    pub dialed: &'a str,
    /// The channel's own authenticated user, if any (see [`crate::identity`]).
    pub user: Option<&'a str>,
    /// The user who transferred this channel here, if any.
    pub transferor: Option<&'a str>,
    pub caller_number: &'a str,
    pub caller_name: &'a str,
    /// The call was sent back to its parking user (a park that could not happen) and
    /// nobody took it: park it at the parking user's own extension (`dialed` is not read).
    /// Never sent back again.
    pub back_to_park: bool,
    /// It was transferred here: a park at an extension by nobody known (no user, no
    /// transferor) is parked for that extension instead of refused.
    pub transferred: bool,
    /// An operator's park (`callpark park`): a failure sends nothing back.
    pub operator: bool,
    /// The call's own recall time, as the channel or the operator gave it (see
    /// [`crate::config::own_recall_time`]): empty for the configured one, `0` for never.
    pub timeout: &'a str,
}

/// What the engine did with the channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialOutcome {
    /// The channel is parked at `extension`: the host puts it on hold with `music` (its
    /// group's or tenant's; empty: none configured), `exit_key` (if any) stopping it.
    /// `chosen`: the park chose the extension (a lot's free slot, a group's free member),
    /// which the code did not name.
    Parked { extension: String, music: String, exit_key: Option<char>, chosen: bool },
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
    /// Log lines written under the lock, for the delivering thread to pass on after it.
    logs: Vec<(LogLevel, String)>,
    /// The slot each lot that chooses `next` used last: (tenant, lot) to its index.
    lot_last: std::collections::HashMap<(String, String), usize>,
}

/// Work a switch's event thread handed over because the engine's lock was taken (by an
/// operation waiting on a shared store): carried out by the next thread that delivers.
enum Posted {
    Hangup(String),
    Probe { tenant: String, target: String, subscriber: Option<String> },
}

struct Shared {
    host: Arc<dyn Host>,
    clock: Arc<dyn Clock>,
    config: RwLock<Arc<Config>>,
    inner: Mutex<Inner>,
    timers: Mutex<Timers>,
    delivering: AtomicBool,
    stop: AtomicBool,
    /// Set by [`Engine::quiesce`]: the engine changes nothing on its own any more.
    quiet: AtomicBool,
    /// The shared store did not answer last time (logged once).
    store_down: AtomicBool,
    /// The store is shared with other nodes: the timer thread reads their changes.
    shared_store: bool,
    /// Handed over by event threads that found the lock taken.
    posted: Mutex<Vec<Posted>>,
    /// A change waits to be written to the shared store: the timer thread writes it.
    flush_due: AtomicBool,
    /// Operator's commands other nodes sent (id, text): carried out by the timer thread
    /// (or [`Engine::sync`]), never by a switch's thread.
    commands: Mutex<Vec<(String, String)>>,
    wake: Option<Sender<()>>,
}

/// The call-park engine of one switch.
pub struct Engine {
    shared: Arc<Shared>,
    manual: Option<Arc<ManualClock>>,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// An engine with the store its configuration names (`store`): memory, or a park
    /// shared on Redis (which need not be reachable yet). A shared store that cannot be
    /// used (another running node has this node's name) is logged, and this switch
    /// keeps its own park: [`Engine::try_new`] refuses instead.
    pub fn new(config: Config, host: Arc<dyn Host>, timing: Timing) -> Engine {
        match Self::try_new(config.clone(), host.clone(), timing) {
            Ok(e) => e,
            Err((e, timing)) => {
                host.log(LogLevel::Error, &format!("callpark: {e}; this switch keeps its own park"));
                Self::with_store(config, host, timing, Box::<MemoryStore>::default())
            }
        }
    }

    /// An engine with the store its configuration names, or why that store cannot be
    /// used (given back with the timing, for the caller to log and decide).
    pub fn try_new(config: Config, host: Arc<dyn Host>, timing: Timing) -> Result<Engine, (StoreError, Timing)> {
        let store: Box<dyn ParkStore> = match &config.store {
            StoreSetting::Memory => Box::<MemoryStore>::default(),
            StoreSetting::Redis(target) => match RedisStore::new(target.clone()) {
                Ok(s) => Box::new(s),
                Err(e) => return Err((e, timing)),
            },
        };
        Ok(Self::with_store(config, host, timing, store))
    }

    pub fn with_store(config: Config, host: Arc<dyn Host>, timing: Timing, mut store: Box<dyn ParkStore>) -> Engine {
        let (clock, manual, wake): (Arc<dyn Clock>, _, _) = match timing {
            Timing::Thread => {
                let (tx, rx) = crossbeam_channel::bounded(1);
                (Arc::new(SystemClock::default()), None, Some((tx, rx)))
            }
            Timing::Manual(c) => (c.clone(), Some(c), None),
        };
        store.use_clock(clock.clone());
        let shared_store = !store.node().is_empty();
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
                logs: Vec::new(),
                lot_last: std::collections::HashMap::new(),
            }),
            timers: Mutex::new(Timers::new()),
            delivering: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            quiet: AtomicBool::new(false),
            store_down: AtomicBool::new(false),
            shared_store,
            posted: Mutex::new(Vec::new()),
            flush_due: AtomicBool::new(false),
            commands: Mutex::new(Vec::new()),
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
    /// The store stays the one the engine was made with: a changed `store` (or `node`)
    /// takes effect when the module is loaded again, and is logged.
    pub fn reload(&self, config: Config) {
        let old = self.shared.config.read().store.clone();
        // `cross-node-pickup` is read at each pick-up: it takes effect now.
        let changed = match (&old, &config.store) {
            (StoreSetting::Redis(o), StoreSetting::Redis(n)) => *o != RedisTarget { pickup: o.pickup, ..n.clone() },
            (o, n) => o != n,
        };
        self.darken_lamps_switched_off(&config);
        *self.shared.config.write() = Arc::new(config);
        self.shared.host.log(LogLevel::Notice, "callpark: configuration reloaded");
        if changed {
            self.shared.host.log(
                LogLevel::Warning,
                "callpark: the store settings changed; they take effect when mod_callpark is loaded again \
                 (the parked calls stay where they are)",
            );
        }
    }

    /// A tenant whose `lamps` go from `all` to `none`: its lit lamps are turned off once,
    /// while the configuration that publishes them is still in place, so that no phone
    /// keeps a lamp lit that nothing will turn off.
    fn darken_lamps_switched_off(&self, new: &Config) {
        let old = self.shared.config.read().clone();
        let off = |tenant: &str| old.tenant(tenant).lamps && !new.tenant(tenant).lamps;
        {
            let mut inner = self.shared.inner.lock();
            let mut lit: Vec<(String, Target)> = Vec::new();
            for c in inner.store.calls(None).into_iter().filter(|c| off(&c.tenant)) {
                let slot = (c.tenant.clone(), Target::Extension(c.extension.clone()));
                let key = c.group.as_ref().map(|g| (c.tenant.clone(), Target::Group(g.clone())));
                for t in std::iter::once(slot).chain(key) {
                    if !lit.contains(&t) {
                        lit.push(t);
                    }
                }
            }
            if lit.is_empty() {
                return;
            }
            for (tenant, target) in lit {
                // Marked, so that a delivery already under way on another thread, which
                // reads the new configuration, still sends it.
                let dark = Presence { last_word: true, ..Presence::new(&tenant, target, SlotState::default(), None) };
                inner.outbox.push_back(Notice::Presence(dark));
            }
        }
        self.shared.deliver();
    }

    /// Publishes the lamps of a `lamps` listing kept from before an unload
    /// (`<tenant> park+<target>` lines) as they are now; unreadable lines are skipped.
    pub fn relight(&self, kept: &str) {
        for line in kept.lines() {
            if let Some((tenant, target)) = line.trim().split_once(' ') {
                let _ = self.probe(tenant, target.trim(), None);
            }
        }
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
        self.shared.recall_answered(parked_uuid, recalling::Ringing::of_attempt(attempt), leg_uuid)
    }

    /// Recall attempt `attempt` of `parked_uuid` ended unanswered (or could not start).
    pub fn recall_failed(&self, parked_uuid: &str, attempt: u32) -> Result<(), CallError> {
        self.shared.recall_failed(parked_uuid, recalling::Ringing::of_attempt(attempt))
    }

    /// Publishes the state of `target` (`park+102`, `102`, `park+sales`) of `tenant`
    /// to `subscriber`. Unknown targets are `NotFound`.
    pub fn probe(&self, tenant: &str, target: &str, subscriber: Option<&str>) -> Result<(), CallError> {
        self.shared.probe(tenant, target, subscriber)
    }

    /// Parked calls of `tenant` (all when `None`), oldest first.
    pub fn list(&self, tenant: Option<&str>) -> Result<Vec<CallInfo>, CallError> {
        let tenant = tenant.map(clean_tenant).transpose().map_err(CallError::BadRequest)?;
        let now = self.shared.clock.now_ms();
        let inner = self.shared.inner.lock();
        Ok(inner.store.calls(tenant.as_deref()).into_iter().map(|c| CallInfo::of(c, now)).collect())
    }

    /// The host is going away (a module unload): from now on no timer moves a call on and
    /// no recall outcome counts (a recall leg hung up by the unload is no "no answer"), so
    /// that every call stays parked as it is, for the next load to adopt. Retrieves,
    /// hang-ups and answers still work. There is no way back: a new engine adopts.
    /// With a shared store, the node also leaves the cluster: its heartbeat is renewed no
    /// more (an unload the switch refuses leaves no node alive with nothing behind it),
    /// and the next load takes its name over at once.
    pub fn quiesce(&self) {
        self.shared.quiet.store(true, Ordering::SeqCst);
        self.shared.inner.lock().store.leave();
    }

    pub fn parked_count(&self) -> usize {
        self.shared.inner.lock().store.len()
    }

    pub fn pending_timers(&self) -> usize {
        self.shared.timers.lock().len()
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
