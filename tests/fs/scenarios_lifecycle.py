"""The module's life: load, unload and reload (with broken configurations too), the
adoption of parked calls afterwards, and the races of an unload or reload with a park.

Part of the real-switch tests (tests/fs/harness.py runs them); the machinery they share
is tests/fs/common.py."""

import os
import time

from common import ACME, BASIC_CONF, RECALL_CONF, blf, blf_wait, channel_uuid, check


def s32_unload_and_load(ctx):
    """Without calls, unload leaves no callpark thread behind, and load works again."""
    client, p101 = ctx.phone("client", "104"), ctx.phone("101a", "101")
    out = ctx.sw.api("unload mod_callpark")
    check("+OK" in out, f"unload with nothing parked: {out.strip()}")
    check(ctx.sw.api("module_exists mod_callpark").strip() == "false", "the module is gone")
    out = ctx.sw.api("load mod_callpark")
    check("+OK" in out, f"load mod_callpark: {out.strip()}")
    check(ctx.parked(ACME) == [], "a fresh module has nothing parked")

    def callpark_threads():
        task = f"/proc/{ctx.sw.proc.pid}/task"
        # The engine's timer thread is the only one with this name (recall threads rename
        # themselves, so the switch's pooled session threads do not inherit it).
        return [t for t in os.listdir(task) if open(f"{task}/{t}/comm").read().strip() == "callpark-timers"]

    # The thread names itself once it runs, which may be just after the load returned.
    ctx.wait(lambda: len(callpark_threads()) == 1, 3, f"the engine's timer thread runs while loaded: {callpark_threads()}")
    out = ctx.sw.api("unload mod_callpark")
    check("+OK" in out, f"unload again: {out.strip()}")
    check(not callpark_threads(), f"no callpark thread is left after unload: {callpark_threads()}")
    check("+OK" in ctx.sw.api("load mod_callpark"), "load again")
    # fs_cli: mistyped commands get a one-line -ERR from the core's parser, and nothing else.
    for cmd, want in (("callpark list acme.example globex.example", "one domain"),
                      ("callpark lsit", "unknown"), ("callpark status now", "now")):
        out = ctx.sw.api(cmd).strip()
        check(out.startswith("-ERR") and want in out.lower() and "\n" not in out, f"{cmd!r} is refused: {out!r}")
    check(ctx.sw.api("callpark").strip().startswith("-USAGE"), "callpark alone prints the usage")
    c = ctx.park_by_transfer(client, p101, "*68102")
    ctx.wait_parked(1)
    ctx.ua.hangup_all()
    ctx.wait_parked(0)


BROKEN_CONF = """<configuration name="callpark.conf">
  <settings><param name="recall-time" value="2"/></settings>
  <tenants><tenant domain="acme.example"><groups>
    <group name="sales" recall="ring-group"><member extension="101"/></group>
    <group name="support"><member extension="101"/></group>
  </groups></tenant></tenants>
</configuration>"""


def s33_broken_reload_keeps_calls(ctx):
    """callpark reload with a broken configuration keeps the running one and the parked call."""
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    ctx.park_by_transfer(client, p101, "*68102")
    before = ctx.wait_parked(1)
    status = ctx.sw.api("callpark status")
    ctx.sw.set_callpark_conf(BROKEN_CONF)
    out = ctx.sw.api("callpark reload")
    ctx.sw.set_callpark_conf(BASIC_CONF)
    check("-ERR" in out, f"the broken configuration is refused: {out.strip()}")
    for want in ("recall-time is 2", 'recall "ring-group" needs a ring-group', 'member 101 is already in group "sales"'):
        check(want in out, f"the refusal names every error ({want!r} missing): {out.strip()}")
    after = ctx.parked(ACME)
    check([c["uuid"] for c in after] == [c["uuid"] for c in before], f"the parked call is still there: {after}")
    check(after[0]["next_step_seconds"] > 200, f"with the timer it was given: {after[0]}")
    def configured(st):  # "... 2 configured tenants, 1 groups; heap N bytes" -> the configuration part
        return st.split(";")[0].split(":")[1].split(",")[2:]
    check(configured(ctx.sw.api("callpark status")) == configured(status), "the running configuration stays")
    r = p102.dial("*88")
    ctx.wait(lambda: r.confirmed, 8, "the call is still retrieved")
    ctx.wait_parked(0)
    ctx.ua.hangup_all()


def s34_reload_with_calls_parked(ctx):
    """A module reload with calls parked: the callers stay on hold, the calls are adopted,
    picked up and recalled afterwards."""
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    w = blf(ctx, "103", "park+102")
    c = ctx.park_by_transfer(client, p101, "*68102")
    before = ctx.wait_parked(1)
    out = ctx.sw.api("unload mod_callpark")
    check("+OK" in out, f"unload with a call parked: {out.strip()}")
    rx, _ = ctx.rtp_flows(c)
    check(c.confirmed and rx > 25, f"while unloaded the caller stays on hold with music ({rx} packets)")
    out = ctx.sw.api("load mod_callpark")
    check("+OK" in out, f"load mod_callpark: {out.strip()}")
    after = ctx.wait_parked(1)
    check((after[0]["uuid"], after[0]["extension"], after[0]["parking_user"]) ==
          (before[0]["uuid"], "102", "101"), f"the call is adopted where it was: {after}")
    blf_wait(ctx, w, "confirmed")
    r = p102.dial("*88")
    ctx.wait(lambda: r.confirmed, 8, "the adopted call is picked up")
    ctx.wait_parked(0)
    rx_c, _ = ctx.rtp_flows(c)
    check(rx_c > 25, f"and talks ({rx_c} packets)")
    blf_wait(ctx, w, "off")
    w.unsubscribe()
    ctx.ua.hangup_all()
    # Recalled after a reload, as its park time says.
    ctx.sw.set_callpark_conf(RECALL_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "short recall timers")
    n = len(p101.incoming) + 1
    c = ctx.park_by_transfer(client, p101, "*68")
    ctx.wait_parked(1)
    check("+OK" in ctx.sw.api("reload mod_callpark"), "reload mod_callpark with the call parked")
    ctx.wait(lambda: len(p101.incoming) > n, 12, "101 is recalled after the reload")
    ring = p101.incoming[n]
    p101.answer(ring)
    ctx.wait(lambda: ring.confirmed, 5, "the recall is answered")
    ctx.wait_parked(0)
    check(c.confirmed, "the client talks to 101")
    ctx.ua.hangup_all()
    ctx.sw.set_callpark_conf(BASIC_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "back to the basic configuration")


def s35_module_reload_keeps_conversations(ctx):
    """reload and unload of mod_callpark leave conversations alone: one that began with
    *88 and one that began with an answered recall keep talking (issue 10, item 1)."""
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")

    def still_talking(a, b, what):
        ctx.ua.pump(1.0)
        rx_a, _ = ctx.rtp_flows(a)
        rx_b, _ = ctx.rtp_flows(b)
        check(a.confirmed and b.confirmed and rx_a > 25 and rx_b > 25,
              f"{what}: both still talk (caller confirmed {a.confirmed}, {rx_a} packets; "
              f"picker confirmed {b.confirmed}, {rx_b} packets)")

    def picked_up_with_star88():
        c = ctx.park_by_transfer(client, p101, "*68102")
        ctx.wait_parked(1)
        return c, ctx.pick_up(p102, "*88")

    def answered_recall():
        n = len(p101.incoming) + 1
        c = ctx.park_by_transfer(client, p101, "*68")
        ctx.wait(lambda: len(p101.incoming) > n, 12, "101 is recalled")
        ring = p101.incoming[n]
        p101.answer(ring)
        ctx.wait(lambda: ring.confirmed and ring.media_active, 5, "the recall is answered")
        ctx.wait_parked(0)
        return c, ring

    for conf, start, what in ((BASIC_CONF, picked_up_with_star88, "a conversation picked up with *88"),
                              (RECALL_CONF, answered_recall, "a conversation from an answered recall")):
        ctx.sw.set_callpark_conf(conf)
        check("+OK" in ctx.sw.api("callpark reload"), "the scenario's configuration")
        for op in ("reload mod_callpark", "unload mod_callpark"):
            c, other = start()
            out = ctx.sw.api(op)
            check("+OK" in out, f"{op} during {what}: {out.strip()}")
            still_talking(c, other, f"after `{op}` in {what}")
            if op.startswith("unload"):
                check("+OK" in ctx.sw.api("load mod_callpark"), "load mod_callpark again")
            ctx.ua.hangup_all()
            ctx.wait_no_channels(f"after `{op}`: every call hung up by the test ends")
    ctx.sw.set_callpark_conf(BASIC_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "back to the basic configuration")


def s36_adopted_park_time_in_the_future(ctx):
    """A parked call whose remembered park time lies in the future (the clock was stepped
    back while the module was unloaded) is adopted and waits its recall time; it is not
    recalled at once (issue 10, item 7: the time went negative and wrapped)."""
    client, p101 = ctx.phone("client", "104"), ctx.phone("101a", "101")
    ctx.sw.set_callpark_conf(RECALL_CONF)  # sales: recall-time 5 s
    check("+OK" in ctx.sw.api("callpark reload"), "short recall timers")
    for epoch in (str(int(time.time()) + 86400), "not-a-number"):
        c = ctx.park_by_transfer(client, p101, "*68")
        uuid = ctx.wait_parked(1)[0]["uuid"]
        check("+OK" in ctx.sw.api("unload mod_callpark"), "unload with the call parked")
        ctx.sw.api(f"uuid_setvar {uuid} callpark_parked_epoch {epoch}")
        n = len(p101.incoming)
        t0 = time.time()
        check("+OK" in ctx.sw.api("load mod_callpark"), "load mod_callpark")
        check(ctx.wait_parked(1)[0]["uuid"] == uuid, "the call is adopted")
        rang = ctx.ua.pump(3.0, lambda: len(p101.incoming) > n)
        check(not rang, f"park time {epoch!r}: 101 is not recalled at once (rang after {time.time() - t0:.1f} s)")
        ctx.wait(lambda: len(p101.incoming) > n, 10, f"park time {epoch!r}: 101 is recalled after the recall time")
        check(time.time() - t0 >= 4.0, f"the recall came after the 5 s recall time ({time.time() - t0:.1f} s)")
        check(c.confirmed, "the caller stayed on hold")
        ctx.ua.hangup_all()
        ctx.wait_parked(0)
    ctx.sw.set_callpark_conf(BASIC_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "back to the basic configuration")


LAST_RECALL_CONF = """<configuration name="callpark.conf">
  <tenants><tenant domain="acme.example"><groups>
    <group name="sales" recall="parking-user" recall-time="5" ring-time="20" recall-attempts="1"
           final-destination="6001">
      <member extension="101"/><member extension="102"/><member extension="103"/>
    </group>
  </groups></tenant></tenants>
</configuration>"""


def s37_unload_while_the_last_recall_rings(ctx):
    """unload mod_callpark while a call's last recall attempt rings: the unload hangs the
    recall leg up, which is no "no answer": the call is not sent to the final destination
    (issue 10, item 6), stays on hold and is adopted and picked up after the load."""
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    ctx.sw.set_callpark_conf(LAST_RECALL_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "one recall attempt, then the final destination")
    n = len(p101.incoming)
    c = ctx.park_by_transfer(client, p101, "*68")
    uuid = ctx.wait_parked(1)[0]["uuid"]
    ctx.wait(lambda: any(not i.ended for i in p101.incoming[n + 1:]), 12,
             "101 is recalled (its only attempt)")
    out = ctx.sw.api("unload mod_callpark")
    check("+OK" in out, f"unload while the recall rings: {out.strip()}")
    ctx.wait(lambda: all(i.ended for i in p101.incoming[n:]), 5, "the unload stops the recall ringing")
    ctx.ua.pump(2.0)
    rx, _ = ctx.rtp_flows(c)
    check(c.confirmed and rx > 25, f"the caller stays on hold while unloaded ({rx} packets), not sent to 6001")
    check("+OK" in ctx.sw.api("load mod_callpark"), "load mod_callpark")
    calls = ctx.wait_parked(1)
    check(calls[0]["uuid"] == uuid, f"the call is adopted: {calls}")
    r = p102.dial("*88101")
    ctx.wait(lambda: r.confirmed, 8, "and picked up")
    ctx.wait_parked(0)
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")
    ctx.sw.set_callpark_conf(BASIC_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "back to the basic configuration")


def s38_module_reload_with_a_broken_configuration(ctx):
    """`reload mod_callpark` after callpark.conf.xml was broken (and `reloadxml` read it):
    the module comes back with the configuration that ran before, logs why, and adopts
    the parked call, which is still recalled and picked up (issue 10, item 7: the load
    failed and every parked call was left without a module)."""
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    ctx.sw.set_callpark_conf(RECALL_CONF)  # sales: recall-time 5 s
    check("+OK" in ctx.sw.api("callpark reload"), "short recall timers")
    n = len(p101.incoming)
    c = ctx.park_by_transfer(client, p101, "*68")
    uuid = ctx.wait_parked(1)[0]["uuid"]
    ctx.sw.set_callpark_conf(BROKEN_CONF)
    ctx.sw.api("reloadxml")
    try:
        out = ctx.sw.api("reload mod_callpark")
        check(ctx.sw.api("module_exists mod_callpark").strip() == "true",
              f"mod_callpark is loaded after a reload with a broken file: {out.strip()}")
        check("configuration that ran before the unload" in ctx.sw.log_text(), "the switch's log says why")
        calls = ctx.wait_parked(1)
        check(calls[0]["uuid"] == uuid and calls[0]["parking_user"] == "101", f"the parked call is adopted: {calls}")
        ctx.wait(lambda: len(p101.incoming) > n + 1, 12, "101 is recalled, by the running configuration's 5 s")
        check(c.confirmed, "the caller stayed on hold")
        r = p102.dial("*88101")
        ctx.wait(lambda: r.confirmed, 8, "and the call is picked up")
        ctx.wait_parked(0)
    finally:
        ctx.ua.hangup_all()
        ctx.sw.set_callpark_conf(BASIC_CONF)
        ctx.sw.api("reloadxml")
        if ctx.sw.api("module_exists mod_callpark").strip() != "true":
            ctx.sw.api("load mod_callpark")
    check("+OK" in ctx.sw.api("callpark reload"), "back to the basic configuration")


def s39_lamp_of_a_call_gone_while_unloaded(ctx):
    """A parked caller who hangs up while the module is unloaded: the lamp that was lit
    goes out at the next load, for the slot and for its group (issue 10, item 7)."""
    client, p101 = ctx.phone("client", "104"), ctx.phone("101a", "101")
    slot, group = blf(ctx, "103", "park+102"), blf(ctx, "103", "park+sales")
    c = ctx.park_by_transfer(client, p101, "*68102")
    ctx.wait_parked(1)
    blf_wait(ctx, slot, "confirmed")
    blf_wait(ctx, group, "confirmed")
    check("+OK" in ctx.sw.api("unload mod_callpark"), "unload with the call parked")
    c.hangup(__import__("pjsua2").CallOpParam(True))
    ctx.wait_no_channels("the caller hung up while the module was unloaded")
    check("+OK" in ctx.sw.api("load mod_callpark"), "load mod_callpark")
    ctx.wait_parked(0)
    blf_wait(ctx, slot, "off")
    blf_wait(ctx, group, "off")
    slot.unsubscribe()
    group.unsubscribe()


def s40_unload_the_moment_a_call_parks(ctx, rounds=10):
    """`unload mod_callpark` the moment a call is parked (as soon as `callpark list` shows
    it, while its channel may still be leaving the callpark application for the hold):
    the caller stays on hold (FreeSWITCH's unload hangs up channels whose current
    application is the module's; seen once in CI in s36), is adopted after the load and
    picked up."""
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    for i in range(rounds):
        c, leg = ctx.call_and_answer(client, p101)
        ctx.xfer(leg, f"sip:*68@{p101.domain}")
        end = time.time() + 8
        while time.time() < end and not ctx.parked():
            ctx.ua.pump(0.001)
        check(bool(ctx.parked()), f"round {i}: the call is parked")
        # While the callpark application is still on its way out, FreeSWITCH itself
        # refuses the unload ("Module in use.": the application holds the module's
        # lock) and touches nothing; an admin tries again, and so does the test.
        end = time.time() + 5
        out = ctx.sw.api("unload mod_callpark")
        while "Module in use" in out and time.time() < end:
            check(c.confirmed, f"round {i}: the caller is still on hold after a refused unload")
            ctx.ua.pump(0.05)
            out = ctx.sw.api("unload mod_callpark")
        check("+OK" in out, f"round {i}: unload: {out.strip()}")
        ctx.ua.pump(1.0)
        check(c.confirmed, f"round {i}: the caller is still on hold after the unload")
        check("+OK" in ctx.sw.api("load mod_callpark"), f"round {i}: load")
        ctx.wait_parked(1)
        ctx.pick_up(p102, "*88101")
        ctx.ua.hangup_all()
        ctx.wait_no_channels(f"round {i}: no channel is left")


def s41_lamp_of_a_named_slot_across_an_unload(ctx):
    """A call parked at alice (a slot named by a user id, not digits), its caller hangs
    up while the module is unloaded: park+alice goes out at the next load, as a numbered
    slot's lamp does (issue 22, item 11: it stayed lit)."""
    client, alice = ctx.phone("client", "104"), ctx.phone("alice", "alice")
    try:
        w = blf(ctx, "103", "park+alice")
        c = ctx.park_by_transfer(client, alice, "*68")
        calls = ctx.wait_parked(1)
        check(calls[0]["extension"] == "alice", f"parked at alice: {calls[0]}")
        blf_wait(ctx, w, "confirmed")
        check("+OK" in ctx.sw.api("unload mod_callpark"), "unload with the call parked")
        c.hangup(__import__("pjsua2").CallOpParam(True))
        ctx.wait_no_channels("the caller hung up while the module was unloaded")
        check("+OK" in ctx.sw.api("load mod_callpark"), "load mod_callpark")
        ctx.wait_parked(0)
        blf_wait(ctx, w, "off")
        w.unsubscribe()
    finally:
        ctx.ua.hangup_all()
        ctx.drop_phone("alice")


def s42_reload_the_moment_an_operator_parks(ctx, rounds=5):
    """`reload mod_callpark` right after `callpark park <uuid> 105` (the call still on its
    way to the hold), `rounds` times: the call is adopted each time, still parked at 105,
    and 102 picks it up (failed before within two rounds: the adoption found the call
    still routing to the hold, or still bridged, and left the caller on hold music,
    unknown to the park)."""
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    for i in range(rounds):
        c, _ = ctx.call_and_answer(client, p101)
        uuid = channel_uuid(ctx, "104")
        out = ctx.sw.api(f"callpark park {uuid} 105{'' if i % 2 else ' 0'}").strip()
        check(out.startswith("+OK"), f"round {i}: parked: {out!r}")
        out = ctx.sw.api("reload mod_callpark")
        check("+OK" in out, f"round {i}: reload: {out.strip()}")
        calls = ctx.wait_parked(1)
        check(calls[0]["uuid"] == uuid, f"round {i}: adopted: {calls}")
        r = ctx.pick_up(p102, "*88105")
        rx, _ = ctx.rtp_flows(c)
        check(rx > 25 and r.confirmed, f"round {i}: 102 talks to the caller ({rx} packets)")
        ctx.ua.hangup_all()
        ctx.wait_no_channels(f"round {i}: no channel is left")


SCENARIOS = [s32_unload_and_load, s33_broken_reload_keeps_calls, s34_reload_with_calls_parked,
             s35_module_reload_keeps_conversations, s36_adopted_park_time_in_the_future,
             s37_unload_while_the_last_recall_rings, s38_module_reload_with_a_broken_configuration,
             s39_lamp_of_a_call_gone_while_unloaded, s40_unload_the_moment_a_call_parks,
             s41_lamp_of_a_named_slot_across_an_unload, s42_reload_the_moment_an_operator_parks]
