//! A channel's dial, whole: who is who (src/identity.rs), the park or retrieve, and the
//! one answer for the switch (src/reply.rs).

use super::{DialOutcome, DialRequest, Engine, HANDOVER_PREFIX};
use crate::codes::{self, BLF_PREFIX};
use crate::config::{Announce, Config};
use crate::error::DialError;
use crate::host::{Host, LogLevel};
use crate::identity::{self, Facts};
use crate::reply::{self, ChannelDial, Reply};

/// The switch's records as the identity rules ask them: its directory and
/// registrations, and the tenants configured here.
struct Records<'a> {
    host: &'a dyn Host,
    config: &'a Config,
}

impl identity::Directory for Records<'_> {
    fn user_exists(&self, tenant: &str, user: &str) -> bool {
        self.host.user_exists(tenant, user)
    }
    fn contacts(&self, tenant: &str, user: &str) -> Vec<String> {
        self.host.contacts(tenant, user)
    }
    fn tenants(&self) -> Vec<String> {
        self.config.tenants().map(|t| t.domain.clone()).collect()
    }
}

impl Engine {
    /// One-step parking: the leg `facts` describes sent keys during a call, `digits`
    /// after the meta key; the other party is to be parked, as an operator's park
    /// (`callpark park`) of it, so that its parking user is the one it talks to. Only a
    /// user's leg may (rule 7 of src/identity.rs). Returns the tenant and where to park:
    /// no digits, the user's own extension; digits that are a lot's number without its
    /// `*` or `#` (`5900` for `*5900`), that lot (or the slot they name); else the
    /// extension (or lot slot) of those digits.
    pub fn one_step(&self, facts: &Facts, digits: &str) -> Result<(String, String), DialError> {
        let config = self.config();
        let (user, tenant) = identity::keys_user(facts, &Records { host: &*self.shared.host, config: &config })
            .ok_or(DialError::KeysOfNoUser)?;
        let t = config.tenant(&tenant);
        let d = digits.trim().trim_end_matches('#');
        if d.is_empty() {
            return Ok((tenant, user));
        }
        if !d.bytes().all(|b| b.is_ascii_digit()) {
            let e = codes::CodeError::NotDigits {
                code: "the one-step park key".into(),
                rest: d.escape_default().to_string(),
            };
            return Err(DialError::Code(e));
        }
        for p in ["*", "#"] {
            if let Some((lot, slot)) = t.lot_dialed(&format!("{p}{d}")) {
                return Ok((tenant.clone(), slot.map_or_else(|| lot.name.clone(), str::to_string)));
            }
        }
        codes::check_extension(d, "the one-step park key", t.extensions).map_err(DialError::Code)?;
        Ok((tenant, d.to_string()))
    }

    /// Resolves the channel's identity, parks or retrieves, and says what the switch
    /// must do. A park that fails goes back to whoever transferred the call.
    pub fn answer(&self, d: &ChannelDial) -> Reply {
        let host = &self.shared.host;
        if let Some(token) = d.dialed.strip_prefix(HANDOVER_PREFIX) {
            // A retriever another node sent for a call held here (src/engine/cluster.rs).
            return match self.take_over(token, d.uuid, d.network_addr) {
                Ok(_) => Reply::Bridged,
                Err(error) => {
                    host.log(
                        LogLevel::Warning,
                        &format!("callpark: hand-over {} from {:?} refused: {error}", d.uuid, d.network_addr),
                    );
                    // A call between switches (or from one that is none): no prompt,
                    // so no early media either; its final answer says enough.
                    Reply::Refuse { cause: reply::cause(&error), prompt: String::new(), error }
                }
            };
        }
        if d.back_to_park && d.sent_back_answered && d.operator.is_none() {
            return Reply::End;
        }
        let mut facts = d.facts;
        facts.transferred |= d.operator.is_some();
        let config = self.config();
        let who = identity::resolve_in(&facts, &Records { host: &**host, config: &config });
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
        // An operator parks at an extension or group: as a park key the call was
        // transferred to, by whoever it talked to (rule 4 of src/identity.rs).
        let key: String;
        let dialed = match d.operator {
            Some(op) => {
                if let Some(named) = op.tenant.filter(|n| !n.eq_ignore_ascii_case(tenant)) {
                    return refuse(DialError::OtherTenant { tenant: named.to_ascii_lowercase() }, tenant);
                }
                if !identity::valid_user(d.dialed) {
                    return refuse(DialError::UnknownExtension(d.dialed.escape_default().to_string()), tenant);
                }
                key = format!("{BLF_PREFIX}{}", d.dialed);
                &key
            }
            None => d.dialed,
        };
        let transferor = if who.by_transfer { who.parking_user.as_deref() } else { None };
        let req = DialRequest {
            tenant,
            uuid: d.uuid,
            dialed,
            user: who.user.as_deref(),
            transferor,
            caller_number: d.caller_number,
            caller_name: d.caller_name,
            back_to_park: d.back_to_park && d.operator.is_none(),
            transferred: facts.transferred,
            operator: d.operator.is_some(),
            timeout: d.timeout,
        };
        match self.dial(&req) {
            Ok(DialOutcome::Parked { extension, music, exit_key, chosen }) => {
                // A channel that dialed the code itself (a phone parking its own call, the
                // consult call of an attended transfer) is the parker, on the line: by
                // default it hears the extension when the park chose it; `dialed` also
                // repeats the one it dialed.
                let on_the_line = !facts.transferred && !who.by_transfer;
                let told = match self.config().tenant(tenant).announce {
                    Announce::None => false,
                    Announce::Chosen => chosen && on_the_line,
                    Announce::Dialed => on_the_line,
                    Announce::Always => true,
                };
                let announce = told.then(|| reply::announcement(&extension));
                Reply::Hold { extension, music: reply::hold_music(&music, &d.media), exit_key, announce }
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
