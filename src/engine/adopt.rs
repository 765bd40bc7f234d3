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

/// Why the switch hands a parked channel back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adoption {
    /// After a load: a channel marked parked since before an unload; `in_hold` says
    /// whether it still runs the park's hold or is on its way to it
    /// (`crate::hold::runs_hold`, `crate::hold::on_way_to_hold`).
    AfterLoad { in_hold: bool },
    /// A leg left waiting by the bridge that was to take it out of the park
    /// (`crate::stranded`): it goes back in.
    LeftAlone,
}

/// What the module does with the channel once the park has (or has not) taken it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterAdopt {
    /// Leave it as it is.
    Nothing,
    /// Put it on the park's hold, with the exit key it was parked with.
    Hold,
    /// Put it on the plain hold (no exit key: nothing of the module), still marked parked,
    /// for the next load to adopt: a caller is never dropped because the park could not
    /// take it back now (the module unloading, the store unreachable).
    PlainHold,
    /// It is no longer parked (taken out of the hold while the module was unloaded):
    /// unmark it.
    NotParked,
}

/// What a taking back came to: the park's answer (`None`: not asked) and what follows.
#[derive(Debug, PartialEq, Eq)]
pub struct TakenBack {
    pub result: Option<Result<(), DialError>>,
    pub then: AfterAdopt,
}

/// What follows the park's answer `result` to a taking back for `why`, for a call parked
/// with an exit key or not: after a load the call already holds, in the plain hold kept
/// over the unload, so only an exit key needs the park's hold again; a leg left alone
/// holds nothing and needs a hold whatever the park said.
pub fn after_adopt(why: Adoption, result: &Result<(), DialError>, exit_key: bool) -> AfterAdopt {
    match (why, result) {
        (Adoption::AfterLoad { .. }, Ok(())) if exit_key => AfterAdopt::Hold,
        (Adoption::AfterLoad { .. }, Ok(())) => AfterAdopt::Nothing,
        (Adoption::LeftAlone, Ok(()) | Err(DialError::AlreadyParked)) => AfterAdopt::Hold,
        (_, Err(_)) => why.kept(),
    }
}

impl Adoption {
    /// What keeps the caller when the park does not take the channel back (refused, or
    /// no answer from the library at all): after a load it stays on the plain hold it
    /// has, marked for the next load; a leg left alone holds nothing and gets that hold.
    pub fn kept(self) -> AfterAdopt {
        match self {
            Adoption::AfterLoad { .. } => AfterAdopt::Nothing,
            Adoption::LeftAlone => AfterAdopt::PlainHold,
        }
    }
}

impl Engine {
    /// Takes back a channel the switch holds parked, for `why` (`Engine::adopt` when it is
    /// still parked), and says what the module does with it next.
    pub fn take_back(&self, req: &AdoptRequest, why: Adoption, exit_key: bool) -> TakenBack {
        if why == (Adoption::AfterLoad { in_hold: false }) {
            return TakenBack { result: None, then: AfterAdopt::NotParked };
        }
        let result = self.adopt(req);
        let then = after_adopt(why, &result, exit_key);
        TakenBack { result: Some(result), then }
    }

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
    use super::*;

    #[test]
    fn what_follows_a_taking_back() {
        let load = Adoption::AfterLoad { in_hold: true };
        let ok = Ok(());
        let parked = Err(DialError::AlreadyParked);
        let store = Err(DialError::HostFailed("store".into()));
        assert_eq!(after_adopt(load, &ok, true), AfterAdopt::Hold, "its exit key works again");
        assert_eq!(after_adopt(load, &ok, false), AfterAdopt::Nothing, "the plain hold is the hold");
        assert_eq!(after_adopt(load, &store, true), AfterAdopt::Nothing, "stays marked for the next load");
        assert_eq!(after_adopt(load, &parked, true), AfterAdopt::Nothing);
        for key in [false, true] {
            assert_eq!(after_adopt(Adoption::LeftAlone, &ok, key), AfterAdopt::Hold);
            assert_eq!(after_adopt(Adoption::LeftAlone, &parked, key), AfterAdopt::Hold, "the park still has it");
            assert_eq!(after_adopt(Adoption::LeftAlone, &store, key), AfterAdopt::PlainHold, "never dropped");
        }
    }

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
