//! The layering: global `<settings>`, a tenant's `<settings>`, a group's or a lot's
//! attributes, each value taken from the most specific layer that sets it, and what the
//! layers resolve to checked against each other (codes that overlap, group members,
//! a policy without its ring group).

use std::collections::HashMap;
use std::sync::Arc;

use super::lots::{self, RawLot};
use super::parse::{key_name_error, At, Layer};
use super::{Announce, Config, ConfigError, Group, LampState, Notices, RecallPlan, RecallPolicy, StoreSetting, Tenant};
use crate::codes::{self, ExtensionRules, FeatureCodes};

/// No file: every tenant has the values the layering falls back on.
impl Default for Config {
    fn default() -> Self {
        let layer = Layer::default();
        let mut errors = Vec::new();
        let default_tenant = resolve_tenant("", &[&layer], &[], &[], &mut errors);
        debug_assert!(errors.is_empty());
        Config::build(default_tenant, HashMap::new(), StoreSetting::Memory)
    }
}

/// The first value set, walking from the most specific layer up.
fn pick<T: Clone>(layers: &[&Layer], f: impl Fn(&Layer) -> &Option<At<T>>) -> Option<At<T>> {
    layers.iter().rev().find_map(|l| f(l).clone())
}

/// The recall plan the layers resolve to (`place` names them in errors).
fn resolve_plan(layers: &[&Layer], place: &str, errors: &mut Vec<ConfigError>) -> RecallPlan {
    let policy = pick(layers, |l| &l.policy);
    let ring_group = pick(layers, |l| &l.ring_group);
    let p = policy.as_ref().map(|p| p.value).unwrap_or(RecallPolicy::ParkingUser);
    if p.needs_ring_group() && ring_group.is_none() {
        let line = policy.as_ref().and_then(|p| p.line);
        let message = format!("recall \"{}\" needs a ring-group", p.name());
        // The same inherited setting is reported once, where it was written.
        if !errors.iter().any(|e| e.line == line && e.message == message && line.is_some()) {
            errors.push(ConfigError { line, place: place.into(), message });
        }
    }
    let secs = |f: fn(&Layer) -> &Option<At<u32>>, default: u32| pick(layers, f).map(|a| a.value).unwrap_or(default);
    let key = pick(layers, |l| &l.exit_key);
    let exit_key = key.as_ref().and_then(|k| k.value);
    let exit_destination = pick(layers, |l| &l.exit_destination).map(|a| a.value);
    if exit_key.is_some() && exit_destination.is_none() {
        let line = key.as_ref().and_then(|k| k.line);
        let message = "exit-key needs an exit-destination".to_string();
        if !errors.iter().any(|e| e.line == line && e.message == message && line.is_some()) {
            errors.push(ConfigError { line, place: place.into(), message });
        }
    }
    RecallPlan {
        policy: p,
        recall_time: secs(|l| &l.recall_time, 60),
        ring_time: secs(|l| &l.ring_time, 20),
        retry_interval: secs(|l| &l.retry_interval, 10),
        attempts: secs(|l| &l.attempts, 3),
        alert_wait: secs(|l| &l.alert_wait, 20),
        ring_group: ring_group.map(|a| a.value),
        final_destination: pick(layers, |l| &l.final_destination).map(|a| a.value),
        alternate_user: pick(layers, |l| &l.alternate_user).map(|a| a.value),
        alert_info: pick(layers, |l| &l.alert_info).map(|a| a.value).unwrap_or_default(),
        name_prefix: pick(layers, |l| &l.name_prefix).map(|a| a.value).unwrap_or_else(|| "Recall".into()),
        exit_key,
        exit_destination,
    }
}

/// A group as read, before validation against its tenant.
pub(crate) struct RawGroup {
    pub name: At<String>,
    pub layer: Layer,
    pub members: Vec<At<String>>,
}

/// Resolves a tenant from its layers (global first) and checks its groups.
pub(crate) fn resolve_tenant(
    domain: &str,
    layers: &[&Layer],
    groups: &[RawGroup],
    raw_lots: &[RawLot],
    errors: &mut Vec<ConfigError>,
) -> Tenant {
    let place = layers.last().map(|l| l.place.clone()).unwrap_or_default();
    let code =
        |f: fn(&Layer) -> &Option<At<String>>, d: &str| pick(layers, f).map(|a| a.value).unwrap_or_else(|| d.into());
    let codes = FeatureCodes {
        park: code(|l| &l.park_code, "*68"),
        retrieve: code(|l| &l.retrieve_code, "*88"),
        group_park: code(|l| &l.group_park_code, "*58"),
    };
    let all = [&codes.park, &codes.retrieve, &codes.group_park];
    for (i, a) in all.iter().enumerate() {
        for b in all.iter().skip(i + 1) {
            if a.starts_with(b.as_str()) || b.starts_with(a.as_str()) {
                errors.push(ConfigError {
                    line: None,
                    place: place.clone(),
                    message: format!("feature codes {a} and {b} overlap: one is the start of the other"),
                });
            }
        }
    }
    let min = pick(layers, |l| &l.min_ext);
    let max = pick(layers, |l| &l.max_ext);
    let extensions = ExtensionRules {
        min_len: min.as_ref().map(|a| a.value as usize).unwrap_or(2),
        max_len: max.as_ref().map(|a| a.value as usize).unwrap_or(10),
    };
    if extensions.min_len > extensions.max_len {
        errors.push(ConfigError {
            line: max.and_then(|a| a.line).or(min.and_then(|a| a.line)),
            place: place.clone(),
            message: format!(
                "min-extension-length {} is greater than max-extension-length {}",
                extensions.min_len, extensions.max_len
            ),
        });
    }
    let recall = resolve_plan(layers, &place, errors);
    let music = pick(layers, |l| &l.music).map(|a| a.value).unwrap_or_default();

    let mut out_groups: Vec<Group> = Vec::new();
    let mut member_of: HashMap<String, usize> = HashMap::new();
    for g in groups {
        let gplace = format!("{place}{}group \"{}\"", if place.is_empty() { "" } else { ": " }, g.name.value);
        let gerr = |errors: &mut Vec<ConfigError>, line: Option<u32>, message: String| {
            errors.push(ConfigError { line, place: gplace.clone(), message })
        };
        if let Some(e) = key_name_error("group", &g.name.value) {
            gerr(errors, g.name.line, e);
        }
        if out_groups.iter().any(|o| o.name == g.name.value) {
            gerr(errors, g.name.line, format!("group name \"{}\" is used twice in this tenant", g.name.value));
        }
        if g.members.is_empty() {
            gerr(errors, g.name.line, "a group needs at least one member".into());
        }
        let idx = out_groups.len();
        let mut members = Vec::new();
        for m in &g.members {
            let (ext, dom) = match m.value.split_once('@') {
                Some((e, d)) => (e, Some(d)),
                None => (m.value.as_str(), None),
            };
            if let Some(d) = dom {
                if !d.eq_ignore_ascii_case(domain) {
                    gerr(errors, m.line, format!("member {} is not in tenant \"{domain}\"", m.value));
                    continue;
                }
            }
            if let Err(e) = codes::check_extension(ext, "member", extensions) {
                gerr(errors, m.line, format!("member \"{}\": {e}", m.value));
                continue;
            }
            if let Some(&other) = member_of.get(ext) {
                let other_name = if other == idx { g.name.value.as_str() } else { out_groups[other].name.as_str() };
                gerr(errors, m.line, format!("member {ext} is already in group \"{other_name}\""));
                continue;
            }
            member_of.insert(ext.to_string(), idx);
            members.push(ext.to_string());
        }
        let mut glayers: Vec<&Layer> = layers.to_vec();
        glayers.push(&g.layer);
        let plan = resolve_plan(&glayers, &gplace, errors);
        if let Some(alt) = &plan.alternate_user {
            if let Err(e) = codes::check_extension(alt, "alternate-recall-user", extensions) {
                gerr(
                    errors,
                    g.layer.alternate_user.as_ref().and_then(|a| a.line),
                    format!("alternate-recall-user: {e}"),
                );
            }
        }
        let music = pick(&glayers, |l| &l.music).map(|a| a.value).unwrap_or_default();
        let lamp_state = pick(&glayers, |l| &l.lamp_state).map(|a| a.value).unwrap_or(LampState::Confirmed);
        out_groups.push(Group { name: g.name.value.clone(), members, recall: Arc::new(plan), music, lamp_state });
    }
    let group_names: Vec<String> = out_groups.iter().map(|g| g.name.clone()).collect();
    let mut plan_of = |lot: &Layer, lplace: &str, errors: &mut Vec<ConfigError>| {
        let mut ls: Vec<&Layer> = layers.to_vec();
        ls.push(lot);
        (
            resolve_plan(&ls, lplace, errors),
            pick(&ls, |l| &l.music).map(|a| a.value).unwrap_or_default(),
            pick(&ls, |l| &l.lamp_state).map(|a| a.value).unwrap_or(LampState::Confirmed),
        )
    };
    let (lots, lot_of) =
        lots::resolve_lots(raw_lots, &place, extensions, &group_names, &member_of, &mut plan_of, errors);
    Tenant {
        domain: domain.to_string(),
        codes,
        extensions,
        max_calls_per_extension: pick(layers, |l| &l.max_calls).map(|a| a.value as usize).unwrap_or(5),
        recall: Arc::new(recall),
        music,
        tell_parker: pick(layers, |l| &l.tell_parker).map(|a| a.value).unwrap_or(true),
        announce: pick(layers, |l| &l.announce).map(|a| a.value).unwrap_or(Announce::Chosen),
        lamp_state: pick(layers, |l| &l.lamp_state).map(|a| a.value).unwrap_or(LampState::Confirmed),
        lamps: pick(layers, |l| &l.lamps).map(|a| a.value).unwrap_or(true),
        event_channel_data: pick(layers, |l| &l.event_channel_data).map(|a| a.value).unwrap_or(true),
        notices: pick(layers, |l| &l.notices)
            .map(|a| a.value)
            .unwrap_or(Notices { message: true, callpark_info: false }),
        groups: out_groups,
        member_of,
        lots,
        lot_of,
    }
}
