//! Adopting calls the switch still holds parked when an engine starts (after a module
//! reload): each comes back where it was, with its park time, so that it is picked up
//! and recalled as if nothing had happened.

use super::clean::{clean_id, clean_name, clean_number, clean_tenant, clean_user};
use super::park::{own_recall, terms, NewCall};
use super::{Engine, Shared};
use crate::error::DialError;
use crate::host::Notice;
use crate::store::InsertError;

/// A call the switch still holds parked.
#[derive(Clone, Debug, Default)]
pub struct AdoptRequest<'a> {
    pub tenant: &'a str,
    pub uuid: &'a str,
    /// The extension it is parked at.
    pub extension: &'a str,
    pub parking_user: &'a str,
    pub caller_number: &'a str,
    pub caller_name: &'a str,
    /// How long ago it was parked.
    pub parked_secs_ago: u64,
    /// The call's own recall time, as the channel has it (`callpark_timeout`): empty for
    /// the configured one, `0` for never.
    pub timeout: &'a str,
}

/// How long ago a call was parked, from the park time the switch remembered for it
/// (`parked_epoch`, seconds since 1970, as the channel has it) and the switch's clock now.
/// A park time in the future (the clock was stepped back since), or one that is no
/// number, counts as "just now": the call waits a whole recall time rather than being
/// recalled at once.
pub fn secs_since(parked_epoch: Option<&str>, now_epoch: u64) -> u64 {
    match parked_epoch.map(str::trim).and_then(|e| e.parse::<u64>().ok()) {
        Some(then) if then > 0 && then <= now_epoch => now_epoch - then,
        _ => 0,
    }
}

impl Engine {
    /// Takes back a call the switch still holds parked. It is parked again where it was,
    /// keeps its park time, lights its lamps (an event `parked` with detail `adopted`),
    /// and is recalled when its recall time, counted from the original park, lapses (at
    /// once if that has passed). Nobody is put on hold or messaged; slot limits are not
    /// applied (the call is already there).
    pub fn adopt(&self, req: &AdoptRequest) -> Result<(), DialError> {
        self.shared.adopt(req)
    }
}

impl Shared {
    fn adopt(&self, req: &AdoptRequest) -> Result<(), DialError> {
        let bad = DialError::BadRequest;
        let tenant = clean_tenant(req.tenant).map_err(bad)?;
        let uuid = clean_id("uuid", req.uuid).map_err(bad)?;
        let extension = clean_user("extension", Some(req.extension))
            .map_err(bad)?
            .ok_or_else(|| bad("extension is empty".into()))?;
        let parking_user =
            clean_user("parking user", Some(req.parking_user)).map_err(bad)?.ok_or(DialError::NoParkingUser)?;
        let config = self.config.read().clone();
        let t = config.tenant(&tenant);
        let (plan, music) = terms(t, t.lot_of(extension), parking_user);
        let now = self.clock.now_ms();
        let parked_at = now.saturating_sub(req.parked_secs_ago.saturating_mul(1000));
        // Checked when it was parked: one that is no time now (a variable changed since)
        // is the configured one.
        let (plan, due_ms) = own_recall(plan, crate::config::own_recall_time(req.timeout).unwrap_or(None), parked_at);
        let call = NewCall {
            tenant: &tenant,
            uuid,
            extension,
            parking_user,
            caller_number: clean_number(req.caller_number),
            caller_name: clean_name(req.caller_name),
            music,
            parked_at_ms: parked_at,
            due_ms: due_ms.map(|d| d.max(now)),
            plan,
        };
        {
            let mut inner = self.lock_fresh();
            if inner.store.get(uuid).is_some() {
                return Err(DialError::AlreadyParked);
            }
            // A call already on hold is adopted whatever its slot holds; only a store that
            // cannot be reached refuses it (it stays on hold, unknown to the park).
            let mut ev = match self.place(&mut inner, t, call, Some("adopted".to_string()), usize::MAX) {
                Ok(ev) => ev,
                Err(InsertError::Full) => unreachable!("no limit"),
                Err(InsertError::Store(e)) => return Err(DialError::Store(e)),
            };
            if let Notice::Event(e) = &mut ev {
                e.adopted = true;
            }
            inner.outbox.push_back(ev);
        }
        self.deliver();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::secs_since;

    #[test]
    fn park_times_in_the_future_or_malformed_count_as_now() {
        assert_eq!(secs_since(Some("1000"), 1050), 50);
        assert_eq!(secs_since(Some(" 1000 "), 1000), 0);
        assert_eq!(secs_since(Some("2000"), 1050), 0, "the clock was stepped back");
        for bad in [None, Some(""), Some("x"), Some("-5"), Some("0"), Some("12abc"), Some("99999999999999999999999")] {
            assert_eq!(secs_since(bad, 1050), 0, "{bad:?}");
        }
    }
}
