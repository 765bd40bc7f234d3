"""Operators: the `callpark` commands (park, retrieve, hangup) and calls taken out of the
park by the switch's own commands, as an operator console does.

Part of the real-switch tests (tests/fs/harness.py runs them); the machinery they share
is tests/fs/common.py."""

import json

from common import ACME, BASIC_CONF, RECALL_CONF, blf, blf_wait, callpark_events, channel_uuid, check


def s49_taken_out_of_the_park_by_other_means(ctx):
    """A parked call moved elsewhere by the switch itself, as an operator console does it
    (uuid_transfer, while the module is loaded and while it is unloaded; uuid_bridge to the
    operator's phone; intercept from it), leaves the park: not listed, lamp off, never
    recalled, the caller still in its new call (issue 10, item 4)."""
    client, p101, p103 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("103", "103")
    ctx.sw.set_callpark_conf(RECALL_CONF)  # sales: recall-time 5 s
    check("+OK" in ctx.sw.api("callpark reload"), "short recall timers")
    w = blf(ctx, "103", "park+101")
    for how, unloaded in (("uuid_transfer", False), ("uuid_transfer", True), ("uuid_bridge", False),
                          ("intercept", False)):
        when = f"{how} {'while unloaded' if unloaded else 'while loaded'}"
        c = ctx.park_by_transfer(client, p101, "*68")
        uuid = ctx.wait_parked(1)[0]["uuid"]
        blf_wait(ctx, w, "confirmed")
        n = len(p101.incoming)
        if unloaded:
            check("+OK" in ctx.sw.api("unload mod_callpark"), "unload with the call parked")
        if how == "uuid_transfer":
            out = ctx.sw.api(f"uuid_transfer {uuid} 7000 XML default")
        else:
            m = len(p103.incoming)
            if how == "uuid_bridge":
                op = f"operator-{uuid[:8]}"
                ctx.sw.api(f"bgapi originate {{origination_uuid={op}}}user/103@acme.example &park()")
                ctx.wait(lambda: len(p103.incoming) > m, 8, "the operator's phone rings")
                p103.answer(p103.incoming[-1])
                ctx.wait(lambda: p103.incoming[-1].confirmed, 8, "the operator answers")
                out = ctx.sw.api(f"uuid_bridge {uuid} {op}")
            else:
                op_call = p103.dial(f"intercept-{uuid}")
                ctx.wait(lambda: op_call.confirmed, 8, "the operator's intercept is answered")
                out = "+OK"
        check("+OK" in out, f"{when} of the parked call: {out.strip()}")
        if unloaded:
            ctx.ua.pump(0.5)
            check("+OK" in ctx.sw.api("load mod_callpark"), "load mod_callpark")
        ctx.wait_parked(0, domain=ACME, seconds=5)
        blf_wait(ctx, w, "off")
        rang = ctx.ua.pump(8.0, lambda: len(p101.incoming) > n)
        check(not rang, f"{when}: the call moved elsewhere is never recalled")
        rx, _ = ctx.rtp_flows(c)
        check(c.confirmed and rx > 25, f"{when}: the caller is still in its new call ({rx} packets)")
        ctx.ua.hangup_all()
        ctx.wait_no_channels(f"{when}: no channel is left")
    w.unsubscribe()
    ctx.sw.set_callpark_conf(BASIC_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "back to the basic configuration")


def s50_operator_commands(ctx):
    """Operators act on calls from fs_cli and ESL (issue 11, item 7): `callpark park
    <uuid> <ext>` parks a call in conversation (the one it talked to is its parking user),
    refused across tenants and for unknown extensions with the call left talking;
    `callpark retrieve <ext>@<domain> <user>` rings that user, who is connected;
    `callpark hangup <uuid>` ends a parked call; each answers one line or JSON, refuses
    across tenants and fires the usual events."""
    client, p101, p103 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("103", "103")
    ctx.sw.esl.subscribe("CUSTOM callpark::info")
    ctx.sw.esl.events.clear()
    c, _ = ctx.call_and_answer(client, p101)
    uuid = channel_uuid(ctx, "104")
    api = lambda cmd: ctx.sw.api(f"callpark {cmd}").strip()
    for cmd, want in ((f"park {uuid} 105@globex.example", "-ERR the call is not in tenant globex.example"),
                      (f"park {uuid} 999", "-ERR extension 999 does not exist in this tenant"),
                      (f"park {uuid} *88105", "-ERR \"*88105\" is not an extension"),
                      ("park 00000000-0000-0000-0000-000000000000 105", "-ERR bad request: there is no call")):
        out = api(cmd)
        check(out.startswith(want), f"`callpark {cmd}` answers {want!r}: {out!r}")
    ctx.ua.pump(0.5)
    rx, _ = ctx.rtp_flows(c)
    check(c.confirmed and rx > 25 and not ctx.parked(), f"refused parks leave the call talking ({rx} packets)")
    out = json.loads(api(f"park {uuid} 105 json"))
    check(out["ok"] and out["call"]["extension"] == "105" and out["call"]["parking_user"] == "101",
          f"`callpark park {uuid} 105 json` parks it at 105 for 101: {out}")
    ctx.wait_parked(1)
    ctx.ua.pump(1.0)
    rx, _ = ctx.rtp_flows(c)
    check(c.confirmed and rx > 25, f"the caller hears the park's music ({rx} packets)")
    for cmd, want in (("retrieve 105@globex.example 103", "-ERR no call is parked at 105"),
                      (f"retrieve {uuid} 103@globex.example", f"-ERR no call {uuid} is parked"),
                      ("retrieve 105@acme.example 999", "-ERR user 999 does not exist"),
                      ("retrieve 105 103", "-ERR bad request: an extension needs its tenant")):
        out = api(cmd)
        check(out.startswith(want), f"`callpark {cmd}` answers {want!r}: {out!r}")
    n = len(p103.incoming)
    out = api("retrieve 105@acme.example 103")
    check(out.startswith(f"+OK ringing 103@acme.example for {uuid} parked at 105"), f"retrieve: {out!r}")
    ctx.wait(lambda: len(p103.incoming) > n, 8, "103 rings for the operator's retrieve")
    p103.answer(p103.incoming[-1])
    ctx.wait_parked(0)
    r = p103.incoming[-1]
    ctx.wait(lambda: r.confirmed, 8, "103 is connected")
    rx_c, _ = ctx.rtp_flows(c)
    rx_r, _ = ctx.rtp_flows(r)
    check(rx_c > 25 and rx_r > 25, f"the caller and 103 talk (client {rx_c}, 103 {rx_r} packets)")
    out = api(f"park {uuid} 105")
    check(out.startswith(f"+OK parked {uuid} at 105 in acme.example"), f"parked again: {out!r}")
    check(ctx.wait_parked(1)[0]["parking_user"] == "103", "by 103 this time, who talked to it")
    out = api(f"hangup {uuid} globex.example")
    check(out == f"-ERR no call {uuid} is parked", f"hangup from globex: {out!r}")
    check(c.confirmed and len(ctx.parked()) == 1, "the call stays parked")
    out = json.loads(api(f"hangup {uuid} json"))
    check(out["ok"] and out["command"] == "hangup", f"hangup json: {out}")
    ctx.wait(lambda: c.ended, 8, "the caller is hung up")
    ctx.wait_parked(0)
    actions = [(e.get("Callpark-Action"), e.get("Callpark-Detail")) for e in callpark_events(ctx)]
    check([a for a, _ in actions] == ["parked", "retrieved", "parked", "abandoned"]
          and actions[1][1] == "operator" and actions[3][1] == "operator hung up",
          f"the usual events: {actions}")
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")


def s51_early_call_parked_by_the_operator(ctx):
    """A caller still ringing (104 calls 101, who does not answer): `callpark park <uuid>
    105` parks it; the caller is answered with the park's music, 101 stops ringing, and
    102 picks it up, the application the switch runs on that answer (execute_on_answer,
    as a site's record_session) taking it out of nothing. An outgoing leg not answered
    yet is refused with the call left as it was."""
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    n = len(p101.incoming)
    c = client.dial("101")
    ctx.wait(lambda: len(p101.incoming) > n, 8, "101 rings")
    ring = p101.incoming[-1]
    uuid = channel_uuid(ctx, "104")
    check(not c.confirmed, "the caller is not answered yet")
    ctx.sw.api(f"uuid_setvar {uuid} execute_on_answer log INFO answered by the park")
    out = ctx.sw.api(f"callpark park {uuid} 105").strip()
    check(out.startswith(f"+OK parked {uuid} at 105"), f"a ringing caller is parked: {out!r}")
    ctx.wait(lambda: c.confirmed, 8, "the caller is answered by the park")
    ctx.wait(lambda: ring.ended, 8, "101 stops ringing")
    ctx.wait_parked(1)
    ctx.ua.pump(1.0)
    check(len(ctx.parked()) == 1, f"still parked a second after the park's answer: {ctx.parked()}")
    r = ctx.pick_up(p102, "*88105")
    rx, _ = ctx.rtp_flows(c)
    check(rx > 25 and r.confirmed, f"102 talks to the caller ({rx} packets)")
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")


SCENARIOS = [s49_taken_out_of_the_park_by_other_means, s50_operator_commands,
             s51_early_call_parked_by_the_operator]
