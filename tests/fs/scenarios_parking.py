"""Parking and picking up: blind and attended transfers to the park codes, group parks,
lots and valet keys, the exit key, codes that fail, and the races of retrieving a call.

Part of the real-switch tests (tests/fs/harness.py runs them); the machinery they share
is tests/fs/common.py."""

import re
import time

from common import (ACME, BASIC_CONF, GLOBEX, RECALL_CONF, blf, blf_wait, callpark_events, check, sipp_final,
                    sipp_retrievers, start_sipp, use_conf)


def s1_blind_transfer_park_and_star88(ctx):
    """Client calls 101, 101 blind-transfers to *68102; music; BLF confirmed; 102 *88."""
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    w = blf(ctx, "103", "park+102")
    blf_wait(ctx, w, "off")
    c = ctx.park_by_transfer(client, p101, "*68102")
    calls = ctx.wait_parked(1)
    check(calls[0]["extension"] == "102" and calls[0]["parking_user"] == "101",
          f"parked at 102 by 101, not by the caller's caller ID: {calls[0]}")
    check(calls[0]["caller_number"] == "104", f"the parked caller is 104: {calls[0]}")
    ctx.wait(lambda: any("Parked 104 at 102, dial *88102" in m for _, m in p101.messages), 5,
             f"101, who parked it, is told where it went ({p101.messages[-3:]})")
    rx, _ = ctx.rtp_flows(c)
    check(c.confirmed and rx > 25, f"the parked client keeps its call and hears music ({rx} RTP packets in 1.5 s)")
    state, who = blf_wait(ctx, w, "confirmed")
    check("104" in who, f"the lamp shows the parked caller 104 ({who!r})")
    r = ctx.pick_up(p102, "*88")
    rx_c, _ = ctx.rtp_flows(c)
    rx_r, _ = ctx.rtp_flows(r)
    check(rx_c > 25 and rx_r > 25, f"RTP flows both ways after *88 (client {rx_c}, 102 {rx_r})")
    blf_wait(ctx, w, "off")
    w.unsubscribe()
    ctx.ua.hangup_all()


def s2_park_own_and_other_device(ctx):
    """101 parks with *68; a second registration of 101 retrieves with *88; then another
    user retrieves with *88101."""
    client, a, b = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("101b", "101")
    p103 = ctx.phone("103", "103")
    for retriever, code in ((b, "*88"), (p103, "*88101")):
        c = ctx.park_by_transfer(client, a, "*68")
        calls = ctx.wait_parked(1)
        check(calls[0]["extension"] == "101", f"parked at 101: {calls[0]}")
        r = retriever.dial(code)
        ctx.wait(lambda: r.confirmed, 8, f"{retriever.name}'s {code} is answered")
        ctx.wait_parked(0)
        rx, _ = ctx.rtp_flows(r)
        check(rx > 25 and c.confirmed, f"{retriever.name} talks to the client ({rx} packets)")
        ctx.ua.hangup_all()
    ctx.drop_phone("101b")


def s3_group_park(ctx):
    """*58 parks against the first free member; every member told; bare *88 by a member."""
    client, p101, p102, p103 = (ctx.phone("client", "104"), ctx.phone("101a", "101"),
                                ctx.phone("102", "102"), ctx.phone("103", "103"))
    for p in (p101, p102, p103):
        p.messages.clear()
    c = ctx.park_by_transfer(client, p102, "*58")
    calls = ctx.wait_parked(1)
    check(calls[0]["extension"] == "101" and calls[0]["group"] == "sales", f"parked against 101 (first member): {calls[0]}")
    ctx.wait(lambda: all(p.messages for p in (p101, p102, p103)), 6,
             f"every member gets a MESSAGE ({[(p.name, p.messages) for p in (p101, p102, p103)]})")
    body = p103.messages[-1][1]
    check("parked on 101" in body and "*88101" in body, f"the message names the slot and code: {body!r}")
    r = p103.dial("*88")
    ctx.wait(lambda: r.confirmed, 8, "103's bare *88 (group) is answered")
    ctx.wait_parked(0)
    check(c.confirmed, "the client is connected to 103")
    ctx.ua.hangup_all()


def s4_failures(ctx):
    """Empty slot; unknown extension sent back; another tenant refused; caller hangs up."""
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    g101 = ctx.phone("g101", "101", GLOBEX)
    # *88 on an empty slot: answered with a prompt, then hung up; nothing parked.
    r = p102.dial("*88")
    ctx.wait(lambda: r.ended, 10, "*88 on an empty slot ends")
    check(r.code == 480, f"rejected with 480 after the announcement, never answered (got {r.code})")
    check(ctx.parked(ACME) == [], "nothing parked")
    r = p102.dial("*88abc")
    ctx.wait(lambda: r.ended, 10, "a mistyped code is refused")
    check(r.code == 404, f"rejected with 404 (got {r.code})")
    # *68 to an unknown extension: the call comes back to 101.
    n = len(p101.incoming)
    c = ctx.park_by_transfer(client, p101, "*68999")
    ctx.wait(lambda: len(p101.incoming) > n + 1, 10, "the call rings 101 again")
    back = p101.incoming[n + 1]
    check(back.caller_number() == "104", f"it is the client coming back ({back.remote})")
    p101.answer(back)
    ctx.wait(lambda: back.confirmed, 5, "101 answers the returned call")
    check(c.confirmed, "the client was never dropped")
    ctx.ua.hangup_all()
    # A user of globex dials *88102 while acme 102 holds a call: refused.
    c = ctx.park_by_transfer(client, p101, "*68102")
    ctx.wait_parked(1)
    r = g101.dial("*88102")
    ctx.wait(lambda: r.ended, 10, "globex 101's *88102 is refused")
    check(r.code == 480, f"as nothing parked there (got {r.code})")
    check(len(ctx.parked(ACME)) == 1, "acme's call is still parked")
    check(ctx.parked(GLOBEX) == [], "globex sees no call")
    # The parked caller hangs up: slot and lamp cleared.
    w = blf(ctx, "103", "park+102")
    blf_wait(ctx, w, "confirmed")
    c.hangup(__import__("pjsua2").CallOpParam(True))
    ctx.wait_parked(0)
    blf_wait(ctx, w, "off")
    w.unsubscribe()
    ctx.ua.hangup_all()


def sipp_hangup_while_retrieved(ctx, rounds=20):
    """The parked caller (SIPp, 104 parking itself at 101) hangs up about when a SIPp
    retriever (102) dials *88101. Both start together: the caller parks, holds for
    `hold_ms` and hangs up; the retriever waits `delay` ms and dials. The delay walks
    towards the moment of the BYE (10 ms earlier after a 480, later after a 200), so
    that the rounds straddle it. Every round the retriever is connected (then hung up by
    the switch), refused with 480 (the caller had left) or with 487 (it left during the
    bridge; 502 when it was gone at the bridge's last step: FreeSWITCH's uuid_bridge
    answers DESTINATION_OUT_OF_ORDER then), the caller's BYE is answered, nothing stays
    parked and no channel is left.
    Returns the counts of the retriever's answers."""
    hold_ms, delay = 1000, 1100
    seen = {}
    for i in range(rounds):
        caller, log = start_sipp(ctx, "park_then_bye.xml", "104", "*68101", 25170, 26300, "caller", hold_ms)
        got = sipp_retrievers(ctx, ["102"], "*88101", delay_ms=delay)["102"]
        bye = sipp_final(ctx, caller, log, "caller")
        check(got in ("200", "480", "487", "502"),
              f"hang-up round {i} (retrieve after {delay} ms): 200, 480, 487 or 502, got {got}")
        check(bye == "200", f"hang-up round {i}: the caller parked and hung up cleanly ({bye})")
        ctx.wait_parked(0)
        ctx.wait_no_channels(f"hang-up round {i}: no channel is left")
        seen[got] = seen.get(got, 0) + 1
        delay += 10 if got != "480" else -10
    return seen


def s5_races_on_the_wire(ctx, rounds=20):
    """Two phones dial *88101 at the same instant: one 200 OK, one clean 480, every round;
    a caller hanging up while it is being picked up (SIPp on both sides, 20 rounds at
    offsets from -40 to +40 ms) leaves nothing behind."""
    client, p101 = ctx.phone("client", "104"), ctx.phone("101a", "101")
    p102, p103 = ctx.phone("102", "102"), ctx.phone("103", "103")
    wins = {"102": 0, "103": 0}
    for i in range(rounds):
        c = ctx.park_by_transfer(client, p101, "*68")
        ctx.wait_parked(1)
        a, b = p102.dial("*88101"), p103.dial("*88101")
        ctx.wait(lambda: (a.confirmed or a.ended) and (b.confirmed or b.ended), 10, f"round {i}: both retrievers get an answer")
        ctx.ua.pump(0.3)
        outcome = sorted([("200" if x.confirmed else str(x.code)) for x in (a, b)])
        check(outcome == ["200", "480"], f"round {i}: one 200 OK and one 480, got {outcome}")
        wins["102" if a.confirmed else "103"] += 1
        ctx.wait_parked(0)
        ctx.ua.hangup_all()
    # The caller hangs up at the moment it is picked up: SIPp on both sides, for timing.
    ctx.ua.hangup_all()
    seen = sipp_hangup_while_retrieved(ctx)
    print(f"    races: 102 won {wins['102']}, 103 won {wins['103']} of {rounds}; caller hung up while "
          f"retrieved: retriever connected {seen.get('200', 0)}, refused {seen.get('480', 0)}, cancelled during "
          f"the bridge {seen.get('487', 0)} of 20")


def s6_sipp_retrievers_race(ctx, rounds=10):
    """Two SIPp retrievers dial *88101 at the same moment, authenticated as 102 and 103:
    one 200 OK and one clean 480, every round; the slot is empty after each round."""
    client, p101 = ctx.phone("client", "104"), ctx.phone("101a", "101")
    wins = {"102": 0, "103": 0}
    for i in range(rounds):
        ctx.park_by_transfer(client, p101, "*68")
        ctx.wait_parked(1)
        got = sipp_retrievers(ctx, ["102", "103"], "*88101")
        check(sorted(got.values()) == ["200", "480"], f"round {i}: one 200 OK and one 480, got {got}")
        wins[[u for u, c in got.items() if c == "200"][0]] += 1
        ctx.wait_parked(0)
        ctx.ua.hangup_all()
        ctx.wait_no_channels(f"round {i}: no channel is left")
    print(f"    SIPp races: 102 won {wins['102']}, 103 won {wins['103']} of {rounds}")


def s7_caller_leaves_while_being_parked(ctx, rounds=40):
    """A caller who hangs up while its park is being set up (lamps, notices, the parked
    event still on their way) leaves no ghost in the park: 104 dials *68102 itself and
    cancels after 0-78 ms, 40 rounds; afterwards nothing is parked, the lamp is off and
    the switch has no channel (issue 10, item 3)."""
    import pjsua2 as pj
    client = ctx.phone("client", "104")
    w = blf(ctx, "103", "park+102")
    parked_rounds = 0
    for i in range(rounds):
        c = client.dial("*68102")
        ctx.ua.pump(0.002 * i)
        try:
            c.hangup(pj.CallOpParam(True))
        except pj.Error:
            pass
        ctx.ua.pump(3, lambda: c.ended)
        ctx.wait_no_channels(f"round {i}: the caller's channel is gone")
        if c.code == 200 or c.confirmed:
            parked_rounds += 1
        ctx.ua.pump(0.2)
        calls = ctx.parked()
        check(not calls, f"round {i} (hung up after {2 * i} ms): no ghost is left in the park: {calls}")
    blf_wait(ctx, w, "off")
    w.unsubscribe()
    print(f"    {rounds} rounds; the caller was answered (parked) before it hung up in {parked_rounds}")


def s8_sent_back_and_not_taken(ctx):
    """*68999 (no such extension) sends the caller back to 101, who is busy (486): the
    caller is not dropped but parked at 101's own extension (issue 10, item 7), and 102
    picks it up with *88101. A sent-back call that 101 answers still ends with its
    conversation (nothing parks it afterwards)."""
    import pjsua2 as pj
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    n = len(p101.incoming)
    c = ctx.park_by_transfer(client, p101, "*68999")
    ctx.wait(lambda: len(p101.incoming) > n + 1, 10, "the call is sent back: 101 rings")
    op = pj.CallOpParam()
    op.statusCode = 486
    p101.incoming[-1].hangup(op)
    calls = ctx.wait_parked(1)
    check((calls[0]["extension"], calls[0]["parking_user"]) == ("101", "101"),
          f"back in the park at 101's own extension: {calls}")
    check(c.confirmed, "the caller was never dropped")
    r = ctx.pick_up(p102, "*88101")
    rx, _ = ctx.rtp_flows(c)
    check(rx > 25 and r.confirmed, f"102 talks to the caller ({rx} packets)")
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")
    # Taken by 101: the conversation ends the call, nothing parks it afterwards.
    n = len(p101.incoming)
    c = ctx.park_by_transfer(client, p101, "*68999")
    ctx.wait(lambda: len(p101.incoming) > n + 1, 10, "sent back again: 101 rings")
    back = p101.incoming[-1]
    p101.answer(back)
    ctx.wait(lambda: back.confirmed and back.media_active, 5, "101 takes the sent-back call")
    rx, _ = ctx.rtp_flows(back)
    check(rx > 25 and c.confirmed, f"101 talks to the caller ({rx} packets)")
    back.hangup(pj.CallOpParam(True))
    ctx.wait(lambda: c.ended, 5, "when 101 hangs up, the caller's call ends")
    check(not ctx.parked(ACME), "and nothing parks it afterwards")
    ctx.wait_no_channels("no channel is left")


def s9_attended_transfer_park(ctx):
    """Attended-transfer park (issue 11, item 2): 101 talks to the client, calls *68102 (or
    *68, or *58) on a second line, which parks that consult call, then completes the
    attended transfer (REFER with Replaces): the client is parked where the code says, by
    101, hears music; the recall rings 101 with the client's number; 102 picks up. With
    `announce` `chosen` (the default) the consult call hears the extension only when the
    park chose it (*58: the group's first free member), not one 101 named (*68102, *68)."""
    import pjsua2 as pj
    use_conf(ctx, RECALL_CONF)  # sales (101-103): recall-time 5
    try:
        client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
        ctx.sw.esl.subscribe("PLAYBACK_START")
        for code, ext in (("*68102", "102"), ("*68", "101"), ("*58", "101")):
            c, leg = ctx.call_and_answer(client, p101)
            ctx.sw.esl.events.clear()
            cons = p101.dial(code)
            ctx.wait(lambda: cons.confirmed, 8, f"101's consult call to {code} is answered")
            # Before the transfer, 101 hears where the call will go when the park chose it:
            # the digits of the extension, spoken by `say` (stand-in prompts), then the music.
            heard = []

            def played():
                files = [e.get("Playback-File-Path", "") for e in ctx.sw.esl.poll_events(0.1)
                         if e.get("Event-Name") == "PLAYBACK_START"]
                heard.extend(files)
                return files
            if code == "*58":
                ctx.wait(lambda: any("digits/" in f for f in played()), 5, f"{code}: the consult call hears the extension")
                played()
                digits = re.findall(r"digits/(\d)\.wav", " ".join(heard))
                check("".join(digits).startswith(ext), f"{code}: the consult call hears {ext} digit by digit: {heard}")
            ctx.wait(lambda: cons.media_active, 5, f"{code}: the consult call has media")
            if code != "*58":
                end = time.time() + 1.5
                while time.time() < end:
                    played()
                # (The *58 round shows that these PLAYBACK_START events do arrive.)
                check(not any("digits/" in f for f in heard),
                      f"{code}: 101 named the extension: it is not spoken back: {heard}")
            rx, _ = ctx.rtp_flows(cons)
            check(rx > 25, f"{code}: RTP reaches the consult call ({rx} packets)")
            ctx.ua.pump(0.5)
            n = len(p101.incoming)
            leg.xferReplaces(cons, pj.CallOpParam(True))
            ctx.wait(lambda: leg.ended and cons.ended, 8, f"{code}: 101's two calls end with the transfer")
            ctx.wait(lambda: [x["caller_number"] for x in ctx.parked(ACME)] == ["104"], 8,
                     f"{code}: the client takes the consult call's place in the park ({ctx.parked(ACME)})")
            calls = ctx.parked(ACME)
            check(calls[0]["extension"] == ext and calls[0]["parking_user"] == "101",
                  f"{code}: parked at {ext} by 101: {calls[0]}")
            rx, _ = ctx.rtp_flows(c)
            check(c.confirmed and rx > 25, f"{code}: the client hears music ({rx} packets)")
            if code == "*68102":
                ctx.wait(lambda: len(p101.incoming) > n, 10, "the recall rings 101, who parked it")
                check(p101.incoming[-1].caller_number() == "104", f"the recall shows the client ({p101.incoming[-1].remote})")
                p101.incoming[-1].hangup(pj.CallOpParam(True))
            r = ctx.pick_up(p102, "*88" + ext)
            rx, _ = ctx.rtp_flows(r)
            check(rx > 25, f"{code}: 102 talks to the client ({rx} packets)")
            ctx.ua.hangup_all()
            ctx.wait_no_channels(f"{code}: every call of the round is over")
    finally:
        use_conf(ctx, BASIC_CONF)


EXIT_CONF = """<configuration name="callpark.conf">
  <settings><param name="exit-key" value="#"/><param name="exit-destination" value="7000"/></settings>
  <tenants><tenant domain="acme.example"><groups>
    <group name="sales" recall="parking-user" recall-time="300">
      <member extension="101"/><member extension="102"/><member extension="103"/>
    </group>
  </groups></tenant></tenants>
</configuration>"""


def s10_exit_key(ctx):
    """A parked caller presses the exit key (issue 11, item 6): with `exit-key` "#" and
    `exit-destination` 7000, the caller's "5" (RFC 2833) changes nothing and its "#"
    takes it out of the park to 7000 (a tone): lamp off, `exit-key` event, never
    recalled. A 1.5 s hold music is replayed again and again without using up the call's
    transfers (max_forwards unchanged), and "#" still leaves. Across `unload` and `load`
    the call stays on hold (the hold drops the module's part while it is unloaded), is
    adopted, and its "#" works again. Without an exit key (the basic configuration) "#"
    changes nothing."""
    client, p101, p103 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("103", "103")
    ctx.sw.set_callpark_conf(EXIT_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "the exit-key configuration")
    ctx.sw.esl.subscribe("CUSTOM callpark::info")
    ctx.sw.esl.events.clear()
    w = blf(ctx, "103", "park+102")
    c = ctx.park_by_transfer(client, p101, "*68102")
    uuid = ctx.wait_parked(1)[0]["uuid"]
    blf_wait(ctx, w, "confirmed")
    c.dialDtmf("5")
    ctx.ua.pump(1.5)
    rx, _ = ctx.rtp_flows(c)
    check(len(ctx.parked()) == 1 and c.confirmed and rx > 25, f"\"5\" is no exit key: still parked ({rx} packets)")
    c.dialDtmf("#")
    ctx.wait_parked(0)
    blf_wait(ctx, w, "off")
    ctx.ua.pump(1.0)
    rx, _ = ctx.rtp_flows(c)
    check(c.confirmed and rx > 25, f"the caller is at the exit destination ({rx} packets)")
    out = ctx.sw.api(f"uuid_getvar {uuid} current_application_data").strip()
    check("%(1000,4000,440)" in out, f"the caller hears 7000's tone: {out}")
    actions = [(e.get("Callpark-Action"), e.get("Callpark-Detail")) for e in callpark_events(ctx)]
    check(("exit-key", "7000") in actions and actions[-1][0] == "exit-key", f"the exit-key event: {actions}")
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")
    # A short music (the parking user's group's), replayed.
    ctx.sw.set_callpark_conf(EXIT_CONF.replace('recall-time="300">', 'recall-time="300" music="short-music.wav">', 1))
    check("+OK" in ctx.sw.api("callpark reload"), "sales' hold music: 1.5 s")
    c = ctx.park_by_transfer(client, p101, "*68102")
    uuid = ctx.wait_parked(1)[0]["uuid"]
    ctx.ua.pump(1.0)
    before = ctx.sw.api(f"uuid_getvar {uuid} max_forwards").strip()
    ctx.ua.pump(4.5)
    played = ctx.sw.log_text().count(f"{uuid} EXECUTE [depth=0] sofia/internal/104@acme.example playback(short-music.wav)")
    check(played >= 3, f"the short music is played again and again ({played} times)")
    after = ctx.sw.api(f"uuid_getvar {uuid} max_forwards").strip()
    rx, _ = ctx.rtp_flows(c)
    check(len(ctx.parked()) == 1 and c.confirmed and rx > 25, f"the short music plays on ({rx} packets)")
    check(before == after and before not in ("", "_undef_"), f"its replays spend no transfer: max_forwards {before} -> {after}")
    # Unload and load: the call stays, is adopted, and its exit key works again.
    check("+OK" in ctx.sw.api("unload mod_callpark"), "unload with the call parked")
    ctx.ua.pump(3.5)  # the short music ends twice meanwhile
    rx, _ = ctx.rtp_flows(c)
    check(c.confirmed and rx > 25, f"unloaded, the caller stays on hold ({rx} packets)")
    check("+OK" in ctx.sw.api("load mod_callpark"), "load mod_callpark")
    ctx.wait_parked(1)
    ctx.ua.pump(1.0)
    c.dialDtmf("#")
    ctx.wait_parked(0)
    ctx.ua.pump(1.0)
    out = ctx.sw.api(f"uuid_getvar {uuid} current_application_data").strip()
    check(c.confirmed and "%(1000,4000,440)" in out, f"after the load \"#\" leads to 7000 again: {out}")
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")
    ctx.sw.set_callpark_conf(BASIC_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "back to the basic configuration")
    c = ctx.park_by_transfer(client, p101, "*68102")
    ctx.wait_parked(1)
    c.dialDtmf("#")
    ctx.ua.pump(1.5)
    rx, _ = ctx.rtp_flows(c)
    check(len(ctx.parked()) == 1 and c.confirmed and rx > 25, f"without an exit key \"#\" changes nothing ({rx} packets)")
    w.unsubscribe()
    ctx.ua.hangup_all()
    ctx.wait_parked(0)


def s11_pick_up_answered_before_the_bridge(ctx):
    """The phone that picks up is answered by the pick-up, not by the bridge that follows."""
    # Left to the bridge, the answer waits for FreeSWITCH's uuid_bridge state machine
    # (two 20 ms turns of its soft-execute loop): the phone's 200 OK came 40-60 ms late
    # (bench/park_vs_valet.py, issue 13). Answered by the callpark application, after the
    # claim (an empty slot still gets its 480), the answer event shows the channel still
    # executing the application, not in the bridge's states.
    from switch import Esl
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    esl = Esl(ctx.sw.esl_port)
    try:
        esl.subscribe("CHANNEL_ANSWER")
        for code in ("*88", "*88102"):
            ctx.park_by_transfer(client, p101, "*68102")
            ctx.wait_parked(1)
            esl.events.clear()
            ctx.pick_up(p102, code)
            answers = [e for e in esl.poll_events(1.0) if e.get("Caller-Destination-Number") == code]
            check(len(answers) == 1, f"one answer of 102's {code} ({len(answers)} seen)")
            state = answers[0].get("Channel-State")
            check(state == "CS_EXECUTE", f"102's {code} is answered while the pick-up runs, before the bridge "
                                         f"(answered in {state})")
            ctx.ua.hangup_all()
            ctx.wait_no_channels(f"the call picked up with {code} ends")
    finally:
        esl.close()


def s12_held_in_the_extension_that_parked_it(ctx):
    """A call parked by the dialplan is held in that extension, without a transfer."""
    # The hold used to be a transfer to an inline dialplan: a new caller profile, a
    # dialplan run, two more state changes (each an event with the channel's data and an
    # SQL update in the switch) and one of the call's transfers spent, on every park
    # (bench/census.py, issue 13). Now the callpark application makes the hold what its
    # extension runs next; the channel is still taken for parked (it is picked up, its
    # lamp and the list say so) and its music plays.
    from switch import Esl
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    esl = Esl(ctx.sw.esl_port)
    try:
        esl.subscribe("CHANNEL_STATE CHANNEL_EXECUTE")
        c = ctx.park_by_transfer(client, p101, "*68102")
        uuid = ctx.wait_parked(1)[0]["uuid"]
        events = [e for e in esl.poll_events(1.0) if e.get("Unique-ID") == uuid]
        holds = [e for e in events if e.get("Event-Name") == "CHANNEL_EXECUTE" and e.get("Application") == "endless_playback"]
        check(len(holds) == 1, f"the parked call runs endless_playback once ({len(holds)} seen)")
        check(holds[0].get("Caller-Dialplan") == "XML" and holds[0].get("Caller-Destination-Number") == "*68102",
              f"the hold runs in the XML extension of *68102 (dialplan {holds[0].get('Caller-Dialplan')}, "
              f"number {holds[0].get('Caller-Destination-Number')})")
        inline = [e.get("Channel-State") for e in events if e.get("Caller-Dialplan") == "inline"]
        check(not inline, f"no transfer to an inline dialplan ({inline})")
        # Routed for its first call (to 101), then for 101's REFER to *68102: not again.
        routing = [e.get("Caller-Destination-Number") for e in events
                   if e.get("Event-Name") == "CHANNEL_STATE" and e.get("Channel-State") == "CS_ROUTING"]
        check(routing.count("*68102") == 1 and len(routing) == 2,
              f"the parked call is routed once for *68102 and not after ({routing})")
        check(ctx.rtp_flows(c)[0] > 0, "the parked caller hears the music")
        r = ctx.pick_up(p102, "*88")
        check(ctx.rtp_flows(r)[0] > 0 and ctx.rtp_flows(c)[0] > 0, "102 and the caller hear each other")
        ctx.ua.hangup_all()
        ctx.wait_no_channels("the call picked up ends")
    finally:
        esl.close()


def s13_pick_a_specific_call(ctx):
    """Two calls parked at 102 (104's, then 105's): 102's phone is told `dial *88102` for
    the first and `dial *88102*2` for the second; 103 dials `*88102*2` and talks to 105,
    the first call stays parked."""
    client, p105, p101 = ctx.phone("client", "104"), ctx.phone("105", "105"), ctx.phone("101a", "101")
    p102, p103 = ctx.phone("102", "102"), ctx.phone("103", "103")
    c1 = ctx.park_by_transfer(client, p101, "*68102")
    ctx.wait_parked(1)
    c2 = ctx.park_by_transfer(p105, p101, "*68102")
    calls = ctx.wait_parked(2)
    ctx.wait(lambda: any("dial *88102*2" in m for _, m in p102.messages), 5,
             f"102 is told the code of the second call ({p102.messages[-2:]})")
    check(any(m.endswith("parked on 102, dial *88102") for _, m in p102.messages),
          f"and the plain code for the first ({p102.messages[-2:]})")
    r = p103.dial("*88102*2")
    ctx.wait(lambda: r.confirmed and r.media_active, 10, "103 is connected by *88102*2")
    left = ctx.wait_parked(1)
    check(left[0]["caller_number"] == "104", f"the first call stays parked: {left}")
    ctx.ua.pump(1.0)
    rx, _ = ctx.rtp_flows(c2)
    check(rx > 25, f"105 hears 103 ({rx} packets)")
    check(c1.confirmed and not c1.ended, "104 still holds")
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")


LOT_CONF = BASIC_CONF.replace("""    </groups></tenant>
    <tenant domain="globex.example"/>""", """    </groups><lots><lot name="main" slots="701-702"/></lots></tenant>
    <tenant domain="globex.example"/>""")


def s14_parking_lot(ctx):
    """A lot `main` of slots 701-702 (Asterisk's callparking and parkcall_blindxfer
    tests): 104's call blind-transferred by 101 to `park+main` goes to 701 and 101's phone
    is told `Parked 104 at 701, dial *88701`; 105's to 702; a third (102's) finds the lot
    full and is sent back to 101 (486: parked at 101). The lamps of `park+701` and
    `park+main` light; 103 takes 702 with `*88702`, then 701 with its key `park+701`;
    the lamps go off."""
    import pjsua2 as pj
    check(LOT_CONF != BASIC_CONF, "the lot is in the configuration")
    ctx.sw.set_callpark_conf(LOT_CONF)
    out = ctx.sw.api("callpark reload")
    check("+OK" in out, f"callpark reload takes the lot: {out}")
    try:
        client, p105, p101 = ctx.phone("client", "104"), ctx.phone("105", "105"), ctx.phone("101a", "101")
        p102, p103 = ctx.phone("102", "102"), ctx.phone("103", "103")
        w_slot, w_lot = blf(ctx, "103", "park+701"), blf(ctx, "102", "park+main")
        c1 = ctx.park_by_transfer(client, p101, "park+main")
        calls = ctx.wait_parked(1)
        check(calls[0]["extension"] == "701", f"parked in the lot's first slot: {calls}")
        ctx.wait(lambda: any("Parked 104 at 701, dial *88701" in m for _, m in p101.messages), 5,
                 f"101 is told the slot ({p101.messages[-2:]})")
        blf_wait(ctx, w_slot, "confirmed")
        blf_wait(ctx, w_lot, "confirmed")
        c2 = ctx.park_by_transfer(p105, p101, "park+main")
        calls = ctx.wait_parked(2)
        check(sorted(c["extension"] for c in calls) == ["701", "702"], f"the second in 702: {calls}")
        n = len(p101.incoming)
        c3 = ctx.park_by_transfer(p102, p101, "park+main")
        ctx.wait(lambda: len(p101.incoming) > n + 1, 10, "the lot is full: the call is sent back, 101 rings")
        op = pj.CallOpParam()
        op.statusCode = 486
        p101.incoming[-1].hangup(op)
        calls = ctx.wait_parked(3)
        check(any(c["extension"] == "101" for c in calls), f"not taken: parked at 101's own extension: {calls}")
        # pjsua2 holds four calls at once: this one is done.
        c3.hangup(pj.CallOpParam(True))
        ctx.wait(lambda: c3.ended, 5, "102's call ends")
        ctx.wait_parked(2)
        r = p103.dial("*88702")
        ctx.wait(lambda: r.confirmed and r.media_active, 10, "103 takes 702 with *88702")
        rx, _ = ctx.rtp_flows(c2)
        check(rx > 25, f"105 hears 103 ({rx} packets)")
        r.hangup(pj.CallOpParam(True))
        ctx.wait(lambda: r.ended, 5, "103 hangs up")
        r2 = p103.dial("park+701")
        ctx.wait(lambda: r2.confirmed and r2.media_active, 10, "103 takes 701 with its key park+701")
        rx, _ = ctx.rtp_flows(c1)
        check(rx > 25, f"104 hears 103 ({rx} packets)")
        blf_wait(ctx, w_slot, "off")
        blf_wait(ctx, w_lot, "off")
        w_slot.unsubscribe()
        w_lot.unsubscribe()
        ctx.ua.hangup_all()
        ctx.wait_no_channels("no channel is left")
    finally:
        ctx.sw.set_callpark_conf(BASIC_CONF)
        ctx.sw.api("callpark reload")


VALET_CONF = BASIC_CONF.replace("""    </groups></tenant>
    <tenant domain="globex.example"/>""", """    </groups><lots><lot name="valet" slots="5901-5903" prefix="*" number="*5900"/></lots></tenant>
    <tenant domain="globex.example"/>""")


def s15_valet_parking_keys(ctx):
    """A FusionPBX-provisioned phone's valet keys: with a lot `prefix="*"
    number="*5900"`, 101 blind-transfers the client to `*5900`: parked in 5901, 101 is
    told `dial *5901`; a BLF key `park+*5901` (subscribed before, and one after) shows it;
    102 dials `*5901` and talks to the client; the lamp goes off."""
    check(VALET_CONF != BASIC_CONF, "the lot is in the configuration")
    ctx.sw.set_callpark_conf(VALET_CONF)
    out = ctx.sw.api("callpark reload")
    check("+OK" in out, f"callpark reload takes the valet lot: {out}")
    try:
        client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
        w = blf(ctx, "103", "park+*5901")
        c = ctx.park_by_transfer(client, p101, "*5900")
        calls = ctx.wait_parked(1)
        check(calls[0]["extension"] == "5901", f"parked in slot 5901: {calls}")
        ctx.wait(lambda: any("at 5901, dial *5901" in m for _, m in p101.messages), 5,
                 f"101 is told the valet code ({p101.messages[-2:]})")
        blf_wait(ctx, w, "confirmed")
        late = blf(ctx, "105", "park+*5901")
        blf_wait(ctx, late, "confirmed", seconds=3)
        r = p102.dial("*5901")
        ctx.wait(lambda: r.confirmed and r.media_active, 10, "102 picks it up with *5901")
        rx, _ = ctx.rtp_flows(c)
        check(rx > 25, f"the client hears 102 ({rx} packets)")
        blf_wait(ctx, w, "off")
        w.unsubscribe()
        late.unsubscribe()
        ctx.ua.hangup_all()
        ctx.wait_no_channels("no channel is left")
    finally:
        ctx.sw.set_callpark_conf(BASIC_CONF)
        ctx.sw.api("callpark reload")


ASTERISK_LOT_CONF = BASIC_CONF.replace("""    </groups></tenant>
    <tenant domain="globex.example"/>""", """    </groups><lots><lot name="main" slots="701-703" number="*700"/></lots></tenant>
    <tenant domain="globex.example"/>""")


def s16_attended_transfer_into_a_lot_and_re_park(ctx):
    """Asterisk's callparking and callparking_retrieval shapes: 101 talks to the client,
    calls the lot's number `*700` on a second line (the consult call is parked in 701 and
    hears `7`, `0`, `1`), completes the attended transfer: the client is in 701 for 101.
    102 takes it with `*88701`, then parks it again by a blind transfer to `park+main`:
    one new park (701 again) for 102, and the events are parked, retrieved, parked."""
    import pjsua2 as pj
    check(ASTERISK_LOT_CONF != BASIC_CONF, "the lot is in the configuration")
    use_conf(ctx, ASTERISK_LOT_CONF)
    try:
        client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
        ctx.sw.esl.subscribe("PLAYBACK_START")
        ctx.sw.esl.subscribe("CUSTOM callpark::info")
        c, leg = ctx.call_and_answer(client, p101)
        ctx.sw.esl.events.clear()
        cons = p101.dial("*700")
        ctx.wait(lambda: cons.confirmed, 8, "101's consult call to *700 is answered")
        seen = []

        def played():
            for e in ctx.sw.esl.poll_events(0.1):
                seen.append(e)
            return [e.get("Playback-File-Path", "") for e in seen if e.get("Event-Name") == "PLAYBACK_START"]
        ctx.wait(lambda: len(re.findall(r"digits/(\d)\.wav", " ".join(played()))) >= 3, 5,
                 "the consult call hears its slot")
        digits = "".join(re.findall(r"digits/(\d)\.wav", " ".join(played())))
        check(digits.startswith("701"), f"the consult call hears 701 digit by digit: {digits}")
        ctx.wait(lambda: cons.media_active, 5, "the consult call has media")
        ctx.ua.pump(0.5)
        leg.xferReplaces(cons, pj.CallOpParam(True))
        ctx.wait(lambda: leg.ended and cons.ended, 8, "101's two calls end with the transfer")
        ctx.wait(lambda: [x["caller_number"] for x in ctx.parked(ACME)] == ["104"], 8,
                 f"the client takes the consult call's place in 701 ({ctx.parked(ACME)})")
        calls = ctx.parked(ACME)
        check((calls[0]["extension"], calls[0]["parking_user"]) == ("701", "101"), f"in 701 for 101: {calls[0]}")
        ctx.sw.esl.poll_events(0.3)
        seen.clear()
        r = ctx.pick_up(p102, "*88701")
        rx, _ = ctx.rtp_flows(r)
        check(rx > 25, f"102 talks to the client ({rx} packets)")
        ctx.xfer(r, f"sip:park+main@{ACME}")
        ctx.wait(lambda: r.ended, 8, "102's call ends with the blind transfer")
        calls = ctx.wait_parked(1)
        check((calls[0]["extension"], calls[0]["parking_user"]) == ("701", "102"), f"parked again, by 102: {calls[0]}")
        ctx.ua.pump(0.5)
        for e in ctx.sw.esl.poll_events(0.5):
            seen.append(e)
        actions = [e.get("Callpark-Action") for e in seen
                   if e.get("Event-Subclass") == "callpark::info" and e.get("Callpark-Action") in ("parked", "retrieved")]
        # (The consult call's park and the client's swap into it may be told late.)
        check(actions[-2:] == ["retrieved", "parked"] and actions.count("retrieved") == 1,
              f"102's pick-up and re-park: one retrieved, then one new park: {actions}")
        ctx.ua.hangup_all()
        ctx.wait_no_channels("no channel is left")
    finally:
        use_conf(ctx, BASIC_CONF)


def s17_retriever_gone_before_it_is_connected(ctx, rounds=6):
    """A SIPp retriever (103) that sends its BYE with the ACK of the 200 OK to *88102,
    before the switch has connected it, with `exit-key` "#": each time the caller is
    either connected for that moment (its call ends with the retriever's) or back in the
    park at 102 for 101, with its caller ID, park time and exit key, never left on the
    line out of the park (before: it stayed there, on silence, listed nowhere). Then its
    "#" takes it to the exit destination."""
    client, p101 = ctx.phone("client", "104"), ctx.phone("101a", "101")
    use_conf(ctx, EXIT_CONF)
    try:
        ctx.sw.esl.subscribe("CUSTOM callpark::info")
        outcomes = {"parked again": 0, "connected, then ended": 0}
        c = None
        i = 0
        # The rounds asked for, and on until the last one left the caller parked again
        # (its exit key is tried last), at most 10 more.
        while i < rounds or (c.ended and i < rounds + 10):
            i += 1
            if c is None or c.ended:
                c = ctx.park_by_transfer(client, p101, "*68102")
                first = ctx.wait_parked(1)[0]
                since = time.time()
                ctx.ua.pump(2.0)
            proc, log = start_sipp(ctx, "retrieve_then_bye.xml", "103", "*88102", 25100, 25102, f"gone-{i}")
            while proc.poll() is None:
                ctx.ua.pump(0.05)
            check(proc.returncode == 0, f"round {i}: the retriever was answered and hung up (sipp exit "
                  f"{proc.returncode}, {log})")
            # Connected for a moment, the caller's call ends with the retriever's; else it
            # is back in the park.
            ctx.ua.pump(2, lambda: c.ended or len(ctx.parked(ACME)) == 1)
            if c.ended:
                outcomes["connected, then ended"] += 1
                continue
            calls = ctx.parked(ACME)
            waited = time.time() - since
            check(len(calls) == 1 and calls[0]["uuid"] == first["uuid"] and calls[0]["extension"] == "102"
                  and calls[0]["parking_user"] == "101" and calls[0]["caller_number"] == "104"
                  and calls[0]["parked_seconds"] >= first["parked_seconds"] + waited - 1,
                  f"round {i}: the caller is parked again at 102 for 101 since it was first parked "
                  f"({waited:.0f} s ago), not left on the line unparked: {calls} "
                  f"(channels: {ctx.sw.api('show channels count').strip()})")
            outcomes["parked again"] += 1
        log = ctx.sw.log_text()
        check("could not be adopted" not in log and "before they were connected: hung up" not in log,
              "no caller was hung up or left unadopted by the rescue")
        check(outcomes["parked again"] > 0, f"the retriever was gone before it was connected at least once: {outcomes}")
        check(not c.ended, f"the last round left the caller parked again: {outcomes}")
        rx, _ = ctx.rtp_flows(c)
        check(rx > 25, f"the caller put back into the park hears the music again ({rx} packets)")
        ctx.sw.esl.events.clear()
        c.dialDtmf("#")
        ctx.wait_parked(0)
        actions = [(e.get("Callpark-Action"), e.get("Callpark-Detail")) for e in callpark_events(ctx)]
        check(("exit-key", "7000") in actions, f"its exit key works as before: {actions}")
        ctx.ua.hangup_all()
        ctx.wait_no_channels("no channel is left")
        print(f"    retriever gone at once, {i} rounds: {outcomes}")
    finally:
        use_conf(ctx, BASIC_CONF)


SCENARIOS = [s1_blind_transfer_park_and_star88, s2_park_own_and_other_device, s3_group_park, s4_failures,
             s5_races_on_the_wire, s6_sipp_retrievers_race, s7_caller_leaves_while_being_parked,
             s8_sent_back_and_not_taken, s9_attended_transfer_park, s10_exit_key,
             s11_pick_up_answered_before_the_bridge, s12_held_in_the_extension_that_parked_it,
             s13_pick_a_specific_call, s14_parking_lot, s15_valet_parking_keys,
             s16_attended_transfer_into_a_lot_and_re_park, s17_retriever_gone_before_it_is_connected]
