//! What the switch does with a channel that dialed a code: the one answer of a dial,
//! with the hold music, the prompt and the hang-up cause, chosen by the rules here
//! (docs/admin-guide.md, "What the caller hears").

use crate::error::DialError;
use crate::identity::Facts;

/// The prompts played when nothing is configured (FreeSWITCH's own sound files).
pub const SOUND_EMPTY: &str = "ivr/ivr-not_available.wav";
pub const SOUND_INVALID: &str = "ivr/ivr-that_was_an_invalid_entry.wav";
pub const SOUND_FAILED: &str = "ivr/ivr-call_cannot_be_completed_as_dialed.wav";

/// What the dialplan set on the channel for its media: each `None` when unset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Media<'a> {
    /// `callpark_music`: the hold music for this call.
    pub music: Option<&'a str>,
    /// The channel's own hold music (`hold_music`).
    pub hold_music: Option<&'a str>,
    /// `callpark_sound_empty`, `_invalid`, `_failed`: the prompts.
    pub sound_empty: Option<&'a str>,
    pub sound_invalid: Option<&'a str>,
    pub sound_failed: Option<&'a str>,
}

/// A channel that dialed something the dialplan sent to callpark, with every fact the
/// rules read.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChannelDial<'a> {
    pub uuid: &'a str,
    /// What was dialed: `*68102`, `*88`, `park+102`.
    pub dialed: &'a str,
    pub facts: Facts<'a>,
    pub caller_number: &'a str,
    pub caller_name: &'a str,
    /// It was sent back and nobody took it: park it at its parking user's extension.
    pub back_to_park: bool,
    /// With `back_to_park`: the user it was sent back to did take it (the bridge
    /// succeeded) and that conversation is over.
    pub sent_back_answered: bool,
    pub media: Media<'a>,
    /// An operator's `callpark park <uuid> <ext>`: `dialed` is the extension (or group)
    /// to park at, and the call is parked as if transferred there by whoever it was
    /// talking to; nothing is sent back or refused on the channel, which stays as it was
    /// when the park fails.
    pub operator: Option<OperatorPark<'a>>,
    /// The address the call came from (`sip_network_ip`), for a hand-over from another
    /// node (`callpark-handover-<token>`).
    pub network_addr: &'a str,
    /// The call's own recall time (`callpark_timeout`, or the operator's seconds): empty
    /// for the configured one, `0` for never (see [`crate::config::own_recall_time`]).
    pub timeout: &'a str,
}

/// What an operator's park names besides the extension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OperatorPark<'a> {
    /// The tenant the operator acts in: the call must be of it.
    pub tenant: Option<&'a str>,
}

/// Why a refused call is hung up: a Q.850 cause (the SIP code follows from it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// 404: no such code or extension.
    UnallocatedNumber = 1,
    /// 480: nothing parked there.
    SubscriberAbsent = 20,
    /// 503: anything else.
    NormalTemporaryFailure = 41,
}

/// What the switch must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Parked at `extension`: answer, say `announce` (the arguments of FreeSWITCH's `say`
    /// application, e.g. `en number iterated 102`) if any, and hold with `music` (empty:
    /// silence); the key `exit_key` (if any) stops the music and asks
    /// [`crate::Engine::exit`].
    Hold { extension: String, music: String, exit_key: Option<char>, announce: Option<String> },
    /// Bridged to the parked call (the bridge is done).
    Bridged,
    /// The park failed: play `prompt`, then ring `user` of `tenant`, who transferred it.
    SendBack { tenant: String, user: String, prompt: String, error: DialError },
    /// Refused: play `prompt` (in early media), then hang up with `cause`.
    Refuse { cause: Cause, prompt: String, error: DialError },
    /// The call was sent back, taken, and that conversation is over: hang up, normally.
    End,
}

/// The `say` arguments that speak `extension`: digit by digit, or letter by letter.
pub fn announcement(extension: &str) -> String {
    if extension.bytes().all(|b| b.is_ascii_digit()) {
        format!("en number iterated {extension}")
    } else {
        format!("en name_spelled iterated {extension}")
    }
}

/// A code or extension that does not exist: what was dialed is wrong.
fn is_bad_number(e: &DialError) -> bool {
    matches!(e, DialError::Code(_) | DialError::UnknownExtension(_))
}

/// The hang-up cause of a refusal.
pub fn cause(e: &DialError) -> Cause {
    match e {
        DialError::Empty { .. } => Cause::SubscriberAbsent,
        e if is_bad_number(e) => Cause::UnallocatedNumber,
        _ => Cause::NormalTemporaryFailure,
    }
}

fn set(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The prompt for a failure: the dialplan's, else the default of its kind.
pub fn prompt(e: &DialError, m: &Media) -> String {
    let (chosen, default) = match e {
        DialError::Empty { .. } => (m.sound_empty, SOUND_EMPTY),
        e if is_bad_number(e) => (m.sound_invalid, SOUND_INVALID),
        _ => (m.sound_failed, SOUND_FAILED),
    };
    set(chosen).unwrap_or(default).to_string()
}

/// The hold music: the group's or tenant's (`configured`), else the dialplan's
/// `callpark_music`, else the channel's hold music; `silence` or nothing is silence
/// (the empty string).
pub fn hold_music(configured: &str, m: &Media) -> String {
    match set(Some(configured)).or(set(m.music)).or(set(m.hold_music)) {
        Some(s) if !s.eq_ignore_ascii_case("silence") => s.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::CodeError;

    #[test]
    fn causes() {
        assert_eq!(cause(&DialError::Empty { place: "102".into() }), Cause::SubscriberAbsent);
        assert_eq!(cause(&DialError::Code(CodeError::Empty)), Cause::UnallocatedNumber);
        assert_eq!(cause(&DialError::UnknownExtension("999".into())), Cause::UnallocatedNumber);
        assert_eq!(cause(&DialError::NoTenant), Cause::NormalTemporaryFailure);
        assert_eq!(cause(&DialError::NoRetriever), Cause::NormalTemporaryFailure);
    }

    #[test]
    fn prompts_are_the_dialplans_or_the_defaults() {
        let m = Media { sound_empty: Some("empty.wav"), sound_invalid: Some(" "), ..Media::default() };
        assert_eq!(prompt(&DialError::Empty { place: "102".into() }, &m), "empty.wav");
        assert_eq!(prompt(&DialError::UnknownExtension("9".into()), &m), SOUND_INVALID);
        assert_eq!(prompt(&DialError::NoParkingUser, &m), SOUND_FAILED);
    }

    #[test]
    fn hold_music_falls_back_to_silence() {
        let none = Media::default();
        assert_eq!(hold_music("local_stream://moh", &Media { music: Some("x.wav"), ..none }), "local_stream://moh");
        assert_eq!(hold_music("", &Media { music: Some("x.wav"), hold_music: Some("y.wav"), ..none }), "x.wav");
        assert_eq!(hold_music("", &Media { hold_music: Some("y.wav"), ..none }), "y.wav");
        assert_eq!(hold_music("", &none), "");
        assert_eq!(hold_music("", &Media { music: Some("Silence"), hold_music: Some("y.wav"), ..none }), "");
    }
}
