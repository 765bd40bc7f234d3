//! What the core asks of the host (the switch), and what it tells it.
//!
//! The engine never calls a [`Host`] method while it holds one of its own locks. Every
//! method may be called from any thread that calls into the engine and from the
//! engine's timer thread.

use std::ffi::CStr;

use crate::config::{Destination, LampState};
use crate::store::SlotState;

/// A failure the host reports for an action it could not carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostError(pub String);

/// Why a bridge to a parked call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BridgeError {
    /// The parked channel is gone (its caller hung up): the call leaves the park.
    ParkedGone(String),
    /// The other leg failed: the parked call stays parked.
    Failed(String),
}

/// One recall attempt: ring `extension` of `tenant` (all its devices) for `seconds`,
/// showing the parked caller's identity; report the outcome with `attempt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    pub parked_uuid: String,
    pub tenant: String,
    pub extension: String,
    pub seconds: u32,
    pub attempt: u32,
    pub caller_number: String,
    /// What the recalled phone shows: `Recall 102 - Jane Doe` (the plan's name prefix,
    /// the slot, the caller's name or number).
    pub caller_name: String,
    /// The `Alert-Info` to ring with; empty: none.
    pub alert_info: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Extension(String),
    Group(String),
}

impl Target {
    /// The name in the presence user: `park+<this>@<domain>`.
    pub fn name(&self) -> &str {
        match self {
            Target::Extension(s) | Target::Group(s) => s,
        }
    }
}

/// What a lamp subscribed to `park+<target>@<tenant>` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    pub tenant: String,
    pub target: Target,
    pub state: SlotState,
    /// Set when this answers a probe: only this subscriber asked.
    pub subscriber: Option<String>,
    /// How the tenant shows a parked call (`lamp-state`), set as it is delivered.
    pub parked_as: LampState,
    /// The last word of a lamp whose tenant's `lamps` a reload switched off: delivered
    /// even though the configuration in place by then publishes no lamp.
    pub last_word: bool,
}

impl Presence {
    pub fn new(tenant: &str, target: Target, state: SlotState, subscriber: Option<&str>) -> Presence {
        let subscriber = subscriber.map(str::to_string);
        Presence { tenant: tenant.into(), target, state, subscriber, parked_as: LampState::Confirmed, last_word: false }
    }

    /// The lamp's words on phones that show them (sofia's `force-status`): `Empty`,
    /// `Parked (1 caller)`, `Recalling (2 callers)`.
    pub fn status_text(&self) -> String {
        let n = self.state.count;
        match (n, self.state.recalling) {
            (0, _) => "Empty".into(),
            (_, recalling) => {
                format!(
                    "{} ({n} caller{})",
                    if recalling { "Recalling" } else { "Parked" },
                    if n == 1 { "" } else { "s" }
                )
            }
        }
    }

    /// The oldest parked caller as a phone's dialog XML shows it: its number and its name
    /// (the number when it has none), each XML-escaped; empty when nothing is parked.
    pub fn shown_caller(&self) -> (String, String) {
        let Some((_, number, name)) = &self.state.oldest else { return Default::default() };
        let name = if name.is_empty() { number } else { name };
        (crate::park_info::xml_escaped(number), crate::park_info::xml_escaped(name))
    }

    /// The dialog state a watcher's phone is told: `terminated` (nothing parked),
    /// `early` (a recall ringing, or parked where `lamp-state` is `early`), `confirmed`;
    /// NUL-terminated, as the switch takes it.
    pub fn answer_state(&self) -> &'static CStr {
        match (self.state.count, self.state.recalling, self.parked_as) {
            (0, _, _) => c"terminated",
            (_, true, _) | (_, _, LampState::Early) => c"early",
            _ => c"confirmed",
        }
    }
}

/// A short text for the devices of one extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub tenant: String,
    pub extension: String,
    pub text: String,
}

macro_rules! event_actions {
    ($($name:ident = $number:literal => $text:literal, $ends:literal,)*) => {
        /// A lifecycle change, for ESL clients.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Action {
            $($name,)*
        }

        impl Action {
            /// Every action, in the order of the list.
            pub const ALL: &[Action] = &[$(Action::$name,)*];

            /// Whether the call is out of the park after this (retrieved, answered,
            /// handed off, gone); a call sent back never entered it.
            pub fn ends_park(self) -> bool {
                match self {
                    $(Action::$name => $ends,)*
                }
            }

            /// The name in the `callpark-action` header.
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$name => $text,)*
                }
            }
        }
    };
}

// Action and its names, from the one list (the C ABI's numbers are in it too).
include!("lists/event_actions.rs");

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub action: Action,
    pub tenant: String,
    /// The slot; empty for a call that never got one (sent back).
    pub extension: String,
    pub group: Option<String>,
    /// The parked (or refused) call.
    pub uuid: String,
    /// The retriever's or the answering recall leg's uuid.
    pub other_uuid: Option<String>,
    pub parking_user: String,
    pub caller_number: String,
    pub caller_name: String,
    /// The recall attempt, 0 before any.
    pub attempt: u32,
    /// Why (sent back), or where to (ring group, final destination).
    pub detail: Option<String>,
    /// A `parked` event of a call taken back after a reload (`Engine::adopt`).
    pub adopted: bool,
    /// Whether the event carries the parked channel's data (the tenant's
    /// `event-channel-data`, set as it is delivered).
    pub channel_data: bool,
}

/// Everything the core publishes, in the order its changes happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    Presence(Presence),
    Message(Message),
    Event(Event),
    ParkInfo(ParkInfo),
}

/// A visual park notice for every registered phone of `extension` of `tenant`: a SIP
/// NOTIFY with `Event:` [`crate::park_info::EVENT`], `Content-Type:`
/// [`crate::park_info::CONTENT_TYPE`] and `body` ([`crate::park_info::body`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkInfo {
    pub tenant: String,
    pub extension: String,
    pub body: String,
}

/// What a bridge connects to the parked call; it decides which leg drives the bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joining {
    /// A retriever (a `*88` dial, a hand-over from another node): a channel in the
    /// dialplan, answered now, which drives its own bridge, so that a parked caller who
    /// hangs up meanwhile ends it instead of leaving it waiting for a driver gone.
    Retriever,
    /// An answered recall or operator leg: it has no dialplan, the parked channel drives.
    RecallLeg,
}

/// The switch, as the core sees it.
pub trait Host: Send + Sync {
    /// Connect `uuid` (a retriever or an answered recall leg, as `joining` says) to the
    /// parked call.
    fn bridge(&self, uuid: &str, parked_uuid: &str, joining: Joining) -> Result<(), BridgeError>;
    /// Connect `uuid` (a retriever here) to a call another node holds: a call to that
    /// node's SIP `address` carrying `token`, which it redeems with
    /// `Engine::take_over`. A host of one switch has no other node.
    fn bridge_to_node(&self, uuid: &str, address: &str, token: &str) -> Result<(), BridgeError> {
        let _ = (uuid, token);
        Err(BridgeError::Failed(format!("this switch cannot reach other nodes (asked for {address})")))
    }
    /// Send `uuid` (a retriever here, not answered) to a call another node holds: a SIP
    /// 302 to that node's `address` with `token` (`callpark-handover-<token>`), which the
    /// phone calls itself; the node redeems it with `Engine::take_over`. The switch ends
    /// the retriever's call here with the redirect.
    fn redirect_to_node(&self, uuid: &str, address: &str, token: &str) -> Result<(), BridgeError> {
        let _ = (uuid, token);
        Err(BridgeError::Failed(format!("this switch redirects no call to other nodes (asked for {address})")))
    }
    /// Start a recall attempt; report it with `Engine::recall_answered` / `recall_failed`.
    fn ring(&self, ring: &Ring) -> Result<(), HostError>;
    /// Stop any recall attempt ringing for `parked_uuid`.
    fn cancel_ring(&self, parked_uuid: &str);
    /// Send `uuid` to a dialplan destination; it leaves the park.
    fn transfer(&self, uuid: &str, to: &Destination) -> Result<(), HostError>;
    /// Publish a lamp state, a text message or an event.
    fn notify(&self, notice: &Notice);
    /// Whether `extension` is a user of `tenant` in the switch's directory.
    fn user_exists(&self, tenant: &str, extension: &str) -> bool;
    /// Carries out an operator's command (`park ...`, `retrieve ...`, `hangup ...`, as
    /// typed after `callpark`) that another node sent this one, as if typed here and
    /// without sending it on: the line it answers. `None`: not supported.
    fn operate(&self, command: &str) -> Option<String> {
        let _ = command;
        None
    }
    /// The contacts `user`@`tenant` registered, as the switch lists them (none when it
    /// keeps no registrations).
    fn contacts(&self, tenant: &str, user: &str) -> Vec<String> {
        let _ = (tenant, user);
        Vec::new()
    }
    fn log(&self, level: LogLevel, message: &str);
}

#[cfg(test)]
mod tests {
    use super::{Presence, Target};
    use crate::store::SlotState;

    fn lamp(count: usize, recalling: bool, number: &str, name: &str) -> Presence {
        let oldest = (count > 0).then(|| ("u1".to_string(), number.to_string(), name.to_string()));
        Presence::new("acme.example", Target::Extension("102".into()), SlotState { count, recalling, oldest }, None)
    }

    #[test]
    fn a_lamp_s_words_and_caller() {
        assert_eq!(lamp(0, false, "", "").status_text(), "Empty");
        assert_eq!(lamp(1, false, "104", "").status_text(), "Parked (1 caller)");
        assert_eq!(lamp(2, true, "104", "").status_text(), "Recalling (2 callers)");
        assert_eq!(
            lamp(1, false, "104", "AT&T <Sales>").shown_caller(),
            ("104".into(), "AT&amp;T &lt;Sales&gt;".into())
        );
        assert_eq!(lamp(1, false, "104", "").shown_caller(), ("104".into(), "104".into()), "no name: the number");
        assert_eq!(lamp(0, false, "", "").shown_caller(), (String::new(), String::new()));
    }
}
