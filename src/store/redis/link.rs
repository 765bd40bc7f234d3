//! The connection to Redis, and whether Redis answers.
//!
//! An operation runs on one connection with a time-out. When it times out, or Redis
//! cannot be reached, the link is *down*: every operation fails at once, with no I/O,
//! until a thread of the link's own (neither the engine's nor the switch's) reaches
//! Redis again. So a frozen Redis costs one time-out under the engine's lock, not one
//! per operation, and nobody under that lock waits for a reconnect.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Connection;

use crate::store::StoreError;

/// How long a connect, a read or a write may take before Redis counts as unreachable.
pub(super) const IO_TIMEOUT: Duration = Duration::from_millis(500);
/// While the link is down, how often its thread tries to reach Redis.
const PROBE_EVERY: Duration = Duration::from_millis(250);

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
    client: redis::Client,
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
    pub fn new(client: redis::Client, broken: Option<String>) -> Link {
        let last_error = broken.clone().unwrap_or_default();
        Link { client, con: None, health: Arc::default(), connected_at: None, lost: false, last_error, broken }
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
                // Redis answered with an error (a script's, a command this Redis lacks, a
                // replica that is read-only): said, the connection kept.
                Err(e) if !(e.is_io_error() || e.is_timeout() || e.is_connection_dropped()) => {
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
        match open(&self.client) {
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
        let (client, health) = (self.client.clone(), self.health.clone());
        let spawned = std::thread::Builder::new().name("callpark-redis".into()).spawn(move || {
            while !health.stop.load(Ordering::Acquire) {
                std::thread::sleep(PROBE_EVERY);
                let answers = open(&client).and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
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
