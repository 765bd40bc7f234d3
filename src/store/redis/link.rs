//! The connection to Redis, and whether Redis answers.
//!
//! An operation runs on one connection with a time-out. When it times out, or Redis
//! cannot be reached, the link is *down*: every operation fails at once, with no I/O,
//! until a thread of the link's own (neither the engine's nor the switch's) reaches
//! Redis again. So a frozen Redis costs one time-out under the engine's lock, not one
//! per operation, and nobody under that lock waits for a reconnect.
//!
//! Through Sentinel, the server is the master the Sentinels name: asked at load and by
//! that thread whenever the master fails or turns read-only (a failover), never under
//! the engine's lock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::sentinel::SentinelClient;
use redis::Connection;

use crate::store::StoreError;

/// How long a connect, a read or a write may take before Redis counts as unreachable.
pub(super) const IO_TIMEOUT: Duration = Duration::from_millis(500);
/// While the link is down, how often its thread tries to reach Redis.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// How long the Sentinels (and the master they name, asked its role) may take to say
/// which server is the master.
const FIND_WAIT: Duration = Duration::from_secs(2);

/// Where the link's connections go.
pub(super) enum Source {
    /// One Redis server.
    Direct(Box<redis::Client>),
    /// The master the Sentinels name.
    Sentinel(Arc<Finder>),
}

/// What the link knows of the Sentinels and the master they named last.
pub(super) struct Finder {
    sentinels: Mutex<SentinelClient>,
    master: Mutex<Option<redis::Client>>,
    /// A question to the Sentinels is under way (at most one: a Sentinel that froze holds
    /// one thread, not one per probe).
    asking: AtomicBool,
}

impl Source {
    pub fn sentinel(client: SentinelClient) -> Source {
        Source::Sentinel(Arc::new(Finder {
            sentinels: Mutex::new(client),
            master: Mutex::new(None),
            asking: AtomicBool::new(false),
        }))
    }

    fn clone_source(&self) -> Source {
        match self {
            Source::Direct(c) => Source::Direct(c.clone()),
            Source::Sentinel(f) => Source::Sentinel(f.clone()),
        }
    }

    /// The server to connect to now, asking nobody: what runs under the engine's lock.
    fn known(&self) -> Option<redis::Client> {
        match self {
            Source::Direct(c) => Some((**c).clone()),
            Source::Sentinel(f) => f.master.lock().clone(),
        }
    }

    /// Asks the Sentinels which server is the master now, waiting at most [`FIND_WAIT`]:
    /// at load and on the link's own thread.
    pub fn find(&self) -> redis::RedisResult<redis::Client> {
        let f = match self {
            Source::Direct(c) => return Ok((**c).clone()),
            Source::Sentinel(f) => f.clone(),
        };
        let unanswered = || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        if f.asking.swap(true, Ordering::AcqRel) {
            return Err(unanswered());
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let asker = f.clone();
        let spawned = std::thread::Builder::new().name("callpark-sentinel".into()).spawn(move || {
            let found = asker.sentinels.lock().get_client();
            asker.asking.store(false, Ordering::Release);
            let _ = tx.send(found);
        });
        if let Err(e) = spawned {
            f.asking.store(false, Ordering::Release);
            return Err(e.into());
        }
        match rx.recv_timeout(FIND_WAIT) {
            Ok(Ok(master)) => {
                *f.master.lock() = Some(master.clone());
                Ok(master)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(unanswered()),
        }
    }
}

/// Round trips to Redis made by every store of this process (a pipeline or a script is
/// one): what `cargo bench --bench round_trips` counts.
pub static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
struct Health {
    down: AtomicBool,
    /// A thread is trying to reach Redis.
    probing: AtomicBool,
    /// The link is gone: its thread stops.
    stop: AtomicBool,
}

pub(super) struct Link {
    source: Source,
    con: Option<Connection>,
    health: Arc<Health>,
    /// When the connection in use was made.
    pub connected_at: Option<Instant>,
    /// An operation failed since [`Link::recovered`] was last called: what this node
    /// holds may be missing from Redis.
    lost: bool,
    /// Why the last operation failed (no password in it), or why the link cannot be
    /// made at all (`broken`: a password file or certificate that cannot be read).
    last_error: String,
    broken: Option<String>,
}

impl Link {
    pub fn new(source: Source, broken: Option<String>) -> Link {
        let last_error = broken.clone().unwrap_or_default();
        Link { source, con: None, health: Arc::default(), connected_at: None, lost: false, last_error, broken }
    }

    /// Why Redis is not used now (empty when the last exchange worked).
    pub fn why(&self) -> String {
        if self.is_up() {
            String::new()
        } else {
            self.last_error.clone()
        }
    }

    /// Whether the last exchange worked and no failure is pending.
    pub fn is_up(&self) -> bool {
        self.con.is_some() && !self.lost && !self.health.down.load(Ordering::Acquire)
    }

    /// Whether an operation failed since [`Link::recovered`].
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// What was lost is written back: the link counts as whole again.
    pub fn recovered(&mut self) {
        self.lost = false;
    }

    /// Redis answered, but without what this node wrote (it restarted empty): as after a
    /// failure, what this node holds is written back on the next refresh.
    pub fn note_lost(&mut self) {
        self.lost = true;
    }

    /// Runs `f` on the connection. A connection that broke (Redis restarted) is made
    /// anew and `f` runs once more; a time-out or a failed connect puts the link down.
    pub fn run<T>(&mut self, mut f: impl FnMut(&mut Connection) -> redis::RedisResult<T>) -> Result<T, StoreError> {
        if let Some(why) = &self.broken {
            self.lost = true;
            return Err(StoreError(why.clone()));
        }
        if self.health.down.load(Ordering::Acquire) {
            if !self.health.probing.load(Ordering::Acquire) {
                // Down with nobody trying (a probe that ended as the link went): try.
                self.fail();
            }
            return Err(StoreError(format!(
                "redis does not answer ({}; tried again in the background)",
                self.last_error
            )));
        }
        for attempt in 0..2 {
            if self.con.is_none() {
                self.connect()?;
            }
            let con = self.con.as_mut().expect("connected above");
            ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
            let began = Instant::now();
            match f(con) {
                Ok(v) => return Ok(v),
                // A connection that broke at once (Redis restarted): once more. One that
                // failed slowly timed out (a frozen Redis): no reconnect under the lock.
                Err(e)
                    if attempt == 0
                        && e.is_connection_dropped()
                        && !e.is_timeout()
                        && began.elapsed() < IO_TIMEOUT / 4 =>
                {
                    self.con = None;
                    self.lost = true;
                }
                // Redis answered with an error (a script's, a command this Redis lacks):
                // said, the connection kept. A replica (a master a failover turned into
                // one) is no longer the server: the link goes down until the master is
                // found.
                Err(e)
                    if !(e.is_io_error() || e.is_timeout() || e.is_connection_dropped())
                        && e.code() != Some("READONLY") =>
                {
                    self.last_error = err(e.clone()).0;
                    return Err(err(e));
                }
                Err(e) => {
                    self.last_error = err(e.clone()).0;
                    self.fail();
                    return Err(err(e));
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    fn connect(&mut self) -> Result<(), StoreError> {
        let Some(client) = self.source.known() else {
            if self.last_error.is_empty() {
                self.last_error = "the Sentinels have named no master yet".into();
            }
            let why = StoreError(format!("redis: {}", self.last_error));
            self.fail();
            return Err(why);
        };
        match open(&client) {
            Ok(con) => {
                self.con = Some(con);
                self.connected_at = Some(Instant::now());
                Ok(())
            }
            Err(e) => {
                self.last_error = err(e.clone()).0;
                self.fail();
                Err(err(e))
            }
        }
    }

    /// Redis failed: the connection is dropped, and the link's thread tries to reach it
    /// until it answers.
    fn fail(&mut self) {
        self.con = None;
        self.lost = true;
        self.health.down.store(true, Ordering::Release);
        if self.health.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (source, health) = (self.source.clone_source(), self.health.clone());
        let spawned = std::thread::Builder::new().name("callpark-redis".into()).spawn(move || {
            while !health.stop.load(Ordering::Acquire) {
                std::thread::sleep(PROBE_EVERY);
                // Through Sentinel: the master named now (a failover names another).
                let answers = source
                    .find()
                    .and_then(|client| open(&client))
                    .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
                if answers.is_ok() {
                    // No longer probing first: a failure right after starts a new probe.
                    health.probing.store(false, Ordering::Release);
                    health.down.store(false, Ordering::Release);
                    return;
                }
            }
            health.probing.store(false, Ordering::Release);
        });
        if spawned.is_err() {
            // No thread: the next operation tries itself.
            self.health.probing.store(false, Ordering::Release);
            self.health.down.store(false, Ordering::Release);
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.health.stop.store(true, Ordering::Release);
    }
}

/// A connection with every operation bounded by [`IO_TIMEOUT`].
fn open(client: &redis::Client) -> redis::RedisResult<Connection> {
    let con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}

pub(super) fn err(e: redis::RedisError) -> StoreError {
    StoreError(format!("redis: {e}"))
}
