//! `cargo bench --bench round_trips`: how many round trips to Redis each operation of the
//! core makes (counted by the store, `callpark::store::round_trips`: a pipeline or a
//! script is one), and how many commands Redis ran for them (counted by Redis itself,
//! `INFO commandstats`, script commands included), on a `redis-server` this bench starts
//! on a loopback port, with two nodes sharing the park and 100 calls parked. Counts, not
//! times: the same on a busy machine. Each figure is the median of 20
//! operations; the nodes' timer threads (their reads every 250 ms) are not running, so
//! only the operation itself is counted (a read of what the other node changed is
//! counted apart, as "sync").

mod common;
#[path = "../tests/common/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::sync::Arc;

use callpark::clock::ManualClock;
use callpark::{DialRequest, Engine, Timing};

use common::*;

const TENANT: &str = "t1.example";

fn node(server: &redis_server::Server, prefix: &str, name: &str) -> Engine {
    let store = redis_server::store(server, prefix, name);
    let timing = Timing::Manual(Arc::new(ManualClock::default()));
    Engine::with_store(spread_config(), Arc::new(NoopHost), timing, Box::new(store))
}

fn dial(e: &Engine, uuid: &str, dialed: &str, user: Option<&str>, by: Option<&str>) {
    e.dial(&DialRequest {
        tenant: TENANT,
        uuid,
        dialed,
        user,
        transferor: by,
        caller_number: "5551234",
        caller_name: "",
        back_to_park: false,
        transferred: by.is_some(),
        operator: false,
        timeout: "",
    })
    .unwrap_or_else(|f| panic!("{dialed}: {:?}", f.error));
}

/// Redis's count of every command but INFO.
fn commands(server: &redis_server::Server) -> u64 {
    server.all_calls()
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("round_trips: bench");
        return;
    }
    let server = redis_server::start(free_port());
    let prefix = redis_server::fresh_prefix();
    let (a, b) = (node(&server, &prefix, "a"), node(&server, &prefix, "b"));
    for i in 0..100u64 {
        dial(&a, &uuid(1, i), &format!("*68{}", 500 + i), None, Some("101"));
    }
    a.sync();
    b.sync();
    let mut rows: Vec<(&str, Vec<u64>, Vec<u64>)> = Vec::new();
    let mut count = |what: &'static str, f: &mut dyn FnMut()| {
        let (c0, r0) = (commands(&server), callpark::store::round_trips());
        f();
        let (n, r) = (commands(&server) - c0, callpark::store::round_trips() - r0);
        match rows.iter_mut().find(|(w, _, _)| *w == what) {
            Some((_, v, t)) => {
                v.push(n);
                t.push(r);
            }
            None => rows.push((what, vec![n], vec![r])),
        }
    };
    for i in 0..20u64 {
        let (p, q) = (uuid(2, i), uuid(3, i));
        count("park (*68102 on A)", &mut || dial(&a, &p, "*68102", None, Some("101")));
        count("pick-up on the holding node (*88102 on A)", &mut || dial(&a, &uuid(4, i), "*88102", Some("102"), None));
        count("park (*68103 on A)", &mut || dial(&a, &q, "*68103", None, Some("101")));
        count("sync: B reads what A changed", &mut || b.sync());
        count("pick-up from the other node: B's part (*88103 on B)", &mut || {
            dial(&b, &uuid(5, i), "*88103", Some("103"), None)
        });
        count("pick-up from the other node: A's part (hand-over)", &mut || {
            let token = redis_server::last_token(&server, &prefix);
            a.take_over(&token, &uuid(6, i), "127.0.0.12").expect("hand-over");
        });
        let h = uuid(7, i);
        dial(&a, &h, "*68104", None, Some("101"));
        count("the parked caller hangs up (on the switch's thread)", &mut || a.hangup(&h).unwrap());
        count("A's next sync (writes the removal)", &mut || a.sync());
        a.sync();
        b.sync();
    }
    println!("Per operation, median of 20 (two nodes, 100 calls parked): round trips to Redis, and");
    println!("commands Redis ran for them (those of its Lua scripts included)");
    println!("  {:<60} {:>11} {:>9}", "operation", "round trips", "commands");
    for (what, v, t) in rows {
        println!("  {what:<60} {:>11} {:>9}", median(t), median(v));
    }
    server.stop();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
