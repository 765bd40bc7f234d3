//! Rust to C: the host callback table, and the [`Host`] that calls through it.
//!
//! The host hands over one [`cp_host`] when it creates an engine. The engine calls
//! these functions from any thread that calls into it and from its own timer thread,
//! never while holding a lock of its own, so a callback may call back into the engine.
//! Every string passed is NUL-terminated and valid only during the call.

use std::ffi::{c_char, c_void, CString};
use std::ptr;

use super::cp_result;
use crate::config::Destination;
use crate::host::{Action, BridgeError, Host, HostError, Joining, LogLevel, Notice, Ring, Target};
use crate::park_info;

/// Log levels, as FreeSWITCH names them.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cp_log_level {
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

/// What a lamp shows.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cp_lamp {
    /// Nothing parked: idle.
    Empty = 0,
    /// At least one call parked: busy (confirmed).
    Parked = 1,
    /// A parked call is being recalled: ringing (early).
    Recalling = 2,
}

#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cp_target_kind {
    /// `park+<extension>`.
    Extension = 0,
    /// `park+<group name>`.
    Group = 1,
}

macro_rules! event_actions {
    ($($name:ident = $number:literal => $text:literal, $ends:literal,)*) => {
        /// A lifecycle event, for the `callpark::info` event subclass.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum cp_event_action {
            $($name = $number,)*
        }

        impl From<Action> for cp_event_action {
            fn from(a: Action) -> Self {
                match a {
                    $(Action::$name => cp_event_action::$name,)*
                }
            }
        }
    };
}

// cp_event_action, numbered, from the one list of actions (build.rs puts it in the header).
include!("../lists/event_actions.rs");

/// One recall attempt to start: ring `extension`@`tenant` for `seconds`, showing the
/// parked caller; report it with `cp_engine_recall_answered`/`_failed` and `attempt`.
#[repr(C)]
pub struct cp_ring {
    pub parked_uuid: *const c_char,
    pub tenant: *const c_char,
    pub extension: *const c_char,
    pub seconds: u32,
    pub attempt: u32,
    pub caller_number: *const c_char,
    /// What the recalled phone shows: `Recall 102 - Jane Doe`.
    pub caller_name: *const c_char,
    /// The `Alert-Info` to ring with (letters, digits, `<>:;/=._-@+?&%~`); empty: none.
    pub alert_info: *const c_char,
}

/// A lamp state for `park+<target>@<tenant>`.
#[repr(C)]
pub struct cp_presence {
    pub tenant: *const c_char,
    pub target: *const c_char,
    pub kind: cp_target_kind,
    pub lamp: cp_lamp,
    pub count: u32,
    /// The oldest parked call; empty strings when nothing is parked.
    pub oldest_uuid: *const c_char,
    pub caller_number: *const c_char,
    pub caller_name: *const c_char,
    /// Who asked, when this answers a probe; NULL when everybody subscribed is told.
    pub subscriber: *const c_char,
    /// The dialog state to tell watchers (the `answer-state` of `PRESENCE_IN`):
    /// `terminated`, `early` or `confirmed`, as the tenant's `lamp-state` says.
    pub answer_state: *const c_char,
    /// The lamp's words (`force-status`): `Empty`, `Parked (2 callers)`, `Recalling (1 caller)`.
    pub status: *const c_char,
    /// The oldest caller's number and name (the number when it has none), XML-escaped
    /// for the dialog XML phones are sent; empty when nothing is parked.
    pub caller_number_xml: *const c_char,
    pub caller_name_xml: *const c_char,
}

/// A lifecycle event. Optional fields are NULL when absent.
#[repr(C)]
pub struct cp_event {
    pub action: cp_event_action,
    /// `parked`, `retrieved`, `recall-started`, ... (the `callpark-action` header).
    pub action_name: *const c_char,
    pub tenant: *const c_char,
    pub extension: *const c_char,
    pub group: *const c_char,
    pub uuid: *const c_char,
    pub other_uuid: *const c_char,
    pub parking_user: *const c_char,
    pub caller_number: *const c_char,
    pub caller_name: *const c_char,
    pub attempt: u32,
    pub detail: *const c_char,
    /// The call is out of the park after this (retrieved, answered, handed off, gone).
    pub ends_park: bool,
    /// `parked` of a call taken back after a module reload (it keeps its park time).
    pub adopted: bool,
    /// Add the parked channel's data and variables to the event (`event-channel-data`).
    pub channel_data: bool,
}

/// The host's callbacks. Every one is required but `log`. `host_ctx` is passed back as
/// each callback's first argument; the host keeps it valid until `cp_engine_free`.
#[repr(C)]
pub struct cp_host {
    pub host_ctx: *mut c_void,
    /// Bridge `uuid` to `parked_uuid`; `joining` says what `uuid` is and so which leg
    /// drives the bridge (a retriever its own, answered now; for a recall leg, the parked
    /// channel). Return `CP_RESULT_NOT_FOUND` when the parked channel is gone (the call
    /// then leaves the park), any other error when `uuid` failed (the call stays parked).
    pub bridge: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            uuid: *const c_char,
            parked_uuid: *const c_char,
            joining: cp_joining,
        ) -> cp_result,
    >,
    /// Start a recall attempt. Must not block for the ring time.
    pub ring: Option<unsafe extern "C" fn(ctx: *mut c_void, ring: *const cp_ring) -> cp_result>,
    /// Stop any recall attempt ringing for `parked_uuid`.
    pub cancel_ring: Option<unsafe extern "C" fn(ctx: *mut c_void, parked_uuid: *const c_char)>,
    /// Transfer `uuid` to `extension` in `dialplan`/`context` (empty: the channel's own).
    pub transfer: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            uuid: *const c_char,
            extension: *const c_char,
            dialplan: *const c_char,
            context: *const c_char,
        ) -> cp_result,
    >,
    pub presence: Option<unsafe extern "C" fn(ctx: *mut c_void, presence: *const cp_presence)>,
    /// Send `text` to the devices of `extension`@`tenant`.
    pub message: Option<
        unsafe extern "C" fn(ctx: *mut c_void, tenant: *const c_char, extension: *const c_char, text: *const c_char),
    >,
    pub event: Option<unsafe extern "C" fn(ctx: *mut c_void, event: *const cp_event)>,
    /// Whether `extension` is a user of `tenant` in the directory.
    pub user_exists:
        Option<unsafe extern "C" fn(ctx: *mut c_void, tenant: *const c_char, extension: *const c_char) -> bool>,
    pub log: Option<unsafe extern "C" fn(ctx: *mut c_void, level: cp_log_level, message: *const c_char)>,
    /// Optional (NULL: not sent): send a NOTIFY with `Event: <event>`, `Content-Type:
    /// <content_type>` and `body` to every registered device of `extension`@`tenant`
    /// (the visual park notices of tenants with `notices` `callpark-info` or `both`).
    pub sip_notify: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            tenant: *const c_char,
            extension: *const c_char,
            event: *const c_char,
            content_type: *const c_char,
            body: *const c_char,
        ),
    >,
    /// Optional (NULL: this switch reaches no other node; a shared store's call held
    /// elsewhere is then not picked up here): connect `uuid`, a retriever on this
    /// switch, to the node at SIP `address` (`host:port`) holding the call, by a call to
    /// `destination` there (`callpark-handover-<token>`, which that node's dialplan hands
    /// to the callpark application). Return `CP_RESULT_OK` once they are bridged.
    pub bridge_to_node: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            uuid: *const c_char,
            address: *const c_char,
            destination: *const c_char,
        ) -> cp_result,
    >,
    /// Optional (NULL: no registration is looked up): write the contacts `user`@`tenant`
    /// has registered, as the switch lists them, separated by `,`, into `buf` of `len`
    /// bytes (NUL-terminated, cut if need be), and return the length of the whole list
    /// (0: none). A call is called again with a larger buffer when the list was cut.
    pub contacts: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            tenant: *const c_char,
            user: *const c_char,
            buf: *mut c_char,
            len: usize,
        ) -> usize,
    >,
    /// Optional (NULL: this node carries out no command for another): carry out the
    /// operator's `command` (`park ...`, `retrieve ...`, `hangup ...`, as typed after
    /// `callpark`) that another node of a shared park sent, for a call held here, as if
    /// typed here but with `cp_command.local` set; write the line it answers into `buf`
    /// as `contacts` does, and return its length. Called from the engine's own thread.
    pub operate:
        Option<unsafe extern "C" fn(ctx: *mut c_void, command: *const c_char, buf: *mut c_char, len: usize) -> usize>,
    /// Optional (NULL: a retriever is always bridged to the other node, whatever
    /// `cross-node-pickup` says): answer `uuid`, a retriever on this switch whose call is
    /// not answered yet, with a SIP 302 to `destination` at `address`
    /// (`sip:callpark-handover-<token>@host:port`), which the phone calls itself; the
    /// switch ends the call here. Return `CP_RESULT_OK` once the redirect is sent.
    pub redirect_to_node: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            uuid: *const c_char,
            address: *const c_char,
            destination: *const c_char,
        ) -> cp_result,
    >,
}

/// The type of `cp_host.contacts`.
type ContactsFn = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *mut c_char, usize) -> usize;
/// The type of `cp_host.bridge_to_node` and `.redirect_to_node`.
type NodeFn = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char) -> cp_result;
/// The type of `cp_host.operate`.
type OperateFn = unsafe extern "C" fn(*mut c_void, *const c_char, *mut c_char, usize) -> usize;

/// A text the host writes into a buffer and measures (`cp_host.contacts`, `.operate`):
/// asked once more with the length it said, when the first buffer was too small.
fn text_of(write: impl Fn(*mut c_char, usize) -> usize) -> Option<String> {
    let mut buf: Vec<u8> = vec![0; 1024];
    for _ in 0..2 {
        let len = buf.len();
        let need = write(buf.as_mut_ptr().cast(), len);
        if need < len {
            let end = need.min(buf.iter().position(|&b| b == 0).unwrap_or(need));
            return Some(String::from_utf8_lossy(&buf[..end]).into_owned());
        }
        if need > 1 << 20 {
            return None;
        }
        buf = vec![0; need + 1];
    }
    None
}

type Fn2<R> = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> R;
/// The type of `cp_host.bridge`.
type BridgeFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    uuid: *const c_char,
    parked_uuid: *const c_char,
    joining: cp_joining,
) -> cp_result;

/// What `cp_host.bridge` connects to the parked call (`host::Joining`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cp_joining {
    /// A retriever: it drives its own bridge and is answered now.
    Retriever = 0,
    /// An answered recall or operator leg: the parked channel drives the bridge.
    RecallLeg = 1,
}

/// A checked copy of a `cp_host`: every required callback is present.
pub(crate) struct CHost {
    ctx: *mut c_void,
    bridge: BridgeFn,
    ring: unsafe extern "C" fn(*mut c_void, *const cp_ring) -> cp_result,
    cancel_ring: unsafe extern "C" fn(*mut c_void, *const c_char),
    transfer:
        unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char, *const c_char) -> cp_result,
    presence: unsafe extern "C" fn(*mut c_void, *const cp_presence),
    message: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char),
    event: unsafe extern "C" fn(*mut c_void, *const cp_event),
    user_exists: Fn2<bool>,
    log: Option<unsafe extern "C" fn(*mut c_void, cp_log_level, *const c_char)>,
    sip_notify: Option<
        unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char, *const c_char, *const c_char),
    >,
    bridge_to_node: Option<NodeFn>,
    contacts: Option<ContactsFn>,
    operate: Option<OperateFn>,
    redirect_to_node: Option<NodeFn>,
}

// SAFETY: the header documents that the callbacks are called from any thread, and that
// `host_ctx` must be usable from any thread; the engine never calls them concurrently
// with a lock of its own held.
unsafe impl Send for CHost {}
unsafe impl Sync for CHost {}

impl CHost {
    /// Copies `h`; `Err` names the first required callback that is missing.
    pub(crate) fn new(h: &cp_host) -> Result<CHost, &'static str> {
        Ok(CHost {
            ctx: h.host_ctx,
            bridge: h.bridge.ok_or("bridge")?,
            ring: h.ring.ok_or("ring")?,
            cancel_ring: h.cancel_ring.ok_or("cancel_ring")?,
            transfer: h.transfer.ok_or("transfer")?,
            presence: h.presence.ok_or("presence")?,
            message: h.message.ok_or("message")?,
            event: h.event.ok_or("event")?,
            user_exists: h.user_exists.ok_or("user_exists")?,
            log: h.log,
            sip_notify: h.sip_notify,
            bridge_to_node: h.bridge_to_node,
            contacts: h.contacts,
            operate: h.operate,
            redirect_to_node: h.redirect_to_node,
        })
    }
}

/// A C string of `s`; a NUL inside (never produced by the core) is cut there.
fn c(s: &str) -> CString {
    let end = s.find('\0').unwrap_or(s.len());
    CString::new(&s[..end]).expect("no NUL before end")
}

fn opt(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

fn checked(what: &str, r: cp_result) -> Result<(), HostError> {
    match r {
        cp_result::Ok => Ok(()),
        other => Err(HostError(format!("{what}: {}", other.message()))),
    }
}

impl Host for CHost {
    fn bridge(&self, uuid: &str, parked_uuid: &str, joining: Joining) -> Result<(), BridgeError> {
        let (u, p) = (c(uuid), c(parked_uuid));
        let j = match joining {
            Joining::Retriever => cp_joining::Retriever,
            Joining::RecallLeg => cp_joining::RecallLeg,
        };
        match unsafe { (self.bridge)(self.ctx, u.as_ptr(), p.as_ptr(), j) } {
            cp_result::Ok => Ok(()),
            cp_result::NotFound => Err(BridgeError::ParkedGone(format!("bridge: {}", cp_result::NotFound.message()))),
            other => Err(BridgeError::Failed(format!("bridge: {}", other.message()))),
        }
    }

    fn bridge_to_node(&self, uuid: &str, address: &str, token: &str) -> Result<(), BridgeError> {
        let Some(f) = self.bridge_to_node else {
            return Err(BridgeError::Failed(format!("this switch has no way to reach node {address}")));
        };
        let destination = format!("{}{token}", crate::engine::HANDOVER_PREFIX);
        let s = [uuid, address, destination.as_str()].map(c);
        match unsafe { f(self.ctx, s[0].as_ptr(), s[1].as_ptr(), s[2].as_ptr()) } {
            cp_result::Ok => Ok(()),
            other => Err(BridgeError::Failed(format!("bridge to {address}: {}", other.message()))),
        }
    }

    fn redirect_to_node(&self, uuid: &str, address: &str, token: &str) -> Result<(), BridgeError> {
        // A redirect's token is good for a hand-over as well: the holding node claims
        // the call either way.
        let Some(f) = self.redirect_to_node else { return self.bridge_to_node(uuid, address, token) };
        let destination = format!("{}{token}", crate::engine::HANDOVER_PREFIX);
        let s = [uuid, address, destination.as_str()].map(c);
        match unsafe { f(self.ctx, s[0].as_ptr(), s[1].as_ptr(), s[2].as_ptr()) } {
            cp_result::Ok => Ok(()),
            other => Err(BridgeError::Failed(format!("redirect to {address}: {}", other.message()))),
        }
    }

    fn ring(&self, r: &Ring) -> Result<(), HostError> {
        let s =
            [&r.parked_uuid, &r.tenant, &r.extension, &r.caller_number, &r.caller_name, &r.alert_info].map(|s| c(s));
        let cr = cp_ring {
            parked_uuid: s[0].as_ptr(),
            tenant: s[1].as_ptr(),
            extension: s[2].as_ptr(),
            seconds: r.seconds,
            attempt: r.attempt,
            caller_number: s[3].as_ptr(),
            caller_name: s[4].as_ptr(),
            alert_info: s[5].as_ptr(),
        };
        checked("ring", unsafe { (self.ring)(self.ctx, &cr) })
    }

    fn cancel_ring(&self, parked_uuid: &str) {
        let p = c(parked_uuid);
        unsafe { (self.cancel_ring)(self.ctx, p.as_ptr()) }
    }

    fn transfer(&self, uuid: &str, to: &Destination) -> Result<(), HostError> {
        let s = [uuid, &to.extension, &to.dialplan, &to.context].map(c);
        checked("transfer", unsafe {
            (self.transfer)(self.ctx, s[0].as_ptr(), s[1].as_ptr(), s[2].as_ptr(), s[3].as_ptr())
        })
    }

    fn notify(&self, notice: &Notice) {
        match notice {
            Notice::Presence(p) => {
                let (oldest, number, name) = p.state.oldest.clone().unwrap_or_default();
                let (number_xml, name_xml) = p.shown_caller();
                let s = [&p.tenant, p.target.name(), &oldest, &number, &name, &p.status_text(), &number_xml, &name_xml]
                    .map(c);
                let sub = p.subscriber.as_deref().map(c);
                let cp = cp_presence {
                    tenant: s[0].as_ptr(),
                    target: s[1].as_ptr(),
                    kind: match p.target {
                        Target::Extension(_) => cp_target_kind::Extension,
                        Target::Group(_) => cp_target_kind::Group,
                    },
                    lamp: match (p.state.count, p.state.recalling) {
                        (0, _) => cp_lamp::Empty,
                        (_, true) => cp_lamp::Recalling,
                        _ => cp_lamp::Parked,
                    },
                    count: p.state.count as u32,
                    oldest_uuid: s[2].as_ptr(),
                    caller_number: s[3].as_ptr(),
                    caller_name: s[4].as_ptr(),
                    subscriber: opt(&sub),
                    answer_state: p.answer_state().as_ptr(),
                    status: s[5].as_ptr(),
                    caller_number_xml: s[6].as_ptr(),
                    caller_name_xml: s[7].as_ptr(),
                };
                unsafe { (self.presence)(self.ctx, &cp) }
            }
            Notice::Message(m) => {
                let s = [&m.tenant, &m.extension, &m.text].map(|s| c(s));
                unsafe { (self.message)(self.ctx, s[0].as_ptr(), s[1].as_ptr(), s[2].as_ptr()) }
            }
            Notice::ParkInfo(n) => {
                if let Some(send) = self.sip_notify {
                    let s = [&n.tenant, &n.extension, park_info::EVENT, park_info::CONTENT_TYPE, &n.body].map(c);
                    unsafe { send(self.ctx, s[0].as_ptr(), s[1].as_ptr(), s[2].as_ptr(), s[3].as_ptr(), s[4].as_ptr()) }
                }
            }
            Notice::Event(e) => {
                let s = [
                    e.action.name(),
                    &e.tenant,
                    &e.extension,
                    &e.uuid,
                    &e.parking_user,
                    &e.caller_number,
                    &e.caller_name,
                ]
                .map(c);
                let group = e.group.as_deref().map(c);
                let other = e.other_uuid.as_deref().map(c);
                let detail = e.detail.as_deref().map(c);
                let ce = cp_event {
                    action: e.action.into(),
                    action_name: s[0].as_ptr(),
                    tenant: s[1].as_ptr(),
                    extension: s[2].as_ptr(),
                    group: opt(&group),
                    uuid: s[3].as_ptr(),
                    other_uuid: opt(&other),
                    parking_user: s[4].as_ptr(),
                    caller_number: s[5].as_ptr(),
                    caller_name: s[6].as_ptr(),
                    attempt: e.attempt,
                    detail: opt(&detail),
                    ends_park: e.action.ends_park(),
                    adopted: e.adopted,
                    channel_data: e.channel_data,
                };
                unsafe { (self.event)(self.ctx, &ce) }
            }
        }
    }

    fn user_exists(&self, tenant: &str, extension: &str) -> bool {
        let (t, e) = (c(tenant), c(extension));
        unsafe { (self.user_exists)(self.ctx, t.as_ptr(), e.as_ptr()) }
    }

    fn contacts(&self, tenant: &str, user: &str) -> Vec<String> {
        let Some(f) = self.contacts else { return Vec::new() };
        let (t, u) = (c(tenant), c(user));
        let text = text_of(|buf, len| unsafe { f(self.ctx, t.as_ptr(), u.as_ptr(), buf, len) }).unwrap_or_default();
        text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    fn operate(&self, command: &str) -> Option<String> {
        let f = self.operate?;
        let cmd = c(command);
        // Once only (a command is not run twice for a longer buffer): room for the
        // longest line an operator's command answers, and its NUL.
        let mut buf: Vec<u8> = vec![0; super::command::CP_OPERATION_LINE_SIZE + 1];
        let len = buf.len();
        let need = unsafe { f(self.ctx, cmd.as_ptr(), buf.as_mut_ptr().cast(), len) };
        let end = need.min(len - 1).min(buf.iter().position(|&b| b == 0).unwrap_or(len - 1));
        Some(String::from_utf8_lossy(&buf[..end]).into_owned())
    }

    fn log(&self, level: LogLevel, message: &str) {
        if let Some(log) = self.log {
            let lvl = match level {
                LogLevel::Error => cp_log_level::Error,
                LogLevel::Warning => cp_log_level::Warning,
                LogLevel::Notice => cp_log_level::Notice,
                LogLevel::Info => cp_log_level::Info,
                LogLevel::Debug => cp_log_level::Debug,
            };
            let m = c(message);
            unsafe { log(self.ctx, lvl, m.as_ptr()) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn no_bridge(_: *mut c_void, _: *const c_char, _: *const c_char, _: cp_joining) -> cp_result {
        cp_result::Ok
    }
    unsafe extern "C" fn no_ring(_: *mut c_void, _: *const cp_ring) -> cp_result {
        cp_result::Ok
    }
    unsafe extern "C" fn no_cancel(_: *mut c_void, _: *const c_char) {}
    unsafe extern "C" fn no_transfer(
        _: *mut c_void,
        _: *const c_char,
        _: *const c_char,
        _: *const c_char,
        _: *const c_char,
    ) -> cp_result {
        cp_result::Ok
    }
    unsafe extern "C" fn no_presence(_: *mut c_void, _: *const cp_presence) {}
    unsafe extern "C" fn no_message(_: *mut c_void, _: *const c_char, _: *const c_char, _: *const c_char) {}
    unsafe extern "C" fn no_event(_: *mut c_void, _: *const cp_event) {}
    unsafe extern "C" fn no_user(_: *mut c_void, _: *const c_char, _: *const c_char) -> bool {
        false
    }

    /// 300 contacts of about 40 bytes: longer than the first buffer.
    fn many() -> String {
        (0..300)
            .map(|i| format!("sofia/internal/sip:101@10.0.{}.{}:5060", i / 250, i % 250))
            .collect::<Vec<_>>()
            .join(",")
    }

    unsafe extern "C" fn long_list(
        _: *mut c_void,
        _: *const c_char,
        _: *const c_char,
        buf: *mut c_char,
        len: usize,
    ) -> usize {
        let list = many();
        crate::ffi::write_truncated(&list, buf, len, std::ptr::null_mut());
        list.len()
    }

    fn table(contacts: Option<ContactsFn>) -> cp_host {
        cp_host {
            host_ctx: std::ptr::null_mut(),
            bridge: Some(no_bridge),
            ring: Some(no_ring),
            cancel_ring: Some(no_cancel),
            transfer: Some(no_transfer),
            presence: Some(no_presence),
            message: Some(no_message),
            event: Some(no_event),
            user_exists: Some(no_user),
            log: None,
            sip_notify: None,
            bridge_to_node: None,
            contacts,
            operate: None,
            redirect_to_node: None,
        }
    }

    static OPERATED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Answers a 1,500-byte line (a long JSON answer) and counts its calls.
    unsafe extern "C" fn long_answer(_: *mut c_void, _: *const c_char, buf: *mut c_char, len: usize) -> usize {
        OPERATED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let line = "x".repeat(1500);
        crate::ffi::write_truncated(&line, buf, len, std::ptr::null_mut());
        line.len()
    }

    /// An operator's command another node sent is carried out once, whatever the length
    /// of its answer (a longer buffer is never asked for by running it again).
    #[test]
    fn a_command_is_carried_out_once() {
        let mut t = table(None);
        t.operate = Some(long_answer);
        let h = CHost::new(&t).unwrap();
        let line = h.operate("hangup 4cbf1e2a-57d4-4a34-9d0f-0f3c2a6b8e11").unwrap();
        assert_eq!((line.len(), OPERATED.load(std::sync::atomic::Ordering::SeqCst)), (1500, 1));
    }

    /// A host's list longer than the first buffer is asked for again, whole; a host
    /// without the callback has no registrations.
    #[test]
    fn contacts_longer_than_the_buffer_are_read_whole() {
        let h = CHost::new(&table(Some(long_list))).unwrap();
        let got = h.contacts("acme.example", "101");
        assert_eq!(got.len(), 300);
        assert_eq!(got.join(","), many());
        let none = CHost::new(&table(None)).unwrap();
        assert!(none.contacts("acme.example", "101").is_empty());
    }

    #[test]
    fn every_action_has_its_own_number_and_name() {
        let mut numbers: Vec<u32> = Action::ALL.iter().map(|a| cp_event_action::from(*a) as u32).collect();
        let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        names.sort_unstable();
        names.dedup();
        assert_eq!((numbers.len(), names.len()), (Action::ALL.len(), Action::ALL.len()));
    }
}
