//! What the bench binaries share: a host that does nothing, configurations, and an
//! engine filled with parked calls spread over many tenants.
#![allow(dead_code)]

use std::sync::Arc;

use callpark::clock::ManualClock;
use callpark::config::{self, Destination};
use callpark::host::{BridgeError, Host, HostError, LogLevel, Notice, Ring};
use callpark::{Config, DialOutcome, DialRequest, Engine, Timing};

/// Tenants the parked calls are spread across: `t0.example` .. `t9999.example`.
pub const TENANTS: usize = 10_000;
/// Extensions 100..=999.
pub const EXTENSIONS: usize = 900;

/// Every action succeeds, notices go nowhere, every user exists.
#[derive(Default)]
pub struct NoopHost;

impl Host for NoopHost {
    fn bridge(&self, _uuid: &str, _parked: &str, _: callpark::host::Joining) -> Result<(), BridgeError> {
        Ok(())
    }
    fn bridge_to_node(&self, _uuid: &str, _address: &str, _token: &str) -> Result<(), BridgeError> {
        Ok(())
    }
    fn ring(&self, _r: &Ring) -> Result<(), HostError> {
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

/// Global settings only (every tenant unconfigured), with room for many calls per
/// extension and a recall time no benchmark reaches.
pub fn spread_config() -> Config {
    config::from_xml(
        "bench.conf.xml",
        r#"<configuration name="callpark.conf">
  <settings>
    <param name="max-calls-per-extension" value="100"/>
    <param name="recall-time" value="86400"/>
  </settings>
</configuration>"#,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// One tenant `grp.example` with one group `big` of `members` members, 1000, 1001, ...
pub fn group_config(members: usize) -> Config {
    let mut xml = String::from(
        r#"<configuration name="callpark.conf">
  <settings>
    <param name="recall-time" value="86400"/>
    <param name="min-extension-length" value="3"/>
    <param name="max-extension-length" value="6"/>
  </settings>
  <tenants>
    <tenant domain="grp.example">
      <groups>
        <group name="big">
"#,
    );
    for m in 0..members {
        xml.push_str(&format!("          <member extension=\"{}\"/>\n", 1000 + m));
    }
    xml.push_str("        </group>\n      </groups>\n    </tenant>\n  </tenants>\n</configuration>\n");
    config::from_xml("bench-group.conf.xml", &xml).unwrap_or_else(|e| panic!("{e}"))
}

/// A uuid shaped like FreeSWITCH's (36 characters), unique for `(kind, n)`.
pub fn uuid(kind: u32, n: u64) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

pub fn tenant(i: usize) -> String {
    format!("t{i}.example")
}

/// Where base call `i` of a spread is parked: tenant `i % 10000`, then the next
/// extension for each round over the tenants (one call per slot up to 9M calls).
pub fn base_slot(i: usize) -> (usize, usize) {
    (i % TENANTS, 100 + (i / TENANTS) % EXTENSIONS)
}

/// A cheap deterministic mix, to pick slots all over the spread.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A random slot: (tenant index, extension).
pub fn random_slot(k: u64) -> (usize, usize) {
    let h = mix(k);
    ((h % TENANTS as u64) as usize, 100 + ((h / TENANTS as u64) % EXTENSIONS as u64) as usize)
}

/// Parks `uuid` at `ext` of `tenant`, transferred there by 100 (a blind transfer to `*68<ext>`).
pub fn park(engine: &Engine, tenant: &str, uuid: &str, ext: usize) -> Result<DialOutcome, callpark::DialFailure> {
    park_dialed(engine, tenant, uuid, &format!("*68{ext}"))
}

/// `uuid`, blind-transferred by 100, dials `dialed` in `tenant`.
pub fn park_dialed(
    engine: &Engine,
    tenant: &str,
    uuid: &str,
    dialed: &str,
) -> Result<DialOutcome, callpark::DialFailure> {
    engine.dial(&DialRequest {
        tenant,
        uuid,
        dialed,
        user: None,
        transferor: Some("100"),
        caller_number: "0033123456789",
        caller_name: "Bench Caller",
        back_to_park: false,
        transferred: true,
        operator: false,
        timeout: "",
    })
}

/// Parks `n` calls spread across the tenants (see [`base_slot`]).
pub fn fill(engine: &Engine, n: usize) {
    for i in 0..n {
        let (t, ext) = base_slot(i);
        park(engine, &tenant(t), &uuid(0, i as u64), ext).expect("base park");
    }
    assert_eq!(engine.parked_count(), n);
}

/// An engine on a manual clock (no timer fires) with `n` calls parked across 10k tenants.
pub fn spread_engine(n: usize) -> Engine {
    let engine = Engine::new(spread_config(), Arc::new(NoopHost), Timing::Manual(Arc::new(ManualClock::default())));
    fill(&engine, n);
    engine
}
