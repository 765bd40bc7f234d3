//! Configuration parsing and validation: arbitrary text as `callpark.conf.xml`.
//!
//! On `Err`: every error renders, and there is at least one. On `Ok`: the configuration
//! upholds what the engine relies on (codes valid and not overlapping, extension rules
//! ordered, group members are extensions under the tenant's rules and map back to their
//! group, a policy that needs a ring group has one). Any panic is a finding.
#![no_main]

use callpark::codes::{self, ExtensionRules};
use callpark::config::{self, RecallPlan, RecallPolicy, Tenant};
use libfuzzer_sys::fuzz_target;

fn check_plan(p: &RecallPlan, rules: ExtensionRules) {
    if p.policy != RecallPolicy::ParkingUser {
        assert!(p.ring_group.is_some(), "policy {} without a ring group was accepted", p.policy.name());
    }
    assert!(p.attempts >= 1);
    if let Some(alt) = &p.alternate_user {
        assert!(codes::check_extension(alt, "alternate", rules).is_ok(), "alternate user {alt:?} accepted");
    }
    for d in [&p.ring_group, &p.final_destination].into_iter().flatten() {
        assert!(!d.extension.is_empty());
        assert!(!d.to_string().is_empty());
    }
}

fn check_tenant(t: &Tenant) {
    let all = [&t.codes.park, &t.codes.retrieve, &t.codes.group_park];
    for (i, a) in all.iter().enumerate() {
        assert!(codes::is_valid_code(a), "invalid code {a:?} accepted");
        for b in all.iter().skip(i + 1) {
            assert!(!a.starts_with(b.as_str()) && !b.starts_with(a.as_str()), "overlapping codes {a:?} {b:?}");
        }
    }
    assert!(t.extensions.min_len >= 1 && t.extensions.min_len <= t.extensions.max_len);
    assert!(t.max_calls_per_extension >= 1);
    check_plan(&t.recall, t.extensions);
    for g in &t.groups {
        assert!(t.group(&g.name).is_some_and(|x| std::ptr::eq(x, g)), "group {:?} is not found by name", g.name);
        for m in &g.members {
            assert!(codes::check_extension(m, "member", t.extensions).is_ok(), "member {m:?} accepted");
            assert_eq!(t.group_of(m).map(|x| x.name.as_str()), Some(g.name.as_str()));
        }
        check_plan(&g.recall, t.extensions);
        assert!(!g.music.chars().any(|c| c.is_control()));
    }
}

fuzz_target!(|data: &[u8]| {
    let text = match std::str::from_utf8(data) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(data),
    };
    match config::from_xml("fuzz.xml", &text) {
        Err(errors) => {
            assert!(!errors.errors.is_empty(), "an Err without errors");
            let all = errors.to_string();
            assert!(all.starts_with("fuzz.xml"));
            for e in &errors.errors {
                assert!(!e.to_string().is_empty());
                assert!(e.line.is_none_or(|l| l >= 1), "line 0 in {e}");
            }
        }
        Ok(c) => {
            // "x" may be a configured tenant; "" never is (not a domain): the defaults.
            let x = c.tenant("x");
            assert!(x.domain == "x" || x.domain.is_empty());
            check_tenant(x);
            let d = c.tenant("");
            assert_eq!(d.domain, "");
            assert!(d.groups.is_empty());
            check_tenant(d);
            let mut groups = 0;
            for t in c.tenants() {
                assert!(config::valid_domain(&t.domain), "tenant domain {:?} accepted", t.domain);
                assert_eq!(t.domain, t.domain.to_ascii_lowercase());
                assert!(std::ptr::eq(c.tenant(&t.domain), t));
                groups += t.groups.len();
                check_tenant(t);
            }
            assert_eq!(groups, c.group_count());
        }
    }
});
