"""Real SIP peers for the real-switch tests: pjsua2 phones (register, call, blind
transfer, MESSAGE, RTP counters) and a BLF watcher (SUBSCRIBE Event: dialog over a
plain UDP socket, with digest authentication). Everything talks to 127.0.0.1 only."""

import hashlib
import random
import re
import socket
import time

import pjsua2 as pj

from switch import SIP_PORT, password  # a caller on other ports (the demo, the bench) sets SIP_PORT


def proxy(port=None):
    return f"sip:127.0.0.1:{port or SIP_PORT};lr"


class Call(pj.Call):
    def __init__(self, ua, acc, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(acc, call_id)
        self.ua = ua
        self.state = pj.PJSIP_INV_STATE_NULL
        self.code = 0
        self.remote = ""
        self.media_active = False
        self.xfer_codes = []
        self.invite = ""  # an incoming call's INVITE, as received

    def onCallState(self, prm):
        ci = self.getInfo()
        self.state, self.code, self.remote = ci.state, ci.lastStatusCode, ci.remoteUri

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                am = self.getAudioMedia(i)
                mgr = self.ua.ep.audDevManager()
                mgr.getCaptureDevMedia().startTransmit(am)
                am.startTransmit(mgr.getPlaybackDevMedia())
                self.media_active = True

    def onCallTransferStatus(self, prm):
        self.xfer_codes.append(prm.statusCode)

    @property
    def confirmed(self):
        return self.state == pj.PJSIP_INV_STATE_CONFIRMED

    @property
    def ended(self):
        return self.state == pj.PJSIP_INV_STATE_DISCONNECTED

    def rtp(self):
        """(packets received, packets sent) on the audio stream."""
        try:
            st = self.getStreamStat(0)
            return st.rtcp.rxStat.pkt, st.rtcp.txStat.pkt
        except pj.Error:
            return 0, 0

    def caller_number(self):
        m = re.search(r"sip:([^@>;]+)@", self.remote)
        return m.group(1) if m else ""


class Phone(pj.Account):
    """One registered device of `user`@`domain`."""

    def __init__(self, ua, user, domain, name, display=None, trunk_port=None, port=None):
        """With `trunk_port`, a carrier's line instead: no registration, no credentials,
        every call through the switch's unauthenticated profile on that port. `port`: the
        switch registered with (another node's), else SIP_PORT."""
        super().__init__()
        self.ua, self.user, self.domain, self.name = ua, user, domain, name
        self.calls = []
        self.incoming = []
        self.messages = []
        self.registered = False
        self.reg_code = 0
        cfg = pj.AccountConfig()
        cfg.idUri = f'"{display}" <sip:{user}@{domain}>' if display else f"sip:{user}@{domain}"
        cfg.sipConfig.proxies.append(proxy(trunk_port or port))
        cfg.sipConfig.transportId = ua.transport_for(user, domain)
        if not trunk_port:
            cfg.regConfig.registrarUri = f"sip:{domain}"
            cfg.regConfig.timeoutSec = 600
            cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password(user, domain)))
        cfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        cfg.natConfig.iceEnabled = False
        self.create(cfg)

    def onRegState(self, prm):
        self.reg_code = prm.code
        self.registered = prm.code == 200 and prm.expiration > 0

    def onIncomingCall(self, prm):
        c = Call(self.ua, self, prm.callId)
        c.invite = prm.rdata.wholeMsg
        self.calls.append(c)
        self.incoming.append(c)
        op = pj.CallOpParam()
        op.statusCode = 180
        c.answer(op)

    def onInstantMessage(self, prm):
        self.messages.append((prm.fromUri, prm.msgBody))
        return None

    def dial(self, number):
        c = Call(self.ua, self)
        op = pj.CallOpParam(True)
        c.makeCall(f"sip:{number}@{self.domain}", op)  # raises pj.Error: never listed
        self.calls.append(c)
        return c

    def answer(self, call):
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)

    def __repr__(self):
        return f"<{self.name} {self.user}@{self.domain}>"


class UA:
    """The one pjsua2 endpoint of the process; every callback runs in `pump`."""

    def __init__(self):
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.logConfig.level = 1
        cfg.logConfig.consoleLevel = 1
        cfg.medConfig.noVad = True
        cfg.medConfig.clockRate = 8000
        self.ep.libInit(cfg)
        self.ep.audDevManager().setNullDev()
        self.phones = []
        self.transports = {}
        self.ep.libStart()
        for codec in self.ep.codecEnum2():
            self.ep.codecSetPriority(codec.codecId, 255 if codec.codecId.startswith("PCMU") else 0)

    def transport_for(self, user, domain):
        """A UDP transport of its own for each further phone with the same user part, in
        any domain (so that no two registrations share a contact, which the switch keys
        registrations by); one shared transport otherwise."""
        key = sum(1 for p in self.phones if p.user == user)
        if key not in self.transports:
            self.transports[key] = self._transport()
        return self.transports[key]

    def _transport(self):
        tc = pj.TransportConfig()
        tc.boundAddress = "127.0.0.1"
        tc.publicAddress = "127.0.0.1"
        tc.port = 0
        return self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)

    def phone(self, user, domain, name=None, display=None, trunk_port=None, port=None):
        p = Phone(self, user, domain, name or f"{user}@{domain}", display, trunk_port, port)
        self.phones.append(p)
        return p

    def drop(self, phone):
        try:
            phone.shutdown()
        except pj.Error:
            pass
        self.phones.remove(phone)
        self.pump(0.3)

    def pump(self, seconds=0.1, until=None):
        """Runs pjsua2's events for up to `seconds`, or until `until()` is true.
        Returns whether `until` came true (True without one)."""
        end = time.time() + seconds
        while time.time() < end:
            self.ep.libHandleEvents(10)
            if until is not None and until():
                return True
        return until is None or bool(until())

    def live_calls(self):
        return [c for p in self.phones for c in p.calls if not c.ended]

    def hangup_all(self, seconds=6.0):
        """Hangs up every call and waits until pjsua has let go of each one: the wheel
        has room for 4 calls only, so a call still ending would refuse the next one."""
        for c in self.live_calls():
            try:
                c.hangup(pj.CallOpParam(True))
            except pj.Error:
                pass
        self.pump(seconds, lambda: not self.live_calls())
        self.pump(0.2)

    def close(self):
        self.hangup_all()
        for p in self.phones:
            try:
                p.shutdown()
            except pj.Error:
                pass
        self.pump(0.5)


def _md5(s):
    return hashlib.md5(s.encode()).hexdigest()


class _UdpPhone:
    """A SIP phone on a plain UDP socket of its own (loopback), talking to the switch:
    requests it gets are answered with 200 OK (each NOTIFY kept, start line and
    headers, and body); responses are handed back by `_recv_all`."""

    def __init__(self, user, domain, prefix, port=None):
        self.user, self.domain = user, domain
        self.server_port = port or SIP_PORT
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.call_id = f"{prefix}-{random.getrandbits(48):x}@127.0.0.1"
        self.tag = f"{random.getrandbits(32):x}"
        self.cseq = 0
        self.notifies = []

    def _send(self, text):
        self.sock.sendto(text.encode(), ("127.0.0.1", self.server_port))

    def _request(self, method, uri, to, headers, auth=None):
        """Sends `method` to `uri` (To: `to`) in this phone's one dialog, a new CSeq each
        time, with `headers` and the digest `auth` line when given."""
        self.cseq += 1
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{random.getrandbits(40):x};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{self.domain}>;tag={self.tag}",
            f"To: <{to}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {method}",
            f"Contact: <sip:{self.user}@127.0.0.1:{self.port}>",
        ] + headers
        if auth:
            lines.append(auth)
        lines += ["Content-Length: 0", "", ""]
        self._send("\r\n".join(lines))

    def _kept(self, head, body):
        self.notifies.append((head, body))

    def _recv_all(self):
        out = []
        while True:
            try:
                data, _ = self.sock.recvfrom(65535)
            except BlockingIOError:
                return out
            msg = data.decode(errors="replace")
            if msg.startswith("SIP/2.0 "):
                out.append(msg)
                continue
            head = msg.split("\r\n\r\n", 1)[0].split("\r\n")
            keep = [h for h in head[1:] if re.match(r"^(Via|From|To|Call-ID|CSeq)\s*:", h, re.I)]
            self._send("\r\n".join(["SIP/2.0 200 OK"] + keep + ["Content-Length: 0", "", ""]))
            if msg.startswith("NOTIFY "):
                head, _, body = msg.partition("\r\n\r\n")
                self._kept(head, body)

    def pump(self):
        self._recv_all()


class BlfWatcher(_UdpPhone):
    """A BLF key: SUBSCRIBE to park+<target>@<domain> with Event: dialog, authenticated
    as `user`, answering every NOTIFY and keeping what each said."""

    def __init__(self, user, domain, target, target_domain=None, port=None):
        super().__init__(user, domain, "blf", port)
        self.target = target
        self.target_domain = target_domain or domain
        self.sub_code = 0

    def _kept(self, head, body):
        self.notifies.append(body)  # the dialog-info bodies, for state()

    def _subscribe(self, auth=None, expires=600):
        uri = f"sip:{self.target}@{self.target_domain}"
        self._request("SUBSCRIBE", uri, uri, ["Event: dialog", "Accept: application/dialog-info+xml",
                                              f"Expires: {expires}", "User-Agent: callpark-blf-test"], auth)

    def subscribe(self, pump, timeout=5.0, expires=600):
        self._subscribe(expires=expires)
        end = time.time() + timeout
        while time.time() < end:
            for msg in self._recv_all():
                first = msg.split("\r\n", 1)[0]
                if first.startswith("SIP/2.0 401") or first.startswith("SIP/2.0 407"):
                    self._subscribe(self._authorization(msg, first.startswith("SIP/2.0 407")), expires=expires)
                elif first.startswith("SIP/2.0 2"):
                    self.sub_code = int(first.split()[1])
                elif first.startswith("SIP/2.0 "):
                    self.sub_code = int(first.split()[1])
                    return False
            pump(0.02)
            if self.sub_code and self.notifies:
                return True
        return bool(self.sub_code)

    def _authorization(self, msg, proxy):
        return digest_authorization(msg, self.user, self.domain, "SUBSCRIBE", f"sip:{self.target}@{self.target_domain}")

    def state(self):
        """The dialog state the last NOTIFY showed: 'confirmed', 'early', 'terminated',
        or 'idle' (no dialog), and the display name/identity shown."""
        if not self.notifies:
            return None, ""
        # NOTIFYs over UDP may arrive out of order: like a phone (RFC 4235), keep the
        # highest dialog-info version, the last one received among equals.
        def version(b):
            m = re.search(r'<dialog-info[^>]*\sversion="(\d+)"', b)
            return int(m.group(1)) if m else -1
        body = max(reversed(self.notifies), key=version)
        m = re.search(r"<state[^>]*>\s*(\w+)\s*</state>", body)
        ident = re.search(r"<remote>.*?<identity[^>]*?(?:display=\"([^\"]*)\")?[^>]*>([^<]*)</identity>", body, re.S)
        who = ""
        if ident:
            who = (ident.group(1) or "") + " " + ident.group(2)
        return (m.group(1) if m else "idle"), who.strip()

    def unsubscribe(self):
        try:
            self._subscribe(expires=0)
        except OSError:
            pass
        self.sock.close()


def digest_authorization(msg, user, domain, method, uri):
    """The Authorization (or Proxy-Authorization) header answering the challenge in `msg`."""
    proxy = msg.startswith("SIP/2.0 407")
    hdr = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    m = re.search(rf"^{hdr}:\s*Digest\s+(.*)$", msg, re.M | re.I)
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', m.group(1)))
    realm, nonce = params["realm"], params["nonce"]
    ha1 = _md5(f"{user}:{realm}:{password(user, domain)}")
    ha2 = _md5(f"{method}:{uri}")
    name = "Proxy-Authorization" if proxy else "Authorization"
    if "auth" in params.get("qop", ""):
        cnonce, nc = f"{random.getrandbits(32):x}", "00000001"
        resp = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        return (f'{name}: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                f'response="{resp}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"')
    resp = _md5(f"{ha1}:{nonce}:{ha2}")
    return (f'{name}: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}", algorithm=MD5')


class RawPhone(_UdpPhone):
    """A phone registered from a plain UDP socket (digest-authenticated as `user`), that
    answers every NOTIFY with 200 OK and keeps each (start line and headers, body), and
    answers anything else it is sent with 200 OK too (a MESSAGE)."""

    def __init__(self, user, domain):
        super().__init__(user, domain, "reg")
        self.code = 0

    def _register(self, expires, auth=None):
        self._request("REGISTER", f"sip:{self.domain}", f"sip:{self.user}@{self.domain}",
                      [f"Expires: {expires}", "User-Agent: callpark-raw-phone"], auth)

    def register(self, pump, expires=600, timeout=5.0):
        """Registers (or, with `expires` 0, unregisters); the final answer's code."""
        self.code = 0
        self._register(expires)
        end = time.time() + timeout
        while time.time() < end and not self.code:
            for msg in self._recv_all():
                first = msg.split("\r\n", 1)[0]
                if first.startswith("SIP/2.0 401") or first.startswith("SIP/2.0 407"):
                    self._register(expires, digest_authorization(msg, self.user, self.domain, "REGISTER",
                                                                 f"sip:{self.domain}"))
                elif first.startswith("SIP/2.0 ") and not first.startswith("SIP/2.0 1"):
                    self.code = int(first.split()[1])
            pump(0.02)
        return self.code

    def close(self, pump):
        self.register(pump, expires=0)
        self.sock.close()
