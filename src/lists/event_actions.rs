// Not a module: the one list of event actions, `Name = number => name, ends park`
// (whether the call is out of the park after it): the core's
// `Action` and its name (the `callpark-action` header), src/host.rs; the C ABI's
// `cp_event_action` with its number, src/ffi/host.rs; and that enum in
// include/callpark.h, build.rs. A number is never changed or reused.
event_actions! {
    Parked = 0 => "parked", false,
    Retrieved = 1 => "retrieved", true,
    RecallStarted = 2 => "recall-started", false,
    RecallNoAnswer = 3 => "recall-no-answer", false,
    RecallAnswered = 4 => "recall-answered", true,
    SentToRingGroup = 5 => "ring-group", true,
    SentToFinalDestination = 6 => "final-destination", true,
    RecallExhausted = 7 => "recall-exhausted", false,
    SentBack = 8 => "sent-back", false,
    Abandoned = 9 => "abandoned", true,
    Exited = 10 => "exit-key", true,
}
