//! A leg left waiting by a bridge that never comes. The switch's `uuid_bridge` is driven
//! by its originator's thread; an originator that hung up before it got there (a
//! retriever whose BYE came with the ACK of its 200 OK, a hand-over leg whose node hung
//! up, a parked caller gone as its recall was answered) leaves the other leg waiting for
//! it for ever: a caller out of the park on silence, a phone connected to nothing. The
//! module reports such a leg when the one it waited for hangs up; the rule of what it is
//! and what becomes of it is here.

/// What the switch knows of a leg when `gone` hung up (any text empty when unknown).
#[derive(Clone, Copy, Debug, Default)]
pub struct Waiting<'a> {
    /// The leg is up (not hanging up).
    pub up: bool,
    /// It is bridged to someone.
    pub bridged: bool,
    /// Its state, by the switch's name (`CS_RESET`, `CS_EXECUTE`, ...).
    pub state: &'a str,
    /// The leg `uuid_bridge` bonded it to (`signal_bond`): a later bridge or transfer of
    /// it bonds it anew.
    pub bond: &'a str,
    /// The last leg it was bridged to (`last_bridge_to`).
    pub last_bridge: &'a str,
    /// The leg that hung up.
    pub gone: &'a str,
    /// It was parked (it has a slot): it can go back to the park.
    pub parked: bool,
}

/// What becomes of a leg when the one it may have waited for hung up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stranded {
    /// It waits for nobody (bridged, in a dialplan, or it was never bonded to that leg).
    No,
    /// A parked caller goes back into the park as it was (adopted: its slot, parking user
    /// and park time).
    BackToPark,
    /// Anyone else is hung up.
    HangUp,
}

/// The switch's states in which a leg runs nothing of its own and waits for another
/// thread to drive it (`uuid_bridge` leaves it in `CS_RESET`; the others are where a
/// leg on its way there can be caught).
const WAITING: [&str; 4] = ["CS_RESET", "CS_SOFT_EXECUTE", "CS_HIBERNATE", "CS_CONSUME_MEDIA"];

/// Whether `w` was left waiting by `w.gone`, and what becomes of it: up, bridged to
/// nobody, in a waiting state, bonded to the leg gone, and never bridged to it (a leg
/// that was connected to it and lost it is no stranded one: the switch ends or
/// continues that call itself).
pub fn stranded(w: &Waiting) -> Stranded {
    let left = w.up
        && !w.bridged
        && !w.gone.is_empty()
        && w.bond == w.gone
        && w.last_bridge != w.gone
        && WAITING.contains(&w.state);
    match (left, w.parked) {
        (false, _) => Stranded::No,
        (true, true) => Stranded::BackToPark,
        (true, false) => Stranded::HangUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left<'a>() -> Waiting<'a> {
        Waiting { up: true, state: "CS_RESET", bond: "gone", gone: "gone", parked: true, ..Default::default() }
    }

    #[test]
    fn a_leg_bonded_to_the_one_gone_and_waiting_for_it() {
        assert_eq!(stranded(&left()), Stranded::BackToPark);
        assert_eq!(stranded(&Waiting { parked: false, ..left() }), Stranded::HangUp);
        for state in WAITING {
            assert_eq!(stranded(&Waiting { state, ..left() }), Stranded::BackToPark, "{state}");
        }
    }

    #[test]
    fn anything_else_is_left_alone() {
        let cases = [
            ("hanging up", Waiting { up: false, ..left() }),
            ("bridged to someone", Waiting { bridged: true, ..left() }),
            ("running a dialplan", Waiting { state: "CS_EXECUTE", ..left() }),
            ("parked by the switch", Waiting { state: "CS_PARK", ..left() }),
            ("bonded anew since", Waiting { bond: "other", ..left() }),
            ("never bonded", Waiting { bond: "", ..left() }),
            ("connected to it before", Waiting { last_bridge: "gone", ..left() }),
            ("nobody gone", Waiting { gone: "", bond: "", ..left() }),
        ];
        for (what, w) in cases {
            assert_eq!(stranded(&w), Stranded::No, "{what}");
        }
    }
}
