//! Ways out of the park that are not a pick-up or a recall: the operator's commands
//! (`callpark retrieve`, `callpark hangup`; an operator's park goes through
//! [`Engine::answer`]), each checking the tenant the operator named and acting like the
//! phone feature it stands for, with the same events; and the parked caller's exit key.

use super::clean::{clean_id, clean_tenant};
use super::Engine;
use crate::command::Target;
use crate::error::CallError;
use crate::error::DialError;
use crate::host::{Action, LogLevel, Ring};
use crate::identity::valid_user;
use crate::listing::CallInfo;
use crate::store::{Claim, ParkedCall};

/// The recall attempt number of an operator's retrieve ring: real recall attempts count
/// from 1, so its answer and failure are told apart ([`Engine::recall_answered`]).
pub const OPERATOR_RING: u32 = 0;

/// Hold music that stopped after playing this long ended (and plays again); sooner, it
/// could not play.
pub const REPLAY_AFTER_MS: u64 = 1000;

impl Engine {
    /// The parked call an operator names, in the tenant named (any when `None`).
    fn named_call(&self, target: &Target, tenant: Option<&str>) -> Result<CallInfo, DialError> {
        let bad = |e: String| DialError::BadRequest(e);
        let tenant = tenant.map(clean_tenant).transpose().map_err(bad)?;
        let now = self.shared.clock.now_ms();
        let inner = self.shared.inner.lock();
        let found: Option<&ParkedCall> = match target {
            Target::Call(uuid) => {
                let uuid = clean_id("uuid", uuid).map_err(bad)?;
                let c = inner.store.get(uuid).ok_or_else(|| DialError::NotParked { uuid: uuid.into() })?;
                match &tenant {
                    Some(t) if *t != c.tenant => return Err(DialError::NotParked { uuid: uuid.into() }),
                    _ => Some(c),
                }
            }
            Target::Extension(ext) => {
                let t =
                    tenant.as_deref().ok_or_else(|| bad("an extension needs its tenant (<ext>@<domain>)".into()))?;
                inner.store.oldest_in_slot(t, ext)
            }
        };
        match found {
            Some(c) if c.claim.is_some() => Err(DialError::Leaving { uuid: c.uuid.clone() }),
            Some(c) => Ok(CallInfo::of(c, now)),
            None => {
                let Target::Extension(ext) = target else { unreachable!("a uuid not found returned above") };
                Err(DialError::Empty { place: ext.clone() })
            }
        }
    }

    /// The parked call `uuid`, as listed.
    pub fn parked(&self, uuid: &str) -> Option<CallInfo> {
        let now = self.shared.clock.now_ms();
        self.shared.inner.lock().store.get(uuid).map(|c| CallInfo::of(c, now))
    }

    /// `callpark retrieve`: rings `user` of the call's tenant for the parked call; the
    /// answer connects them ([`Engine::recall_answered`] with [`OPERATOR_RING`]) and fires
    /// `retrieved`. The user must be of the tenant named (if one was) and exist.
    pub fn operator_retrieve(&self, target: &Target, user: &str, tenant: Option<&str>) -> Result<CallInfo, DialError> {
        let c = self.named_call(target, tenant)?;
        if !valid_user(user) || !self.shared.host.user_exists(&c.tenant, user) {
            return Err(DialError::UnknownUser(user.escape_default().to_string()));
        }
        let ring_secs = self.shared.config.read().tenant(&c.tenant).recall.ring_time;
        let ring = Ring {
            parked_uuid: c.uuid.clone(),
            tenant: c.tenant.clone(),
            extension: user.to_string(),
            seconds: ring_secs,
            attempt: OPERATOR_RING,
            caller_number: c.caller_number.clone(),
            caller_name: c.caller_name.clone(),
            alert_info: String::new(),
        };
        {
            let mut inner = self.shared.inner.lock();
            match inner.store.get_mut(&c.uuid) {
                Some(p) if p.claim.is_none() => p.operator_ring = true,
                _ => return Err(DialError::Leaving { uuid: c.uuid.clone() }),
            }
        }
        if let Err(e) = self.shared.host.ring(&ring) {
            if let Some(p) = self.shared.inner.lock().store.get_mut(&c.uuid) {
                p.operator_ring = false;
            }
            return Err(DialError::HostFailed(e.0));
        }
        self.shared.host.log(
            LogLevel::Notice,
            &format!("callpark: operator rings {user}@{} for {} parked at {}", c.tenant, c.uuid, c.extension),
        );
        Ok(c)
    }

    /// `callpark hangup`: the parked call leaves the park (`abandoned`, "operator hung
    /// up"); the host then hangs the channel up.
    pub fn operator_hangup(&self, uuid: &str, tenant: Option<&str>) -> Result<CallInfo, DialError> {
        let c = self.named_call(&Target::Call(uuid.to_string()), tenant)?;
        self.shared.abandon(&c.uuid, "operator hung up").map_err(|_| DialError::Leaving { uuid: c.uuid.clone() })?;
        Ok(c)
    }

    /// Whether `uuid` is parked and nobody is taking it out: the host may put it back on
    /// its hold music (`NotFound`: not parked; `AlreadyTaken`: leaving).
    pub fn holding(&self, uuid: &str) -> Result<(), CallError> {
        match self.shared.inner.lock().store.get(uuid) {
            None => Err(CallError::NotFound),
            Some(c) if c.claim.is_some() => Err(CallError::AlreadyTaken),
            Some(_) => Ok(()),
        }
    }

    /// The hold music of `uuid` stopped: by `key` (what the switch read as the key that
    /// stopped it), or after playing `played_ms` (None: unknown). Whether the host puts
    /// it back on its music:
    /// - a key: the exit key takes the call to its exit destination (no replay); any
    ///   other key, or an exit that failed, goes back to the music; a call a pick-up is
    ///   taking is left alone;
    /// - no key: music that played for a second at least ended: it plays again unless
    ///   the call is leaving the park; music that stopped sooner could not play, and the
    ///   hold goes on to its silence (replaying it would spin).
    pub fn music_stopped(&self, uuid: &str, key: Option<&str>, played_ms: Option<u64>) -> bool {
        match key.filter(|k| !k.is_empty()) {
            Some(k) => !matches!(self.exit(uuid, k), Ok(()) | Err(CallError::AlreadyTaken)),
            None => {
                played_ms.is_some_and(|ms| ms >= REPLAY_AFTER_MS) && self.holding(uuid) != Err(CallError::AlreadyTaken)
            }
        }
    }

    /// The parked caller `uuid` pressed `key` (what the switch read as the key that
    /// stopped its hold music). The exit key of its plan takes it out of the park to the
    /// plan's exit destination (`exit-key` event, lamp off); any other key is
    /// `BadRequest` and the call stays parked.
    pub fn exit(&self, uuid: &str, key: &str) -> Result<(), CallError> {
        let uuid = clean_id("uuid", uuid).map_err(CallError::BadRequest)?;
        let (dest, ringing) = {
            let mut inner = self.shared.inner.lock();
            let c = inner.store.get(uuid).ok_or(CallError::NotFound)?;
            if c.claim.is_some() {
                return Err(CallError::AlreadyTaken);
            }
            let mut keys = key.trim().chars();
            let pressed = keys.next().filter(|_| keys.next().is_none());
            let dest = match (&c.plan.exit_key, &c.plan.exit_destination) {
                (Some(k), Some(d)) if pressed == Some(*k) => d.clone(),
                _ => {
                    return Err(CallError::BadRequest(format!(
                        "\"{}\" is not this call's exit key",
                        key.escape_default()
                    )))
                }
            };
            let ringing = self.shared.claim(&mut inner, uuid, Claim::Exit)?;
            (dest, ringing)
        };
        if ringing {
            self.shared.host.cancel_ring(uuid);
        }
        let r = self.shared.host.transfer(uuid, &dest);
        {
            let mut inner = self.shared.inner.lock();
            match &r {
                Ok(()) => self.shared.finish(&mut inner, uuid, Action::Exited, None, Some(dest.to_string())),
                Err(e) => {
                    let why = format!("exit transfer failed: {}", e.0);
                    self.shared.unclaim(&mut inner, uuid);
                    self.shared.host.log(LogLevel::Error, &format!("callpark: {uuid}: {why}, it stays parked"));
                }
            }
        }
        self.shared.deliver();
        r.map_err(|e| CallError::BridgeFailed(e.0))
    }
}
