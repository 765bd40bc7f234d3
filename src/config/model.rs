//! What a validated configuration is: tenants, groups, recall plans and the settings
//! they resolve to, and the errors of one that is refused.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::{Lot, StoreSetting};
use crate::codes::{ExtensionRules, FeatureCodes};

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
    pub(super) fn needs_ring_group(self) -> bool {
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
    pub(super) member_of: HashMap<String, usize>,
    /// Its parking lots, and the lot of each slot.
    pub lots: Vec<Lot>,
    pub(super) lot_of: HashMap<String, usize>,
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
    pub(crate) fn build(default_tenant: Tenant, tenants: HashMap<String, Tenant>, store: StoreSetting) -> Self {
        Config { default_tenant, tenants, store }
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
