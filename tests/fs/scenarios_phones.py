"""What phones show and press: lamps (BLF) and their XML, park keys, visual park notices,
one-step parking by keys, and lamps and events switched off.

Part of the real-switch tests (tests/fs/harness.py runs them); the machinery they share
is tests/fs/common.py."""

import re
import time

from common import ACME, BASIC_CONF, GLOBEX, Failure, blf, blf_wait, callpark_events, check, use_conf


def s43_lamp_xml_with_ampersand(ctx):
    """A caller named AT&T Sales parked at 108 (registered nowhere) lights the lamp with
    valid dialog-info XML that shows its name (issue 10, item 7: the name went into the
    XML unescaped); the park notice that cannot reach 108 is logged once, with why."""
    import xml.etree.ElementTree as ET
    name = "AT&T Sales"
    caller, p101 = ctx.phone("att", "104", display=name), ctx.phone("101a", "101")
    w = blf(ctx, "103", "park+108")
    blf_wait(ctx, w, "off")
    log_before = len(ctx.sw.log_text())
    c = ctx.park_by_transfer(caller, p101, "*68108")
    calls = ctx.wait_parked(1)
    check(calls[0]["caller_name"] == name, f"the parked caller's name is {name!r}: {calls[0]}")
    blf_wait(ctx, w, "confirmed")
    ns = "{urn:ietf:params:xml:ns:dialog-info}"
    shown = None
    for body in w.notifies:
        try:
            root = ET.fromstring(body[body.index("<?xml"):] if "<?xml" in body else body)
        except ET.ParseError as e:
            raise Failure(f"a NOTIFY of park+108 is not valid XML ({e}):\n{body}")
        for ident in root.iter(f"{ns}identity"):
            if ident.get("display") == name:
                shown = ident.text
    check(shown and "104" in shown, f"the lamp shows the caller as {name!r} (identity {shown!r})")
    check(c.confirmed, "the caller is still on hold")
    log = ctx.sw.log_text()[log_before:]
    undelivered = [ln for ln in log.splitlines() if "park notice to 108@acme.example not delivered" in ln]
    check(len(undelivered) == 1 and "not_registered" in undelivered[0],
          f"the undeliverable notice is logged once, with its reason: {undelivered}")
    w.unsubscribe()
    ctx.ua.hangup_all()
    ctx.wait_parked(0)
    ctx.drop_phone("att")


def s44_park_keys(ctx):
    """BLF park keys (issue 11, item 1): 101, in a call, presses its park+102 key (a blind
    transfer to park+102): the caller is parked at 102 by 101 and the lamp lights; 102
    presses its park+102 key (dials it) and picks up. The same with the group key
    park+sales pressed by 102: parked at the first free member (101), picked up by 103
    from the group lamp."""
    client, p101, p102, p103 = (ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102"),
                                ctx.phone("103", "103"))
    w = blf(ctx, "103", "park+102")
    c = ctx.park_by_transfer(client, p101, "park+102")
    calls = ctx.wait_parked(1)
    check(calls[0]["extension"] == "102" and calls[0]["parking_user"] == "101",
          f"the key parked it at 102, by 101: {calls[0]}")
    blf_wait(ctx, w, "confirmed")
    check(c.confirmed, "the caller is kept, on hold")
    r = ctx.pick_up(p102, "park+102")
    rx, _ = ctx.rtp_flows(r)
    check(rx > 25, f"102 hears the caller after pressing the key ({rx} packets)")
    blf_wait(ctx, w, "off")
    w.unsubscribe()
    ctx.ua.hangup_all()
    wg = blf(ctx, "103", "park+sales")
    ctx.park_by_transfer(client, p102, "park+sales")  # by 102: not its own slot, the first free
    calls = ctx.wait_parked(1)
    check(calls[0]["extension"] == "101" and calls[0]["group"] == "sales" and calls[0]["parking_user"] == "102",
          f"the group key parked it at the first free member of sales: {calls[0]}")
    blf_wait(ctx, wg, "confirmed")
    ctx.pick_up(p103, "park+sales")
    blf_wait(ctx, wg, "off")
    wg.unsubscribe()
    ctx.ua.hangup_all()


NOTICE_CONF = BASIC_CONF.replace('<param name="recall-time" value="300"/>',
                                 '<param name="recall-time" value="300"/><param name="notices" value="callpark-info"/>')


def s45_visual_park_notices(ctx):
    """Park notices phones understand (issue 11, item 4), with `notices` `callpark-info`:
    a phone registered from a plain UDP socket as 105 gets, for a call parked at 105, a
    NOTIFY with `Event: call-info`, `Content-Type:
    application/x-broadworks-callpark-info+xml` and the parked caller's identity, then an
    empty `<callpark/>` when it is picked up; after `*58`, the members whose own slots are
    empty (102, 103) get it, and the empty one when it leaves; no text MESSAGE is sent;
    globex's 102 gets nothing."""
    from phones import RawPhone
    client, p101, p102, p103 = (ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102"),
                                ctx.phone("103", "103"))
    ctx.sw.set_callpark_conf(NOTICE_CONF)
    check("+OK" in ctx.sw.api("callpark reload"), "notices: callpark-info")
    raw = {u: RawPhone(u, ACME) for u in ("102", "103", "105")}
    raw["g102"] = RawPhone("102", GLOBEX)
    for k, r in raw.items():
        check(r.register(ctx.ua.pump) == 200, f"the raw phone {k} registers (got {r.code})")

    def notices(r):
        r.pump()
        return r.notifies

    def last_body(r):
        return notices(r)[-1][1] if notices(r) else ""

    def well_formed(head, body, what):
        check(re.search(r"^Event:\s*call-info\s*$", head, re.M | re.I), f"{what}: Event: call-info\n{head}")
        check(re.search(r"^Content-Type:\s*application/x-broadworks-callpark-info\+xml\s*$", head, re.M | re.I),
              f"{what}: the callpark-info content type\n{head}")
        check(re.search(r"^Subscription-State:", head, re.M | re.I), f"{what}: a Subscription-State\n{head}")
        check('<x-broadworks-callpark-info xmlns="http://schema.broadsoft.com/callpark">' in body,
              f"{what}: the BroadWorks root element\n{body}")

    try:
        messages = len(p102.messages) + len(p103.messages)
        ctx.park_by_transfer(client, p101, "*68105")
        ctx.wait_parked(1)
        ctx.wait(lambda: "<parked>" in last_body(raw["105"]), 5, "105 gets a visual park notice")
        head, body = notices(raw["105"])[-1]
        well_formed(head, body, "the notice of a call at 105")
        check(re.search(r'<identity display="[^"]*">sip:104@acme\.example</identity>', body),
              f"it names the parked caller: {body}")
        ctx.ua.pump(0.5)
        check(not notices(raw["102"]) and not notices(raw["103"]), "105 is in no group: nobody else is told")
        ctx.pick_up(p102, "*88105")
        ctx.wait(lambda: "<callpark/>" in last_body(raw["105"]), 5, "105's notice empties when the call leaves")
        well_formed(*notices(raw["105"])[-1], "the empty notice")
        ctx.ua.hangup_all()
        ctx.wait_no_channels("the first call is over")
        ctx.park_by_transfer(client, p101, "*58")
        calls = ctx.wait_parked(1)
        check(calls[0]["extension"] == "101", f"*58 parks at the first free member, 101: {calls}")
        for m in ("102", "103"):
            ctx.wait(lambda: "<parked>" in last_body(raw[m]), 5, f"member {m} gets the group's visual notice")
            well_formed(*notices(raw[m])[-1], f"member {m}'s notice")
        ctx.pick_up(p103, "*88101")
        for m in ("102", "103"):
            ctx.wait(lambda: "<callpark/>" in last_body(raw[m]), 5, f"member {m}'s notice empties")
        ctx.ua.pump(0.5)
        check(len(p102.messages) + len(p103.messages) == messages, "no text MESSAGE with notices callpark-info")
        check(not notices(raw["g102"]), f"globex's 102 gets nothing: {notices(raw['g102'])}")
        ctx.ua.hangup_all()
        ctx.wait_no_channels("no channel is left")
    finally:
        for r in raw.values():
            r.close(ctx.ua.pump)
        ctx.sw.set_callpark_conf(BASIC_CONF)
        ctx.sw.api("callpark reload")


def s46_lamp_state_early(ctx):
    """With `lamp-state` `early` for acme, a call parked at 102 shows on a BLF watcher as
    `early` (ringing) instead of `confirmed`, and goes `off` when 102 picks it up; after
    the basic configuration is back, the next park shows `confirmed` again."""
    ctx.sw.set_callpark_conf(BASIC_CONF.replace(
        '<tenant domain="acme.example">',
        '<tenant domain="acme.example"><settings><param name="lamp-state" value="early"/></settings>'))
    out = ctx.sw.api("callpark reload")
    check("+OK" in out, f"callpark reload takes lamp-state early: {out}")
    try:
        client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
        w = blf(ctx, "103", "park+102")
        ctx.park_by_transfer(client, p101, "*68102")
        ctx.wait_parked(1)
        blf_wait(ctx, w, "early")
        r = p102.dial("*88102")
        ctx.wait(lambda: r.confirmed, 10, "102 picks it up")
        blf_wait(ctx, w, "off")
        ctx.ua.hangup_all()
        ctx.wait_no_channels("no channel is left")
    finally:
        ctx.sw.set_callpark_conf(BASIC_CONF)
        ctx.sw.api("callpark reload")
    ctx.park_by_transfer(client, p101, "*68102")
    ctx.wait_parked(1)
    blf_wait(ctx, w, "confirmed")
    w.unsubscribe()
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")


def s47_one_step_park_by_keys(ctx):
    """One-step parking (a phone that cannot transfer): on a call with the meta key bound
    (`bind_meta_app 6 ab s callpark_one_step::`), 101 presses `*6105#` and the client it
    talks to is parked at 105 for 101; a carrier's caller pressing `*6105#` on such a call
    parks nobody (its keys are no user's), and the call goes on."""
    client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
    c, leg = ctx.call_and_answer(client, p101, number="k101")
    ctx.ua.pump(0.5)
    # As a person presses them: the meta key, then the extension.
    leg.dialDtmf("*6")
    ctx.ua.pump(1.0)
    leg.dialDtmf("105#")
    calls = ctx.wait_parked(1)
    check((calls[0]["extension"], calls[0]["parking_user"]) == ("105", "101"),
          f"the client parked at 105 for 101: {calls[0]}")
    ctx.wait(lambda: leg.ended, 5, "101's side of the call ends")
    check(c.confirmed and not c.ended, "the client is on hold")
    ctx.pick_up(p102, "*88105")
    rx, _ = ctx.rtp_flows(c)
    check(rx > 25, f"102 talks to the client ({rx} packets)")
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")
    trunk = ctx.trunk("trunk")
    t, leg = ctx.call_and_answer(trunk, p101, number="k101")
    ctx.ua.pump(0.5)
    t.dialDtmf("*6")
    ctx.ua.pump(1.0)
    t.dialDtmf("105#")
    ctx.ua.pump(4.0)
    check(not ctx.parked(), f"the carrier's keys park nobody: {ctx.parked()}")
    rx, _ = ctx.rtp_flows(t)
    check(t.confirmed and leg.confirmed and rx > 25, f"the call goes on ({rx} packets)")
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")


def s48_lamps_none_and_events_without_channel_data(ctx):
    """`lamps` `none` and `event-channel-data` `false` for acme: a call parked at 102 by a
    blind transfer lights no lamp for a BLF watcher of park+102 (no NOTIFY shows it), and
    its `parked` and `retrieved` events carry the Callpark-* headers but none of the
    channel's data or variables; with the basic configuration back, the next park lights
    the lamp and its event carries the channel's data (`Channel-State`, `variable_*`)."""
    def callpark_events(action):
        out = []
        end = time.time() + 5
        while time.time() < end and not out:
            out = [e for e in ctx.sw.esl.poll_events(0.2)
                   if e.get("Event-Subclass") == "callpark::info" and e.get("Callpark-Action") == action]
            ctx.ua.pump(0.05)
        check(out, f"a callpark::info {action} event")
        return out[0]

    def channel_data(e):
        return sorted(k for k in e if k.startswith("variable_") or k.startswith("Channel-") or k.startswith("Caller-"))

    quiet = BASIC_CONF.replace(
        '<tenant domain="acme.example">',
        '<tenant domain="acme.example"><settings><param name="lamps" value="none"/>'
        '<param name="event-channel-data" value="false"/></settings>')
    use_conf(ctx, quiet)
    ctx.sw.esl.subscribe("CUSTOM callpark::info")
    try:
        client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101a", "101"), ctx.phone("102", "102")
        w = blf(ctx, "103", "park+102")
        ctx.sw.esl.events.clear()
        ctx.park_by_transfer(client, p101, "*68102")
        ctx.wait_parked(1)
        e = callpark_events("parked")
        check(e.get("Callpark-Extension") == "102" and e.get("Callpark-Caller-Number") == "104",
              f"the parked event names the slot and the caller: {e.get('Callpark-Extension')}, {e.get('Callpark-Caller-Number')}")
        check(not channel_data(e), f"no channel data in the parked event: {channel_data(e)[:8]}")
        ctx.ua.pump(1.5)
        w.pump()
        check(w.state()[0] in (None, "idle", "terminated"),
              f"the lamp stays dark while the call is parked (lamps none): {w.state()} after {len(w.notifies)} NOTIFYs")
        r = p102.dial("*88102")
        ctx.wait(lambda: r.confirmed, 10, "102 picks it up")
        e = callpark_events("retrieved")
        check(not channel_data(e), f"no channel data in the retrieved event: {channel_data(e)[:8]}")
        ctx.ua.hangup_all()
        ctx.wait_no_channels("no channel is left")
    finally:
        use_conf(ctx, BASIC_CONF)
    ctx.sw.esl.events.clear()
    ctx.park_by_transfer(client, p101, "*68102")
    ctx.wait_parked(1)
    blf_wait(ctx, w, "confirmed")
    e = callpark_events("parked")
    data = channel_data(e)
    check("Channel-State" in data and any(k.startswith("variable_") for k in data),
          f"the default: the event carries the channel's data ({len(data)} headers)")
    w.unsubscribe()
    ctx.ua.hangup_all()
    ctx.wait_no_channels("no channel is left")


SCENARIOS = [s43_lamp_xml_with_ampersand, s44_park_keys, s45_visual_park_notices, s46_lamp_state_early,
             s47_one_step_park_by_keys, s48_lamps_none_and_events_without_channel_data]
