"""Recalls: the recall policies, what a recall shows, targets that reject or are not
registered, a call's own recall time, and a recall racing a retrieve.

Part of the real-switch tests (tests/fs/harness.py runs them); the machinery they share
is tests/fs/common.py."""

import os
import re
import time

from common import (ACME, ALICE_CONF, BASIC_CONF, HERE, RECALL_CONF, callpark_events, channel_uuid, check,
                    run_sipp, sipp_retrievers, use_conf)


def s18_recall_policies(ctx):
    """Short timers: parking user rings with the caller's ID and talks when answered;
    retry after no answer; ring-group hand-off for both ring-group policies."""
    ctx.sw.set_callpark_conf(RECALL_CONF)
    out = ctx.sw.api("callpark reload")
    check("+OK" in out, f"callpark reload takes the recall configuration: {out}")
    client, p101, p105 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("105", "105")
    # parking-user: 101 is rung after 5 s with the client's caller ID; answered, they talk.
    n = len(p101.incoming) + 1
    c = ctx.park_by_transfer(client, p101, "*68")
    ctx.wait(lambda: len(p101.incoming) > n, 12, "101 is recalled")
    ring = p101.incoming[n]
    check(ring.caller_number() == "104", f"the recall shows the parked caller (From {ring.remote})")
    p101.answer(ring)
    ctx.wait(lambda: ring.confirmed, 5, "the recall is answered")
    ctx.wait_parked(0)
    rx, _ = ctx.rtp_flows(ring)
    check(rx > 25 and c.confirmed, f"101 talks to the client after the recall ({rx} packets)")
    ctx.ua.hangup_all()
    # parking-user, unanswered: rung again after the retry interval.
    n = len(p101.incoming) + 1
    c = ctx.park_by_transfer(client, p101, "*68")
    ctx.wait(lambda: len(p101.incoming) > n + 1, 16, "101 is rung, not answered, and rung again")
    first, second = p101.incoming[n], p101.incoming[n + 1]
    check(first.ended, "the first unanswered recall was cancelled")
    p101.answer(second)
    ctx.wait(lambda: second.confirmed, 5, "the second recall attempt is answered")
    ctx.wait_parked(0)
    ctx.ua.hangup_all()
    # parking-user-then-ring-group: 107 rings for the alert wait, then the ring group (105).
    p107 = ctx.phone("107", "107")
    n5 = len(p105.incoming)
    n7 = len(p107.incoming) + 1
    c = ctx.park_by_transfer(client, p107, "*68")
    ctx.wait(lambda: len(p107.incoming) > n7, 12, "107 is recalled first")
    ctx.wait(lambda: len(p105.incoming) > n5, 10, "then the ring group (105) rings")
    rg = p105.incoming[-1]
    check(p107.incoming[-1].ended, "107's recall stopped when the ring group took over")
    check(rg.caller_number() == "104", f"the ring group sees the parked caller ({rg.remote})")
    p105.answer(rg)
    ctx.wait(lambda: rg.confirmed, 5, "105 answers")
    ctx.wait_parked(0)
    check(c.confirmed, "the client talks to the ring group")
    ctx.ua.hangup_all()
    # ring-group only: 109 parks, nobody of 109 rings, 105 does.
    p109 = ctx.phone("109", "109")
    n5 = len(p105.incoming)
    n9 = len(p109.incoming) + 1
    c = ctx.park_by_transfer(client, p109, "*68")
    ctx.wait(lambda: len(p105.incoming) > n5, 12, "ring-group only: 105 rings")
    check(len(p109.incoming) == n9, "ring-group only never rings the parking user")
    check(p105.incoming[-1].caller_number() == "104", "the ring group sees the parked caller")
    ctx.ua.hangup_all()
    ctx.wait_parked(0)
    ctx.drop_phone("107")
    ctx.drop_phone("109")
    ctx.sw.set_callpark_conf(BASIC_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "back to the basic configuration")


S19_CONF = """<configuration name="callpark.conf">
  <tenants><tenant domain="acme.example"><groups>
    <group name="desk" recall="parking-user" recall-time="5" ring-time="8" recall-attempts="1">
      <member extension="111"/>
    </group>
  </groups></tenant></tenants>
</configuration>"""


def s19_recall_answer_races_retrieve(ctx, rounds=12):
    """A recall answered at the instant a retrieve arrives, on the wire with SIPp: 111 (a
    SIPp desk phone at a static contact) parks the client with a REFER to *68; its recall
    rings a SIPp phone at that contact, which answers after a delay while a SIPp 102
    dials *88111 as the recall rings. Exactly one of them gets the caller every round
    (one `retrieved` event, from the recall or not; the retriever's 480 or 200; the
    losing recall CANCELled, or hung up when its 200 crossed the claim), the caller is
    never dropped, and nothing is left. One offset walks towards the moment the retrieve
    lands, 60 ms a step (later after a recall win, earlier after a retrieve win): above
    zero it is the answer's delay, below it the retriever's (the recall INVITE can reach
    the phone after the retrieve whatever the answer delay), so that the rounds straddle
    it."""
    from switch import STATIC_PHONE_PORT
    ctx.sw.set_callpark_conf(S19_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "the recall configuration (desk 111: recall after 5 s)")
    client = ctx.phone("client", "104")
    ctx.sw.esl.subscribe("CUSTOM callpark::info")
    template = open(os.path.join(HERE, "sipp", "recall_answer.xml.in")).read()
    scenario = os.path.join(ctx.sw.run, "sipp", "recall_answer.xml")
    os.makedirs(os.path.dirname(scenario), exist_ok=True)
    wins = {"recall": 0, "retrieve": 0}
    offset = 150
    try:
        for i in range(rounds):
            parker, _ = run_sipp(ctx, "refer_forged.xml", "s19-parker", STATIC_PHONE_PORT, STATIC_PHONE_PORT + 2,
                                 ["-key", "refer_to", "sip:*68@acme.example",
                                  "-key", "referred_by", "<sip:111@acme.example>", "-aa"])
            ctx.ua.pump(0.3)
            c = client.dial("d111")
            ctx.wait(lambda: c.confirmed, 8, f"round {i}: 111 answers the client")
            calls = ctx.wait_parked(1)
            check(calls[0]["extension"] == "111" and calls[0]["parking_user"] == "111",
                  f"round {i}: 111's REFER parks the client at 111 for 111: {calls[0]}")
            ctx.wait(lambda: parker.poll() is not None, 8, f"round {i}: 111's transferring leg is over")
            with open(scenario, "w") as f:
                f.write(template.replace("@ANSWER_MS@", str(max(1, offset))))
            recall, rlog = run_sipp(ctx, scenario, "s19-recall", STATIC_PHONE_PORT, STATIC_PHONE_PORT + 2, ["-aa"])
            ctx.sw.esl.events.clear()
            ctx.wait(lambda: any(x["state"] == "ringing" for x in ctx.parked()), 8, f"round {i}: 111 is recalled")
            got = sipp_retrievers(ctx, ["102"], "*88111", delay_ms=max(0, -offset))["102"]
            ctx.wait(lambda: recall.poll() is not None, 12, f"round {i}: the recalled phone's call is over")
            check(recall.returncode == 0,
                  f"round {i}: the recalled phone saw a call it knows (exit {recall.returncode}; {rlog})")
            events = [(e.get("Callpark-Action"), e.get("Callpark-Detail")) for e in callpark_events(ctx)]
            taken = [d for a, d in events if a == "retrieved"]
            check(len(taken) == 1 and not any(a == "abandoned" for a, _ in events),
                  f"round {i}: the caller is taken exactly once and never dropped: {events}")
            by_recall = taken[0] == "recall"
            check(got == ("480" if by_recall else "200"),
                  f"round {i}: the retriever gets {'480' if by_recall else '200'} when the "
                  f"{'recall' if by_recall else 'retrieve'} won, got {got}")
            # The recalled phone agrees: it hung up a call it had (it won), or it was
            # CANCELled or hung up by the switch (it lost).
            entries = open(rlog, errors="replace").read().split("-----------------------------------------------")
            hung_up_itself = any("message sent" in e and re.search(r"^BYE sip:", e, re.M) for e in entries)
            check(hung_up_itself == by_recall,
                  f"round {i}: the recalled phone {'kept' if hung_up_itself else 'lost'} the call, the events say "
                  f"the {'recall' if by_recall else 'retrieve'} won ({rlog})")
            wins["recall" if by_recall else "retrieve"] += 1
            offset += 60 if by_recall else -60
            ctx.wait(lambda: c.ended, 8, f"round {i}: the caller's call ends with the winner's")
            ctx.wait_parked(0)
            ctx.ua.hangup_all()
            ctx.wait_no_channels(f"round {i}: no channel is left")
    finally:
        ctx.sw.set_callpark_conf(BASIC_CONF)
        ctx.sw.api("callpark reload")
    print(f"    recall vs retrieve (SIPp): recall won {wins['recall']}, retrieve won {wins['retrieve']} of {rounds}")


def s20_recall_target_rejects_or_unregistered(ctx):
    """A recall target that rejects (486) or is not registered counts as no answer: the
    policy goes on to the next attempt, then to the final destination; the caller stays."""
    ctx.sw.set_callpark_conf(RECALL_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "the recall configuration (sales: 2 attempts, then 6001)")
    client, p101, p106 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("106", "106")
    pj = __import__("pjsua2")
    try:
        def logged(cause):
            return ctx.sw.log_text().count(f"not answered: {cause}")
        # 101 rejects both recall attempts with 486 Busy Here: then the final destination (106).
        n, n6, busy0 = len(p101.incoming), len(p106.incoming), logged("USER_BUSY")
        c = ctx.park_by_transfer(client, p101, "*68")
        ctx.wait_parked(1)
        for attempt in (1, 2):
            ctx.wait(lambda: len(p101.incoming) > n + attempt, 14, f"101 is recalled (attempt {attempt})")
            op = pj.CallOpParam()
            op.statusCode = 486
            p101.incoming[-1].hangup(op)
            ctx.ua.pump(0.2)
        ctx.wait(lambda: len(p106.incoming) > n6, 10, "after two rejected attempts, the final destination (106) rings")
        check(len(p101.incoming) == n + 3, f"101 was rung exactly twice ({len(p101.incoming) - n - 1} recalls)")
        check(c.confirmed, "the caller is still there after two rejected recalls")
        final = p106.incoming[-1]
        check(final.caller_number() == "104", f"106 sees the parked caller ({final.remote})")
        p106.answer(final)
        ctx.wait(lambda: final.confirmed, 5, "106 answers")
        ctx.wait_parked(0)
        check(logged("USER_BUSY") - busy0 == 2, "the switch logged both rejections as no answer")
        ctx.ua.hangup_all()
        # 103 parks and unregisters: each attempt fails at once (not registered); the policy
        # goes on to the final destination as well.
        p103 = ctx.phone("103", "103")
        n6, unreg0 = len(p106.incoming), logged("USER_NOT_REGISTERED")
        c = ctx.park_by_transfer(client, p103, "*68")
        ctx.wait_parked(1)
        ctx.p.pop("103")
        ctx.ua.drop(p103)  # unregisters, without touching the client's parked call
        ctx.wait(lambda: "103@" not in ctx.sw.api("sofia status profile internal reg 103"), 5, "103 is unregistered")
        ctx.wait(lambda: len(p106.incoming) > n6, 16, "with 103 unregistered, the final destination (106) rings")
        check(c.confirmed, "the caller is still there after the recalls to an unregistered user")
        check(logged("USER_NOT_REGISTERED") - unreg0 == 2,
              "the switch logged both attempts to the unregistered user as no answer")
        p106.answer(p106.incoming[-1])
        ctx.wait(lambda: p106.incoming[-1].confirmed, 5, "106 answers")
        ctx.wait_parked(0)
        ctx.ua.hangup_all()
    finally:
        ctx.drop_phone("106")
        ctx.sw.set_callpark_conf(BASIC_CONF)
        ctx.sw.api("callpark reload")


def s21_picked_up_before_the_recall_leg_exists(ctx):
    """110's phone is reached 2 s late (the switch waits before it creates the leg). A call
    110 parked is recalled after 5 s; 102 picks it up with *88110 while the recall leg does
    not exist yet: the recall is called off, and 110's phone never rings for a call that
    was already taken."""
    use_conf(ctx, ALICE_CONF)  # acme: recall-time 5
    try:
        client, p110, p102 = ctx.phone("client", "104"), ctx.phone("110", "110"), ctx.phone("102", "102")
        ctx.park_by_transfer(client, p110, "*68")
        calls = ctx.wait_parked(1)
        check(calls[0]["extension"] == "110" and calls[0]["parking_user"] == "110", f"parked at 110: {calls[0]}")
        n = len(p110.incoming)
        ctx.wait(lambda: ctx.parked(ACME) and ctx.parked(ACME)[0]["state"] == "ringing", 10, "the recall starts")
        ctx.pick_up(p102, "*88110")
        ctx.ua.pump(4.0)
        check(len(p110.incoming) == n, f"110's phone is not rung for a call 102 took ({len(p110.incoming) - n} INVITEs)")
        ctx.ua.hangup_all()
    finally:
        ctx.drop_phone("110")
        use_conf(ctx, BASIC_CONF)


ALERT_CONF = RECALL_CONF.replace(
    '<group name="sales" recall="parking-user"',
    '<group name="sales" recall="parking-user" recall-alert-info="&lt;http://127.0.0.1/Bellcore-dr2&gt;"')


def s22_recalls_you_can_tell_apart(ctx):
    """A recall rings with its group's Alert-Info (a distinctive ring) and shows
    "Recall 101 - <caller>", so that the parking user tells it from a new call; answered,
    it is the parked caller (issue 11, item 5)."""
    use_conf(ctx, ALERT_CONF)  # sales: recall-time 5 s, the Alert-Info; the default prefix
    try:
        client, p101 = ctx.phone("client", "104"), ctx.phone("101a", "101")
        c = ctx.park_by_transfer(client, p101, "*68")
        ctx.wait_parked(1)
        n = len(p101.incoming)
        ctx.wait(lambda: len(p101.incoming) > n, 10, "the recall rings 101")
        rec = p101.incoming[-1]
        alert = re.search(r"^Alert-Info:\s*(.*?)\s*$", rec.invite, re.M | re.I)
        check(alert and alert.group(1) == "<http://127.0.0.1/Bellcore-dr2>",
              f"the recall rings with the group's Alert-Info ({alert.group(1) if alert else None!r})")
        frm = re.search(r"^(?:From|f):\s*(.*?)\s*$", rec.invite, re.M)
        check(frm and frm.group(1).startswith('"Recall 101 - 104" <'),
              f"the recall shows what it is ({frm.group(1) if frm else None!r})")
        p101.answer(rec)
        ctx.wait(lambda: rec.confirmed and c.confirmed, 8, "101 answers the recall")
        ctx.wait_parked(0)
        ctx.ua.hangup_all()
    finally:
        use_conf(ctx, BASIC_CONF)


def s23_a_call_s_own_recall_time(ctx):
    """A call's own recall time: the dialplan sets `callpark_timeout=6` (`*67102`); after
    `reload mod_callpark` the adopted call still has its 6 s, and 101 is recalled within 8
    s of the park, not after the configured 300; `callpark park <uuid> 105 0` parks one
    with no recall due; seconds that are no recall time are refused with the call left
    talking."""
    client, p101 = ctx.phone("client", "104"), ctx.phone("101a", "101")
    n = len(p101.incoming)
    t0 = time.time()
    ctx.park_by_transfer(client, p101, "*67102")
    calls = ctx.wait_parked(1)
    check(calls[0]["next_step_seconds"] is not None and calls[0]["next_step_seconds"] <= 6,
          f"recall due within 6 s: {calls[0]}")
    out = ctx.sw.api("reload mod_callpark")
    check("+OK" in out, f"reload: {out.strip()}")
    calls = ctx.wait_parked(1)
    check(calls[0]["next_step_seconds"] is not None and calls[0]["next_step_seconds"] <= 6,
          f"adopted with its own time: {calls[0]}")
    ctx.wait(lambda: len(p101.incoming) > n + 1, 10, "101 is recalled after the call's own 6 s")
    waited = time.time() - t0
    check(waited < 9, f"recalled {waited:.1f} s after the park, not after recall-time 300")
    ctx.ua.hangup_all()
    ctx.wait_no_channels("the first call is gone")
    c, _ = ctx.call_and_answer(client, p101)
    uuid = channel_uuid(ctx, "104")
    api = lambda cmd: ctx.sw.api(f"callpark {cmd}").strip()
    out = api(f"park {uuid} 105 3")
    check(out.startswith('-ERR "3" is neither 0 (never recalled) nor a number of seconds'), f"3 s refused: {out!r}")
    check(c.confirmed and not ctx.parked(), "the call still talks")
    out = api(f"park {uuid} 105 0")
    check(out.startswith(f"+OK parked {uuid} at 105"), f"parked never to be recalled: {out!r}")
    calls = ctx.wait_parked(1)
    check(calls[0]["next_step_seconds"] is None, f"no recall due: {calls[0]}")
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")


SCENARIOS = [s18_recall_policies, s19_recall_answer_races_retrieve, s20_recall_target_rejects_or_unregistered,
             s21_picked_up_before_the_recall_leg_exists, s22_recalls_you_can_tell_apart,
             s23_a_call_s_own_recall_time]
