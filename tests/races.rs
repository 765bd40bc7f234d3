//! Races with exactly one outcome: each pair of operations that can take a parked call out
//! of the park (or fill its slot) runs on two threads released together, thousands of
//! times. Every time, exactly one wins, the loser gets a clear "already taken" or "empty",
//! the call is bridged or handed off at most once, and the slot agrees with the lamps.

mod common;

use std::sync::Barrier;

use callpark::host::{Notice, Target};
use callpark::{CallError, DialError, DialOutcome, DialRequest};
use common::{Did, Rig, ACME};

const ITERATIONS: usize = 2000;

/// Runs `a` and `b` at the same moment on two threads.
fn race<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let ta = s.spawn(|| {
            barrier.wait();
            a()
        });
        let tb = s.spawn(|| {
            barrier.wait();
            b()
        });
        (ta.join().expect("thread a"), tb.join().expect("thread b"))
    })
}

fn retrieve(rig: &Rig, uuid: &str, code: &str, user: &str) -> Result<DialOutcome, callpark::DialFailure> {
    rig.engine.dial(&DialRequest { tenant: ACME, uuid, dialed: code, user: Some(user), ..Default::default() })
}

fn bridges_of(rig: &Rig, parked: &str) -> usize {
    rig.host.all().iter().filter(|d| matches!(d, Did::Bridge { parked: p, .. } if p == parked)).count()
}

fn transfers_of(rig: &Rig, uuid: &str) -> usize {
    rig.host.all().iter().filter(|d| matches!(d, Did::Transfer { uuid: u, .. } if u == uuid)).count()
}

/// The slot's last published lamp count equals what the engine holds there.
fn slot_consistent(rig: &Rig, ext: &str) {
    let held = rig.engine.list(Some(ACME)).unwrap().iter().filter(|c| c.extension == ext).count();
    let lamp = rig
        .host
        .all()
        .iter()
        .rev()
        .find_map(|d| match d {
            Did::Notice(Notice::Presence(p)) if p.target == Target::Extension(ext.into()) => Some(p.state.count),
            _ => None,
        })
        .unwrap_or(0);
    assert_eq!(lamp, held, "lamp of {ext} shows {lamp}, the slot holds {held}");
}

const CONF: &str = "<configuration name=\"callpark.conf\"/>";

#[test]
fn retrieve_vs_retrieve() {
    for i in 0..ITERATIONS {
        let rig = Rig::new(CONF);
        rig.dial(ACME, "c1", "*68", None, Some("101")).unwrap();
        let (a, b) = race(|| retrieve(&rig, "ra", "*88101", "102"), || retrieve(&rig, "rb", "*88101", "103"));
        assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "iteration {i}: {a:?} / {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert!(matches!(loser.unwrap_err().error, DialError::Empty { .. }));
        assert_eq!(bridges_of(&rig, "c1"), 1);
        assert_eq!(rig.engine.parked_count(), 0);
        slot_consistent(&rig, "101");
    }
}

#[test]
fn retrieve_vs_recall_answer() {
    for i in 0..ITERATIONS {
        let rig = Rig::new(CONF);
        rig.dial(ACME, "c1", "*68", None, Some("101")).unwrap();
        rig.secs(60); // the recall rings 101
        assert_eq!(rig.host.rings().len(), 1);
        let (a, b) =
            race(|| retrieve(&rig, "ra", "*88101", "102"), || rig.engine.recall_answered("c1", 1, "recall-leg"));
        assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "iteration {i}: {a:?} / {b:?}");
        match a {
            Ok(_) => assert!(matches!(b, Err(CallError::AlreadyTaken) | Err(CallError::NotFound)), "{b:?}"),
            Err(f) => assert!(matches!(f.error, DialError::Empty { .. })),
        }
        assert_eq!(bridges_of(&rig, "c1"), 1);
        assert_eq!(rig.engine.parked_count(), 0);
        slot_consistent(&rig, "101");
    }
}

#[test]
fn retrieve_vs_hangup() {
    for i in 0..ITERATIONS {
        let rig = Rig::new(CONF);
        rig.dial(ACME, "c1", "*68", None, Some("101")).unwrap();
        let (a, b) = race(|| retrieve(&rig, "ra", "*88101", "102"), || rig.engine.hangup("c1"));
        assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "iteration {i}: {a:?} / {b:?}");
        if a.is_ok() {
            assert!(matches!(b, Err(CallError::AlreadyTaken) | Err(CallError::NotFound)), "{b:?}");
            assert_eq!(bridges_of(&rig, "c1"), 1);
        } else {
            assert_eq!(bridges_of(&rig, "c1"), 0);
        }
        assert_eq!(rig.engine.parked_count(), 0);
        slot_consistent(&rig, "101");
    }
}

#[test]
fn recall_timer_vs_retrieve() {
    let conf = "<configuration name=\"callpark.conf\"><settings><param name=\"recall\" value=\"ring-group\"/>\
        <param name=\"ring-group\" value=\"6000\"/><param name=\"recall-time\" value=\"5\"/></settings></configuration>";
    let mut timer_won = 0;
    for i in 0..ITERATIONS {
        let rig = Rig::new(conf);
        rig.dial(ACME, "c1", "*68", None, Some("101")).unwrap();
        assert!(rig.engine.advance(4_999));
        let (a, b) = race(|| retrieve(&rig, "ra", "*88101", "102"), || rig.engine.advance(1));
        assert!(b);
        let handed_off = transfers_of(&rig, "c1");
        assert_eq!(
            a.is_ok() as usize + handed_off,
            1,
            "iteration {i}: retrieve {a:?}, ring-group transfers {handed_off}"
        );
        timer_won += handed_off;
        assert_eq!(bridges_of(&rig, "c1"), a.is_ok() as usize);
        assert_eq!(rig.engine.parked_count(), 0);
        slot_consistent(&rig, "101");
    }
    eprintln!("recall timer vs retrieve: the timer won {timer_won} of {ITERATIONS}");
}

#[test]
fn park_vs_park_with_a_limit_of_one() {
    let conf = "<configuration name=\"callpark.conf\"><settings>\
        <param name=\"max-calls-per-extension\" value=\"1\"/></settings></configuration>";
    for i in 0..ITERATIONS {
        let rig = Rig::new(conf);
        let (a, b) = race(
            || rig.dial(ACME, "c1", "*68101", None, Some("102")),
            || rig.dial(ACME, "c2", "*68101", None, Some("103")),
        );
        assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "iteration {i}: {a:?} / {b:?}");
        let loser = if a.is_ok() { b } else { a };
        let f = loser.unwrap_err();
        assert_eq!(f.error, DialError::SlotFull { extension: "101".into(), max: 1 });
        assert!(f.sent_back, "the loser goes back to its parking user");
        assert_eq!(rig.engine.parked_count(), 1);
        slot_consistent(&rig, "101");
    }
}
