"""A FreeSWITCH of the tests' own: rendered configuration in a scratch directory,
loopback addresses, non-default ports; started, driven over ESL, stopped."""

import os
import select
import shutil
import socket
import subprocess
import time


# The FreeSWITCH under test: the prefix scripts/freeswitch.sh installed it into (1.10.12 in
# /usr/local/freeswitch by default; tests/fs/run.sh and the Makefile pass FREESWITCH_PREFIX).
FS_PREFIX = os.environ.get("FREESWITCH_PREFIX") or "/usr/local/freeswitch"


def _pkg_var(name, default):
    """A directory of the installed FreeSWITCH, as `pkg-config freeswitch` names it (the
    same place `make install` put the module), so that any install layout works."""
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = f"{FS_PREFIX}/lib/pkgconfig:" + env.get("PKG_CONFIG_PATH", "")
    try:
        out = subprocess.run(["pkg-config", f"--variable={name}", "freeswitch"], env=env,
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return out or default


FS_BIN = os.path.join(_pkg_var("bindir", f"{FS_PREFIX}/bin"), "freeswitch")
FS_MOD = _pkg_var("modulesdir", f"{FS_PREFIX}/lib/freeswitch/mod")
HERE = os.path.dirname(os.path.abspath(__file__))

SIP_PORT = 25060
CARRIER_PORT = 25080  # the unauthenticated "carrier" profile
STATIC_PHONE_PORT = 25090  # a phone (SIPp) the dialplan reaches at a fixed contact
ESL_PORT = 28021
RTP_START, RTP_END = 32000, 33999

USERS = {
    "acme.example": [str(n) for n in range(101, 112)] + ["alice"],
    "globex.example": ["101", "102", "103"],
}


# 110@acme's phone is reached 2 s late (the switch waits about 2000 ticks before it creates
# the leg, originate_delay_start): the window in which a call can be picked up before its recall
# leg exists.
SLOW_USER = ("110", "acme.example")
SLOW_USER_DIAL_STRING = ('<param name="dial-string" value="{^^:sip_invite_domain=${dialed_domain}:'
                         'presence_id=${dialed_user}@${dialed_domain}:originate_delay_start=2000}'
                         '${sofia_contact(*/${dialed_user}@${dialed_domain})}"/>')


# 111@acme is a desk phone the admin wrote down at a fixed contact (a SIPp phone, s19): the
# switch reaches it as a directory user without a registration.
STATIC_USER = ("111", "acme.example")
STATIC_USER_DIAL_STRING = ('<param name="dial-string" value="{^^:sip_invite_domain=${dialed_domain}:'
                           'presence_id=${dialed_user}@${dialed_domain}}'
                           f'sofia/internal/111@127.0.0.1:{STATIC_PHONE_PORT}"/>')


def write_digit_prompts(sounds):
    """A source install has no sound prompts: stand-ins for the ones `say` plays for
    digits (digits/0.wav ... digits/9.wav, a short tone each, 8 kHz), for the
    announcement of where a call was parked."""
    import math
    import struct
    import wave
    os.makedirs(os.path.join(sounds, "digits"), exist_ok=True)
    for d in range(10):
        with wave.open(os.path.join(sounds, "digits", f"{d}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * (400 + 60 * d) * i / 8000)))
                                   for i in range(2000)))
    # And a short hold music (1.5 s), to hear it replayed.
    with wave.open(os.path.join(sounds, "short-music.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * 330 * i / 8000))) for i in range(12000)))


# Operators of the park board (board/): the directory variable callpark-board asks for.
OPERATORS = {("103", "acme.example"), ("101", "globex.example")}


def password(user, domain):
    return f"pw{user}{domain.split('.')[0]}"


def directory():
    out = []
    for domain, users in USERS.items():
        out.append(f'<domain name="{domain}">')
        out.append('<params><param name="dial-string" value="{^^:sip_invite_domain=${dialed_domain}:'
                   'presence_id=${dialed_user}@${dialed_domain}}${sofia_contact(*/${dialed_user}@${dialed_domain})}"/>'
                   '</params>')
        out.append('<variables><variable name="user_context" value="default"/></variables>')
        out.append('<groups><group name="default"><users>')
        for u in users:
            slow = {SLOW_USER: SLOW_USER_DIAL_STRING, STATIC_USER: STATIC_USER_DIAL_STRING}.get((u, domain), "")
            op = '<variable name="callpark_operator" value="true"/>' if (u, domain) in OPERATORS else ""
            out.append(f'<user id="{u}"><params><param name="password" value="{password(u, domain)}"/>{slow}</params>'
                       f'<variables><variable name="effective_caller_id_number" value="{u}"/>{op}</variables></user>')
        out.append('</users></group></groups></domain>')
    return "\n".join(out)


class Esl:
    """A minimal event-socket client: api commands and plain events."""

    def __init__(self, port=ESL_PORT, password="ClueCon"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self._read_message()  # auth/request
        self.sock.sendall(f"auth {password}\n\n".encode())
        reply = self._read_message()
        if b"+OK" not in reply[0]:
            raise RuntimeError(f"ESL auth failed: {reply}")
        self.events = []

    def _read_until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("ESL closed")
            self.buf += chunk
        head, self.buf = self.buf.split(marker, 1)
        return head

    def _read_message(self):
        head = self._read_until(b"\n\n")
        headers = dict(line.split(": ", 1) for line in head.decode().splitlines() if ": " in line)
        body = b""
        if "Content-Length" in headers:
            n = int(headers["Content-Length"])
            while len(self.buf) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("ESL closed")
                self.buf += chunk
            body, self.buf = self.buf[:n], self.buf[n:]
        return head, headers, body

    def api(self, cmd, timeout=30):
        self.sock.settimeout(timeout)
        self.sock.sendall(f"api {cmd}\n\n".encode())
        while True:
            head, headers, body = self._read_message()
            if headers.get("Content-Type") == "api/response":
                return body.decode(errors="replace")
            if headers.get("Content-Type") == "text/event-plain":
                self.events.append(parse_event(body))

    def subscribe(self, spec="CUSTOM callpark::info"):
        self.sock.sendall(f"event plain {spec}\n\n".encode())
        while True:
            head, headers, body = self._read_message()
            if headers.get("Content-Type") == "command/reply":
                return headers.get("Reply-Text", "")
            if headers.get("Content-Type") == "text/event-plain":
                self.events.append(parse_event(body))

    def poll_events(self, seconds=0.0):
        """Reads every event that arrives within `seconds` (and what is already here)."""
        end = time.time() + seconds
        while True:
            wait = max(0.0, end - time.time())
            ready = b"\n\n" in self.buf or select.select([self.sock], [], [], wait)[0]
            if not ready:
                return self.events
            self.sock.settimeout(10)
            head, headers, body = self._read_message()
            if headers.get("Content-Type") == "text/event-plain":
                self.events.append(parse_event(body))

    def close(self):
        try:
            self.sock.sendall(b"exit\n\n")
        except OSError:
            pass
        self.sock.close()


def parse_event(body):
    from urllib.parse import unquote
    ev = {}
    for line in body.decode(errors="replace").splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            ev[k] = unquote(v)
    return ev


class Switch:
    def __init__(self, run_dir, callpark_conf, extra_modules="", extra_dialplan="", sip_port=SIP_PORT, esl_port=ESL_PORT):
        self.run = run_dir
        self.sip_port, self.esl_port = sip_port, esl_port
        self.callpark_conf = callpark_conf
        self.extra_modules = extra_modules
        self.extra_dialplan = extra_dialplan
        self.proc = None
        self.esl = None

    # The configuration template and what fills its @NAME@ placeholders; the benchmark's
    # switch (bench/park_vs_valet.py) brings its own of both.
    template = os.path.join(HERE, "conf", "freeswitch.xml")
    rtp_range = (RTP_START, RTP_END)
    # What the switch is started under (bench/instructions.py: valgrind), and how long it
    # may take to be ready.
    launcher = []
    start_timeout = 60

    def substitutions(self):
        return {
            "@EXTRA_MODULES@": self.extra_modules,
            "@EXTRA_DIALPLAN@": self.extra_dialplan,
            "@CALLPARK_CONF@": self.callpark_conf,
            "@DIRECTORY@": directory(),
        }

    def render(self):
        if os.path.exists(self.run):
            shutil.rmtree(self.run)
        for d in ("conf", "log", "db", "run", "tmp", "storage", "recordings", "sounds"):
            os.makedirs(os.path.join(self.run, d))
        write_digit_prompts(os.path.join(self.run, "sounds"))
        with open(self.template) as f:
            text = f.read()
        for k, v in {
            "@RUN@": self.run,
            "@SIP_PORT@": str(self.sip_port),
            "@CARRIER_PORT@": str(self.sip_port + CARRIER_PORT - SIP_PORT),
            "@STATIC_PHONE_PORT@": str(self.sip_port + STATIC_PHONE_PORT - SIP_PORT),
            "@ESL_PORT@": str(self.esl_port),
            "@RTP_START@": str(self.rtp_range[0]),
            "@RTP_END@": str(self.rtp_range[1]),
            **self.substitutions(),
        }.items():
            text = text.replace(k, v)
        with open(os.path.join(self.run, "conf", "freeswitch.xml"), "w") as f:
            f.write(text)

    def set_callpark_conf(self, xml):
        """Rewrites the configuration file; `reloadxml` or `callpark reload` picks it up."""
        self.callpark_conf = xml
        path = os.path.join(self.run, "conf", "freeswitch.xml")
        with open(path) as f:
            text = f.read()
        start = text.index('<configuration name="callpark.conf"')
        end = text.index("</configuration>", start) + len("</configuration>")
        with open(path, "w") as f:
            f.write(text[:start] + xml + text[end:])

    def start(self):
        self.render()
        args = self.launcher + [FS_BIN, "-nf", "-nc", "-nonat",
                "-conf", os.path.join(self.run, "conf"), "-log", os.path.join(self.run, "log"),
                "-db", os.path.join(self.run, "db"), "-run", os.path.join(self.run, "run"),
                "-temp", os.path.join(self.run, "tmp"), "-storage", os.path.join(self.run, "storage"),
                "-recordings", os.path.join(self.run, "recordings"), "-sounds", os.path.join(self.run, "sounds"),
                "-mod", FS_MOD]
        self.out = open(os.path.join(self.run, "log", "stdout.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # run.sh kills it from this file should the harness die without stopping it.
        with open(os.path.join(os.path.dirname(self.run), "freeswitch.pid"), "w") as f:
            f.write(str(self.proc.pid))
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise RuntimeError(f"FreeSWITCH exited with {code}; see {self.run}/log")
            try:
                self.esl = Esl(self.esl_port)
                break
            except OSError:
                time.sleep(0.3)
        else:
            self.stop()
            raise RuntimeError(f"FreeSWITCH did not open its event socket in {self.start_timeout} s (modules from {FS_MOD}: "
                               f"is mod_event_socket.so there? see {self.run}/log)")
        while time.time() < deadline:
            if "is ready" in self.esl.api("status") and "RUNNING" in self.esl.api("sofia status"):
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"FreeSWITCH did not get ready in {self.start_timeout} s")

    def api(self, cmd):
        return self.esl.api(cmd)

    def log_text(self):
        try:
            with open(os.path.join(self.run, "log", "freeswitch.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        try:
            if self.esl:
                self.esl.sock.settimeout(5)
                self.esl.sock.sendall(b"api fsctl shutdown\n\n")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.out.close()
