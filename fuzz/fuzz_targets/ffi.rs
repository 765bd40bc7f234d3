//! The C ABI, called through Rust the way a C host calls it: byte strings that may be
//! NULL, empty, cut at a NUL or not UTF-8, stale and made-up handles, small buffers.
//!
//! Invariant: no call returns `CP_RESULT_PANIC` (a panic caught at the boundary is a
//! bug in callpark). libfuzzer-sys's panic hook aborts on any panic before it unwinds,
//! so such a panic stops the fuzzer with its own message and stack, inside `boundary`. Also checked: output buffers are NUL-terminated within their
//! length and `*out_n` is the length written; `CP_RESULT_BUFFER_TOO_SMALL` gives a size
//! that then suffices; the callbacks get non-NULL, NUL-terminated strings where the
//! header promises them.
//!
//! The input is a readable script, one call a line, fields separated by single spaces;
//! a field is raw bytes (not necessarily UTF-8), cut at a NUL; `-` is NULL and `~` the
//! empty string. An optional line `--` ends the script: the bytes after it are the
//! XML that `parse` hands to `cp_config_parse` (without it, a fixed valid configuration).
//!
//! ```text
//! parse <source> [<xml-len>] [<err-len>|-]    parse-fixed
//! new [<flags>] [cur|fixed|stale|null|<n>] [<callback-to-null>]
//! handle cur|stale|null|<n>                   (the engine handle later calls use)
//! dial <tenant> <uuid> <dialed> [<user> <transferor> <number> <name>]    dial-null
//! hangup <uuid>     answered <uuid> <attempt> <leg>     failed <uuid> <attempt>
//! probe <tenant> <target> [<subscriber>]      list [<tenant>] [json] [<len>]
//! status [<len>]    advance <ms>    message <code> [<len>]    reload [cur|fixed|stale|null]
//! faults <bits>     free-engine     free-config
//! command <line> [<err-len>|-]                (`~` for a space: the line is one field;
//!                                               an operator's command is carried out)
//! exit <uuid> <key>
//! ```
//! A number may be `max` (`u64::MAX`).
#![no_main]

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::LazyLock;

use callpark::ffi::api::{self, cp_config, cp_engine, cp_format, CP_ENGINE_MANUAL_CLOCK};
use callpark::ffi::command;
use callpark::ffi::cp_result;
use callpark::ffi::dial::{
    self, cp_action, cp_dial, cp_dial_result, cp_hold_terms, cp_leg, CP_DIAL_NAME_SIZE, CP_DIAL_TEXT_SIZE,
};
use callpark::ffi::host::{cp_event, cp_host, cp_joining, cp_log_level, cp_presence, cp_ring};
use libfuzzer_sys::fuzz_target;

const FIXED: &str = r##"<configuration name="callpark.conf">
  <settings><param name="recall-time" value="5"/><param name="ring-time" value="5"/>
    <param name="retry-interval" value="1"/><param name="recall-attempts" value="2"/></settings>
  <tenants>
    <tenant domain="acme.example">
      <settings><param name="notices" value="both"/></settings>
      <groups>
        <group name="sales" recall="parking-user-then-ring-group" alert-wait="5" ring-group="6000 XML acme.example" recall-alert-info="&lt;http://127.0.0.1/Bellcore-dr2&gt;">
          <member extension="101"/><member extension="102"/>
        </group>
        <group name="support" final-destination="6001" exit-key="#" exit-destination="6002"><member extension="103"/></group>
      </groups>
    </tenant>
  </tenants>
</configuration>"##;

struct Ctx {
    faults: u8,
}

unsafe fn req_str(what: &str, p: *const c_char) {
    assert!(!p.is_null(), "callback got NULL {what}");
    let _ = CStr::from_ptr(p).to_bytes().len();
}

unsafe fn opt_str(p: *const c_char) {
    if !p.is_null() {
        let _ = CStr::from_ptr(p).to_bytes().len();
    }
}

unsafe fn faults(ctx: *mut c_void) -> u8 {
    assert!(!ctx.is_null(), "callback got a NULL host_ctx");
    (*(ctx as *const Ctx)).faults
}

fn fail_if(on: bool, code: cp_result) -> cp_result {
    if on {
        code
    } else {
        cp_result::Ok
    }
}

unsafe extern "C" fn bridge(ctx: *mut c_void, uuid: *const c_char, parked: *const c_char, _: cp_joining) -> cp_result {
    req_str("bridge uuid", uuid);
    req_str("bridge parked_uuid", parked);
    let f = faults(ctx);
    if f & 1 != 0 {
        cp_result::NotFound
    } else {
        fail_if(f & 2 != 0, cp_result::BridgeFailed)
    }
}
unsafe extern "C" fn ring(ctx: *mut c_void, r: *const cp_ring) -> cp_result {
    assert!(!r.is_null());
    let r = &*r;
    for (w, p) in [
        ("parked_uuid", r.parked_uuid),
        ("tenant", r.tenant),
        ("extension", r.extension),
        ("caller_number", r.caller_number),
        ("caller_name", r.caller_name),
        ("alert_info", r.alert_info),
    ] {
        req_str(w, p);
    }
    let alert = CStr::from_ptr(r.alert_info).to_bytes();
    assert!(!alert.iter().any(|b| b",{}".contains(b)), "an Alert-Info that would break the dial string");
    fail_if(faults(ctx) & 4 != 0, cp_result::HostFailed)
}
unsafe extern "C" fn cancel_ring(ctx: *mut c_void, parked: *const c_char) {
    faults(ctx);
    req_str("cancel_ring parked_uuid", parked);
}
unsafe extern "C" fn transfer(
    ctx: *mut c_void,
    uuid: *const c_char,
    ext: *const c_char,
    dialplan: *const c_char,
    context: *const c_char,
) -> cp_result {
    for (w, p) in [("uuid", uuid), ("extension", ext), ("dialplan", dialplan), ("context", context)] {
        req_str(w, p);
    }
    fail_if(faults(ctx) & 16 != 0, cp_result::HostFailed)
}
unsafe extern "C" fn presence(ctx: *mut c_void, p: *const cp_presence) {
    faults(ctx);
    assert!(!p.is_null());
    let p = &*p;
    for (w, s) in [
        ("tenant", p.tenant),
        ("target", p.target),
        ("oldest_uuid", p.oldest_uuid),
        ("caller_number", p.caller_number),
        ("caller_name", p.caller_name),
    ] {
        req_str(w, s);
    }
    opt_str(p.subscriber);
}
unsafe extern "C" fn message(ctx: *mut c_void, tenant: *const c_char, ext: *const c_char, text: *const c_char) {
    faults(ctx);
    for (w, p) in [("tenant", tenant), ("extension", ext), ("text", text)] {
        req_str(w, p);
    }
}
unsafe extern "C" fn event(ctx: *mut c_void, e: *const cp_event) {
    faults(ctx);
    assert!(!e.is_null());
    let e = &*e;
    for (w, p) in [
        ("action_name", e.action_name),
        ("tenant", e.tenant),
        ("extension", e.extension),
        ("uuid", e.uuid),
        ("parking_user", e.parking_user),
        ("caller_number", e.caller_number),
        ("caller_name", e.caller_name),
    ] {
        req_str(w, p);
    }
    for p in [e.group, e.other_uuid, e.detail] {
        opt_str(p);
    }
}
unsafe extern "C" fn user_exists(ctx: *mut c_void, tenant: *const c_char, ext: *const c_char) -> bool {
    req_str("tenant", tenant);
    req_str("extension", ext);
    faults(ctx) & 64 == 0
}
unsafe extern "C" fn sip_notify(
    ctx: *mut c_void,
    tenant: *const c_char,
    ext: *const c_char,
    event: *const c_char,
    content_type: *const c_char,
    body: *const c_char,
) {
    faults(ctx);
    for (w, p) in
        [("tenant", tenant), ("extension", ext), ("event", event), ("content_type", content_type), ("body", body)]
    {
        req_str(w, p);
    }
}
unsafe extern "C" fn log(ctx: *mut c_void, _level: cp_log_level, m: *const c_char) {
    faults(ctx);
    req_str("log message", m);
}

fn host_table(ctx: *mut c_void, null_cb: Option<u64>) -> cp_host {
    let mut h = cp_host {
        host_ctx: ctx,
        bridge: Some(bridge),
        ring: Some(ring),
        cancel_ring: Some(cancel_ring),
        transfer: Some(transfer),
        presence: Some(presence),
        message: Some(message),
        event: Some(event),
        user_exists: Some(user_exists),
        log: Some(log),
        sip_notify: Some(sip_notify),
        bridge_to_node: None,
        contacts: None,
        operate: None,
        redirect_to_node: None,
    };
    match null_cb {
        Some(1) => h.bridge = None,
        Some(2) => h.ring = None,
        Some(3) => h.cancel_ring = None,
        Some(4) => h.transfer = None,
        Some(6) => h.presence = None,
        Some(7) => h.message = None,
        Some(8) => h.event = None,
        Some(9) => h.user_exists = None,
        Some(10) => h.log = None,
        Some(11) => h.sip_notify = None,
        _ => {}
    }
    h
}

/// A field: NULL (`-`), empty (`~`) or the bytes up to the first NUL.
fn field(b: Option<&[u8]>) -> Option<CString> {
    match b {
        None | Some(b"-") => None,
        Some(b"~") => Some(CString::default()),
        Some(b) => {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            Some(CString::new(&b[..end]).expect("cut at the first NUL"))
        }
    }
}

fn p(c: &Option<CString>) -> *const c_char {
    c.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

/// A number; `max` is `u64::MAX` (cut to the parameter's type where it is narrower).
fn num(b: Option<&[u8]>) -> Option<u64> {
    match b? {
        b"max" => Some(u64::MAX),
        b => std::str::from_utf8(b).ok()?.trim().parse().ok(),
    }
}

/// A `cp_command` as C declares one before a call fills it in.
fn blank_command() -> command::cp_command {
    command::cp_command {
        kind: command::cp_command_kind::Status,
        format: cp_format::Text,
        tenant: [0; command::CP_COMMAND_TENANT_SIZE],
        uuid: [0; command::CP_COMMAND_WORD_SIZE],
        extension: [0; command::CP_COMMAND_WORD_SIZE],
        user: [0; command::CP_COMMAND_WORD_SIZE],
        local: false,
        timeout: -1,
    }
}

fn ok(name: &str, r: cp_result) -> cp_result {
    assert_ne!(r, cp_result::Panic, "{name} returned CP_RESULT_PANIC");
    r
}

/// `CALLPARK_FUZZ_ALLOW_NUL=1` tolerates a NUL inside a message written to a C buffer
/// (the C side sees it cut short, and `*out_n` disagrees with `strlen`). Found by this
/// target: `cp_config_parse` copies roxmltree's "expected a whitespace not '\0'" verbatim.
/// Set it only to look for other bugs while that one is open.
static ALLOW_NUL: LazyLock<bool> = LazyLock::new(|| std::env::var_os("CALLPARK_FUZZ_ALLOW_NUL").is_some());

/// Checks a `write_truncated` output: `buf[n]` is its NUL, within `len`, and (C reads
/// it with `strlen`) there is no NUL before it.
fn check_truncated(name: &str, buf: &[u8], n: usize, n_set: bool) {
    if buf.is_empty() {
        return;
    }
    let nul = buf.iter().position(|&c| c == 0).unwrap_or_else(|| panic!("{name}: output not NUL-terminated"));
    if n_set {
        assert!(n < buf.len() && buf[n] == 0, "{name}: *out_n {n} is not where the NUL was written");
        if !*ALLOW_NUL {
            assert_eq!(
                n,
                nul,
                "{name}: a NUL inside the message written to C: {:?}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
    }
}

/// Calls a `write_out` function with `len` bytes; on BUFFER_TOO_SMALL, again with the
/// size it asked for, which must then do.
fn with_buffer(name: &str, len: usize, f: impl Fn(*mut c_char, usize, *mut usize) -> cp_result) {
    let mut buf = vec![0xffu8; len];
    let mut n = usize::MAX;
    let r = ok(name, f(buf.as_mut_ptr().cast(), len, &mut n));
    match r {
        cp_result::Ok => {
            assert!(n < len && buf[n] == 0, "{name}: *out_n {n} does not point at the NUL (len {len})");
            assert!(!buf[..n].contains(&0), "{name}: a NUL inside the output");
            assert!(std::str::from_utf8(&buf[..n]).is_ok(), "{name}: output is not UTF-8");
        }
        cp_result::BufferTooSmall => {
            assert!(n > len, "{name}: BUFFER_TOO_SMALL asks for {n} bytes, had {len}");
            let mut big = vec![0xffu8; n];
            let mut m = usize::MAX;
            let r2 = ok(name, f(big.as_mut_ptr().cast(), n, &mut m));
            // The state may not change between the two calls: nothing else runs.
            assert_eq!(r2, cp_result::Ok, "{name}: the size BUFFER_TOO_SMALL gave does not do");
            assert_eq!(m + 1, n);
        }
        _ => {}
    }
}

struct State {
    ctx: Box<Ctx>,
    config: *const cp_config,
    fixed: *const cp_config,
    engines: Vec<*const cp_engine>,
    stale_engines: Vec<*const cp_engine>,
    stale_configs: Vec<*const cp_config>,
    handle: *const cp_engine,
}

impl State {
    fn config_handle(&self, which: Option<&[u8]>) -> *const cp_config {
        match which {
            None | Some(b"cur") => self.config,
            Some(b"fixed") => self.fixed,
            Some(b"stale") => self.stale_configs.last().copied().unwrap_or(0x7777_7770 as *const cp_config),
            Some(b"null") => ptr::null(),
            w => num(w).unwrap_or(0) as usize as *const cp_config,
        }
    }
}

fn parse(
    source: &Option<CString>,
    xml: &[u8],
    xml_len: usize,
    err_len: Option<usize>,
) -> (cp_result, *const cp_config) {
    let mut out: *const cp_config = ptr::null();
    let mut err = vec![0xffu8; err_len.unwrap_or(0)];
    let mut n = usize::MAX;
    let errp = if err_len.is_some() { err.as_mut_ptr().cast() } else { ptr::null_mut() };
    let r = ok("cp_config_parse", unsafe {
        api::cp_config_parse(p(source), xml.as_ptr().cast(), xml_len, &mut out, errp, err.len(), &mut n)
    });
    // INVALID_UTF8 from a bad `source` writes nothing; from bad XML it writes a message.
    let written = r == cp_result::ConfigInvalid || (r == cp_result::InvalidUtf8 && n != usize::MAX);
    if written && err_len.is_some() {
        check_truncated("cp_config_parse", &err, n, !err.is_empty());
    }
    assert_eq!(r == cp_result::Ok, !out.is_null(), "cp_config_parse: result {r:?} and handle {out:?} disagree");
    (r, out)
}

/// The fixed configuration, parsed once for the whole run (never freed).
static FIXED_HANDLE: LazyLock<usize> = LazyLock::new(|| {
    let src = Some(CString::new("fixed.xml").unwrap());
    let (r, h) = parse(&src, FIXED.as_bytes(), FIXED.len(), Some(64));
    assert_eq!(r, cp_result::Ok);
    h as usize
});

fuzz_target!(|data: &[u8]| {
    let (script, xml) = match data.windows(4).position(|w| w == b"\n--\n") {
        Some(i) => (&data[..i], Some(&data[i + 4..])),
        None => (data, None),
    };
    let mut st = State {
        ctx: Box::new(Ctx { faults: 0 }),
        config: ptr::null(),
        fixed: ptr::null(),
        engines: Vec::new(),
        stale_engines: Vec::new(),
        stale_configs: Vec::new(),
        handle: ptr::null(),
    };
    let src = Some(CString::new("fixed.xml").unwrap());
    st.fixed = *FIXED_HANDLE as *const cp_config;
    st.config = st.fixed;

    for line in script.split(|&b| b == b'\n').take(100) {
        let mut f = line.splitn(8, |&b| b == b' ');
        let op = f.next().unwrap_or(b"");
        match op {
            b"parse" | b"parse-fixed" => {
                let source = if op == b"parse" { field(f.next()) } else { src.clone() };
                let text = match (op, xml) {
                    (b"parse", Some(x)) => x,
                    _ => FIXED.as_bytes(),
                };
                let len = num(f.next()).map_or(text.len(), |l| (l as usize).min(text.len()));
                let err_len = match f.next() {
                    Some(b"-") => None,
                    b => Some(num(b).unwrap_or(256).min(1 << 16) as usize),
                };
                let (r, h) = parse(&source, text, len, err_len);
                if r == cp_result::Ok {
                    if st.config != st.fixed {
                        api::cp_config_free(st.config);
                        st.stale_configs.push(st.config);
                    }
                    st.config = h;
                }
            }
            b"new" => {
                let flags = num(f.next()).unwrap_or(1) as u32;
                // Only engines with the manual clock: no timer thread, no wall time.
                let flags = if flags & !CP_ENGINE_MANUAL_CLOCK == 0 { CP_ENGINE_MANUAL_CLOCK } else { flags };
                let cfg = st.config_handle(f.next());
                let host = host_table(&mut *st.ctx as *mut Ctx as *mut c_void, num(f.next()));
                let mut out: *const cp_engine = ptr::null();
                let r = ok("cp_engine_new", unsafe { api::cp_engine_new(&host, cfg, flags, &mut out) });
                assert_eq!(r == cp_result::Ok, !out.is_null());
                if r == cp_result::Ok {
                    st.engines.push(out);
                    st.handle = out;
                }
            }
            b"handle" => {
                st.handle = match f.next() {
                    None | Some(b"cur") => st.engines.last().copied().unwrap_or(ptr::null()),
                    Some(b"stale") => st.stale_engines.last().copied().unwrap_or(0x7777_7770 as *const cp_engine),
                    Some(b"null") => ptr::null(),
                    w => num(w).unwrap_or(0) as usize as *const cp_engine,
                }
            }
            b"dial" | b"dial-null" => {
                let s: Vec<Option<CString>> = (0..7).map(|_| field(f.next())).collect();
                let hand_over = s[2].as_ref().is_some_and(|d| d.to_bytes().starts_with(b"callpark-handover-"));
                // The channel is `user`@`tenant`, authenticated; `transferor` the
                // outbound leg it was bridged to (a directory user of `tenant`).
                let partner = cp_leg {
                    authorized: false,
                    user_name: ptr::null(),
                    domain_name: ptr::null(),
                    outbound: true,
                    dialed_user: p(&s[4]),
                    dialed_domain: p(&s[0]),
                    contact: ptr::null(),
                };
                let req = cp_dial {
                    uuid: p(&s[1]),
                    dialed: p(&s[2]),
                    channel: cp_leg {
                        authorized: true,
                        user_name: p(&s[3]),
                        domain_name: p(&s[0]),
                        outbound: false,
                        dialed_user: ptr::null(),
                        dialed_domain: ptr::null(),
                        contact: ptr::null(),
                    },
                    transferring_leg: ptr::null(),
                    bridge_partner: if s[4].is_some() { &partner } else { ptr::null() },
                    refer_to: p(&s[4]),
                    blind_transfer_uuid: ptr::null(),
                    referred_by: p(&s[4]),
                    tenant_override: ptr::null(),
                    user_override: ptr::null(),
                    domain_override: ptr::null(),
                    transferor_override: ptr::null(),
                    caller_number: p(&s[5]),
                    caller_name: p(&s[6]),
                    music: p(&s[5]),
                    hold_music: ptr::null(),
                    sound_empty: p(&s[6]),
                    sound_invalid: ptr::null(),
                    sound_failed: ptr::null(),
                    back_to_park: f.next() == Some(b"back"),
                    sent_back_answered: f.next() == Some(b"answered"),
                    network_addr: p(&s[6]),
                    timeout: p(&s[5]),
                };
                // The same leg's keys during a call (one-step parking): the dialed string
                // as the digits, the uuid as the other party. A park command, or a refusal.
                let mut keys = blank_command();
                let r = ok("cp_engine_one_step", unsafe {
                    command::cp_engine_one_step(st.handle, &req, p(&s[2]), p(&s[1]), &mut keys)
                });
                if r == cp_result::Ok {
                    assert!(keys.kind == command::cp_command_kind::Park && keys.local, "one-step: a park here");
                    assert!(keys.extension.contains(&0) && keys.tenant.contains(&0) && keys.uuid[0] != 0);
                } else {
                    assert_eq!(keys.kind, command::cp_command_kind::Status, "a refusal writes nothing");
                }
                let mut out = Box::new(cp_dial_result {
                    action: cp_action::Bridged,
                    code: cp_result::Panic,
                    hangup_cause: 7,
                    hold: cp_hold_terms {
                        music: [1; CP_DIAL_TEXT_SIZE],
                        exit_key: [1; 2],
                        announce: [1; CP_DIAL_NAME_SIZE],
                    },
                    prompt: [1; CP_DIAL_TEXT_SIZE],
                    user: [1; CP_DIAL_NAME_SIZE],
                    tenant: [1; CP_DIAL_NAME_SIZE],
                });
                let reqp = if op == b"dial" { &req as *const cp_dial } else { ptr::null() };
                let r = ok("cp_engine_dial", unsafe { dial::cp_engine_dial(st.handle, reqp, &mut *out) });
                if !matches!(r, cp_result::NullParameter | cp_result::InvalidHandle) {
                    assert_eq!(out.code, r, "the result's code is the return value");
                    for b in [
                        &out.hold.music[..],
                        &out.hold.exit_key[..],
                        &out.hold.announce[..],
                        &out.prompt[..],
                        &out.user[..],
                        &out.tenant[..],
                    ] {
                        assert!(b.contains(&0), "a result string is NUL-terminated");
                    }
                    match out.action {
                        // A refused hand-over (a call between switches) has no prompt, so
                        // no early media; every other refusal plays one.
                        cp_action::None => {
                            assert!([1, 20, 41].contains(&out.hangup_cause) && (out.prompt[0] != 0 || hand_over))
                        }
                        cp_action::SentBack => assert!(out.user[0] != 0 && out.tenant[0] != 0 && out.prompt[0] != 0),
                        cp_action::Parked | cp_action::Bridged | cp_action::End => assert_eq!(r, cp_result::Ok),
                        cp_action::HangUp => panic!("cp_engine_dial answered HangUp, which only operations use"),
                    }
                }
            }
            b"hangup" => {
                let u = field(f.next());
                ok("cp_engine_hangup", unsafe { api::cp_engine_hangup(st.handle, p(&u)) });
            }
            b"answered" => {
                let u = field(f.next());
                let a = num(f.next()).unwrap_or(1) as u32;
                let l = field(f.next());
                ok("cp_engine_recall_answered", unsafe { api::cp_engine_recall_answered(st.handle, p(&u), a, p(&l)) });
            }
            b"failed" => {
                let u = field(f.next());
                let a = num(f.next()).unwrap_or(1) as u32;
                ok("cp_engine_recall_failed", unsafe { api::cp_engine_recall_failed(st.handle, p(&u), a) });
            }
            b"probe" => {
                let (t, target, sub) = (field(f.next()), field(f.next()), field(f.next()));
                ok("cp_engine_probe", unsafe { api::cp_engine_probe(st.handle, p(&t), p(&target), p(&sub)) });
            }
            b"list" => {
                let t = field(f.next());
                let format = if f.next() == Some(b"json") { cp_format::Json } else { cp_format::Text };
                let len = num(f.next()).unwrap_or(4096).min(1 << 20) as usize;
                let h = st.handle;
                with_buffer("cp_engine_list", len, |b, l, n| unsafe { api::cp_engine_list(h, p(&t), format, b, l, n) });
            }
            b"status" => {
                let len = num(f.next()).unwrap_or(256).min(1 << 16) as usize;
                let h = st.handle;
                with_buffer("cp_engine_status", len, |b, l, n| unsafe { api::cp_engine_status(h, b, l, n) });
            }
            b"advance" => {
                let ms = num(f.next()).unwrap_or(1000);
                ok("cp_engine_advance", api::cp_engine_advance(st.handle, ms));
            }
            b"message" => {
                let code = num(f.next()).unwrap_or(0) as u32;
                let len = num(f.next()).unwrap_or(64).min(1 << 12) as usize;
                let mut buf = vec![0xffu8; len];
                let mut n = usize::MAX;
                let r = ok("cp_result_message", unsafe {
                    api::cp_result_message(code, buf.as_mut_ptr().cast(), len, &mut n)
                });
                assert_eq!(r, cp_result::Ok);
                check_truncated("cp_result_message", &buf, n, true);
                ok("cp_result_message", unsafe { api::cp_result_message(code, ptr::null_mut(), 0, ptr::null_mut()) });
            }
            b"reload" => {
                let cfg = st.config_handle(f.next());
                ok("cp_engine_reload", api::cp_engine_reload(st.handle, cfg));
            }
            b"command" => {
                let text = field(f.next()).map(|t| {
                    CString::new(t.as_bytes().iter().map(|&b| if b == b'~' { b' ' } else { b }).collect::<Vec<u8>>())
                        .expect("no NUL in a field")
                });
                let err_len = match f.next() {
                    Some(b"-") => None,
                    b => Some(num(b).unwrap_or(64).min(1 << 12) as usize),
                };
                let mut err = vec![0xffu8; err_len.unwrap_or(0)];
                let errp = if err_len.is_some() { err.as_mut_ptr().cast() } else { ptr::null_mut() };
                let mut out = blank_command();
                let mut n = usize::MAX;
                let r = ok("cp_command_parse", unsafe {
                    command::cp_command_parse(p(&text), &mut out, errp, err.len(), &mut n)
                });
                if r == cp_result::Ok {
                    assert!(out.tenant.contains(&0), "cp_command_parse: tenant not NUL-terminated");
                    for w in [&out.uuid[..], &out.extension[..], &out.user[..]] {
                        assert!(w.contains(&0), "cp_command_parse: a word not NUL-terminated");
                    }
                    // An operator's command, carried out on the current engine (a park
                    // with no channel: the C host found none).
                    let mut op = Box::new(command::cp_operation {
                        action: cp_action::Bridged,
                        code: cp_result::Panic,
                        hold: cp_hold_terms {
                            music: [1; CP_DIAL_TEXT_SIZE],
                            exit_key: [1; 2],
                            announce: [1; CP_DIAL_NAME_SIZE],
                        },
                        line: [1; command::CP_OPERATION_LINE_SIZE],
                    });
                    let r = ok("cp_engine_operate", unsafe {
                        command::cp_engine_operate(st.handle, &out, ptr::null(), &mut *op)
                    });
                    if !matches!(r, cp_result::NullParameter | cp_result::InvalidHandle) {
                        assert_eq!(op.code, r, "cp_engine_operate: the code is the return value");
                        assert!(op.line.contains(&0) && op.hold.music.contains(&0) && op.hold.exit_key.contains(&0));
                        assert!(matches!(op.action, cp_action::None | cp_action::HangUp), "{:?}", op.action);
                        if r != cp_result::InvalidArgument || op.line[0] != 0 {
                            let line = unsafe { CStr::from_ptr(op.line.as_ptr()) }.to_bytes();
                            assert!(line.is_empty() || line.ends_with(b"\n"), "one line, with its newline");
                        }
                    }
                } else if n != usize::MAX {
                    check_truncated("cp_command_parse", &err, n, true);
                }
            }
            b"exit" => {
                // The hold music stopped: by a key, or (an empty key) after some playing.
                let (uuid, key) = (field(f.next()), field(f.next()));
                let played = num(f.next()).map_or(-1, |n| n as i64);
                let mut replay = false;
                ok("cp_engine_music_stopped", unsafe {
                    api::cp_engine_music_stopped(st.handle, p(&uuid), p(&key), played, &mut replay)
                });
            }
            b"faults" => st.ctx.faults = num(f.next()).unwrap_or(0) as u8,
            b"free-engine" => {
                if let Some(e) = st.engines.pop() {
                    api::cp_engine_free(e);
                    st.stale_engines.push(e);
                    if st.handle == e {
                        st.handle = st.engines.last().copied().unwrap_or(ptr::null());
                    }
                }
            }
            // The fixed configuration lives for the whole run.
            b"free-config" if st.config != st.fixed => {
                api::cp_config_free(st.config);
                st.stale_configs.push(st.config);
                st.config = st.fixed;
            }
            _ => {}
        }
    }
    // Free everything this input made (the registries are process-wide), the engines
    // before the host context they call back with.
    for e in st.engines.drain(..) {
        api::cp_engine_free(e);
    }
    if st.config != st.fixed {
        api::cp_config_free(st.config);
    }
    drop(st);
});
