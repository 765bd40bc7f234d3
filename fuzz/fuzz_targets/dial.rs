//! The engine, driven by a sequence of operations: dials (park, retrieve, group park)
//! with arbitrary tenants, uuids, users and dialed strings, hangups, recall reports,
//! probes, listings, reloads and time moving on (manual clock, timers fire inline).
//!
//! The input is a readable script (so that a crash input explains itself), one
//! operation a line, fields separated by single spaces, `-` for "none":
//!
//! ```text
//! dial <tenant> <uuid> <dialed> [<user> [<transferor> [<caller-number> [<caller name...>]]]]
//! hangup <uuid>
//! answered <parked-uuid> <attempt> <leg-uuid>     failed <parked-uuid> <attempt>
//! answer <i> <leg-uuid>    fail <i>     (the i-th listed call, its current attempt)
//! probe <tenant> <target> [<subscriber>]
//! list [<tenant>]
//! advance <seconds>        ms <milliseconds>
//! faults <bits>            (host failures, see F_*)      reload <0|1|2>
//! ```
//! Lines that are none of these are ignored. At most 100 lines are run.
//!
//! The host does what it is asked (every action Ok, every user exists) unless the input
//! switches on some of its failures (bridge, ring, transfer, unknown
//! users), to reach the engine's recovery paths.
//!
//! Invariants after every operation: `parked_count() == list(None).len()`; no call is
//! left claimed ("leaving") once a synchronous operation has returned; a call waiting,
//! ringing or retrying has a pending timer; no slot holds more than the tenant's limit;
//! listed extensions are user ids (src/identity.rs); the per-tenant listings add up to the whole. And the
//! outcomes agree with the listing (a parked uuid is listed, a retrieved or hung-up one
//! is not). Any panic is a finding.
#![no_main]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, LazyLock};

use callpark::clock::ManualClock;
use callpark::config::{self, Config, Destination};
use callpark::host::{BridgeError, Host, HostError, LogLevel, Notice, Ring};
use callpark::{DialOutcome, DialRequest, Engine, Timing};
use libfuzzer_sys::fuzz_target;

const CONFIG_A: &str = r##"<configuration name="callpark.conf">
  <settings>
    <param name="recall-time" value="5"/>
    <param name="ring-time" value="5"/>
    <param name="retry-interval" value="1"/>
    <param name="recall-attempts" value="2"/>
    <param name="max-calls-per-extension" value="2"/>
  </settings>
  <tenants>
    <tenant domain="acme.example">
      <groups>
        <group name="sales" recall="parking-user-then-ring-group" alert-wait="5" ring-group="6000 XML acme.example">
          <member extension="101"/>
          <member extension="102"/>
        </group>
        <group name="support" recall="parking-user" recall-attempts="2" final-destination="6001"
               alternate-recall-user="199" music="local_stream://moh">
          <member extension="103"/>
          <member extension="104"/>
        </group>
        <group name="desk" recall="ring-group" ring-group="6002 XML acme.example">
          <member extension="105"/>
        </group>
      </groups>
      <lots>
        <lot name="main" slots="701-703" lamp-state="early"/>
        <lot name="valet" slots="5901-5902" prefix="*" number="*5900" choose="next" recall-time="7"/>
      </lots>
    </tenant>
    <tenant domain="other.example">
      <settings>
        <param name="park-code" value="#7"/>
        <param name="retrieve-code" value="#8"/>
        <param name="group-park-code" value="#5"/>
        <param name="min-extension-length" value="3"/>
        <param name="max-extension-length" value="4"/>
        <param name="max-calls-per-extension" value="1"/>
      </settings>
      <groups>
        <group name="ops"><member extension="101"/><member extension="2000"/></group>
      </groups>
    </tenant>
  </tenants>
</configuration>"##;

/// A reload target: groups change under parked calls.
const CONFIG_B: &str = r##"<configuration name="callpark.conf">
  <settings><param name="recall-time" value="10"/><param name="max-calls-per-extension" value="3"/></settings>
  <tenants>
    <tenant domain="acme.example">
      <groups>
        <group name="sales" recall="ring-group" ring-group="7000"><member extension="103"/></group>
      </groups>
    </tenant>
  </tenants>
</configuration>"##;

static CONFIGS: LazyLock<[Config; 3]> = LazyLock::new(|| {
    [
        config::from_xml("a.xml", CONFIG_A).expect("CONFIG_A is valid"),
        config::from_xml("b.xml", CONFIG_B).expect("CONFIG_B is valid"),
        Config::default(),
    ]
});

// Host failure switches.
const F_BRIDGE_GONE: u8 = 1;
const F_BRIDGE_FAIL: u8 = 2;
const F_RING: u8 = 4;
const F_TRANSFER: u8 = 16;
const F_NO_USERS: u8 = 64;

#[derive(Default)]
struct FuzzHost {
    faults: AtomicU8,
}

impl FuzzHost {
    fn on(&self, f: u8) -> bool {
        self.faults.load(Ordering::Relaxed) & f != 0
    }
}

impl Host for FuzzHost {
    fn bridge(&self, _: &str, _: &str, _: callpark::host::Joining) -> Result<(), BridgeError> {
        if self.on(F_BRIDGE_GONE) {
            Err(BridgeError::ParkedGone("gone".into()))
        } else if self.on(F_BRIDGE_FAIL) {
            Err(BridgeError::Failed("failed".into()))
        } else {
            Ok(())
        }
    }
    fn ring(&self, _: &Ring) -> Result<(), HostError> {
        if self.on(F_RING) {
            Err(HostError("ring".into()))
        } else {
            Ok(())
        }
    }
    fn cancel_ring(&self, _: &str) {}
    fn transfer(&self, _: &str, _: &Destination) -> Result<(), HostError> {
        if self.on(F_TRANSFER) {
            Err(HostError("transfer".into()))
        } else {
            Ok(())
        }
    }
    fn notify(&self, n: &Notice) {
        // Exercise the notices as a host would read them.
        if let Notice::Presence(p) = n {
            let _ = p.target.name();
        }
    }
    fn user_exists(&self, _: &str, _: &str) -> bool {
        !self.on(F_NO_USERS)
    }
    fn log(&self, _: LogLevel, _: &str) {}
}

/// One line's fields; `-` is none.
struct Fields<'a>(std::str::SplitN<'a, char>);

impl<'a> Fields<'a> {
    fn opt(&mut self) -> Option<&'a str> {
        self.0.next().filter(|s| *s != "-")
    }
    fn req(&mut self) -> &'a str {
        self.opt().unwrap_or("")
    }
    fn num(&mut self) -> u64 {
        self.opt().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }
}

fn check(engine: &Engine, what: &str) {
    let all = engine.list(None).expect("list(None) never fails");
    assert_eq!(engine.parked_count(), all.len(), "parked_count disagrees with list after {what:?}");
    let mut per_slot: HashMap<(&str, &str), usize> = HashMap::new();
    let mut per_tenant: HashMap<&str, usize> = HashMap::new();
    for c in &all {
        // Digits after a code; a user id (letters, digits, +-_.) for a user's own slot.
        assert!(callpark::identity::valid_user(&c.extension), "listed extension {:?}", c.extension);
        assert!(config::valid_domain(&c.tenant), "listed tenant {:?}", c.tenant);
        assert_ne!(c.state, "leaving", "{} is still claimed after {what:?}", c.uuid);
        if matches!(c.state, "parked" | "ringing" | "retrying") {
            assert!(c.next_in_secs.is_some(), "{} is {} without a timer after {what:?}", c.uuid, c.state);
        }
        *per_slot.entry((&c.tenant, &c.extension)).or_default() += 1;
        *per_tenant.entry(&c.tenant).or_default() += 1;
    }
    for ((t, e), n) in per_slot {
        // A reload may lower the limit under calls already parked: check against the
        // highest limit any configuration gives.
        let max = CONFIGS.iter().map(|c| c.tenant(t).max_calls_per_extension).max().unwrap();
        assert!(n <= max, "{n} calls at {e}@{t} after {what:?}");
    }
    for (t, n) in per_tenant {
        assert_eq!(engine.list(Some(t)).expect("a listed tenant is valid").len(), n);
    }
}

fn listed(engine: &Engine, uuid: &str) -> bool {
    engine.list(None).unwrap().iter().any(|c| c.uuid == uuid)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let host = Arc::new(FuzzHost::default());
    let clock = Arc::new(ManualClock::default());
    let engine = Engine::new(CONFIGS[0].clone(), host.clone() as Arc<dyn Host>, Timing::Manual(clock));
    for line in text.split('\n').take(100) {
        let (op, rest) = line.split_once(' ').unwrap_or((line, ""));
        let mut f = Fields(rest.splitn(7, ' '));
        match op {
            "dial" => {
                let tenant = f.req();
                let uuid = f.req();
                let dialed = f.req();
                let (user, transferor) = (f.opt(), f.opt());
                let caller_number = f.req();
                let caller_name = f.req();
                let before = engine.parked_count();
                let back_to_park = f.opt() == Some("back");
                let transferred = transferor.is_some();
                let req = DialRequest {
                    tenant,
                    uuid,
                    dialed,
                    user,
                    transferor,
                    caller_number,
                    caller_name,
                    back_to_park,
                    transferred,
                    operator: false,
                    timeout: "",
                };
                match engine.dial(&req) {
                    Ok(DialOutcome::Parked { extension, .. }) => {
                        assert!(callpark::identity::valid_user(&extension), "parked at {extension:?}");
                        assert_eq!(engine.parked_count(), before + 1, "parked but not counted: {line:?}");
                        assert!(listed(&engine, uuid), "parked {uuid} is not listed");
                    }
                    Ok(DialOutcome::Retrieved { parked_uuid, .. }) => {
                        assert!(!listed(&engine, &parked_uuid), "retrieved {parked_uuid} is still listed");
                        assert!(engine.parked_count() < before);
                    }
                    Err(e) => {
                        assert!(!e.error.to_string().is_empty());
                        assert!(!e.sent_back || transferor.is_some());
                    }
                }
            }
            "hangup" => {
                let u = f.req();
                if engine.hangup(u).is_ok() {
                    assert!(!listed(&engine, u), "hung-up {u} is still listed");
                }
            }
            "answered" => {
                let (p, a, l) = (f.req(), f.num(), f.req());
                let _ = engine.recall_answered(p, a as u32, l);
            }
            "failed" => {
                let (p, a) = (f.req(), f.num());
                let _ = engine.recall_failed(p, a as u32);
            }
            "answer" | "fail" => {
                let calls = engine.list(None).unwrap();
                let i = f.num() as usize;
                if let Some(c) = (!calls.is_empty()).then(|| &calls[i % calls.len()]) {
                    if op == "answer" {
                        if engine.recall_answered(&c.uuid, c.attempt, f.req()).is_ok() {
                            assert!(!listed(&engine, &c.uuid), "answered recall {} is still listed", c.uuid);
                        }
                    } else {
                        let _ = engine.recall_failed(&c.uuid, c.attempt);
                    }
                }
            }
            "probe" => {
                let (t, target, sub) = (f.req(), f.req(), f.opt());
                let _ = engine.probe(t, target, sub);
            }
            "list" => {
                let _ = engine.list(f.opt());
            }
            "advance" => assert!(engine.advance(f.num().min(u64::from(u32::MAX)) * 1000)),
            "ms" => assert!(engine.advance(f.num().min(u64::from(u32::MAX)))),
            "faults" => host.faults.store(f.num() as u8 & 0x7f, Ordering::Relaxed),
            "reload" => engine.reload(CONFIGS[f.num() as usize % CONFIGS.len()].clone()),
            _ => continue,
        }
        check(&engine, line);
    }
});
