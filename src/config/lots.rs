//! Parking lots: numbered slots of one call each, the switch choosing a free one (the
//! model of Asterisk's `res_parking`, FreeSWITCH's `mod_valet_parking` and 3CX), beside
//! the parking at extensions. A tenant's `<lots>`:
//!
//! ```xml
//! <lots>
//!   <lot name="main" slots="701-720" choose="first-free"/>
//!   <lot name="lobby" slots="801-804" choose="next" recall="ring-group" ring-group="6000"/>
//! </lots>
//! ```
//!
//! `park+<lot>` (a transfer to it) parks in a free slot; each slot is an extension of
//! the park (`*88701`, `park+701`); the lot's other attributes are recall settings, as a
//! group's, that its calls follow whoever parked them.
//!
//! `number="*700"` is the lot's own code, as Asterisk's parking extension and valet
//! parking's auto-park number: transferred to, or dialed (a consult call, which hears its
//! slot before the attended transfer swaps the caller in), it parks in the lot. For sites
//! coming from `mod_valet_parking` (FusionPBX), `number="*5900"` and `prefix="*"` keep the
//! phones' keys and codes: `*5901` (or `park+*5901`) is slot 5901, transferred to parks
//! there, dialed picks it up; the lamps are published under those names.

use std::collections::HashMap;
use std::sync::Arc;

use super::{At, ConfigError, LampState, Layer, RecallPlan};
use crate::codes::{self, ExtensionRules};

/// How a lot picks the slot of a new call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LotChoice {
    /// The lowest free slot (`first-free`, as valet parking and Asterisk's default).
    FirstFree,
    /// The free slot after the one used last, wrapping (`next`, Asterisk's `findslot =
    /// next`): a slot just freed is not reused at once.
    Next,
}

/// One lot, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lot {
    pub name: String,
    /// Its slots in order (each an extension of the park holding at most one call).
    pub slots: Vec<String>,
    pub choose: LotChoice,
    /// Its calls' recall plan: the tenant's, with the lot's own settings over it.
    pub recall: Arc<RecallPlan>,
    /// Hold music of its calls: its own `music`, else the tenant's (resolved).
    pub music: String,
    /// `lamp-state` of its slots and of its key.
    pub lamp_state: LampState,
    /// What its slots are dialed and watched as, before the slot (`*` for `*5901`);
    /// empty: the slot alone.
    pub prefix: String,
    /// What the lot itself is dialed and watched as besides `park+<name>` (`*5900`).
    pub number: Option<String>,
}

impl Lot {
    /// How slot `slot` of this lot is dialed and watched (`*5901`, or `701`).
    pub fn slot_name(&self, slot: &str) -> String {
        format!("{}{slot}", self.prefix)
    }
}

/// A lot as read, before validation.
#[derive(Clone, Debug)]
pub(crate) struct RawLot {
    pub name: At<String>,
    pub slots: At<String>,
    pub choose: At<String>,
    pub prefix: At<String>,
    pub number: At<String>,
    pub layer: Layer,
}

/// The attributes of `<lot>` that are not recall settings.
pub(crate) const LOT_OWN_ATTRS: &[&str] = &["name", "slots", "choose", "prefix", "number"];

/// A lot's `number` or `prefix`: `*`, `#` and digits, as a phone dials them.
fn dialable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
}

/// At most this many slots in one lot.
pub const MAX_LOT_SLOTS: usize = 1000;

/// A lot's recall plan and hold music from its own settings (over the tenant's), its
/// errors said.
pub(crate) type PlanOf<'a> = dyn FnMut(&Layer, &str, &mut Vec<ConfigError>) -> (RecallPlan, String, LampState) + 'a;

/// `701-720`: the slots in order, or why not.
fn slot_range(s: &str, rules: ExtensionRules) -> Result<Vec<String>, String> {
    let (a, b) = s.split_once('-').ok_or_else(|| format!("slots \"{s}\" is not a range such as 701-720"))?;
    let (a, b) = (a.trim(), b.trim());
    for e in [a, b] {
        codes::check_extension(e, "slots", rules).map_err(|e| format!("slots \"{s}\": {e}"))?;
    }
    if a.len() != b.len() {
        return Err(format!("slots \"{s}\": both ends have the same number of digits"));
    }
    let (lo, hi) = (a.parse::<u64>().map_err(|e| e.to_string())?, b.parse::<u64>().map_err(|e| e.to_string())?);
    if lo > hi {
        return Err(format!("slots \"{s}\": the first is greater than the last"));
    }
    if hi - lo + 1 > MAX_LOT_SLOTS as u64 {
        return Err(format!("slots \"{s}\": more than {MAX_LOT_SLOTS} slots"));
    }
    Ok((lo..=hi).map(|n| format!("{n:0width$}", width = a.len())).collect())
}

/// Resolves a tenant's lots against its groups (`member_of`: the group members) and
/// layers: each lot's name, slots, choice and plan. Errors go to `errors`.
pub(crate) fn resolve_lots(
    raw: &[RawLot],
    place: &str,
    rules: ExtensionRules,
    group_names: &[String],
    member_of: &HashMap<String, usize>,
    plan_of: &mut PlanOf,
    errors: &mut Vec<ConfigError>,
) -> (Vec<Lot>, HashMap<String, usize>) {
    let mut lots: Vec<Lot> = Vec::new();
    let mut lot_of: HashMap<String, usize> = HashMap::new();
    for l in raw {
        let lplace = format!("{place}{}lot \"{}\"", if place.is_empty() { "" } else { ": " }, l.name.value);
        let err = |errors: &mut Vec<ConfigError>, line: Option<u32>, message: String| {
            errors.push(ConfigError { line, place: lplace.clone(), message })
        };
        let name = &l.name.value;
        if let Some(e) = super::key_name_error("lot", name) {
            err(errors, l.name.line, e);
        }
        if group_names.iter().any(|g| g == name) || lots.iter().any(|o| &o.name == name) {
            err(errors, l.name.line, format!("lot name \"{name}\" is used twice in this tenant (lots and groups)"));
        }
        let choose = match l.choose.value.trim() {
            "" | "first-free" => LotChoice::FirstFree,
            "next" => LotChoice::Next,
            other => {
                err(errors, l.choose.line, format!("choose \"{}\" is first-free or next", other.escape_default()));
                LotChoice::FirstFree
            }
        };
        let slots = match slot_range(&l.slots.value, rules) {
            Ok(s) => s,
            Err(e) => {
                err(errors, l.slots.line, e);
                Vec::new()
            }
        };
        let idx = lots.len();
        for s in &slots {
            if let Some(&other) = lot_of.get(s) {
                err(errors, l.slots.line, format!("slot {s} is already in lot \"{}\"", lots[other].name));
                break;
            }
            if member_of.contains_key(s) {
                err(errors, l.slots.line, format!("slot {s} is a member of a group: a slot is no user's"));
                break;
            }
        }
        for s in &slots {
            lot_of.entry(s.clone()).or_insert(idx);
        }
        let prefix = l.prefix.value.trim().to_string();
        if !prefix.is_empty() && (!dialable(&prefix, 8) || prefix.bytes().all(|b| b.is_ascii_digit())) {
            err(
                errors,
                l.prefix.line,
                format!("prefix \"{}\" is 1 to 8 of *, # and digits, not digits only", prefix.escape_default()),
            );
        }
        let number = Some(l.number.value.trim().to_string()).filter(|n| !n.is_empty());
        if let Some(n) = &number {
            if !dialable(n, 16) {
                err(errors, l.number.line, format!("number \"{}\" is *, # and digits, at most 16", n.escape_default()));
            } else if n.bytes().all(|b| b.is_ascii_digit()) {
                err(
                    errors,
                    l.number.line,
                    format!("number \"{n}\" is digits only, like an extension: begin it with * or #"),
                );
            }
            if lots.iter().any(|o| o.number.as_ref() == Some(n)) {
                err(errors, l.number.line, format!("number \"{n}\" is used by two lots"));
            }
        }
        let (plan, music, lamp_state) = plan_of(&l.layer, &lplace, errors);
        lots.push(Lot { name: name.clone(), slots, choose, recall: Arc::new(plan), music, lamp_state, prefix, number });
    }
    (lots, lot_of)
}

#[cfg(test)]
mod tests {
    use super::slot_range;
    use crate::codes::ExtensionRules;

    #[test]
    fn slot_ranges() {
        let r = ExtensionRules::default();
        assert_eq!(slot_range("701-703", r).unwrap(), ["701", "702", "703"]);
        assert_eq!(slot_range("0701-0702", r).unwrap(), ["0701", "0702"], "leading zeros kept");
        for (bad, says) in [
            ("701", "not a range"),
            ("703-701", "greater than the last"),
            ("99-101", "same number of digits"),
            ("70a-720", "not an extension"),
            ("1000-9999", "more than 1000 slots"),
        ] {
            let e = slot_range(bad, r).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
