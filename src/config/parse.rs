//! The parameters as written: each `<param name=... value=...>` of a layer checked and
//! parsed into its [`Layer`]; the checks of a call's own recall time, a domain and a
//! key's name.

use super::store::RawStore;
use super::{Announce, ConfigError, Destination, LampState, Notices, RecallPolicy};
use crate::codes;

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
    pub store: RawStore,
}

/// Where a parameter may be set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Settings,
    Group,
}

/// The durations, in seconds: each one's parameter and range.
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

pub(super) fn at<T>(value: T, line: Option<u32>) -> Option<At<T>> {
    Some(At { value, line })
}

impl RecallPolicy {
    fn parse(s: &str) -> Option<Self> {
        [RecallPolicy::ParkingUser, RecallPolicy::ParkingUserThenRingGroup, RecallPolicy::RingGroup]
            .into_iter()
            .find(|p| p.name() == s)
    }
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
