//! `cargo bench --bench core`: the cost of one operation of the core (no FreeSWITCH),
//! with 1,000 / 10,000 / 100,000 calls already parked across 10,000 tenants, and group
//! park in a group of 1,000 members. The engine runs on a manual clock: no timer fires
//! while measuring.
//!
//! Times are wall-clock: run it on a quiet machine.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callpark::clock::ManualClock;
use callpark::identity::{Facts, Leg};
use callpark::reply::{ChannelDial, Reply};
use callpark::{DialOutcome, DialRequest, Engine, Timing};
use criterion::{BenchmarkId, Criterion};

use common::*;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Operations timed back to back before the untimed clean-up that keeps the count steady.
const CHUNK: u64 = 64;
/// A tenant of its own with 10 calls (extensions 100..=109), for probe and list.
const LISTED: &str = "list.example";

fn retrieve(engine: &Engine, tenant: &str, retriever: &str, dialed: &str) -> bool {
    let req = DialRequest {
        tenant,
        uuid: retriever,
        dialed,
        user: Some("555"),
        transferor: None,
        caller_number: "555",
        caller_name: "",
        back_to_park: false,
        transferred: false,
        operator: false,
        timeout: "",
    };
    matches!(engine.dial(&req), Ok(DialOutcome::Retrieved { .. }))
}

/// Parks `uuid` at `dialed` in `tenant` as the module hands it over: a carrier's call
/// (no user of its own, the tenant from the dialplan) transferred by the outbound leg to
/// directory user 100, through the identity rules and the reply (`Engine::answer`).
fn park_by_answer(engine: &Engine, tenant: &str, uuid: &str, dialed: &str) -> bool {
    let partner = Leg { outbound: true, dialed_user: Some("100"), dialed_domain: Some(tenant), ..Leg::default() };
    let facts = Facts {
        channel: Leg { domain_name: Some(tenant), ..Leg::default() },
        bridge_partner: Some(partner),
        transferred: true,
        referred_by: Some("<sip:100@somewhere.example>"),
        ..Facts::default()
    };
    let d = ChannelDial {
        uuid,
        dialed,
        facts,
        caller_number: "0033123456789",
        caller_name: "Bench Caller",
        ..ChannelDial::default()
    };
    matches!(engine.answer(&d), Reply::Hold { .. })
}

/// Parks `uuid` at `dialed` in `tenant` by the engine's own request (identity resolved).
fn park_by_request(engine: &Engine, tenant: &str, uuid: &str, dialed: &str) -> bool {
    matches!(park_dialed(engine, tenant, uuid, dialed), Ok(DialOutcome::Parked { .. }))
}

type ParkFn = fn(&Engine, &str, &str, &str) -> bool;

/// Parks a new call in a random slot: timed. Then hangs it up: untimed. `park` is the
/// engine's request; `park_answer` the whole dial as the module hands it over.
fn bench_park(c: &mut Criterion, engines: &[(usize, Engine)], name: &str, park: ParkFn) {
    let mut g = c.benchmark_group(name);
    let mut k = 0u64;
    for (n, engine) in engines {
        g.bench_with_input(BenchmarkId::from_parameter(n), engine, |b, engine| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let m = left.min(CHUNK);
                    let reqs: Vec<(String, String, String)> = (0..m)
                        .map(|_| {
                            k += 1;
                            let (t, e) = random_slot(k);
                            (tenant(t), uuid(1, k), format!("*68{e}"))
                        })
                        .collect();
                    let start = Instant::now();
                    for (t, u, d) in &reqs {
                        assert!(black_box(park(engine, t, u, d)));
                    }
                    total += start.elapsed();
                    for (_, u, _) in &reqs {
                        engine.hangup(u).expect("hang up the benchmark call");
                    }
                    left -= m;
                }
                assert_eq!(engine.parked_count(), *n + 10);
                total
            })
        });
    }
    g.finish();
}

/// Parks a call in a random slot: untimed. Then retrieves with `*88<ext>`: timed.
fn bench_retrieve(c: &mut Criterion, engines: &[(usize, Engine)]) {
    let mut g = c.benchmark_group("retrieve");
    let mut k = 0u64;
    for (n, engine) in engines {
        g.bench_with_input(BenchmarkId::from_parameter(n), engine, |b, engine| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let m = left.min(CHUNK);
                    let reqs: Vec<(String, String, String)> = (0..m)
                        .map(|_| {
                            k += 1;
                            let (t, e) = random_slot(k);
                            let t = tenant(t);
                            park(engine, &t, &uuid(2, k), e).expect("park the call to retrieve");
                            (t, uuid(3, k), format!("*88{e}"))
                        })
                        .collect();
                    let start = Instant::now();
                    for (t, u, d) in &reqs {
                        assert!(black_box(retrieve(engine, t, u, d)));
                    }
                    total += start.elapsed();
                    left -= m;
                }
                assert_eq!(engine.parked_count(), *n + 10);
                total
            })
        });
    }
    g.finish();
}

/// A BLF subscription's probe of `park+105` (one call parked there).
fn bench_probe(c: &mut Criterion, engines: &[(usize, Engine)]) {
    let mut g = c.benchmark_group("probe");
    for (n, engine) in engines {
        g.bench_with_input(BenchmarkId::from_parameter(n), engine, |b, engine| {
            b.iter(|| engine.probe(black_box(LISTED), black_box("park+105"), Some("200")).expect("probe"))
        });
    }
    g.finish();
}

/// The list of one tenant (10 calls).
fn bench_list(c: &mut Criterion, engines: &[(usize, Engine)]) {
    let mut g = c.benchmark_group("list_tenant");
    for (n, engine) in engines {
        g.bench_with_input(BenchmarkId::from_parameter(n), engine, |b, engine| {
            b.iter(|| {
                let l = engine.list(Some(black_box(LISTED))).expect("list");
                assert_eq!(l.len(), 10);
                l
            })
        });
    }
    g.finish();
}

const MEMBERS: usize = 1_000;

fn group_dial(engine: &Engine, uuid: &str, dialed: &str, user: Option<&str>, by: Option<&str>) -> DialOutcome {
    let req = DialRequest {
        tenant: "grp.example",
        uuid,
        dialed,
        user,
        transferor: by,
        caller_number: "0033123456789",
        caller_name: "Bench Caller",
        back_to_park: false,
        transferred: by.is_some(),
        operator: false,
        timeout: "",
    };
    engine.dial(&req).unwrap_or_else(|e| panic!("{dialed}: {e:?}"))
}

/// `*58` in a group of 1,000 members: with every member but the last two busy (the
/// first free member is near the end), and with every member free. A `*88<ext>` of the
/// call keeps the state steady; it is timed only in `park_and_retrieve_near_end`.
fn bench_group(c: &mut Criterion) {
    let mut g = c.benchmark_group("group_park_1000");
    let busy = Engine::new(group_config(MEMBERS), Arc::new(NoopHost), Timing::Manual(Arc::new(ManualClock::default())));
    for m in 0..MEMBERS - 2 {
        let ext = 1000 + m;
        group_dial(&busy, &uuid(4, m as u64), &format!("*68{ext}"), None, Some("1000"));
    }
    let last_free = format!("*88{}", 1000 + MEMBERS - 2);
    let free = Engine::new(group_config(MEMBERS), Arc::new(NoopHost), Timing::Manual(Arc::new(ManualClock::default())));
    let mut k = 0u64;
    let mut run = |b: &mut criterion::Bencher, engine: &Engine, retrieve: &str, time_retrieve: bool| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                k += 1;
                let (parked, retriever) = (uuid(5, k), uuid(6, k));
                let start = Instant::now();
                let out = group_dial(engine, &parked, "*58", None, Some("1000"));
                let parked_at = start.elapsed();
                black_box(out);
                let start = Instant::now();
                group_dial(engine, &retriever, retrieve, Some("1999"), None);
                total += parked_at + if time_retrieve { start.elapsed() } else { Duration::ZERO };
            }
            total
        })
    };
    g.bench_function("park_near_end", |b| run(b, &busy, &last_free, false));
    g.bench_function("park_and_retrieve_near_end", |b| run(b, &busy, &last_free, true));
    g.bench_function("park_all_free", |b| run(b, &free, "*881000", false));
    assert_eq!(busy.parked_count(), MEMBERS - 2);
    assert_eq!(free.parked_count(), 0);
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args();
    let t0 = Instant::now();
    let engines: Vec<(usize, Engine)> = SIZES
        .iter()
        .map(|&n| {
            let e = spread_engine(n);
            for i in 0..10 {
                park(&e, LISTED, &uuid(7, i), 100 + i as usize).expect("park in the listed tenant");
            }
            (n, e)
        })
        .collect();
    eprintln!("set up {:?} parked calls in {:.2?}", SIZES, t0.elapsed());
    bench_park(&mut c, &engines, "park", park_by_request);
    bench_park(&mut c, &engines, "park_answer", park_by_answer);
    bench_retrieve(&mut c, &engines);
    bench_probe(&mut c, &engines);
    bench_list(&mut c, &engines);
    drop(engines);
    bench_group(&mut c);
    c.final_summary();
}
