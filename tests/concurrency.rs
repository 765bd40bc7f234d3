//! Many threads parking, retrieving, recalling and hanging up at once, on the real
//! clock with the engine's timer thread. Afterwards every slot is consistent and every
//! call was taken out of the park at most once.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callpark::host::{Notice, Target};
use callpark::{config, DialRequest, Engine, Timing};
use common::{Did, FakeHost, ACME, GLOBEX};

const CONF: &str = r#"<configuration name="callpark.conf">
  <settings><param name="recall-time" value="5"/><param name="ring-time" value="5"/>
    <param name="retry-interval" value="1"/><param name="max-calls-per-extension" value="3"/></settings>
  <tenants><tenant domain="acme.example"><groups>
    <group name="sales"><member extension="101"/><member extension="102"/><member extension="103"/></group>
  </groups></tenant></tenants>
</configuration>"#;

#[test]
fn many_threads_at_once() {
    let host = Arc::new(FakeHost::default());
    host.add_users(ACME, &["101", "102", "103", "104"]);
    host.add_users(GLOBEX, &["101", "102", "103", "104"]);
    let engine = Arc::new(Engine::new(config::from_xml("c", CONF).unwrap(), host.clone(), Timing::Thread));
    host.add_users(ACME, &["105"]);
    // Calls nobody retrieves, so that their recalls run during the storm.
    for i in 0..3 {
        let uuid = format!("left-{i}");
        let req =
            DialRequest { tenant: ACME, uuid: &uuid, dialed: "*68105", transferor: Some("105"), ..Default::default() };
        engine.dial(&req).unwrap();
    }
    let ids = Arc::new(AtomicU64::new(0));
    // Longer than the recall time, so that the timer thread recalls calls meanwhile.
    let run_for = Duration::from_millis(6500);
    let start = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (engine, ids) = (engine.clone(), ids.clone());
            std::thread::spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                let mut next = || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                let mut mine: Vec<String> = Vec::new();
                let mut ops = 0u64;
                while start.elapsed() < run_for {
                    ops += 1;
                    let tenant = if next() % 2 == 0 { ACME } else { GLOBEX };
                    let ext = ["101", "102", "103", "104"][(next() % 4) as usize];
                    match next() % 6 {
                        0 | 1 => {
                            let uuid = format!("call-{}", ids.fetch_add(1, Ordering::Relaxed));
                            let code = if next() % 3 == 0 { "*58".to_string() } else { format!("*68{ext}") };
                            let by = ["101", "102", "103", "104"][(next() % 4) as usize];
                            let r = engine.dial(&DialRequest {
                                tenant,
                                uuid: &uuid,
                                dialed: &code,
                                transferor: Some(by),
                                caller_number: "5551234",
                                ..Default::default()
                            });
                            if r.is_ok() {
                                mine.push(uuid);
                            }
                        }
                        2 | 3 => {
                            let code = if next() % 2 == 0 { "*88".to_string() } else { format!("*88{ext}") };
                            let uuid = format!("retriever-{t}-{ops}");
                            let _ = engine.dial(&DialRequest {
                                tenant,
                                uuid: &uuid,
                                dialed: &code,
                                user: Some(ext),
                                ..Default::default()
                            });
                        }
                        4 => {
                            if !mine.is_empty() {
                                let u = mine.swap_remove((next() % mine.len() as u64) as usize);
                                let _ = engine.hangup(&u);
                            }
                        }
                        _ => {
                            if let Some(u) = mine.last() {
                                let _ = engine.recall_answered(u, 1, &format!("leg-{t}-{ops}"));
                            }
                        }
                    }
                }
                ops
            })
        })
        .collect();
    let ops: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(ops > 1000, "only {ops} operations ran");

    // Every call left the park at most once: one bridge, or one transfer, or one
    // abandon, never two of them.
    // The recalls of the unretrieved calls: on a loaded or serialized machine (valgrind)
    // the timer thread may only get its turn now. Wait for them, bounded.
    let waited = Instant::now();
    while !host.did.lock().iter().any(|d| matches!(d, Did::Ring(_))) && waited.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let did = host.take();
    let mut outcomes: HashMap<String, u32> = HashMap::new();
    for d in &did {
        if let Did::Notice(Notice::Event(e)) = d {
            if ["retrieved", "abandoned", "ring-group", "final-destination"].contains(&e.action.name()) {
                *outcomes.entry(e.uuid.clone()).or_default() += 1;
            }
        }
    }
    let twice: Vec<_> = outcomes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "calls resolved twice: {twice:?}");
    let mut bridged: HashMap<String, u32> = HashMap::new();
    for d in &did {
        if let Did::Bridge { parked, .. } = d {
            *bridged.entry(parked.clone()).or_default() += 1;
        }
    }
    assert!(bridged.values().all(|n| *n == 1), "a parked call was bridged twice");

    // Slots are consistent: the listing, the per-slot lamps last published and the count
    // agree, and no slot holds more than its limit.
    let list = engine.list(None).unwrap();
    assert_eq!(list.len(), engine.parked_count());
    let mut per_slot: HashMap<(String, String), usize> = HashMap::new();
    for c in &list {
        *per_slot.entry((c.tenant.clone(), c.extension.clone())).or_default() += 1;
    }
    assert!(per_slot.values().all(|n| *n <= 3));
    assert_eq!(
        per_slot.get(&(ACME.to_string(), "105".to_string())),
        Some(&3),
        "the unretrieved calls are still parked"
    );
    let mut lamps: HashMap<(String, String), usize> = HashMap::new();
    for d in &did {
        if let Did::Notice(Notice::Presence(p)) = d {
            if let Target::Extension(e) = &p.target {
                lamps.insert((p.tenant.clone(), e.clone()), p.state.count);
            }
        }
    }
    for tenant in [ACME, GLOBEX] {
        for ext in ["101", "102", "103", "104", "105"] {
            let key = (tenant.to_string(), ext.to_string());
            let want = per_slot.get(&key).copied().unwrap_or(0);
            let lamp = lamps.get(&key).copied().unwrap_or(0);
            assert_eq!(lamp, want, "lamp of {ext}@{tenant} was last published as {lamp}, the slot holds {want}");
        }
    }
    let recalls = did.iter().filter(|d| matches!(d, Did::Ring(_))).count();
    // Drain: hang up every remaining call, and every lamp goes dark.
    for c in &list {
        let _ = engine.hangup(&c.uuid);
    }
    assert_eq!(engine.parked_count(), 0);
    for tenant in [ACME, GLOBEX] {
        for ext in ["101", "102", "103", "104"] {
            assert_eq!(host.lamp(tenant, &Target::Extension(ext.into())).map_or(0, |p| p.state.count), 0);
        }
    }
    assert!(recalls > 0, "the timer thread recalled nothing");
    eprintln!("concurrency: {ops} operations, {} calls resolved, {recalls} recall attempts", outcomes.len());
}
