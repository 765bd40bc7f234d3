//! The parked channel's life (C to Rust): the hold's steps for the module to run,
//! whether what a parked channel runs is that hold (src/hold.rs decides both), and
//! whether a leg was left waiting by a bridge that never comes (src/stranded.rs).

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use super::{boundary, cp_result, opt_str_arg, write_truncated};
use crate::hold::{self, Running};
use crate::stranded::{stranded, Stranded, Waiting};

/// One step of the hold: an application and its data (channel variables unexpanded).
#[repr(C)]
pub struct cp_hold_step {
    pub app: *const c_char,
    pub data: *const c_char,
}

/// The hold's steps, and the same as an inline extension's text (`app:data,...`).
#[repr(C)]
pub struct cp_hold_plan {
    pub steps: *const cp_hold_step,
    pub n: usize,
    pub inline_text: *const c_char,
}

struct Plan {
    _strings: Vec<CString>,
    steps: Vec<cp_hold_step>,
    inline: CString,
}

// The pointers point into the plan's own strings, which never change or move.
unsafe impl Send for Plan {}
unsafe impl Sync for Plan {}

fn plan(announce: bool, exit_key: bool) -> Plan {
    let steps = hold::steps(announce, exit_key);
    let strings: Vec<CString> = steps
        .iter()
        .flat_map(|s| [s.app.to_string(), s.data.clone()])
        .map(|s| CString::new(s).unwrap_or_default())
        .collect();
    let cs = strings.chunks(2).map(|p| cp_hold_step { app: p[0].as_ptr(), data: p[1].as_ptr() }).collect();
    Plan { _strings: strings, steps: cs, inline: CString::new(hold::inline(&steps)).unwrap_or_default() }
}

/// The hold of a call with (or without) an announcement and an exit key: a static plan,
/// valid for the life of the process.
#[no_mangle]
pub extern "C" fn cp_hold_plan_of(announce: bool, exit_key: bool) -> cp_hold_plan {
    static PLANS: OnceLock<[Plan; 4]> = OnceLock::new();
    let plans = PLANS.get_or_init(|| [plan(false, false), plan(false, true), plan(true, false), plan(true, true)]);
    let p = &plans[usize::from(announce) * 2 + usize::from(exit_key)];
    cp_hold_plan { steps: p.steps.as_ptr(), n: p.steps.len(), inline_text: p.inline.as_ptr() }
}

/// What a parked channel runs, as the switch reports it (any field NULL: empty).
#[repr(C)]
pub struct cp_hold_running {
    /// Its caller profile now: index, dialplan, context, destination number.
    pub profile_index: *const c_char,
    pub dialplan: *const c_char,
    pub context: *const c_char,
    pub destination: *const c_char,
    /// What `cp_hold_profile_key` gave when the hold began in place (its variable).
    pub held_in: *const c_char,
    /// The application it runs and its data, as the switch expanded it.
    pub app: *const c_char,
    pub data: *const c_char,
    /// The channel's hold music and announcement variables.
    pub music: *const c_char,
    pub announce: *const c_char,
    /// Its `callpark_answering` variable is true: the park is answering it.
    pub answering: bool,
}

unsafe fn text<'a>(p: *const c_char) -> &'a str {
    opt_str_arg(p).ok().flatten().unwrap_or("")
}

/// Whether `r` is still in the park (`hold::in_park`): it runs the park's hold, the park
/// is answering it, or (when `on_way` is true) it is on its way to the hold. False for
/// NULL.
///
/// # Safety
/// `r` NULL or valid, its strings NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn cp_hold_runs(r: *const cp_hold_running, on_way: bool) -> bool {
    let mut yes = false;
    boundary("cp_hold_runs", None, || {
        let Some(r) = r.as_ref() else { return cp_result::NullParameter };
        yes = runs(r, on_way);
        cp_result::Ok
    });
    yes
}

/// `cp_hold_runs` of a valid `r`.
///
/// # Safety
/// `r`'s strings NULL or NUL-terminated.
pub(super) unsafe fn runs(r: &cp_hold_running, on_way: bool) -> bool {
    let profile = hold::profile_key(text(r.profile_index), text(r.dialplan), text(r.context), text(r.destination));
    let running = Running {
        dialplan: text(r.dialplan),
        destination: text(r.destination),
        profile: &profile,
        held_in: text(r.held_in),
        app: text(r.app),
        data: text(r.data),
        music: text(r.music),
        announce: text(r.announce),
        answering: r.answering,
    };
    hold::in_park(&running, on_way)
}

/// What the switch knows of a leg when another hung up (`stranded::Waiting`; strings
/// NULL: empty).
#[repr(C)]
pub struct cp_waiting {
    pub up: bool,
    pub bridged: bool,
    /// Its state's name (`switch_channel_state_name`).
    pub state: *const c_char,
    /// Its `signal_bond` and `last_bridge_to` variables.
    pub bond: *const c_char,
    pub last_bridge: *const c_char,
    /// The uuid of the leg that hung up.
    pub gone: *const c_char,
    /// It has a slot (`callpark_slot`): it was parked.
    pub parked: bool,
}

/// What becomes of a leg when the one it may have waited for hung up (`stranded::Stranded`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cp_stranded {
    /// Nothing: it waits for nobody.
    No = 0,
    /// Back into the park as it was: `cp_engine_adopt` with `CP_ADOPTION_LEFT_ALONE`.
    BackToPark = 1,
    /// Hang it up.
    HangUp = 2,
}

/// Whether `w` was left waiting by the leg that hung up, and what becomes of it
/// (src/stranded.rs). `CP_STRANDED_NO` for NULL.
///
/// # Safety
/// `w` NULL or valid, its strings NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn cp_stranded_leg(w: *const cp_waiting) -> cp_stranded {
    let mut what = cp_stranded::No;
    boundary("cp_stranded_leg", None, || {
        let Some(w) = w.as_ref() else { return cp_result::NullParameter };
        let waiting = Waiting {
            up: w.up,
            bridged: w.bridged,
            state: text(w.state),
            bond: text(w.bond),
            last_bridge: text(w.last_bridge),
            gone: text(w.gone),
            parked: w.parked,
        };
        what = match stranded(&waiting) {
            Stranded::No => cp_stranded::No,
            Stranded::BackToPark => cp_stranded::BackToPark,
            Stranded::HangUp => cp_stranded::HangUp,
        };
        cp_result::Ok
    });
    what
}

/// The key of a caller profile (index, dialplan, context, destination number) that the
/// module records when a hold begins in place, for `cp_hold_runs`'s `held_in`; cut to
/// `len` bytes with its NUL.
///
/// # Safety
/// Strings NULL or NUL-terminated; `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn cp_hold_profile_key(
    index: *const c_char,
    dialplan: *const c_char,
    context: *const c_char,
    destination: *const c_char,
    buf: *mut c_char,
    len: usize,
) {
    let _ = boundary("cp_hold_profile_key", None, || {
        let key = hold::profile_key(text(index), text(dialplan), text(context), text(destination));
        write_truncated(&key, buf, len, std::ptr::null_mut());
        cp_result::Ok
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn the_plans_as_c_sees_them() {
        let p = cp_hold_plan_of(true, false);
        assert_eq!(p.n, 3);
        let first = unsafe { &*p.steps };
        assert_eq!(unsafe { CStr::from_ptr(first.app) }.to_str().unwrap(), "say");
        assert_eq!(
            unsafe { CStr::from_ptr(p.inline_text) }.to_str().unwrap(),
            "say:${callpark_announce},endless_playback:${callpark_hold_music},endless_playback:silence_stream://-1"
        );
        assert!(!unsafe { cp_hold_runs(std::ptr::null(), true) });
    }
}
