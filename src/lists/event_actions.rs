// Not a module: the one list of event actions, `Name = number => name`: the core's
// `Action` and its name (the `callpark-action` header), src/host.rs; the C ABI's
// `cp_event_action` with its number, src/ffi/host.rs; and that enum in
// include/callpark.h, build.rs. A number is never changed or reused.
event_actions! {
    Parked = 0 => "parked",
    Retrieved = 1 => "retrieved",
    RecallStarted = 2 => "recall-started",
    RecallNoAnswer = 3 => "recall-no-answer",
    RecallAnswered = 4 => "recall-answered",
    SentToRingGroup = 5 => "ring-group",
    SentToFinalDestination = 6 => "final-destination",
    RecallExhausted = 7 => "recall-exhausted",
    SentBack = 8 => "sent-back",
    Abandoned = 9 => "abandoned",
}
