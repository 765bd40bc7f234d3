//! C to Rust: the `cp_*` functions the host calls.
//!
//! Handles are opaque. A `cp_config` is a shared read-only snapshot; a `cp_engine` is
//! owned by the host until `cp_engine_free`. Both are looked up in a registry on every
//! call, so an unknown or freed handle is `CP_RESULT_INVALID_HANDLE`, not a crash, and
//! an engine freed while another thread is inside it goes away when that call returns.
//! Every function may be called from any thread.

use std::collections::HashMap;
use std::ffi::c_char;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;

use super::hold::{cp_hold_running, runs};
use super::host::{cp_host, CHost};
use super::{boundary, cp_result, opt_str_arg, str_arg, write_out, write_truncated};
use crate::clock::ManualClock;
use crate::config::{self, Config};
use crate::engine::{secs_since, AdoptRequest, Adoption, AfterAdopt, Engine, Timing};
use crate::host::{Host, LogLevel};
use crate::listing;

/// A validated configuration (opaque; a shared read-only snapshot).
pub struct cp_config {
    _private: [u8; 0],
}

/// A call-park engine (opaque; owned by the host).
pub struct cp_engine {
    _private: [u8; 0],
}

/// Listing formats.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cp_format {
    Text = 0,
    Json = 1,
    /// The lamps the listed calls light, one per line, `<tenant> park+<target>` (a
    /// slot and its group each once): the snapshot a host keeps across an unload and
    /// hands back to `cp_engine_relight` after the next load.
    Lamps = 2,
}

/// `cp_engine_new` flag: time moves only through `cp_engine_advance`, and timers fire
/// on the thread that calls it (tests, or a host that drives timers itself).
pub const CP_ENGINE_MANUAL_CLOCK: u32 = 1;

/// A call the switch still holds parked, handed back to a new engine (after a module
/// reload): see `cp_engine_adopt`.
#[repr(C)]
pub struct cp_adopt {
    /// The tenant, the channel's uuid, the extension it is parked at and its parking user
    /// (all required).
    pub tenant: *const c_char,
    pub uuid: *const c_char,
    pub extension: *const c_char,
    pub parking_user: *const c_char,
    /// The caller's number and name, or NULL.
    pub caller_number: *const c_char,
    pub caller_name: *const c_char,
    /// When it was parked, as the channel remembers it (seconds since 1970, a decimal
    /// string; NULL or anything else: just now), and the switch's clock now.
    pub parked_epoch: *const c_char,
    pub now_epoch: u64,
    /// The channel's `callpark_timeout` (its own recall time, `0`: never), or NULL.
    pub timeout: *const c_char,
    /// Why it is handed back.
    pub why: cp_adoption,
    /// After a load: what it runs now (NULL: nothing, as for a bridged channel), for the
    /// library to say whether it is still in the park's hold. Not read for a leg left
    /// alone.
    pub running: *const cp_hold_running,
    /// It was parked with an exit key (`callpark_exit_key` after a load, kept through
    /// the plain hold; `callpark_parked_exit_key` for a leg left alone, whose hold
    /// cleared the other).
    pub exit_key: bool,
}

/// Why a parked channel is handed back to the library (`engine::Adoption`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cp_adoption {
    /// After a load: marked parked (`callpark_parked`) since before an unload.
    AfterLoad = 0,
    /// Left waiting by the bridge that was to take it out of the park (`cp_stranded_leg`).
    LeftAlone = 1,
}

/// What the module does with a channel handed back (`engine::AfterAdopt`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cp_after_adopt {
    /// Leave it as it is.
    Nothing = 0,
    /// The park's hold (`cp_hold_plan_of`), with its music and exit key.
    Hold = 1,
    /// The plain hold (its music, no exit key), `callpark_parked` set: the next load
    /// adopts it.
    PlainHold = 2,
    /// No longer parked: clear `callpark_parked`.
    NotParked = 3,
}

impl From<AfterAdopt> for cp_after_adopt {
    fn from(a: AfterAdopt) -> Self {
        match a {
            AfterAdopt::Nothing => cp_after_adopt::Nothing,
            AfterAdopt::Hold => cp_after_adopt::Hold,
            AfterAdopt::PlainHold => cp_after_adopt::PlainHold,
            AfterAdopt::NotParked => cp_after_adopt::NotParked,
        }
    }
}

struct Registry<T> {
    next: AtomicUsize,
    live: RwLock<HashMap<usize, Arc<T>>>,
}

impl<T> Registry<T> {
    fn new() -> Self {
        Registry { next: AtomicUsize::new(1), live: RwLock::new(HashMap::new()) }
    }
    fn add(&self, v: T) -> usize {
        // Handles are even, non-zero, never reused, and never dereferenced.
        let id = self.next.fetch_add(1, Ordering::Relaxed) * 16;
        self.live.write().insert(id, Arc::new(v));
        id
    }
    fn get(&self, id: usize) -> Result<Arc<T>, cp_result> {
        if id == 0 {
            return Err(cp_result::NullParameter);
        }
        self.live.read().get(&id).cloned().ok_or(cp_result::InvalidHandle)
    }
    fn remove(&self, id: usize) -> Option<Arc<T>> {
        self.live.write().remove(&id)
    }
}

static CONFIGS: LazyLock<Registry<Config>> = LazyLock::new(Registry::new);
static ENGINES: LazyLock<Registry<EngineEntry>> = LazyLock::new(Registry::new);

pub(super) struct EngineEntry {
    pub(super) engine: Engine,
    pub(super) host: Arc<CHost>,
}

macro_rules! try_ffi {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(code) => return code,
        }
    };
}

fn engine(e: *const cp_engine) -> Result<Arc<EngineEntry>, cp_result> {
    ENGINES.get(e as usize)
}

/// Runs an engine call inside the panic boundary, logging a panic through the host.
/// The handle is looked up once: the entry found is held for the whole call, so an
/// engine freed meanwhile by another thread stays alive until the call returns.
pub(super) fn with_engine(name: &str, e: *const cp_engine, f: impl FnOnce(&EngineEntry) -> cp_result) -> cp_result {
    let mut found = None;
    let code = boundary(name, None, || match engine(e) {
        Ok(entry) => {
            found = Some(entry);
            cp_result::Ok
        }
        Err(code) => code,
    });
    let Some(entry) = found else { return code };
    let host = entry.host.clone();
    let log = move |line: &str| host.log(LogLevel::Error, line);
    boundary(name, Some(&log), || f(&entry))
}

/// The library's version, a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn cp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Writes the text of `code` into `buf` (`len` bytes), NUL-terminated, cut to fit.
/// `*out_n` (may be NULL) gets the bytes written without the NUL.
///
/// # Safety
/// `buf` is NULL or valid for `len` bytes; `out_n` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn cp_result_message(code: u32, buf: *mut c_char, len: usize, out_n: *mut usize) -> cp_result {
    boundary("cp_result_message", None, || {
        if buf.is_null() {
            return cp_result::NullParameter;
        }
        let text = cp_result::from_u32(code).map_or("unknown result code", |r| r.message());
        write_truncated(text, buf, len, out_n);
        cp_result::Ok
    })
}

/// Parses and validates `xml` (`xml_len` bytes, UTF-8, no NUL needed). `source` names
/// it in error messages. On success `*config_out` gets a new handle (free it with
/// `cp_config_free`). With `CP_RESULT_CONFIG_INVALID`, every error, one a line, is
/// written into `err_buf` (cut to fit) and `*err_n` gets its length; `err_buf` and
/// `err_n` may be NULL.
///
/// # Safety
/// `source` is a NUL-terminated string; `xml` is valid for `xml_len` bytes; `err_buf`
/// is NULL or valid for `err_len` bytes; `config_out` and `err_n` are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn cp_config_parse(
    source: *const c_char,
    xml: *const c_char,
    xml_len: usize,
    config_out: *mut *const cp_config,
    err_buf: *mut c_char,
    err_len: usize,
    err_n: *mut usize,
) -> cp_result {
    boundary("cp_config_parse", None, || {
        if xml.is_null() || config_out.is_null() {
            return cp_result::NullParameter;
        }
        let source = try_ffi!(str_arg(source));
        let bytes = std::slice::from_raw_parts(xml.cast::<u8>(), xml_len);
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("{source}: not UTF-8 at byte {}", e.valid_up_to());
                write_truncated(&msg, err_buf, err_len, err_n);
                return cp_result::InvalidUtf8;
            }
        };
        match config::from_xml(source, text) {
            Ok(c) => {
                *config_out = CONFIGS.add(c) as *const cp_config;
                cp_result::Ok
            }
            Err(errors) => {
                write_truncated(&errors.to_string(), err_buf, err_len, err_n);
                cp_result::ConfigInvalid
            }
        }
    })
}

/// Frees a configuration handle. NULL and unknown handles are ignored.
#[no_mangle]
pub extern "C" fn cp_config_free(config: *const cp_config) {
    boundary("cp_config_free", None, || {
        CONFIGS.remove(config as usize);
        cp_result::Ok
    });
}

/// Creates an engine with `config` (which the caller may free afterwards) and the
/// callbacks of `host` (copied; all required but `log`). `flags`: 0 or
/// `CP_ENGINE_MANUAL_CLOCK`. Without that flag the engine runs a timer thread, stopped
/// and joined by `cp_engine_free`.
///
/// # Safety
/// `host` is NULL or valid; `engine_out` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_new(
    host: *const cp_host,
    config: *const cp_config,
    flags: u32,
    engine_out: *mut *const cp_engine,
) -> cp_result {
    boundary("cp_engine_new", None, || {
        if host.is_null() || engine_out.is_null() {
            return cp_result::NullParameter;
        }
        let config = try_ffi!(CONFIGS.get(config as usize));
        let chost = match CHost::new(&*host) {
            Ok(h) => Arc::new(h),
            Err(missing) => {
                eprintln!("callpark: cp_engine_new: the host callback \"{missing}\" is NULL");
                return cp_result::NullParameter;
            }
        };
        if flags & !CP_ENGINE_MANUAL_CLOCK != 0 {
            return cp_result::InvalidArgument;
        }
        let timing = if flags & CP_ENGINE_MANUAL_CLOCK != 0 {
            Timing::Manual(Arc::new(ManualClock::default()))
        } else {
            Timing::Thread
        };
        // A shared store another running node uses under this node's name is refused:
        // the module does not load, and says why.
        let engine = match Engine::try_new((*config).clone(), chost.clone() as Arc<dyn Host>, timing) {
            Ok(e) => e,
            Err((e, _)) => {
                chost.log(LogLevel::Error, &format!("callpark: {e}"));
                return cp_result::NodeNameTaken;
            }
        };
        *engine_out = ENGINES.add(EngineEntry { engine, host: chost }) as *const cp_engine;
        cp_result::Ok
    })
}

/// Stops the engine's timer thread and frees it. Parked calls are forgotten: the host
/// keeps their channels. NULL and unknown handles are ignored.
#[no_mangle]
pub extern "C" fn cp_engine_free(engine: *const cp_engine) {
    boundary("cp_engine_free", None, || {
        drop(ENGINES.remove(engine as usize));
        cp_result::Ok
    });
}

/// Swaps in `config`. Parked calls stay, with the recall timers they were given.
#[no_mangle]
pub extern "C" fn cp_engine_reload(engine: *const cp_engine, config: *const cp_config) -> cp_result {
    with_engine("cp_engine_reload", engine, |e| {
        let config = try_ffi!(CONFIGS.get(config as usize));
        e.engine.reload((*config).clone());
        cp_result::Ok
    })
}

/// Takes back a channel the switch holds parked, for `adopt->why`, and says in `*then`
/// (when not NULL) what the module does with it next. A channel still in the park's hold
/// (after a load), or left alone, is parked again where it was, keeps its park time,
/// lights its lamps, and is recalled when its recall time (counted from the original
/// park) lapses, at once if that has passed; nobody is messaged.
/// `CP_RESULT_ALREADY_PARKED` if it is; after a load, for a channel no longer in the hold,
/// `CP_RESULT_NOT_FOUND` and `*then` `CP_AFTER_ADOPT_NOT_PARKED`. On any failure `*then` is what keeps the
/// caller (never a hang-up).
///
/// # Safety
/// `adopt` is NULL or valid, its strings NULL or NUL-terminated, its `running` NULL or
/// valid; `then` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_adopt(
    engine: *const cp_engine,
    adopt: *const cp_adopt,
    then: *mut cp_after_adopt,
) -> cp_result {
    let (why, exit_key) = match adopt.as_ref() {
        Some(a) => (a.why, a.exit_key),
        None => (cp_adoption::AfterLoad, false),
    };
    // What keeps the caller if the library answers nothing (a bad handle, a panic).
    let mut chosen = match why {
        cp_adoption::AfterLoad => Adoption::AfterLoad { in_hold: false },
        cp_adoption::LeftAlone => Adoption::LeftAlone,
    }
    .kept()
    .into();
    let r = with_engine("cp_engine_adopt", engine, |e| {
        let Some(a) = adopt.as_ref() else { return cp_result::NullParameter };
        let why = match a.why {
            cp_adoption::AfterLoad => {
                Adoption::AfterLoad { in_hold: a.running.as_ref().is_some_and(|r| runs(r, true)) }
            }
            cp_adoption::LeftAlone => Adoption::LeftAlone,
        };
        let req = AdoptRequest {
            tenant: try_ffi!(str_arg(a.tenant)),
            uuid: try_ffi!(str_arg(a.uuid)),
            extension: try_ffi!(str_arg(a.extension)),
            parking_user: try_ffi!(str_arg(a.parking_user)),
            caller_number: try_ffi!(opt_str_arg(a.caller_number)).unwrap_or(""),
            caller_name: try_ffi!(opt_str_arg(a.caller_name)).unwrap_or(""),
            parked_secs_ago: secs_since(try_ffi!(opt_str_arg(a.parked_epoch)), a.now_epoch),
            timeout: opt_str_arg(a.timeout).ok().flatten().unwrap_or(""),
        };
        let taken = e.engine.take_back(&req, why, exit_key);
        chosen = taken.then.into();
        match taken.result {
            None => cp_result::NotFound,
            Some(Ok(())) => cp_result::Ok,
            Some(Err(err)) => cp_result::from(&err),
        }
    });
    if let Some(t) = then.as_mut() {
        *t = chosen;
    }
    r
}

/// The parked channel `uuid` hung up. `CP_RESULT_NOT_FOUND` if it is not parked,
/// `CP_RESULT_ALREADY_TAKEN` if it is being retrieved (the retrieve cleans up).
///
/// # Safety
/// `uuid` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_hangup(engine: *const cp_engine, uuid: *const c_char) -> cp_result {
    with_engine("cp_engine_hangup", engine, |e| {
        let uuid = try_ffi!(str_arg(uuid));
        e.engine.hangup(uuid).map_or_else(|err| cp_result::from(&err), |()| cp_result::Ok)
    })
}

/// The hold music of `uuid` stopped, by `key` (NULL or empty: no key) or after
/// `played_ms` milliseconds of playing (negative: unknown). `*replay` says whether to
/// put the call back on its music (`Engine::music_stopped`: the exit key takes it to
/// its exit destination; music that ended plays again while the call is parked and
/// nobody is taking it; music that could not play goes on to silence).
///
/// # Safety
/// Strings NULL or NUL-terminated; `replay` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_music_stopped(
    engine: *const cp_engine,
    uuid: *const c_char,
    key: *const c_char,
    played_ms: i64,
    replay: *mut bool,
) -> cp_result {
    with_engine("cp_engine_music_stopped", engine, |e| {
        let uuid = try_ffi!(str_arg(uuid));
        let key = try_ffi!(opt_str_arg(key));
        if replay.is_null() {
            return cp_result::NullParameter;
        }
        let again = e.engine.music_stopped(uuid, key, u64::try_from(played_ms).ok());
        unsafe { *replay = again };
        cp_result::Ok
    })
}

/// Recall attempt `attempt` of `parked_uuid` was answered on `leg_uuid`. On
/// `CP_RESULT_OK` the engine has bridged them (`bridge` callback); otherwise the call
/// was taken by someone else or is gone, and the host hangs up `leg_uuid`.
///
/// # Safety
/// Strings NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_recall_answered(
    engine: *const cp_engine,
    parked_uuid: *const c_char,
    attempt: u32,
    leg_uuid: *const c_char,
) -> cp_result {
    with_engine("cp_engine_recall_answered", engine, |e| {
        let parked = try_ffi!(str_arg(parked_uuid));
        let leg = try_ffi!(str_arg(leg_uuid));
        e.engine.recall_answered(parked, attempt, leg).map_or_else(|err| cp_result::from(&err), |()| cp_result::Ok)
    })
}

/// Recall attempt `attempt` of `parked_uuid` ended without an answer (timeout, reject,
/// busy, unregistered): the policy goes on.
///
/// # Safety
/// `parked_uuid` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_recall_failed(
    engine: *const cp_engine,
    parked_uuid: *const c_char,
    attempt: u32,
) -> cp_result {
    with_engine("cp_engine_recall_failed", engine, |e| {
        let parked = try_ffi!(str_arg(parked_uuid));
        e.engine.recall_failed(parked, attempt).map_or_else(|err| cp_result::from(&err), |()| cp_result::Ok)
    })
}

/// A presence probe: publishes (through `presence`) the state of `target`
/// (`park+102`, `102`, `park+sales`) of `tenant`, marked for `subscriber` (may be NULL).
///
/// # Safety
/// Strings NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_probe(
    engine: *const cp_engine,
    tenant: *const c_char,
    target: *const c_char,
    subscriber: *const c_char,
) -> cp_result {
    with_engine("cp_engine_probe", engine, |e| {
        let tenant = try_ffi!(str_arg(tenant));
        let target = try_ffi!(str_arg(target));
        let subscriber = try_ffi!(opt_str_arg(subscriber));
        e.engine.probe(tenant, target, subscriber).map_or_else(|err| cp_result::from(&err), |()| cp_result::Ok)
    })
}

/// Publishes, as they are now, the lamps of a `CP_FORMAT_LAMPS` listing kept from
/// before an unload (`text`), so that the lamp of a call that left the park meanwhile
/// goes out. Lines it cannot read are skipped.
///
/// # Safety
/// `text` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_relight(engine: *const cp_engine, text: *const c_char) -> cp_result {
    with_engine("cp_engine_relight", engine, |e| {
        let text = try_ffi!(opt_str_arg(text)).unwrap_or("");
        e.engine.relight(text);
        cp_result::Ok
    })
}

/// Lists parked calls of `tenant` (NULL: every tenant) into `buf` (see `write_out`
/// conventions: on `CP_RESULT_BUFFER_TOO_SMALL`, `*out_n` is the size needed).
///
/// # Safety
/// `tenant` NULL or NUL-terminated; `buf` valid for `len` bytes; `out_n` valid.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_list(
    engine: *const cp_engine,
    tenant: *const c_char,
    format: cp_format,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> cp_result {
    with_engine("cp_engine_list", engine, |e| {
        let tenant = try_ffi!(opt_str_arg(tenant));
        let calls = match e.engine.list(tenant) {
            Ok(c) => c,
            Err(err) => return cp_result::from(&err),
        };
        let text = match format {
            cp_format::Text => listing::text(&calls),
            cp_format::Json => listing::json(&calls),
            cp_format::Lamps => listing::lamps(&calls),
        };
        write_out(&text, buf, len, out_n)
    })
}

/// A short status text: parked calls, pending timers, configured tenants and groups,
/// and, where the library counts it (the `heap-count` feature), its heap use.
///
/// # Safety
/// `buf` valid for `len` bytes; `out_n` valid.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_status(
    engine: *const cp_engine,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> cp_result {
    with_engine("cp_engine_status", engine, |e| {
        let c = e.engine.config();
        let mut text = format!(
            "callpark {}: {} parked calls, {} pending timers, {} configured tenants, {} groups",
            env!("CARGO_PKG_VERSION"),
            e.engine.parked_count(),
            e.engine.pending_timers(),
            c.tenants().count(),
            c.group_count()
        );
        if let Some(bytes) = crate::heap::bytes_in_use() {
            text.push_str(&format!("; heap {bytes} bytes"));
        }
        text.push_str(&crate::listing::store_status(&e.engine.store_status()));
        text.push('\n');
        write_out(&text, buf, len, out_n)
    })
}

/// With `CP_ENGINE_MANUAL_CLOCK`: moves time forward `ms` milliseconds, firing due
/// timers on this thread. Otherwise `CP_RESULT_NOT_SUPPORTED`.
#[no_mangle]
pub extern "C" fn cp_engine_advance(engine: *const cp_engine, ms: u64) -> cp_result {
    with_engine(
        "cp_engine_advance",
        engine,
        |e| if e.engine.advance(ms) { cp_result::Ok } else { cp_result::NotSupported },
    )
}

/// The host is about to unload: no timer moves a call on and no recall outcome counts
/// from now on (recall legs the unload hangs up are no "no answer"), so that every parked
/// call stays as it is for the next load to adopt. Call it before stopping the recalls;
/// `cp_engine_free` follows.
#[no_mangle]
pub extern "C" fn cp_engine_quiesce(engine: *const cp_engine) -> cp_result {
    with_engine("cp_engine_quiesce", engine, |e| {
        e.engine.quiesce();
        cp_result::Ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_code_round_trips() {
        let mut found = 0;
        for code in 0..1000u32 {
            if let Some(r) = cp_result::from_u32(code) {
                assert_eq!(r as u32, code);
                assert!(!r.message().is_empty());
                found += 1;
            }
        }
        assert_eq!(found, cp_result::ALL.len());
        assert!(cp_result::ALL.iter().all(|r| cp_result::from_u32(*r as u32) == Some(*r)));
        assert_eq!(cp_result::from_u32(999), None);
    }

    #[test]
    fn a_panic_becomes_a_result_code_and_a_log_line() {
        let logged = std::sync::Mutex::new(Vec::<String>::new());
        let log = |l: &str| logged.lock().unwrap().push(l.to_string());
        let r = boundary("test", Some(&log), || panic!("forced"));
        assert_eq!(r, cp_result::Panic);
        let lines = logged.lock().unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("panic caught in test: forced"), "{lines:?}");
    }

    #[test]
    fn unknown_handles_are_result_codes() {
        let bogus = 0x7777_7770usize as *const cp_engine;
        assert_eq!(cp_engine_advance(bogus, 1), cp_result::InvalidHandle);
        assert_eq!(cp_engine_advance(std::ptr::null(), 1), cp_result::NullParameter);
        assert_eq!(cp_engine_reload(bogus, std::ptr::null()), cp_result::InvalidHandle);
        cp_engine_free(bogus);
        cp_config_free(bogus as *const cp_config);
    }
}
