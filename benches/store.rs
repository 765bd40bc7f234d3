//! `cargo bench --bench store`: the cost of one operation of the core with each store
//! behind it, side by side in one run: the memory store, and the Redis store on a
//! `redis-server` this bench starts on a loopback port (one node alone, then a second
//! node that has to read what the first changed). 1,000 calls are parked before each
//! is measured. Needs `redis-server` (scripts/deps.sh test installs it).
//!
//! Times are wall-clock: run it on a quiet machine.

mod common;
#[path = "../tests/common/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callpark::clock::ManualClock;
use callpark::{Engine, Timing};
use criterion::{BenchmarkId, Criterion};

use common::*;

const PARKED: usize = 1_000;

fn engine_with(store: Option<callpark::store::RedisStore>) -> Engine {
    let host = Arc::new(NoopHost);
    let timing = Timing::Manual(Arc::new(ManualClock::default()));
    match store {
        None => Engine::new(spread_config(), host, timing),
        Some(s) => Engine::with_store(spread_config(), host, timing, Box::new(s)),
    }
}

/// A park then its hang-up (both timed: each is one write of the store).
fn park_hangup(engine: &Engine, k: u64) {
    let (t, e) = random_slot(k);
    let u = uuid(7, k);
    park(engine, &tenant(t), &u, e).expect("park");
    engine.hangup(&u).expect("hang up");
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    let server = redis_server::shared();
    let memory = engine_with(None);
    let prefix = redis_server::fresh_prefix();
    let alone = engine_with(Some(redis_server::store(server, &prefix, "a")));
    let t0 = Instant::now();
    fill(&memory, PARKED);
    fill(&alone, PARKED);
    eprintln!("filled two engines with {PARKED} calls in {:?}", t0.elapsed());

    // Park + hang-up, and a lamp probe, on one node.
    let mut g = c.benchmark_group("store: park + hang-up, 1000 parked");
    let mut k = 0u64;
    for (name, engine) in [("memory", &memory), ("redis, one node", &alone)] {
        g.bench_with_input(BenchmarkId::from_parameter(name), engine, |b, engine| {
            b.iter(|| {
                k += 1;
                park_hangup(black_box(engine), k)
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("store: probe, 1000 parked");
    for (name, engine) in [("memory", &memory), ("redis, one node", &alone)] {
        g.bench_with_input(BenchmarkId::from_parameter(name), engine, |b, engine| {
            b.iter(|| engine.probe(&tenant(0), "park+100", Some("555")).expect("probe"))
        });
    }
    g.finish();

    // Two nodes: B reads what A changed (its timer thread does every 250 ms; here by
    // hand), the whole park, as this store rebuilds its mirror when the version moved;
    // then answers a lamp probe from it.
    let other = engine_with(Some(redis_server::store(server, &prefix, "b")));
    other.sync();
    assert_eq!(other.list(None).expect("list").len(), PARKED, "B sees A's calls");
    let mut g = c.benchmark_group("store: sync + probe on B after a park on A, 1000 parked");
    g.bench_function("redis, two nodes", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                k += 1;
                park_hangup(&alone, k);
                let start = Instant::now();
                other.sync();
                other.probe(&tenant(0), "park+100", Some("555")).expect("probe");
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
    c.final_summary();
}
