//! The identity rules (src/identity.rs) over any mix of facts: present, absent, of
//! another tenant, malformed.
//!
//! The input is fields separated by `|`: a flags byte, then up to 17 strings: the
//! channel's, the transferring leg's and the bridge partner's user_name, domain_name,
//! dialed_user, dialed_domain (12), the Referred-By, and the overrides tenant, user,
//! domain, transferor. An empty field is absent. Flags: bit 0-2 authorized (channel,
//! transferring, partner), 3-5 outbound, 6 the transferring leg is known, 7 the partner.
//! `transferred` is set when a Referred-By is given or bit 6 is set.
//!
//! Invariants: the tenant is one of the domains the switch's own records give (never one
//! only a Referred-By names); the user is the channel's authenticated user or the
//! override; the parking user is the user, the override, or a user a rule names; every
//! id is valid; the directory is asked only about the tenant.
#![no_main]

use std::cell::RefCell;

use callpark::identity::{self, referred_by_user, valid_user, Facts, Leg, Overrides};
use libfuzzer_sys::fuzz_target;

fn lower(s: Option<&str>) -> Option<String> {
    s.map(|s| s.trim().to_ascii_lowercase())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.split('|');
    let flags = parts.next().and_then(|f| f.bytes().next()).unwrap_or(0);
    let f: Vec<Option<&str>> = (0..17).map(|_| parts.next().filter(|s| !s.is_empty())).collect();
    let bit = |n: u8| flags & (1 << n) != 0;
    let leg = |i: usize, n: u8| Leg {
        authorized: bit(n),
        user_name: f[i * 4],
        domain_name: f[i * 4 + 1],
        outbound: bit(n + 3),
        dialed_user: f[i * 4 + 2],
        dialed_domain: f[i * 4 + 3],
        contact: None,
    };
    let facts = Facts {
        channel: leg(0, 0),
        transferring_leg: bit(6).then(|| leg(1, 1)),
        bridge_partner: bit(7).then(|| leg(2, 2)),
        transferred: bit(6) || f[12].is_some(),
        referred_by: f[12],
        overrides: Overrides { tenant: f[13], user: f[14], domain: f[15], transferor: f[16] },
    };
    let asked = RefCell::new(Vec::new());
    let who = identity::resolve(&facts, |t, u| {
        asked.borrow_mut().push(t.to_string());
        u.len() % 2 == 0
    });

    // Every domain the switch itself recorded (a Referred-By is none of them).
    let legs = [Some(facts.channel), facts.transferring_leg, facts.bridge_partner];
    let mut records: Vec<Option<String>> = vec![lower(f[13]), lower(f[15])];
    for l in legs.iter().flatten() {
        records.push(lower(l.domain_name));
        records.push(lower(l.dialed_domain));
    }
    if let Some(t) = &who.tenant {
        assert!(records.iter().any(|r| r.as_deref() == Some(t.as_str())), "tenant {t:?} from no record: {facts:?}");
        assert!(callpark::config::valid_domain(t));
    }
    for t in asked.borrow().iter() {
        assert_eq!(Some(t), who.tenant.as_ref(), "the directory is asked only about the tenant");
    }
    if let Some(u) = &who.user {
        assert!(valid_user(u));
        let authenticated = facts.channel.authorized
            && facts.channel.user_name.map(str::trim) == Some(u.as_str())
            && lower(facts.channel.domain_name) == who.tenant;
        assert!(authenticated || f[14].map(str::trim) == Some(u.as_str()), "user {u:?} is nobody's: {facts:?}");
    }
    if let Some(p) = &who.parking_user {
        assert!(valid_user(p) && who.tenant.is_some());
        let named = |s: Option<&str>| s.map(str::trim) == Some(p.as_str());
        let by_leg =
            legs[1..].iter().flatten().chain([&facts.channel]).any(|l| named(l.user_name) || named(l.dialed_user));
        // The header's value is trimmed first, as the rules read it.
        let by_header = f[12]
            .map(str::trim)
            .and_then(referred_by_user)
            .is_some_and(|(u, h)| u == p && Some(h.to_ascii_lowercase()) == who.tenant);
        assert!(
            Some(p) == who.user.as_ref() || named(f[16]) || by_leg || by_header,
            "parking user {p:?} from nowhere: {facts:?}"
        );
    }
    assert!(who.by_transfer <= who.parking_user.is_some());
    // Only the Referred-By: no tenant at all.
    if legs.iter().flatten().all(|l| *l == Leg::default()) && f[13..].iter().all(Option::is_none) {
        assert_eq!(who.tenant, None);
    }
});
