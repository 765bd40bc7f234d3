//! A channel's dial, whole: who is who (src/identity.rs), the park or retrieve, and the
//! one answer for the switch (src/reply.rs).

use super::{DialOutcome, DialRequest, Engine};
use crate::error::DialError;
use crate::host::LogLevel;
use crate::identity;
use crate::reply::{self, ChannelDial, Reply};

impl Engine {
    /// Resolves the channel's identity, parks or retrieves, and says what the switch
    /// must do. A park that fails goes back to whoever transferred the call.
    pub fn answer(&self, d: &ChannelDial) -> Reply {
        let host = &self.shared.host;
        if d.back_to_park && d.sent_back_answered {
            return Reply::End;
        }
        let who = identity::resolve(&d.facts, |t, u| host.user_exists(t, u));
        let failed = |error: &DialError, tenant: &str| {
            host.log(
                LogLevel::Notice,
                &format!("callpark: {} dialed \"{}\" in {tenant}: {error}", d.uuid, d.dialed.escape_default()),
            );
        };
        let refuse = |error: DialError, tenant: &str| {
            failed(&error, tenant);
            Reply::Refuse { cause: reply::cause(&error), prompt: reply::prompt(&error, &d.media), error }
        };
        let Some(tenant) = who.tenant.as_deref() else {
            return refuse(DialError::NoTenant, "no tenant");
        };
        let transferor = if who.by_transfer { who.parking_user.as_deref() } else { None };
        let req = DialRequest {
            tenant,
            uuid: d.uuid,
            dialed: d.dialed,
            user: who.user.as_deref(),
            transferor,
            caller_number: d.caller_number,
            caller_name: d.caller_name,
            back_to_park: d.back_to_park,
            transferred: d.facts.transferred,
        };
        match self.dial(&req) {
            Ok(DialOutcome::Parked { extension, music }) => {
                Reply::Hold { extension, music: reply::hold_music(&music, &d.media) }
            }
            Ok(DialOutcome::Retrieved { .. }) => Reply::Bridged,
            Err(f) if f.sent_back => {
                failed(&f.error, tenant);
                Reply::SendBack {
                    tenant: tenant.to_string(),
                    user: transferor.unwrap_or_default().to_string(),
                    prompt: reply::prompt(&f.error, &d.media),
                    error: f.error,
                }
            }
            Err(f) => refuse(f.error, tenant),
        }
    }
}
