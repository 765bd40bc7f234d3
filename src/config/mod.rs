//! Configuration: settings, tenants, call-park groups and recall policies.
//!
//! Three layers: global `<settings>`, a tenant's `<settings>`, and a group's attributes.
//! A value set on a lower layer replaces the one above it. Validation collects every
//! error with its place; a configuration with any error is refused whole.

mod lots;
mod store;
mod xml;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::codes::{self, ExtensionRules, FeatureCodes};

/// Checks a call's own recall time (`callpark_timeout` on the channel, the seconds of
/// `callpark park`): empty is the configured `recall-time`, `0` never recalled, else
/// whole seconds from 5 to 86400 as `recall-time`.
pub fn own_recall_time(s: &str) -> Result<Option<u32>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<u32>() {
        Ok(0) => Ok(Some(0)),
        Ok(n) if (5..=86_400).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "callpark_timeout \"{}\" is neither 0 (never recalled) nor a number of seconds from 5 to 86400",
            s.chars().take(40).collect::<String>().escape_default()
        )),
    }
}

pub use lots::{Lot, LotChoice, MAX_LOT_SLOTS};
pub(crate) use lots::{RawLot, LOT_OWN_ATTRS};
pub use store::{
    parse_store_url, valid_node_name, CrossNodePickup, RedisTarget, StoreSetting, StoreUrl, DEFAULT_GRACE_MS,
};
pub use xml::from_xml;

/// What happens when a parked call's recall timer lapses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecallPolicy {
    /// Ring the parking user (or the alternate recall user); retry after the retry interval.
    ParkingUser,
    /// Ring the parking user; after the alert wait, send the call to the ring group.
    ParkingUserThenRingGroup,
    /// Send the call to the ring group.
    RingGroup,
}

impl RecallPolicy {
    pub fn name(self) -> &'static str {
        match self {
            RecallPolicy::ParkingUser => "parking-user",
            RecallPolicy::ParkingUserThenRingGroup => "parking-user-then-ring-group",
            RecallPolicy::RingGroup => "ring-group",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [RecallPolicy::ParkingUser, RecallPolicy::ParkingUserThenRingGroup, RecallPolicy::RingGroup]
            .into_iter()
            .find(|p| p.name() == s)
    }
    fn needs_ring_group(self) -> bool {
        self != RecallPolicy::ParkingUser
    }
}

/// A dialplan destination, written like the `transfer` application's argument:
/// `<extension> [<dialplan> [<context>]]`. Empty dialplan/context: the channel's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub extension: String,
    pub dialplan: String,
    pub context: String,
}

impl Destination {
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(format!("\"{s}\" is not a destination (\"<extension> [<dialplan> [<context>]]\")"));
        }
        let ok = |p: &str| p.chars().all(|c| c.is_ascii_alphanumeric() || "+*#._-@".contains(c));
        if let Some(bad) = parts.iter().find(|p| !ok(p)) {
            return Err(format!("destination \"{s}\": \"{bad}\" has characters a dialplan name may not have"));
        }
        Ok(Destination {
            extension: parts[0].into(),
            dialplan: parts.get(1).copied().unwrap_or("").into(),
            context: parts.get(2).copied().unwrap_or("").into(),
        })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.extension)?;
        for p in [&self.dialplan, &self.context] {
            if !p.is_empty() {
                write!(f, " {p}")?;
            }
        }
        Ok(())
    }
}

/// Everything that decides what happens to one parked call when nobody picks it up.
/// A parked call keeps the plan it was given, whatever a reload changes later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecallPlan {
    pub policy: RecallPolicy,
    /// Seconds parked before the recall starts.
    pub recall_time: u32,
    /// Seconds the parking user rings on each attempt (policy `parking-user`).
    pub ring_time: u32,
    /// Seconds between unanswered attempts (policy `parking-user`).
    pub retry_interval: u32,
    /// Attempts before the final destination (policy `parking-user`).
    pub attempts: u32,
    /// Seconds the parking user rings before the ring group takes over.
    pub alert_wait: u32,
    pub ring_group: Option<Destination>,
    /// Where a call goes after the last unanswered attempt; none: it stays parked.
    pub final_destination: Option<Destination>,
    /// Rung instead of the parking user.
    pub alternate_user: Option<String>,
    /// The recall's `Alert-Info` (a distinctive ring); empty: none.
    pub alert_info: String,
    /// What the recalled phone shows before the slot and the caller's name:
    /// `Recall 102 - Jane Doe`; empty: the caller's name alone.
    pub name_prefix: String,
    /// The DTMF key (`0`-`9`, `*`, `#`) that takes the parked caller out of the park to
    /// `exit_destination`; none: keys do nothing.
    pub exit_key: Option<char>,
    pub exit_destination: Option<Destination>,
}

/// A call-park group of one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    /// In configured order: `*58` takes the first free one.
    pub members: Vec<String>,
    /// Shared by every call parked under it, which keeps it across reloads.
    pub recall: Arc<RecallPlan>,
    pub music: String,
    /// `lamp-state` of its members' slots and of its key.
    pub lamp_state: LampState,
}

/// How the phones of the extension a call is parked for (every member's, for a group
/// park) are told: a text MESSAGE, an `x-broadworks-callpark-info` NOTIFY for phones'
/// visual park, both or neither (`notices`: `message`, `callpark-info`, `both`, `none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notices {
    pub message: bool,
    pub callpark_info: bool,
}

impl Notices {
    fn parse(s: &str) -> Option<Notices> {
        let (message, callpark_info) = match s {
            "message" => (true, false),
            "callpark-info" => (false, true),
            "both" => (true, true),
            "none" => (false, false),
            _ => return None,
        };
        Some(Notices { message, callpark_info })
    }
}

/// Who hears where a call was parked, spoken (FreeSWITCH's `say`) before the hold music
/// (`announce`): nobody (`none`); the channel that dialed the park code itself (a phone
/// parking its own call, the consult call of an attended transfer: the parker, before it
/// completes the transfer) when the park chose the extension, a lot's slot or a group's
/// member (`chosen`, the default); that channel whatever it dialed (`dialed`); or also a
/// caller parked by a blind transfer (`always`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announce {
    None,
    Chosen,
    Dialed,
    Always,
}

/// How a watcher's phone is told a call is parked (`lamp-state`): as a call in
/// conversation (`confirmed`, a steady lamp on most phones) or as one ringing (`early`,
/// a blinking lamp; what call-park monitors of Obihai's and Kazoo's default expect). A
/// call being recalled is always `early`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LampState {
    Confirmed,
    Early,
}

/// One tenant (a FreeSWITCH domain), with every layer resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub domain: String,
    pub codes: FeatureCodes,
    pub extensions: ExtensionRules,
    pub max_calls_per_extension: usize,
    /// The plan of calls parked by a user outside any group.
    /// Shared by every call parked under it, which keeps it across reloads.
    pub recall: Arc<RecallPlan>,
    /// Hold music; empty: the channel's own hold music.
    pub music: String,
    /// `tell-parker`: the parking user gets a message saying where the call went, when
    /// the park notice did not reach it already.
    pub tell_parker: bool,
    /// `notices`: how the phones a call was parked for are told.
    pub notices: Notices,
    /// `announce`: who hears the extension a call was parked at.
    pub announce: Announce,
    /// `lamp-state`: how a watcher's phone is told a call is parked.
    pub lamp_state: LampState,
    /// `lamps`: whether its slots' and keys' lamps are published (`all`) or not (`none`:
    /// a tenant whose phones have no park keys saves the switch the work).
    pub lamps: bool,
    /// `event-channel-data`: whether a `callpark::info` event carries the parked channel's
    /// data and variables, as FreeSWITCH's own custom events do (`true`), or only its
    /// `Callpark-*` headers (`false`).
    pub event_channel_data: bool,
    pub groups: Vec<Group>,
    member_of: HashMap<String, usize>,
    /// Its parking lots, and the lot of each slot.
    pub lots: Vec<Lot>,
    lot_of: HashMap<String, usize>,
}

impl Tenant {
    /// The group `ext` belongs to.
    pub fn group_of(&self, ext: &str) -> Option<&Group> {
        self.member_of.get(ext).map(|&i| &self.groups[i])
    }
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }
    /// The lot named `name`.
    pub fn lot(&self, name: &str) -> Option<&Lot> {
        self.lots.iter().find(|l| l.name == name)
    }
    /// The lot `slot` is a slot of.
    pub fn lot_of(&self, slot: &str) -> Option<&Lot> {
        self.lot_of.get(slot).map(|&i| &self.lots[i])
    }
    /// What was dialed (without `park+`), when it names a lot's slot by its prefix
    /// (`*5901`) or the lot by its number (`*5900`): the lot, and the slot if one.
    pub fn lot_dialed(&self, bare: &str) -> Option<(&Lot, Option<&str>)> {
        self.lots.iter().find_map(|l| {
            if l.number.as_deref() == Some(bare) {
                return Some((l, None));
            }
            let slot = bare.strip_prefix(l.prefix.as_str()).filter(|_| !l.prefix.is_empty())?;
            l.slots.iter().find(|s| *s == slot).map(|s| (l, Some(s.as_str())))
        })
    }
    /// How the lamp of slot `ext` shows a parked call: its lot's `lamp-state`, else its
    /// group's, else the tenant's.
    pub fn lamp_state_of_slot(&self, ext: &str) -> LampState {
        self.lot_of(ext)
            .map(|l| l.lamp_state)
            .or_else(|| self.group_of(ext).map(|g| g.lamp_state))
            .unwrap_or(self.lamp_state)
    }
    /// How the lamp of the key of lot or group `name` shows a parked call.
    pub fn lamp_state_of_key(&self, name: &str) -> LampState {
        self.lot(name)
            .map(|l| l.lamp_state)
            .or_else(|| self.group(name).map(|g| g.lamp_state))
            .unwrap_or(self.lamp_state)
    }
}

/// A validated configuration. Tenants not named in it get the global settings and no groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    default_tenant: Tenant,
    tenants: HashMap<String, Tenant>,
    /// Where the park is kept; read when the engine is made (a reload keeps the store).
    pub store: StoreSetting,
}

impl Default for Config {
    fn default() -> Self {
        let layer = Layer::default();
        let mut errors = Vec::new();
        let default_tenant = resolve_tenant("", &[&layer], &[], &[], &mut errors);
        debug_assert!(errors.is_empty());
        Config { default_tenant, tenants: HashMap::new(), store: StoreSetting::Memory }
    }
}

impl Config {
    /// The tenant for `domain` (lower-case), or the defaults for an unconfigured one.
    pub fn tenant(&self, domain: &str) -> &Tenant {
        self.tenants.get(domain).unwrap_or(&self.default_tenant)
    }
    pub fn tenants(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.values()
    }
    pub fn group_count(&self) -> usize {
        self.tenants.values().map(|t| t.groups.len()).sum()
    }
}

/// One configuration error, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line in the source, when known.
    pub line: Option<u32>,
    /// `tenant "acme": group "sales"`, empty at the top.
    pub place: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if !self.place.is_empty() {
            write!(f, "{}: ", self.place)?;
        }
        f.write_str(&self.message)
    }
}

/// Every error of a refused configuration, each prefixed with the source name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    pub source: String,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match e.line {
                Some(l) => write!(f, "{}:{}: ", self.source, l)?,
                None => write!(f, "{}: ", self.source)?,
            }
            if !e.place.is_empty() {
                write!(f, "{}: ", e.place)?;
            }
            f.write_str(&e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A value and the line it came from.
#[derive(Clone, Debug, Default)]
pub(crate) struct At<T> {
    pub value: T,
    pub line: Option<u32>,
}

/// The settings one layer sets; `None` inherits.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layer {
    pub place: String,
    pub park_code: Option<At<String>>,
    pub retrieve_code: Option<At<String>>,
    pub group_park_code: Option<At<String>>,
    pub min_ext: Option<At<u32>>,
    pub max_ext: Option<At<u32>>,
    pub max_calls: Option<At<u32>>,
    pub policy: Option<At<RecallPolicy>>,
    pub recall_time: Option<At<u32>>,
    pub ring_time: Option<At<u32>>,
    pub retry_interval: Option<At<u32>>,
    pub attempts: Option<At<u32>>,
    pub alert_wait: Option<At<u32>>,
    pub ring_group: Option<At<Destination>>,
    pub final_destination: Option<At<Destination>>,
    pub alternate_user: Option<At<String>>,
    pub music: Option<At<String>>,
    pub alert_info: Option<At<String>>,
    pub name_prefix: Option<At<String>>,
    pub tell_parker: Option<At<bool>>,
    pub notices: Option<At<Notices>>,
    pub announce: Option<At<Announce>>,
    pub lamp_state: Option<At<LampState>>,
    pub lamps: Option<At<bool>>,
    pub event_channel_data: Option<At<bool>>,
    /// `exit-key`: `Some(None)` is `none`, set to switch an inherited key off.
    pub exit_key: Option<At<Option<char>>>,
    pub exit_destination: Option<At<Destination>>,
    /// `store`, `node`, `node-address`, `store-prefix`, `node-grace`, the store's
    /// password and TLS files, `cross-node-pickup`: the whole switch's only.
    pub store: store::RawStore,
}

/// Where a parameter may be set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Settings,
    Group,
}

/// Parameters, their ranges, and where each may stand.
const DURATIONS: &[(&str, u32, u32)] =
    &[("recall-time", 5, 86_400), ("ring-time", 5, 600), ("retry-interval", 1, 3_600), ("alert-wait", 5, 600)];

impl Layer {
    pub(crate) fn new(place: String) -> Self {
        Layer { place, ..Default::default() }
    }

    /// Sets `name` to `value`, or records why it cannot.
    pub(crate) fn set(
        &mut self,
        level: Level,
        name: &str,
        value: &str,
        line: Option<u32>,
        errors: &mut Vec<ConfigError>,
    ) {
        let mut err = |message: String| {
            errors.push(ConfigError { line, place: self.place.clone(), message });
        };
        let number = |min: u32, max: u32| -> Result<u32, String> {
            match value.trim().parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                Ok(n) => Err(format!("{name} is {n}, it must be from {min} to {max}")),
                Err(_) => Err(format!("{name} is \"{value}\", it must be a whole number from {min} to {max}")),
            }
        };
        let settings_only = matches!(
            name,
            "park-code"
                | "retrieve-code"
                | "group-park-code"
                | "min-extension-length"
                | "max-extension-length"
                | "max-calls-per-extension"
                | "tell-parker"
                | "notices"
                | "announce"
                | "lamps"
                | "event-channel-data"
        );
        if matches!(
            name,
            "store"
                | "node"
                | "node-address"
                | "store-prefix"
                | "node-grace"
                | "store-password-file"
                | "store-sentinel-password-file"
                | "store-tls-ca"
                | "store-tls-cert"
                | "store-tls-key"
                | "cross-node-pickup"
        ) {
            if level == Level::Group || !self.place.is_empty() {
                return err(format!("{name} is a setting of the whole switch, not of a tenant or group"));
            }
            let slot = match name {
                "store" => &mut self.store.store,
                "node" => &mut self.store.node,
                "node-address" => &mut self.store.address,
                "node-grace" => &mut self.store.grace,
                "store-password-file" => &mut self.store.password_file,
                "store-sentinel-password-file" => &mut self.store.sentinel_password_file,
                "store-tls-ca" => &mut self.store.tls_ca,
                "store-tls-cert" => &mut self.store.tls_cert,
                "store-tls-key" => &mut self.store.tls_key,
                "cross-node-pickup" => &mut self.store.pickup,
                _ => &mut self.store.prefix,
            };
            *slot = at(value.to_string(), line);
            return;
        }
        if settings_only && level == Level::Group {
            return err(format!("{name} is a setting of the tenant or of the whole switch, not of a group"));
        }
        if name == "alternate-recall-user" && level == Level::Settings {
            return err("alternate-recall-user is set on a group".into());
        }
        match name {
            "park-code" | "retrieve-code" | "group-park-code" => {
                if !codes::is_valid_code(value) {
                    return err(format!("{name} \"{value}\" must be * or # followed by 1 to 8 digits, * or #"));
                }
                let slot = match name {
                    "park-code" => &mut self.park_code,
                    "retrieve-code" => &mut self.retrieve_code,
                    _ => &mut self.group_park_code,
                };
                *slot = at(value.to_string(), line);
            }
            "min-extension-length" => match number(1, 20) {
                Ok(n) => self.min_ext = at(n, line),
                Err(e) => err(e),
            },
            "max-extension-length" => match number(1, 20) {
                Ok(n) => self.max_ext = at(n, line),
                Err(e) => err(e),
            },
            "max-calls-per-extension" => match number(1, 100) {
                Ok(n) => self.max_calls = at(n, line),
                Err(e) => err(e),
            },
            "recall-attempts" => match number(1, 100) {
                Ok(n) => self.attempts = at(n, line),
                Err(e) => err(e),
            },
            "recall" => match RecallPolicy::parse(value.trim()) {
                Some(p) => self.policy = at(p, line),
                None => err(format!(
                    "recall \"{value}\" is not a policy (parking-user, parking-user-then-ring-group, ring-group)"
                )),
            },
            "ring-group" | "final-destination" | "exit-destination" => match Destination::parse(value) {
                Ok(d) => match name {
                    "ring-group" => self.ring_group = at(d, line),
                    "final-destination" => self.final_destination = at(d, line),
                    _ => self.exit_destination = at(d, line),
                },
                Err(e) => err(format!("{name}: {e}")),
            },
            "alternate-recall-user" => {
                let v = value.trim();
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 20 {
                    return err(format!("alternate-recall-user \"{value}\" is not an extension (digits only)"));
                }
                self.alternate_user = at(v.to_string(), line);
            }
            "music" => {
                if value.chars().any(|c| c.is_control()) {
                    return err("music has a control character".into());
                }
                self.music = at(value.trim().to_string(), line);
            }
            "announce" => match value.trim() {
                "none" => self.announce = at(Announce::None, line),
                "chosen" => self.announce = at(Announce::Chosen, line),
                "dialed" => self.announce = at(Announce::Dialed, line),
                "always" => self.announce = at(Announce::Always, line),
                _ => err(format!("announce \"{}\" is none, chosen, dialed or always", value.escape_default())),
            },
            "lamp-state" => match value.trim() {
                "confirmed" => self.lamp_state = at(LampState::Confirmed, line),
                "early" => self.lamp_state = at(LampState::Early, line),
                _ => err(format!("lamp-state \"{}\" is confirmed or early", value.escape_default())),
            },
            "notices" => match Notices::parse(value.trim()) {
                Some(n) => self.notices = at(n, line),
                None => err(format!("notices \"{}\" is message, callpark-info, both or none", value.escape_default())),
            },
            "exit-key" => match value.trim() {
                "none" | "" => self.exit_key = at(None, line),
                k if k.len() == 1 && k.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#') => {
                    self.exit_key = at(k.chars().next(), line)
                }
                _ => err(format!("exit-key \"{}\" is one of 0-9, *, # or none", value.escape_default())),
            },
            "lamps" => match value.trim() {
                "all" => self.lamps = at(true, line),
                "none" => self.lamps = at(false, line),
                _ => err(format!("lamps \"{}\" is all or none", value.escape_default())),
            },
            "event-channel-data" => match value.trim() {
                "true" => self.event_channel_data = at(true, line),
                "false" => self.event_channel_data = at(false, line),
                _ => err(format!("event-channel-data \"{}\" is true or false", value.escape_default())),
            },
            "tell-parker" => match value.trim() {
                "message" => self.tell_parker = at(true, line),
                "none" => self.tell_parker = at(false, line),
                _ => err(format!("tell-parker \"{}\" is message or none", value.escape_default())),
            },
            "recall-alert-info" => {
                let v = value.trim();
                let ok = |b: u8| b.is_ascii_alphanumeric() || b" <>:;/=._-@+?&%~".contains(&b);
                if v.len() > 200 || !v.bytes().all(ok) {
                    return err(format!(
                        "recall-alert-info \"{}\" may hold letters, digits and <>:;/=._-@+?&%~ (at most 200)",
                        value.escape_default()
                    ));
                }
                self.alert_info = at(v.to_string(), line);
            }
            "recall-name-prefix" => {
                let v = value.trim();
                let ok = |c: char| c.is_alphanumeric() || " .-_+()&/".contains(c);
                if v.chars().count() > 32 || !v.chars().all(ok) {
                    return err(format!(
                        "recall-name-prefix \"{}\" may hold letters, digits, spaces and .-_+()&/ (at most 32)",
                        value.escape_default()
                    ));
                }
                self.name_prefix = at(v.to_string(), line);
            }
            _ => match DURATIONS.iter().find(|(n, _, _)| *n == name) {
                Some(&(_, min, max)) => match number(min, max) {
                    Ok(n) => {
                        let slot = match name {
                            "recall-time" => &mut self.recall_time,
                            "ring-time" => &mut self.ring_time,
                            "retry-interval" => &mut self.retry_interval,
                            _ => &mut self.alert_wait,
                        };
                        *slot = at(n, line);
                    }
                    Err(e) => err(format!("{e} seconds")),
                },
                None => err(format!("unknown parameter \"{name}\"")),
            },
        }
    }
}

fn at<T>(value: T, line: Option<u32>) -> Option<At<T>> {
    Some(At { value, line })
}

/// The first value set, walking from the most specific layer up.
fn pick<T: Clone>(layers: &[&Layer], f: impl Fn(&Layer) -> &Option<At<T>>) -> Option<At<T>> {
    layers.iter().rev().find_map(|l| f(l).clone())
}

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

/// Why `name` cannot name a group or a lot (`what`), whose key is `park+<name>`: 1 to 64
/// letters, digits, `-` or `_`, and not all digits (that would be an extension's lamp and
/// key).
pub(crate) fn key_name_error(what: &str, name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Some(format!("a {what} name is 1 to 64 letters, digits, '-' or '_'"))
    } else if name.bytes().all(|b| b.is_ascii_digit()) {
        Some(format!("{what} name \"{name}\" is all digits, like an extension"))
    } else {
        None
    }
}

/// The longest domain name, in bytes (DNS's limit).
pub const MAX_DOMAIN_LEN: usize = 253;

/// Checks a domain name as FreeSWITCH users write it.
pub fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= MAX_DOMAIN_LEN
        && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

impl Config {
    pub(crate) fn build(default_tenant: Tenant, tenants: HashMap<String, Tenant>, store: StoreSetting) -> Self {
        Config { default_tenant, tenants, store }
    }
}

#[cfg(test)]
mod tests;
