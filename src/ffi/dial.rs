//! C to Rust: a channel's dial. `mod_callpark` reads what the switch knows of the
//! channel into a [`cp_dial`] and does what the one [`cp_dial_result`] says; every rule
//! in between (who is who, where it parks, what the caller hears) is the core's.

use std::ffi::c_char;

use super::api::{cp_engine, with_engine};
use super::{cp_result, opt_str_arg, str_arg, write_truncated};
use crate::error::DialError;
use crate::host::{Host, LogLevel};
use crate::identity::{Facts, Leg, Overrides};
use crate::reply::{self, ChannelDial, Media, Reply};

/// The size of the text fields of `cp_dial_result` (music, prompt), NUL included.
pub const CP_DIAL_TEXT_SIZE: usize = 1024;
/// The size of `cp_dial_result.user` and `.tenant`, NUL included.
pub const CP_DIAL_NAME_SIZE: usize = 256;

/// What the switch knows of one leg, as it has it (NULL: unset).
#[repr(C)]
pub struct cp_leg {
    /// `sip_authorized` is true: the switch authenticated the phone.
    pub authorized: bool,
    /// `user_name`, `domain_name`.
    pub user_name: *const c_char,
    pub domain_name: *const c_char,
    /// The switch placed the leg (an outbound call).
    pub outbound: bool,
    /// `dialed_user`, `dialed_domain`.
    pub dialed_user: *const c_char,
    pub dialed_domain: *const c_char,
    /// An outbound leg's `sip_req_uri`: where the switch sent it (`user@host:port;...`).
    pub contact: *const c_char,
}

/// A channel that dialed something the dialplan sent to callpark, with what the switch
/// knows of it, raw. Only `uuid` and `dialed` are required; everything else may be NULL.
#[repr(C)]
pub struct cp_dial {
    /// The channel's uuid: the call to park, or the retriever.
    pub uuid: *const c_char,
    /// What was dialed, e.g. `*68102`, `*88`, `park+102`.
    pub dialed: *const c_char,
    /// The channel itself.
    pub channel: cp_leg,
    /// The leg named by `blind_transfer_uuid`, when it could be found.
    pub transferring_leg: *const cp_leg,
    /// The last bridge partner, when it could be found (or was recorded at the bridge).
    pub bridge_partner: *const cp_leg,
    /// `sip_refer_to` and `blind_transfer_uuid` as the channel has them: either set means
    /// the call was transferred here.
    pub refer_to: *const c_char,
    pub blind_transfer_uuid: *const c_char,
    /// The `Referred-By` header as received (`sip_h_Referred-By`).
    pub referred_by: *const c_char,
    /// The dialplan's `callpark_tenant`, `callpark_user`, `callpark_domain`,
    /// `callpark_transferor`.
    pub tenant_override: *const c_char,
    pub user_override: *const c_char,
    pub domain_override: *const c_char,
    pub transferor_override: *const c_char,
    /// The caller's number and name.
    pub caller_number: *const c_char,
    pub caller_name: *const c_char,
    /// The dialplan's `callpark_music`, and the channel's own hold music.
    pub music: *const c_char,
    pub hold_music: *const c_char,
    /// The dialplan's `callpark_sound_empty`, `_invalid`, `_failed`.
    pub sound_empty: *const c_char,
    pub sound_invalid: *const c_char,
    pub sound_failed: *const c_char,
    /// The channel was sent back (`CP_ACTION_SENT_BACK`) and nobody took it: park it at
    /// the parking user's own extension; `dialed` is not read then. Never sent back again.
    pub back_to_park: bool,
    /// With `back_to_park`: the bridge to the user it was sent back to succeeded
    /// (`originate_disposition` is `SUCCESS`), and that conversation is over.
    pub sent_back_answered: bool,
    /// The address the call came from (`sip_network_ip`): a hand-over
    /// (`callpark-handover-<token>`) is taken only from another node of the shared park.
    pub network_addr: *const c_char,
    /// The channel's `callpark_timeout`: its own recall time in seconds, `0` for never;
    /// NULL or empty for the configured `recall-time`. One that is no such time is
    /// logged, and the configured one used.
    pub timeout: *const c_char,
}

/// What `cp_engine_dial` asks the switch to do.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cp_action {
    /// Refused: play `prompt` (early media), then hang up with `hangup_cause`.
    None = 0,
    /// Parked: answer and hold with `music` (empty: silence).
    Parked = 1,
    /// Bridged to a parked call (`bridge` was called for it): nothing more to do.
    Bridged = 2,
    /// The park failed: play `prompt`, then ring `user`@`tenant`, who transferred it.
    SentBack = 3,
    /// It was sent back, taken, and that conversation is over: hang up (normal clearing).
    End = 4,
    /// `cp_engine_operate` only: hang the call up (normal clearing).
    HangUp = 5,
}

/// How the switch holds a call the library parked (`CP_ACTION_PARKED` of
/// `cp_dial_result` and `cp_operation`), for the hold's plan (`cp_hold_plan_of`). Strings
/// are NUL-terminated, empty when unused.
#[repr(C)]
pub struct cp_hold_terms {
    /// The music (empty: silence).
    pub music: [c_char; CP_DIAL_TEXT_SIZE],
    /// The DTMF key that stops the music to leave the park (`cp_engine_music_stopped`),
    /// one character and its NUL; empty: no key stops it.
    pub exit_key: [c_char; 2],
    /// What to say before the music, as the arguments of FreeSWITCH's `say` application
    /// (`en number iterated 102`); empty: nothing.
    pub announce: [c_char; CP_DIAL_NAME_SIZE],
}

/// The one answer of `cp_engine_dial`. Strings are NUL-terminated, empty when unused.
#[repr(C)]
pub struct cp_dial_result {
    pub action: cp_action,
    /// Why it was refused or sent back (`CP_RESULT_OK` otherwise).
    pub code: cp_result,
    /// `CP_ACTION_NONE`: the Q.850 cause to hang up with (1 no such number: SIP 404,
    /// 20 nothing parked: 480, 41 anything else: 503).
    pub hangup_cause: u32,
    /// `CP_ACTION_PARKED`: the hold.
    pub hold: cp_hold_terms,
    pub prompt: [c_char; CP_DIAL_TEXT_SIZE],
    pub user: [c_char; CP_DIAL_NAME_SIZE],
    pub tenant: [c_char; CP_DIAL_NAME_SIZE],
}

/// A string fact: NULL, bad UTF-8 and blank are all "not known".
unsafe fn fact<'a>(p: *const c_char) -> Option<&'a str> {
    opt_str_arg(p).ok().flatten().filter(|s| !s.trim().is_empty())
}

unsafe fn leg<'a>(l: &cp_leg) -> Leg<'a> {
    Leg {
        authorized: l.authorized,
        user_name: fact(l.user_name),
        domain_name: fact(l.domain_name),
        outbound: l.outbound,
        dialed_user: fact(l.dialed_user),
        dialed_domain: fact(l.dialed_domain),
        contact: fact(l.contact),
    }
}

pub(super) unsafe fn put(s: &str, buf: &mut [c_char]) {
    write_truncated(s, buf.as_mut_ptr(), buf.len(), std::ptr::null_mut());
}

/// What a `Reply::Hold` tells the switch, into a result's hold (of `cp_dial_result` or
/// `cp_operation`): each string NUL-terminated; a music too long for its field is
/// silence, and a warning.
pub(super) unsafe fn put_hold(
    host: &dyn Host,
    music: &str,
    exit_key: Option<char>,
    announce: Option<&str>,
    out: &mut cp_hold_terms,
) {
    put(announce.unwrap_or(""), &mut out.announce);
    out.exit_key = [exit_key.filter(char::is_ascii).map_or(0, |k| k as u8 as c_char), 0];
    if music.len() < CP_DIAL_TEXT_SIZE {
        put(music, &mut out.music);
    } else {
        out.music[0] = 0;
        host.log(LogLevel::Warning, "callpark: the hold music is too long a string, holding in silence");
    }
}

/// Empties a result's hold.
pub(super) fn clear_hold(out: &mut cp_hold_terms) {
    out.music[0] = 0;
    out.exit_key[0] = 0;
    out.announce[0] = 0;
}

/// A prompt too long for the result is the default failure prompt, and a warning.
fn prompt_that_fits<'a>(host: &dyn Host, prompt: &'a str) -> &'a str {
    if prompt.len() < CP_DIAL_TEXT_SIZE {
        prompt
    } else {
        host.log(LogLevel::Warning, "callpark: the prompt is too long a string, playing the default");
        crate::reply::SOUND_FAILED
    }
}

fn clear(out: &mut cp_dial_result) {
    clear_hold(&mut out.hold);
    for b in [&mut out.prompt[..], &mut out.user[..], &mut out.tenant[..]] {
        b[0] = 0;
    }
    out.hangup_cause = 0;
}

/// The facts of a [`cp_dial`] as the core reads them; `uuid` and `dialed` already read.
///
/// # Safety
/// `r`'s strings and legs are NULL or valid for `'a`.
pub(super) unsafe fn channel_dial<'a>(r: &'a cp_dial, uuid: &'a str, dialed: &'a str) -> ChannelDial<'a> {
    let transferring = r.transferring_leg.as_ref().map(|l| leg(l));
    let partner = r.bridge_partner.as_ref().map(|l| leg(l));
    ChannelDial {
        uuid,
        dialed,
        facts: Facts {
            channel: leg(&r.channel),
            transferring_leg: transferring,
            bridge_partner: partner,
            transferred: fact(r.refer_to).is_some() || fact(r.blind_transfer_uuid).is_some(),
            referred_by: fact(r.referred_by),
            overrides: Overrides {
                tenant: fact(r.tenant_override),
                user: fact(r.user_override),
                domain: fact(r.domain_override),
                transferor: fact(r.transferor_override),
            },
        },
        caller_number: fact(r.caller_number).unwrap_or(""),
        caller_name: fact(r.caller_name).unwrap_or(""),
        back_to_park: r.back_to_park,
        sent_back_answered: r.sent_back_answered,
        media: Media {
            music: fact(r.music),
            hold_music: fact(r.hold_music),
            sound_empty: fact(r.sound_empty),
            sound_invalid: fact(r.sound_invalid),
            sound_failed: fact(r.sound_failed),
        },
        operator: None,
        network_addr: fact(r.network_addr).unwrap_or(""),
        timeout: fact(r.timeout).unwrap_or(""),
    }
}

/// Handles what a channel dialed: resolves who is who, parks it, bridges it to a parked
/// call, sends it back or refuses it, and writes what the switch must do into `*out`.
/// `*out` is written on every return but `CP_RESULT_NULL_PARAMETER`,
/// `CP_RESULT_INVALID_HANDLE` and `CP_RESULT_PANIC`; the return value is `out->code`.
/// A dialed string that is not UTF-8 is refused (`CP_RESULT_CODE_BAD_CHARACTER`); any
/// other fact that is not UTF-8 counts as unknown.
///
/// # Safety
/// `req` is NULL or valid, its strings and legs NULL or valid; `out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_dial(
    engine: *const cp_engine,
    req: *const cp_dial,
    out: *mut cp_dial_result,
) -> cp_result {
    with_engine("cp_engine_dial", engine, |e| {
        if req.is_null() || out.is_null() {
            return cp_result::NullParameter;
        }
        let (r, out) = (&*req, &mut *out);
        // Not UTF-8: a uuid is a bad request the engine never sees; a dialed string goes
        // on as one bad character. Either is refused with the code that says which.
        let (uuid, dialed) = (str_arg(r.uuid), str_arg(r.dialed));
        let not_utf8 = match (&uuid, &dialed) {
            (Err(code), _) | (_, Err(code)) if *code != cp_result::InvalidUtf8 => return *code,
            (Err(_), _) => Some(cp_result::InvalidUtf8),
            (_, Err(_)) => Some(cp_result::CodeBadCharacter),
            _ => None,
        };
        let d = channel_dial(r, uuid.unwrap_or(""), dialed.unwrap_or("\u{fffd}"));
        let reply = if uuid.is_err() {
            let error = DialError::BadRequest("the uuid is not UTF-8".into());
            Reply::Refuse { cause: reply::cause(&error), prompt: reply::prompt(&error, &d.media), error }
        } else {
            e.engine.answer(&d)
        };
        clear(out);
        let (action, code) = match reply {
            Reply::Hold { music, exit_key, announce, .. } => {
                put_hold(&*e.host, &music, exit_key, announce.as_deref(), &mut out.hold);
                (cp_action::Parked, cp_result::Ok)
            }
            Reply::Bridged => (cp_action::Bridged, cp_result::Ok),
            Reply::End => (cp_action::End, cp_result::Ok),
            Reply::SendBack { tenant, user, prompt, error } => {
                put(&tenant, &mut out.tenant);
                put(&user, &mut out.user);
                put(prompt_that_fits(&*e.host, &prompt), &mut out.prompt);
                (cp_action::SentBack, cp_result::from(&error))
            }
            Reply::Refuse { cause, prompt, error } => {
                put(prompt_that_fits(&*e.host, &prompt), &mut out.prompt);
                out.hangup_cause = cause as u32;
                (cp_action::None, not_utf8.unwrap_or_else(|| cp_result::from(&error)))
            }
        };
        out.action = action;
        out.code = code;
        code
    })
}
