//! `cargo bench --bench timers`: how late recall timers fire on the engine's own timer
//! thread (`Timing::Thread`, the real clock), with 100,000 other calls parked whose
//! timers are pending. Calls of tenant `fast.example` recall after 5 s (the shortest
//! recall-time allowed); the host records when each recall rings, and the lateness is
//! that instant minus the call's deadline (park time + 5 s, in the engine's clock).
//!
//! Two runs: calls parked one per millisecond (steady), then a burst parked at once.
//! Without `--bench` (as `cargo test --benches` runs it), a short version.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callpark::config::{self, Destination};
use callpark::host::{BridgeError, Host, HostError, LogLevel, Notice, Ring};
use callpark::{DialRequest, Engine, Timing};

use common::{fill, uuid};

const FAST: &str = "fast.example";
const RECALL_MS: u64 = 5_000;

/// Records, for measured call `i` (uuid kind 9), when its first recall rang.
struct RingClock {
    base: Instant,
    /// Nanoseconds since `base`, plus one; zero: not rung yet.
    rang: Vec<AtomicU64>,
}

impl Host for RingClock {
    fn bridge(&self, _uuid: &str, _parked: &str, _: callpark::host::Joining) -> Result<(), BridgeError> {
        Ok(())
    }
    fn ring(&self, r: &Ring) -> Result<(), HostError> {
        let at = self.base.elapsed().as_nanos() as u64 + 1;
        if let Some(i) = r.parked_uuid.strip_prefix("00000009-0000-4000-8000-") {
            let i = usize::from_str_radix(i, 16).expect("a measured uuid");
            let _ = self.rang[i].compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed);
        }
        Ok(())
    }
    fn cancel_ring(&self, _parked: &str) {}
    fn transfer(&self, _uuid: &str, _to: &Destination) -> Result<(), HostError> {
        Ok(())
    }
    fn notify(&self, _n: &Notice) {}
    fn user_exists(&self, _tenant: &str, _ext: &str) -> bool {
        true
    }
    fn log(&self, _level: LogLevel, _m: &str) {}
}

fn conf() -> callpark::Config {
    config::from_xml(
        "timers.conf.xml",
        r#"<configuration name="callpark.conf">
  <settings>
    <param name="max-calls-per-extension" value="100"/>
    <param name="recall-time" value="86400"/>
  </settings>
  <tenants>
    <tenant domain="fast.example">
      <settings><param name="recall-time" value="5"/></settings>
    </tenant>
  </tenants>
</configuration>"#,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Parks measured calls `range` at `fast.example`, `gap` apart; returns each one's
/// deadline in nanoseconds since `base`. The engine's clock read `origin` (ms) when it
/// started, just after `base`.
fn park(engine: &Engine, origin: u64, range: std::ops::Range<usize>, gap: Duration) -> Vec<(usize, u64)> {
    let start = Instant::now();
    range
        .enumerate()
        .map(|(n, i)| {
            if !gap.is_zero() {
                let at = start + gap * n as u32;
                if let Some(wait) = at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            let id = uuid(9, i as u64);
            let dialed = format!("*68{}", 100 + i % 900);
            // The deadline the engine sets: its clock (ms) at the park, plus the recall time.
            let before = engine.now_ms();
            let req = DialRequest {
                tenant: FAST,
                uuid: &id,
                dialed: &dialed,
                transferor: Some("100"),
                transferred: true,
                operator: false,
                ..Default::default()
            };
            engine.dial(&req).expect("park a measured call");
            (i, (before - origin + RECALL_MS) * 1_000_000)
        })
        .collect()
}

fn report(name: &str, host: &RingClock, due: &[(usize, u64)]) {
    let mut late: Vec<f64> = due
        .iter()
        .filter_map(|&(i, d)| match host.rang[i].load(Ordering::Relaxed) {
            0 => None,
            at => Some((at - 1) as f64 / 1e6 - d as f64 / 1e6),
        })
        .collect();
    let missing = due.len() - late.len();
    late.sort_by(f64::total_cmp);
    let pct = |p: f64| late[((late.len() - 1) as f64 * p).round() as usize];
    println!(
        "{name:<34} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>8}",
        due.len(),
        pct(0.0),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        missing
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (others, steady, burst) = if full { (100_000, 2_000, 10_000) } else { (1_000, 20, 100) };
    let base = Instant::now();
    let host = Arc::new(RingClock { base, rang: (0..steady + burst).map(|_| AtomicU64::new(0)).collect() });
    let engine = Engine::new(conf(), host.clone(), Timing::Thread);
    let origin = engine.now_ms();
    let t0 = Instant::now();
    fill(&engine, others);
    println!("recall timer lateness, Timing::Thread, recall-time 5 s");
    println!("{others} other calls parked (their timers pending) in {:.2?}", t0.elapsed());
    // Steady: one call a millisecond; then, once those are parked, a burst.
    let steady_due = park(&engine, origin, 0..steady, Duration::from_millis(1));
    std::thread::sleep(Duration::from_millis(500));
    let burst_start = Instant::now();
    let burst_due = park(&engine, origin, steady..steady + burst, Duration::ZERO);
    let burst_took = burst_start.elapsed();
    assert!(engine.pending_timers() >= others + steady + burst);
    // Wait for every measured recall (5 s after the burst, plus time to ring them all).
    let give_up = Instant::now() + Duration::from_millis(RECALL_MS + 10_000);
    while host.rang.iter().any(|r| r.load(Ordering::Relaxed) == 0) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("lateness in ms (ring instant minus deadline; the engine's clock counts whole ms)");
    println!("{:<34} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8}", "run", "calls", "min", "median", "p99", "max", "not rung");
    report("steady, 1 call/ms", &host, &steady_due);
    report(&format!("burst, parked in {:.0?}", burst_took), &host, &burst_due);
    drop(engine);
}
