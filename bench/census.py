"""A count of the work the switch does during a run, which the machine's noise does not
move: uprobes (`perf probe`) on functions of FreeSWITCH, SQLite, sofia-sip and libc,
counted by `perf stat` for the length of the run, and the events the switch fires, by
name, from the same probe with the event's id and subclass as arguments (`perf record`).

On a shared virtual machine without hardware counters the CPU seconds of one column
spread by ±25% from run to run; these counts repeat to 0.1% back to back and to 1.5% an
hour apart, so they can say which of callpark's extra steps costs the switch what.
Probes left by a run cut off are removed when the next census starts. Each probe traps into
the kernel (a few microseconds a hit), so a census run is slower than the switch alone:
its CPU figure is not the benchmark's.

Needs root, perf, and uprobes in the kernel (tracefs is mounted if it is not).
"""

import collections
import os
import re
import signal
import subprocess
import time

GROUP = "census"
# (library, function, what one hit is). The library is the basename's stem as mapped in
# the switch's process.
PROBES = [
    ("libfreeswitch", "switch_event_fire_detailed", "event fired"),
    ("libfreeswitch", "switch_event_deliver", "event handed to its subscribers (each fired one, and lamps directly)"),
    ("libfreeswitch", "switch_event_dup", "event copied (to a queue, a subscriber)"),
    ("libfreeswitch", "switch_channel_event_set_data", "channel's data written into an event"),
    ("libfreeswitch", "switch_core_session_execute_application_get_flags", "dialplan application run"),
    ("libfreeswitch", "switch_ivr_session_transfer", "transfer to another extension"),
    ("libfreeswitch", "switch_xml_locate_user_merged", "directory look-up"),
    ("libfreeswitch", "switch_api_execute", "API command run"),
    ("libfreeswitch", "switch_core_chat_send_args", "chat message sent"),
    ("libfreeswitch", "switch_log_vprintf", "log line formatted"),
    ("libsqlite3", "sqlite3_prepare_v2", "SQL statement prepared"),
    ("libsqlite3", "sqlite3_step", "SQL statement step"),
    ("libsofia-sip-ua", "tport_tsend", "SIP message sent"),
    ("libc", "malloc", "malloc"),
]
SOFTWARE = ["task-clock", "context-switches"]
# switch_event_fire_detailed(file, func, line, switch_event_t **event, user_data):
# the event is the 4th argument; switch_event_t begins {event_id, priority, owner,
# subclass_name, ...}. switch_event_deliver(switch_event_t **event): the 1st. The
# registers are x86-64's (System V calling convention); elsewhere the names differ.
NAMED = {"switch_event_fire_detailed": "%cx", "switch_event_deliver": "%di"}


def _mapped(pid):
    """The shared objects mapped into the process, by the stem of their name."""
    libs = {}
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            path = line.split()[-1]
            if path.startswith("/") and ".so" in path:
                libs.setdefault(os.path.basename(path).split(".so")[0], path)
    return libs


def _event_names(include_dir):
    """switch_event_types_t's names in order, from the installed switch_types.h."""
    with open(os.path.join(include_dir, "switch_types.h")) as f:
        text = f.read()
    body = text[:text.index("} switch_event_types_t;")]
    body = body[body.rindex("typedef enum"):]
    return re.findall(r"^\s*SWITCH_EVENT_(\w+)", body, re.M)


def _address(path, fn):
    """The function's own address (a name alone can match its PLT entry too)."""
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[2].split("@")[0] == fn and f[1] in "Tti":
            return "0x" + f[0]
    raise RuntimeError(f"census: {fn} is not defined in {path}")


def _perf_probe(*args):
    return subprocess.run(["perf", "probe", "-q", *args], capture_output=True, text=True)


def _event_name(fn):
    return fn.replace("_get_flags", "").replace("switch_", "")[:28]


class Census:
    def __init__(self, pid, include_dir, path):
        if not os.path.exists("/sys/kernel/tracing/uprobe_events"):
            subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], capture_output=True)
        self.names = _event_names(include_dir)
        libs = _mapped(pid)
        _perf_probe("-d", f"{GROUP}:*")
        self.probes = []
        for lib, fn, what in PROBES:
            if lib not in libs:
                raise RuntimeError(f"census: {lib} is not mapped in the switch")
            spec = f"{GROUP}:{_event_name(fn)}={_address(libs[lib], fn)}"
            if fn in NAMED:
                reg = NAMED[fn]
                spec += f" id=+0(+0({reg})):s32 sub=+0(+16(+0({reg}))):string"
            r = _perf_probe("-x", libs[lib], "-a", spec)
            if r.returncode != 0:
                raise RuntimeError(f"census: perf probe {spec} failed: {r.stderr.strip()}")
            self.probes.append((_event_name(fn), what))
        self.stat_out, self.rec_out = path + ".stat", path + ".data"
        events = ",".join(SOFTWARE + [f"{GROUP}:{name}" for name, _ in self.probes])
        self.stat = subprocess.Popen(["perf", "stat", "-x", ",", "-e", events, "-p", str(pid), "-o", self.stat_out],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        named = ",".join(f"{GROUP}:{_event_name(fn)}" for fn in NAMED)
        self.rec = subprocess.Popen(["perf", "record", "-q", "-e", named, "-p", str(pid), "-o", self.rec_out],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)

    def stop(self):
        """{"counts": {probe: hits}, "what": {probe: meaning}, "events": {name: fired}}."""
        for p in (self.stat, self.rec):
            p.send_signal(signal.SIGINT)
        for p in (self.stat, self.rec):
            p.wait(timeout=120)
        counts = {}
        with open(self.stat_out) as f:
            for line in f:
                fields = line.strip().split(",")
                if len(fields) > 2 and fields[0].replace(".", "", 1).isdigit():
                    counts[fields[2].replace(f"{GROUP}:", "")] = float(fields[0])
        events = collections.Counter()
        script = subprocess.run(["perf", "script", "-i", self.rec_out, "-F", "event,trace"],
                                capture_output=True, text=True, errors="replace")
        for line in script.stdout.splitlines():
            m = re.search(r"id=(-?\d+) sub=(\"[^\"]*\"|\(fault\)|\S*)", line)
            if not m:
                continue
            i = int(m.group(1))
            name = self.names[i] if 0 <= i < len(self.names) else f"#{i}"
            sub = m.group(2).strip('"')
            if name == "CUSTOM" and sub and sub != "(fault)":
                name += " " + sub
            if "deliver" in line.split(":", 2)[1]:
                name += " (delivered)"
            events[name] += 1
        _perf_probe("-d", f"{GROUP}:*")
        return {"counts": counts, "what": dict(self.probes), "events": dict(events)}
