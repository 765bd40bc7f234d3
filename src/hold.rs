//! The park's hold: the one plan every park holds its caller with (a dial, an operator's
//! park, an adoption, a replay), as the steps the switch runs, and whether what a parked
//! channel runs now is that hold. The module renders the steps (in place, or as an inline
//! extension) and reports what a channel runs; the rules are here.

use crate::names::{AFTER_MUSIC, APP_CALLPARK, INLINE, SILENCE, VAR_ANNOUNCE, VAR_HOLD_MUSIC};

/// One step: an application and its data, with the channel's variables unexpanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub app: &'static str,
    pub data: String,
}

/// What a step's data is: a channel variable the switch expands, or a fixed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    Announce,
    Music,
    Silence,
    AfterMusic,
}

impl Data {
    /// As the step is written, the variables unexpanded.
    fn written(self) -> String {
        match self {
            Data::Announce => format!("${{{VAR_ANNOUNCE}}}"),
            Data::Music => format!("${{{VAR_HOLD_MUSIC}}}"),
            Data::Silence => SILENCE.into(),
            Data::AfterMusic => AFTER_MUSIC.into(),
        }
    }

    /// Whether `data`, as the switch ran it, is this step's for the channel of `r` (an
    /// empty variable is never what ran).
    fn ran(self, data: &str, r: &Running) -> bool {
        match self {
            Data::Announce => !r.announce.is_empty() && data == r.announce,
            Data::Music => !r.music.is_empty() && data == r.music,
            Data::Silence => data == SILENCE,
            Data::AfterMusic => data == AFTER_MUSIC,
        }
    }
}

/// The hold's steps: the announcement (when there is one), then the music, then silence.
/// Without an exit key nothing stops `endless_playback`; with one, `playback` stops on
/// the key (its terminators) or at the music's end, and `callpark:after-music` asks
/// the library what that means (`Engine::music_stopped`).
fn plan(announce: bool, exit_key: bool) -> impl Iterator<Item = (&'static str, Data)> {
    let rest: &'static [(&'static str, Data)] = if exit_key {
        &[
            ("playback", Data::Music),
            (APP_CALLPARK, Data::AfterMusic),
            ("playback", Data::Silence),
            (APP_CALLPARK, Data::AfterMusic),
        ]
    } else {
        &[("endless_playback", Data::Music), ("endless_playback", Data::Silence)]
    };
    announce.then_some(("say", Data::Announce)).into_iter().chain(rest.iter().copied())
}

/// The hold's steps as the switch runs them (see [`plan`]).
pub fn steps(announce: bool, exit_key: bool) -> Vec<Step> {
    plan(announce, exit_key).map(|(app, data)| Step { app, data: data.written() }).collect()
}

/// The steps as an inline extension's text: `app:data,app:data`.
pub fn inline(steps: &[Step]) -> String {
    steps.iter().map(|s| format!("{}:{}", s.app, s.data)).collect::<Vec<_>>().join(",")
}

/// What a parked channel runs, as the switch reports it.
#[derive(Debug, Default)]
pub struct Running<'a> {
    /// The dialplan of its caller profile (`XML`, `inline`) and its destination number.
    pub dialplan: &'a str,
    pub destination: &'a str,
    /// Its caller profile's key now, and the key the hold recorded when it began in the
    /// extension that parked it (empty: it did not): [`profile_key`].
    pub profile: &'a str,
    pub held_in: &'a str,
    /// The application it runs and its (expanded) data.
    pub app: &'a str,
    pub data: &'a str,
    /// The channel's hold music and announcement (the variables the steps expand).
    pub music: &'a str,
    pub announce: &'a str,
    /// The park is answering the channel (its variable): what runs is the switch's own
    /// work on the answer (`execute_on_answer`), not a way out of the park.
    pub answering: bool,
}

/// A caller profile as the hold began under it: a transfer gives the channel a new
/// profile (a new index), or rewrites the destination of the one it has.
pub fn profile_key(index: &str, dialplan: &str, context: &str, number: &str) -> String {
    format!("{index}|{dialplan}|{context}|{number}")
}

/// Whether `r` is one of the hold's steps: in the extension that parked it (under the
/// caller profile it had then), or in the hold's inline extension.
pub fn runs_hold(r: &Running) -> bool {
    let held_here = !r.profile.is_empty() && r.profile == r.held_in && !r.dialplan.is_empty();
    if (!held_here && !r.dialplan.eq_ignore_ascii_case(INLINE)) || r.app.is_empty() || r.data.is_empty() {
        return false;
    }
    plan(true, true).chain(plan(true, false)).any(|(app, data)| app == r.app && data.ran(r.data, r))
}

/// Whether a parked channel is still in the park, from what it runs: in the hold, being
/// answered by the park, or (with `on_way`) on its way to the hold.
pub fn in_park(r: &Running, on_way: bool) -> bool {
    r.answering || (on_way && on_way_to_hold(r.dialplan, r.destination)) || runs_hold(r)
}

/// Transferred to the hold's inline extension and not running it yet (an operator's park
/// a moment ago, the channel still routing): its caller profile is the hold's own.
pub fn on_way_to_hold(dialplan: &str, destination: &str) -> bool {
    dialplan.eq_ignore_ascii_case(INLINE)
        && [true, false].iter().any(|&key| destination.contains(&inline(&steps(false, key)[..1])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running<'a>(app: &'a str, data: &'a str) -> Running<'a> {
        Running {
            dialplan: "inline",
            app,
            data,
            music: "moh.wav",
            announce: "en number iterated 102",
            ..Default::default()
        }
    }

    #[test]
    fn the_plans() {
        assert_eq!(
            inline(&steps(true, false)),
            "say:${callpark_announce},endless_playback:${callpark_hold_music},endless_playback:silence_stream://-1"
        );
        assert_eq!(
            inline(&steps(false, true)),
            "playback:${callpark_hold_music},callpark:after-music,playback:silence_stream://-1,callpark:after-music"
        );
    }

    #[test]
    fn what_is_the_hold() {
        assert!(runs_hold(&running("endless_playback", "moh.wav")));
        assert!(runs_hold(&running("playback", "silence_stream://-1")));
        assert!(runs_hold(&running("say", "en number iterated 102")));
        assert!(runs_hold(&running("callpark", "after-music")));
        assert!(!runs_hold(&running("endless_playback", "other.wav")), "another music");
        assert!(!runs_hold(&running("bridge", "user/102@acme.example")));
        assert!(!runs_hold(&running("say", "en number iterated 103")));
        assert!(!runs_hold(&Running { announce: "", ..running("say", "") }), "no announcement, no say");
        // In the extension that parked it: only under the profile it was held in.
        let xml = |held_in| Running {
            dialplan: "XML",
            profile: "1|XML|default|*68102",
            held_in,
            ..running("endless_playback", "moh.wav")
        };
        assert!(runs_hold(&xml("1|XML|default|*68102")));
        assert!(!runs_hold(&xml("")), "an XML extension that is not where the hold began");
        assert!(!runs_hold(&xml("2|XML|default|7000")), "transferred since");
    }

    #[test]
    fn on_its_way() {
        let s = inline(&steps(true, false));
        assert!(on_way_to_hold("inline", &s));
        assert!(on_way_to_hold("INLINE", &inline(&steps(false, true))));
        assert!(!on_way_to_hold("XML", &s));
        assert!(!on_way_to_hold("inline", "bridge:user/102@acme.example"));
    }

    #[test]
    fn still_in_the_park() {
        // What the switch runs on the park's answer (execute_on_answer) is no way out.
        let answering = Running { answering: true, dialplan: "XML", ..running("record_session", "/tmp/x.wav") };
        assert!(in_park(&answering, false));
        assert!(!in_park(&Running { answering: false, ..answering }, false), "the same, run later, is");
        let s = inline(&steps(false, false));
        let routing = Running { destination: &s, ..running("", "") };
        assert!(in_park(&routing, true), "on its way");
        assert!(!in_park(&routing, false), "not yet in the hold");
        assert!(in_park(&running("endless_playback", "moh.wav"), false));
    }
}
