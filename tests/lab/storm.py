#!/usr/bin/env python3
"""A registration storm through the router, with sipalgd's CPU capped to a router-class
share, in the namespace lab (tests/lab/lab.sh), as bench.py runs.

    python3 tests/lab/storm.py [--phones 100,1000,5000] [--budgets 10,30]
                               [--binary NAME=PATH ...] [--runs 1] [--write FILE.md]
    python3 tests/lab/storm.py --scale [--svg docs/scale.svg] [--write FILE.md]

Storm: N phones (distinct addresses 192.168.1.100-199 on the LAN side, several ports
each) register within one second. Each behaves like an RFC 3261 UA over UDP: a
REGISTER is retransmitted after 0.5, 1, 2, 4, 4, ... s (timer E, doubling up to
T2 = 4 s) until a final response arrives or 32 s pass (timer F; then it starts again
5 s later, as phones retry a failed registration). A response counts only if its top
Via names the phone itself (a UA discards others, RFC 3261 section 18.1.2), i.e. the
router restored it. The registrar on the WAN side answers every REGISTER with a 200
and records the binding: the Contact and Via it saw, and the address the REGISTER came
from. A binding is correct when Contact and Via name that public address (rewritten
by the ALG); an unrewritten REGISTER binds the phone's private address. When every
phone is registered (or after 60 s), a fraction of them call: INVITE (retransmitted
by timer A: 0.5, 1, 2, 4, ... s until a response, 32 s at most), the far end answers
200 with SDP and retransmits it (T1 doubling to T2) until the ACK arrives.
At the end the registrar sends OPTIONS to every binding it holds, as an incoming call
would: a phone that answers is reachable.

The daemon is put into a CPU cgroup (cgroup v2 `cpu.max`, or v1
`cpu.cfs_quota_us`/`cpu.cfs_period_us`, whichever this machine has) with a 10 ms period,
so a 10 % budget is 1 ms of CPU per 10 ms: a steadily slow CPU rather than long stalls.
`--binary NAME=PATH` (repeatable) compares sipalgd builds in the same invocation, e.g.
the fail-open build before issue #22.

Reported per binary, budget and N: messages that left unrewritten (REGISTER/INVITE/ACK
at the registrar with a LAN address outside From/To, responses at phones without the
phone's Via), phones correctly bound at the end, phones reachable, time until all were
bound, what was dropped (by the kernel's queue, by the daemon) and which side recovered
it (phone retransmissions, the far end's 200 retransmissions), the daemon's peak RSS and
its CPU per message (cgroup accounting: user + system, all threads, including the
kernel work done in its context such as reinjecting accepted packets).

--scale measures the daemon uncapped while registrations (100, 1,000, 10,000) and then
calls (100, 1,000, 4,096) accumulate: RSS and CPU per message at each point, written as
a table and an SVG plot (drawn here, no plotting library).

Needs root. Cleans up its namespaces and cgroups on exit. Sends only inside its own
namespaces.
"""
import argparse
import heapq
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SERVER, WAN, MEDIA = "198.51.100.10", "198.51.100.1", "198.51.100.20"
T1, T2, TF = 0.5, 4.0, 32.0
RETRY_AFTER_FAILURE = 5.0
N_IPS = 100


def phone_addr(i, n):
    """Phone i of n: 192.168.1.100+ (i % 100), port 5060 + 2 * (i // 100)."""
    return f"192.168.1.{100 + i % N_IPS}", 5060 + 2 * (i // N_IPS)


def leaks_private(msg):
    """A LAN address outside From/To/Call-ID (which are never rewritten: Call-IDs are
    opaque, and phones often put their address in them)."""
    head, _, body = msg.partition(b"\r\n\r\n")
    lines = [l for l in head.split(b"\r\n")
             if not l.lower().startswith((b"from:", b"to:", b"f:", b"t:", b"call-id:", b"i:"))]
    return any(b"192.168.1." in l for l in lines + body.split(b"\r\n"))


def headers(msg):
    """(first line, {lower-case name: [values]}, body)."""
    head, _, body = msg.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    h = {}
    for l in lines[1:]:
        name, _, value = l.partition(":")
        h.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], h, body


def sip(lines, body=""):
    return ("\r\n".join(lines) + f"\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()


def sdp(ip, port):
    return (f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


# --------------------------------------------------------------------------- phones

class Phone:
    __slots__ = ("i", "ip", "port", "sock", "aor", "cseq", "branch", "reg", "reg_state",
                 "reg_started", "reg_next", "reg_interval", "registered_at", "reg_tx",
                 "reg_rtx", "failures", "inv", "inv_state", "inv_started", "inv_interval",
                 "inv_next", "answered_at", "inv_rtx", "acks", "ack")

    def __init__(self, i, n):
        self.i = i
        self.ip, self.port = phone_addr(i, n)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
        self.sock.bind((self.ip, self.port))
        self.sock.setblocking(False)
        self.aor = f"sip:u{i}@example.net"
        self.cseq = 0
        self.reg_state = "idle"
        self.registered_at = None
        self.reg_tx = self.reg_rtx = self.failures = 0
        self.inv_state = "idle"
        self.answered_at = None
        self.inv_rtx = self.acks = 0

    def new_register(self):
        self.cseq += 1
        self.branch = f"z9hG4bK-r{self.i}-{self.cseq}"
        self.reg = sip([
            f"REGISTER sip:{SERVER} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.ip}:{self.port};branch={self.branch};rport",
            "Max-Forwards: 70",
            f"From: <{self.aor}>;tag=f{self.i}",
            f"To: <{self.aor}>",
            f"Call-ID: reg-{self.i}@{self.ip}",
            f"CSeq: {self.cseq} REGISTER",
            f"Contact: <sip:u{self.i}@{self.ip}:{self.port}>",
            "Expires: 3600",
            "User-Agent: storm"])

    def new_invite(self):
        body = sdp(self.ip, 10000 + 2 * (self.i % 20000))
        self.inv = sip([
            f"INVITE sip:bob@{SERVER} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.ip}:{self.port};branch=z9hG4bK-i{self.i};rport",
            "Max-Forwards: 70",
            f"From: <{self.aor}>;tag=c{self.i}",
            f"To: <sip:bob@{SERVER}>",
            f"Call-ID: call-{self.i}@{self.ip}",
            "CSeq: 1 INVITE",
            f"Contact: <sip:u{self.i}@{self.ip}:{self.port}>",
            "Content-Type: application/sdp"], body)
        self.ack = sip([
            f"ACK sip:bob@{SERVER}:5060 SIP/2.0",
            f"Via: SIP/2.0/UDP {self.ip}:{self.port};branch=z9hG4bK-a{self.i};rport",
            "Max-Forwards: 70",
            f"From: <{self.aor}>;tag=c{self.i}",
            f"To: <sip:bob@{SERVER}>;tag=srv",
            f"Call-ID: call-{self.i}@{self.ip}",
            "CSeq: 1 ACK",
            f"Contact: <sip:u{self.i}@{self.ip}:{self.port}>"])

    def own_via(self, h):
        via = (h.get("via") or h.get("v") or [""])[0]
        return via.startswith(f"SIP/2.0/UDP {self.ip}:{self.port};")


def phones_main(args):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n = args.n
    phones = [Phone(i, n) for i in range(n)]
    by_fd = {p.sock.fileno(): p for p in phones}
    sel = selectors.DefaultSelector()
    for p in phones:
        sel.register(p.sock, selectors.EVENT_READ)
    dest = (SERVER, 5060)
    start = args.start_at
    timers = []  # (when, seq, kind, phone)
    seq = 0

    def at(when, kind, p):
        nonlocal seq
        seq += 1
        heapq.heappush(timers, (when, seq, kind, p.i))

    for p in phones:
        at(start + p.i / n, "register", p)
    stats = {"unrestored": 0, "probes_answered": 0, "stray": 0}
    invite_at = None
    callers = []
    buf = bytearray(65536)
    limit = start + args.limit
    done_reported = False
    while True:
        now = time.time()
        if now > limit and not done_reported:
            # Out of time: stop the storm, keep answering the registrar's probes.
            timers.clear()
            with open(args.done, "w") as f:
                f.write(str(now))
            done_reported = True
        # Timers due.
        while timers and timers[0][0] <= now:
            _, _, kind, i = heapq.heappop(timers)
            p = phones[i]
            if kind == "register":
                p.new_register()
                p.reg_state = "trying"
                p.reg_started = now
                p.reg_interval = T1
                p.sock.sendto(p.reg, dest)
                p.reg_tx += 1
                at(now + T1, "reg_rtx", p)
            elif kind == "reg_rtx" and p.reg_state == "trying":
                if now - p.reg_started >= TF:
                    p.reg_state = "failed"
                    p.failures += 1
                    at(now + RETRY_AFTER_FAILURE, "register", p)
                else:
                    p.sock.sendto(p.reg, dest)
                    p.reg_tx += 1
                    p.reg_rtx += 1
                    p.reg_interval = min(2 * p.reg_interval, T2)
                    at(now + p.reg_interval, "reg_rtx", p)
            elif kind == "invite":
                p.new_invite()
                p.inv_state = "calling"
                p.inv_started = now
                p.inv_interval = T1
                p.sock.sendto(p.inv, dest)
                at(now + T1, "inv_rtx", p)
            elif kind == "inv_rtx" and p.inv_state == "calling":
                if now - p.inv_started >= TF:
                    p.inv_state = "failed"
                else:
                    p.sock.sendto(p.inv, dest)
                    p.inv_rtx += 1
                    p.inv_interval *= 2  # timer A doubles without a cap
                    at(now + p.inv_interval, "inv_rtx", p)
        # The call burst: at --invite-at s into the storm, else once every phone is
        # registered, or 60 s into the storm.
        if invite_at is None and args.invite_fraction > 0:
            if (now >= start + args.invite_at if args.invite_at is not None
                    else all(p.registered_at for p in phones) or now > start + 60):
                invite_at = now
                k = max(1, int(n * args.invite_fraction))
                callers = [phones[(j * n) // k] for j in range(k)]
                for j, p in enumerate(callers):
                    at(now + j / k, "invite", p)
        if not done_reported:
            regs_done = all(p.registered_at for p in phones)
            calls_done = invite_at is not None and all(p.inv_state in ("answered", "failed") for p in callers)
            if regs_done and (calls_done or args.invite_fraction == 0):
                with open(args.done, "w") as f:
                    f.write(str(now))
                done_reported = True
        wait = (timers[0][0] - now) if timers else 0.2
        for key, _ in sel.select(timeout=max(0.0, min(wait, 0.2))):
            p = by_fd[key.fd]
            while True:
                try:
                    nbytes, src = p.sock.recvfrom_into(buf)
                except BlockingIOError:
                    break
                msg = bytes(buf[:nbytes])
                first, h, _ = headers(msg)
                cseq = (h.get("cseq") or [""])[0]
                if first.startswith("SIP/2.0 "):
                    if not p.own_via(h):
                        stats["unrestored"] += 1  # a UA discards it
                        continue
                    code = int(first.split()[1])
                    if cseq.endswith("REGISTER") and code >= 200 and p.reg_state == "trying" \
                            and f"branch={p.branch};" in (h.get("via") or [""])[0] + ";":
                        p.reg_state = "registered"
                        if p.registered_at is None:
                            p.registered_at = time.time() - start
                    elif cseq.endswith("INVITE") and code >= 200:
                        if p.inv_state == "calling":
                            p.inv_state = "answered"
                            p.answered_at = time.time() - start
                        p.sock.sendto(p.ack, dest)  # every 2xx, retransmitted or not, is ACKed
                        p.acks += 1
                    continue
                if first.startswith("OPTIONS "):
                    # The registrar probing the binding: answer as the phone.
                    keep = ([f"Via: {v}" for v in h.get("via", [])] + [f"From: {v}" for v in h.get("from", [])]
                            + [f"To: {v};tag=p" for v in h.get("to", [])] + [f"Call-ID: {v}" for v in h.get("call-id", [])]
                            + [f"CSeq: {v}" for v in h.get("cseq", [])])
                    p.sock.sendto(sip(["SIP/2.0 200 OK"] + keep), src)
                    stats["probes_answered"] += 1
                    continue
                stats["stray"] += 1
        if done_reported and os.path.exists(args.stop):
            break
        if now > limit + 60:
            break
    registered = sorted(p.registered_at for p in phones if p.registered_at is not None)

    def pct(q):
        return registered[min(len(registered) - 1, int(q * len(registered)))] if registered else None

    report = dict(stats)
    report.update({
        "phones": n,
        "registered": len(registered),
        "registered_p50_s": pct(0.5),
        "registered_p90_s": pct(0.9),
        "all_registered_s": max(registered) if len(registered) == n else None,
        "register_sent": sum(p.reg_tx for p in phones),
        "register_retransmissions": sum(p.reg_rtx for p in phones),
        "phones_that_retransmitted": sum(1 for p in phones if p.reg_rtx),
        "register_failures": sum(p.failures for p in phones),
        "callers": len(callers),
        "answered": sum(1 for p in callers if p.inv_state == "answered"),
        "all_answered_s": (max(p.answered_at for p in callers) - (invite_at - start))
        if callers and all(p.answered_at for p in callers) else None,
        "answered_p50_s": (sorted(p.answered_at for p in callers if p.answered_at)[len([1 for p in callers if p.answered_at]) // 2]
                           - (invite_at - start)) if any(p.answered_at for p in callers) else None,
        "invite_retransmissions": sum(p.inv_rtx for p in callers),
        "acks_sent": sum(p.acks for p in callers),
    })
    print(json.dumps(report), flush=True)


# --------------------------------------------------------------------------- registrar

def registrar_main(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((SERVER, 5060))
    s.setblocking(False)
    start = args.start_at
    bindings = {}      # aor -> (contact host:port, ok, via ok)
    first_ok = {}      # aor -> s since start
    calls = {}         # call-id -> dict(peer, ok200, acked, next, interval, started)
    probes = {}        # aor -> (target, msg, answered)
    st = {"requests": 0, "register": 0, "register_copies": 0, "invite": 0, "invite_copies": 0,
          "ack": 0, "unrewritten": 0, "unrewritten_register": 0, "unrewritten_invite": 0,
          "unrewritten_ack": 0, "ok_retransmissions": 0}
    seen_reg = set()
    seen_inv = set()
    timers = []
    seq = 0
    probing = False
    stop = False

    def on_usr1(*_):
        nonlocal probing
        probing = True

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGTERM, on_term)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    body = sdp(MEDIA, 30000)
    probe_started = False
    while not stop:
        now = time.time()
        if probing and not probe_started:
            probe_started = True
            for aor, (target, _, _) in bindings.items():
                host, _, port = target.partition(":")
                msg = sip([f"OPTIONS sip:{aor.split(':', 1)[1].split('@')[0]}@{target} SIP/2.0",
                           f"Via: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-o{len(probes)}",
                           "Max-Forwards: 70", f"From: <sip:probe@{SERVER}>;tag=o", f"To: <{aor}>",
                           f"Call-ID: probe-{aor}", "CSeq: 1 OPTIONS"])
                # [address, message, answered, retransmissions, interval, first sent]
                probes[aor] = [(host, int(port or 5060)), msg, False, 0, T1, None]
            for k, aor in enumerate(probes):
                seq += 1
                heapq.heappush(timers, (now + 2.0 * k / len(probes), seq, "probe", aor))
        while timers and timers[0][0] <= now:
            _, _, kind, key = heapq.heappop(timers)
            if kind == "ok":
                c = calls[key]
                if not c["acked"] and now - c["started"] < 64 * T1:
                    s.sendto(c["ok"], c["peer"])
                    st["ok_retransmissions"] += 1
                    c["interval"] = min(2 * c["interval"], T2)
                    seq += 1
                    heapq.heappush(timers, (now + c["interval"], seq, "ok", key))
            elif kind == "probe":
                # A non-INVITE client transaction: timer E (0.5 s doubling to 4 s), F 32 s.
                pr = probes[key]
                if pr[5] is None:
                    pr[5] = now
                elif pr[2] or now - pr[5] >= TF:
                    continue
                else:
                    pr[3] += 1
                    pr[4] = min(2 * pr[4], T2)
                try:
                    s.sendto(pr[1], pr[0])
                except OSError:
                    pass  # a private address is not routed on the WAN: unreachable
                seq += 1
                heapq.heappush(timers, (now + pr[4], seq, "probe", key))
        if probe_started and args.probe_done and not os.path.exists(args.probe_done):
            if all(p[2] or (p[5] is not None and now - p[5] >= TF) for p in probes.values()):
                open(args.probe_done, "w").close()
        wait = max(0.0, min((timers[0][0] - now) if timers else 0.2, 0.2))
        if not sel.select(timeout=wait):
            continue
        while True:
            try:
                msg, src = s.recvfrom(65535)
            except BlockingIOError:
                break
            first, h, _ = headers(msg)
            t = time.time() - start
            if first.startswith("SIP/2.0 "):
                cid = (h.get("call-id") or [""])[0]
                if cid.startswith("probe-") and cid[6:] in probes:
                    probes[cid[6:]][2] = True
                continue
            method = first.split(" ", 1)[0]
            st["requests"] += 1
            leak = leaks_private(msg)
            via = (h.get("via") or [""])[0]
            cid = (h.get("call-id") or [""])[0]
            if method == "REGISTER":
                st["register"] += 1
                key = (cid, (h.get("cseq") or [""])[0])
                if key in seen_reg:
                    st["register_copies"] += 1
                seen_reg.add(key)
                if leak:
                    st["unrewritten"] += 1
                    st["unrewritten_register"] += 1
                aor = (h.get("to") or [""])[0].strip("<>").split(">")[0]
                contact = (h.get("contact") or [""])[0]
                target = contact.split("@", 1)[-1].split(">")[0].split(";")[0]
                public = f"{src[0]}:{src[1]}"
                ok = target == public and via.startswith(f"SIP/2.0/UDP {public};")
                bindings[aor] = (target, ok, via)
                if ok:
                    first_ok.setdefault(aor, t)
                keep = [f"Via: {v}" for v in h.get("via", [])] + [f"From: {v}" for v in h.get("from", [])] + \
                       [f"To: {(h.get('to') or [''])[0]};tag=reg", f"Call-ID: {cid}", f"CSeq: {(h.get('cseq') or [''])[0]}",
                        f"Contact: {contact};expires=3600"]
                s.sendto(sip(["SIP/2.0 200 OK"] + keep), src)
            elif method == "INVITE":
                st["invite"] += 1
                if leak:
                    st["unrewritten"] += 1
                    st["unrewritten_invite"] += 1
                if cid in seen_inv:
                    st["invite_copies"] += 1
                    c = calls.get(cid)
                    if c:
                        s.sendto(c["ok"], src)  # the server transaction answers a retransmission
                    continue
                seen_inv.add(cid)
                keep = [f"Via: {v}" for v in h.get("via", [])] + [f"From: {v}" for v in h.get("from", [])] + \
                       [f"To: {(h.get('to') or [''])[0]};tag=srv", f"Call-ID: {cid}", f"CSeq: {(h.get('cseq') or [''])[0]}",
                        f"Contact: <sip:bob@{SERVER}:5060>", "Content-Type: application/sdp"]
                ok = sip(["SIP/2.0 200 OK"] + keep, body)
                calls[cid] = {"peer": src, "ok": ok, "acked": False, "interval": T1, "started": time.time(),
                              "ok_rewritten": not leak}
                s.sendto(ok, src)
                seq += 1
                heapq.heappush(timers, (time.time() + T1, seq, "ok", cid))
            elif method == "ACK":
                st["ack"] += 1
                if leak:
                    st["unrewritten"] += 1
                    st["unrewritten_ack"] += 1
                if cid in calls:
                    calls[cid]["acked"] = True
    bound_ok = [a for a, b in bindings.items() if b[1]]
    st.update({
        "bindings": len(bindings),
        "bound_correctly": len(bound_ok),
        "bound_private": sum(1 for b in bindings.values() if b[0].startswith("192.168.")),
        "all_bound_s": max(first_ok[a] for a in bound_ok) if bound_ok else None,
        "calls": len(calls),
        "calls_acked": sum(1 for c in calls.values() if c["acked"]),
        "probed": len(probes),
        "reachable": sum(1 for p in probes.values() if p[2]),
        "probe_retransmissions": sum(p[3] for p in probes.values()),
    })
    with open(args.report, "w") as f:
        json.dump(st, f)


# --------------------------------------------------------------------------- CPU cap

class CpuCap:
    """A CPU cgroup for the daemon: v2 `cpu.max`, else v1 `cpu.cfs_quota_us`; detected."""

    def __init__(self, name, percent, period_us=10000):
        self.dirs = []
        self.percent = percent
        if percent is not None:
            # The kernel refuses a quota under 1 ms: a smaller share gets a longer period.
            period_us = max(period_us, int(1000 * 100 / percent) + 1)
        self.period_us = period_us
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            self.version = 2
            root = "/sys/fs/cgroup"
            if "cpu" not in open(f"{root}/cgroup.subtree_control").read().split():
                with open(f"{root}/cgroup.subtree_control", "w") as f:
                    f.write("+cpu")
            d = f"{root}/{name}"
            os.makedirs(d, exist_ok=True)
            self.dirs = [d]
            quota = "max" if percent is None else str(int(period_us * percent / 100))
            with open(f"{d}/cpu.max", "w") as f:
                f.write(f"{quota} {period_us}")
        elif os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"):
            self.version = 1
            d = f"/sys/fs/cgroup/cpu/{name}"
            os.makedirs(d, exist_ok=True)
            self.dirs = [d]
            with open(f"{d}/cpu.cfs_period_us", "w") as f:
                f.write(str(period_us))
            with open(f"{d}/cpu.cfs_quota_us", "w") as f:
                f.write("-1" if percent is None else str(int(period_us * percent / 100)))
            acct = "/sys/fs/cgroup/cpuacct"
            if os.path.exists(f"{acct}/cpuacct.usage") and not os.path.samefile(acct, "/sys/fs/cgroup/cpu"):
                os.makedirs(f"{acct}/{name}", exist_ok=True)
                self.dirs.append(f"{acct}/{name}")
        else:
            raise SystemExit("no CPU cgroup controller found (neither cgroup v2 cpu.max nor v1 cpu)")

    def add(self, pid):
        for d in self.dirs:
            with open(f"{d}/cgroup.procs", "w") as f:
                f.write(str(pid))

    def usage_s(self):
        if self.version == 2:
            return self._stat(self.dirs[0]).get("usage_usec", 0) / 1e6
        for d in self.dirs:
            if os.path.exists(f"{d}/cpuacct.usage"):
                return int(open(f"{d}/cpuacct.usage").read()) / 1e9
        return None

    def throttled_s(self):
        stat = self._stat(self.dirs[0])
        if self.version == 2:
            return stat.get("throttled_usec", 0) / 1e6
        return stat.get("throttled_time", 0) / 1e9

    @staticmethod
    def _stat(d):
        out = {}
        for l in open(f"{d}/cpu.stat"):
            k, _, v = l.partition(" ")
            out[k] = int(v)
        return out

    def close(self):
        for d in self.dirs:
            parent = os.path.dirname(d)
            try:
                for pid in open(f"{d}/cgroup.procs").read().split():
                    with open(f"{parent}/cgroup.procs", "w") as f:
                        f.write(pid)
            except OSError:
                pass
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.1)


# --------------------------------------------------------------------------- orchestration

def sh(*cmd, check=True, **kw):
    r = subprocess.run(cmd, check=False, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({r.returncode})")
    return r


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith(key + ":"):
                return int(l.split()[1])
    return None


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Lab:
    """tests/lab/lab.sh's network with sipalgd in the router (optionally CPU-capped)."""

    def __init__(self, prefix, binary, percent, n_ips):
        self.prefix, self.binary = prefix, binary
        self.dir = f"/tmp/sipalg-storm-{prefix}"
        self.daemon = self.cap = None
        os.makedirs(self.dir, exist_ok=True)
        try:
            self._start(percent, n_ips)
        except BaseException:
            self.close()
            raise

    def _start(self, percent, n_ips):
        prefix, binary = self.prefix, self.binary
        sh("bash", f"{HERE}/lab.sh", "up", prefix, env=dict(os.environ, SIPALG_LAB_KERNEL_HELPER="0"))
        for k in range(n_ips):
            sh("ip", "-n", f"{prefix}-lan1", "addr", "add", f"192.168.1.{100 + k}/24", "dev", "eth0")
        with open(f"{self.dir}/sipalg", "w") as f:
            f.write("config sipalg 'main'\n\toption enabled '1'\n\toption alg '1'\n\toption log_level 'warning'\n")
        self.daemon = subprocess.Popen(
            ["ip", "netns", "exec", f"{prefix}-r", binary, "--config-dir", self.dir, "--socket", f"{self.dir}/s.sock"],
            env=dict(os.environ, SIPALG_LOG_SOCKET=f"{self.dir}/none"), stdout=subprocess.DEVNULL,
            stderr=open(f"{self.dir}/daemon.log", "w"))
        for _ in range(200):
            if self.status() is not None:
                break
            time.sleep(0.05)
        else:
            raise SystemExit(f"sipalgd did not start: {open(self.dir + '/daemon.log').read()}")
        self.cap = CpuCap(f"sipalg-storm-{prefix}", percent)
        self.cap.add(self.daemon.pid)

    def status(self, tries=1):
        """`sipalgd status --json` (a starved daemon may take long to answer: retried)."""
        for _ in range(tries):
            r = subprocess.run([self.binary, "status", "--json", "--socket", f"{self.dir}/s.sock"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                return json.loads(r.stdout)
        return None

    def queue_proc(self):
        """Our queue's line of /proc/net/netfilter/nfnetlink_queue in the router."""
        out = subprocess.run(["ip", "netns", "exec", f"{self.prefix}-r", "cat", "/proc/net/netfilter/nfnetlink_queue"],
                             capture_output=True, text=True).stdout
        for l in out.splitlines():
            f = l.split()
            if f and f[0] == "5060":
                return {"waiting": int(f[2]), "queue_full_dropped": int(f[5]), "socket_full_dropped": int(f[6]),
                        "id_sequence": int(f[7])}
        return {}

    def cpu_s(self):
        u = self.cap.usage_s()
        return u if u is not None else proc_cpu_s(self.daemon.pid)

    def close(self):
        if self.daemon:
            self.daemon.terminate()
            try:
                self.daemon.wait(5)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
        if self.cap:
            self.cap.close()
        sh("bash", f"{HERE}/lab.sh", "down", self.prefix, check=False)
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)


def storm_run(name, binary, percent, n, args, prefix):
    lab = Lab(prefix, binary, percent, min(N_IPS, n))
    try:
        start = time.time() + 1.5
        done, stop = f"{lab.dir}/phones.done", f"{lab.dir}/phones.stop"
        report = f"{lab.dir}/registrar.json"
        probed = f"{lab.dir}/probe.done"
        registrar = subprocess.Popen(["ip", "netns", "exec", f"{prefix}-wan", sys.executable, __file__, "registrar",
                                      "--start-at", str(start), "--report", report, "--probe-done", probed])
        phones = subprocess.Popen(["ip", "netns", "exec", f"{prefix}-lan1", sys.executable, __file__, "phones",
                                   "--n", str(n), "--start-at", str(start), "--limit", str(args.limit),
                                   "--invite-fraction", str(args.invite_fraction), "--done", done, "--stop", stop]
                                  + (["--invite-at", str(args.invite_at)] if args.invite_at is not None else []),
                                  stdout=subprocess.PIPE, text=True)
        st0 = lab.status(tries=5)
        cpu0, thr0 = lab.cpu_s(), lab.cap.throttled_s()
        peak_rss = 0
        last_note = 0
        while phones.poll() is None and not os.path.exists(done) and time.time() < start + args.limit + 5:
            peak_rss = max(peak_rss, proc_status(lab.daemon.pid, "VmRSS") or 0)
            if time.time() - last_note >= 5:
                last_note = time.time()
                q = lab.queue_proc()
                print(f"  {name} {percent}% N={n}: t={time.time() - start:.0f} s, daemon CPU {lab.cpu_s() - cpu0:.2f} s, "
                      f"queue waiting {q.get('waiting')}, kernel dropped {q.get('socket_full_dropped', 0) + q.get('queue_full_dropped', 0)}",
                      file=sys.stderr, flush=True)
            time.sleep(0.2)
        cpu1, thr1 = lab.cpu_s(), lab.cap.throttled_s()
        st1 = lab.status(tries=5) or {"counters": {}}
        # Every phone done (or the limit): the registrar calls each binding (OPTIONS,
        # retransmitted as a UA does, up to 32 s), as an incoming call would.
        registrar.send_signal(signal.SIGUSR1)
        end = time.time() + TF + 5
        while not os.path.exists(probed) and time.time() < end:
            time.sleep(0.2)
        open(stop, "w").close()
        out, _ = phones.communicate(timeout=30)
        registrar.send_signal(signal.SIGTERM)
        registrar.wait(10)
        ph = json.loads(out.strip().splitlines()[-1])
        rg = json.load(open(report))
        c0, c1 = st0["counters"], st1["counters"]
        q = lab.queue_proc()
        kernel_dropped = q.get("queue_full_dropped", 0) + q.get("socket_full_dropped", 0)
        # A starved daemon may not answer `status` (15 s): then what it received is what
        # the kernel numbered minus what it dropped at the socket (all since its start).
        seen = c1["seen"] - c0.get("seen", 0) if "seen" in c1 else q.get("id_sequence", 0) - q.get("socket_full_dropped", 0)
        res = {
            "binary": name, "budget": percent, "phones": n,
            "unrewritten": rg["unrewritten"] + ph["unrestored"],
            "unrewritten_register": rg["unrewritten_register"],
            "unrestored_responses": ph["unrestored"],
            "bound_correctly": rg["bound_correctly"], "bound_private": rg["bound_private"],
            "reachable": rg["reachable"],
            # Only when every phone ended bound correctly (else: never).
            "all_bound_s": rg["all_bound_s"] if rg["bound_correctly"] == n else None,
            "all_registered_s": ph["all_registered_s"],
            "registered_p50_s": ph["registered_p50_s"], "registered_p90_s": ph["registered_p90_s"],
            "register_retransmissions": ph["register_retransmissions"],
            "phones_that_retransmitted": ph["phones_that_retransmitted"],
            "register_failures": ph["register_failures"],
            "register_copies_at_registrar": rg["register_copies"],
            "callers": ph["callers"], "answered": ph["answered"], "all_answered_s": ph["all_answered_s"],
            "answered_p50_s": ph["answered_p50_s"], "invite_at": args.invite_at,
            "invite_retransmissions": ph["invite_retransmissions"],
            "ok_retransmissions": rg["ok_retransmissions"], "calls_acked": rg["calls_acked"],
            "daemon_seen": seen,
            "kernel_dropped": kernel_dropped,
            "status_answered": "seen" in c1,
            "daemon_shed": c1.get("shed", 0) - c0.get("shed", 0),
            "daemon_shed_duplicates": c1.get("shed_duplicates", 0) - c0.get("shed_duplicates", 0),
            "daemon_shed_overflow": c1.get("shed_overflow", 0) - c0.get("shed_overflow", 0),
            "fail_open": c1.get("fail_open", 0) - c0.get("fail_open", 0),
            "cpu_s": cpu1 - cpu0, "throttled_s": thr1 - thr0,
            "cpu_us_per_msg": (cpu1 - cpu0) * 1e6 / seen if seen else None,
            "peak_rss_kb": max(peak_rss, proc_status(lab.daemon.pid, "VmHWM") or 0),
            "registrations_in_status": len(st1.get("registrations", [])),
        }
        res.update({"proc_" + k: v for k, v in q.items()})
        return res
    finally:
        lab.close()


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}{unit}"
    return f"{v}{unit}"


def storm_table(results):
    lines = [
        "| build | CPU | phones | unrewritten | bound correctly | reachable | all bound after (phones registered: p50, p90) | kernel dropped / daemon shed | phone REGISTER retransmissions (phones) | far end's 200 retransmissions | calls answered | daemon CPU / message | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['binary']} | {fmt(r['budget'], ' %') if r['budget'] else 'uncapped'} | {r['phones']} | "
            f"{r['unrewritten']} ({r['unrewritten_register']} REGISTER) | {r['bound_correctly']} (private: {r['bound_private']}) | "
            f"{r['reachable']} | {fmt(r['all_bound_s'], ' s') if r['all_bound_s'] is not None else 'never'} "
            f"({fmt(r['registered_p50_s'], ' s')}, {fmt(r['registered_p90_s'], ' s')}) | {r['kernel_dropped']} / {r['daemon_shed']} | "
            f"{r['register_retransmissions']} ({r['phones_that_retransmitted']}) | {r['ok_retransmissions']} | "
            f"{r['answered']}/{r['callers']} in {fmt(r['all_answered_s'], ' s')} (p50 {fmt(r.get('answered_p50_s'), ' s')}) | {fmt(r['cpu_us_per_msg'], ' µs')} | "
            f"{r['peak_rss_kb'] / 1024:.1f} MB |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- scale

def scale_main(args):
    """RSS and CPU per message as registrations, then calls, accumulate (uncapped)."""
    prefix = f"sc{os.getpid() % 1000}"
    binary = args.binary[0].split("=", 1)[1] if args.binary else os.path.join(REPO, "target/release/sipalgd")
    lab = Lab(prefix, binary, None, N_IPS)
    points = []
    try:
        rpoints = [int(x) for x in args.scale_registrations.split(",")]
        cpoints = [int(x) for x in args.scale_calls.split(",")]
        # The load generator and the server run step by step, driven from here so that
        # the daemon is measured between steps.
        server = subprocess.Popen(["ip", "netns", "exec", f"{prefix}-wan", sys.executable, __file__, "registrar",
                                   "--start-at", str(time.time()), "--report", f"{lab.dir}/registrar.json"])
        time.sleep(0.3)
        gen = subprocess.Popen(["ip", "netns", "exec", f"{prefix}-lan1", sys.executable, __file__, "load",
                                "--registrations", ",".join(map(str, rpoints)), "--calls", ",".join(map(str, cpoints))],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        # The CPU of each step is read from just before the generator starts it to just
        # after it reports it done (every message answered); messages are counted by the
        # queue's packet ids (/proc: nothing is dropped at this pace). `status` is asked
        # only at the end: its JSON grows with the state and would leave its own mark on
        # the RSS of every later step.
        seq0 = lab.queue_proc().get("id_sequence", 0)
        cpu0 = lab.cpu_s()
        for line in gen.stdout:
            cpu1 = lab.cpu_s()
            step = json.loads(line)
            pid = lab.daemon.pid
            time.sleep(0.5)  # let the last ACKs through
            q = lab.queue_proc()
            seq = q.get("id_sequence", 0)
            point = dict(step)
            point.update({
                "rss_kb": proc_status(pid, "VmRSS"), "hwm_kb": proc_status(pid, "VmHWM"),
                "messages": seq - seq0,
                "kernel_dropped": q.get("queue_full_dropped", 0) + q.get("socket_full_dropped", 0),
                "cpu_us_per_msg": (cpu1 - cpu0) * 1e6 / (seq - seq0) if seq > seq0 else None,
                "unrewritten": step.get("unrestored", 0),
            })
            seq0 = seq
            points.append(point)
            print(json.dumps(point), flush=True)
            cpu0 = lab.cpu_s()
            gen.stdin.write("next\n")
            gen.stdin.flush()
        st = lab.status(tries=3) or {}
        hwm = proc_status(lab.daemon.pid, "VmHWM")
        for p in points:
            p["registrations_in_status"] = len(st.get("registrations", []))
            p["calls_in_status"] = len(st.get("calls", []))
            p["hwm_after_status_kb"] = hwm
        gen.wait(30)
        server.send_signal(signal.SIGTERM)
        server.wait(10)
        rg = json.load(open(f"{lab.dir}/registrar.json"))
        for p in points:
            p["unrewritten_at_server_total"] = rg["unrewritten"]
    finally:
        lab.close()
    return points


def load_main(args):
    """In the LAN namespace: registrations up to each step of --registrations (paced,
    each a REGISTER and its 200), then calls up to each step of --calls (INVITE, 200,
    ACK; the calls stay up); after each step prints a JSON line and waits for 'next'."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    regs = [int(x) for x in args.registrations.split(",")]
    calls = [int(x) for x in args.calls.split(",")]
    n = max(regs)
    phones = [Phone(i, n) for i in range(n)]
    dest = (SERVER, 5060)
    buf = bytearray(65536)
    sel = selectors.DefaultSelector()
    by_fd = {}
    for p in phones:
        by_fd[p.sock.fileno()] = p
        sel.register(p.sock, selectors.EVENT_READ)
    unrestored = 0

    def transact(batch, make, is_answer, window=64, timeout=20.0):
        """Sends make(p) for each phone of batch, `window` outstanding, resending after
        T1 until is_answer(p, first, h) for each; returns the ones never answered."""
        nonlocal unrestored
        pending = {}
        queue = list(batch)
        end = time.time() + timeout
        while (queue or pending) and time.time() < end:
            while queue and len(pending) < window:
                p = queue.pop()
                p.sock.sendto(make(p), dest)
                pending[p.i] = (p, time.time())
            for key, _ in sel.select(timeout=0.05):
                p = by_fd[key.fd]
                while True:
                    try:
                        nb, _ = p.sock.recvfrom_into(buf)
                    except BlockingIOError:
                        break
                    first, h, _ = headers(bytes(buf[:nb]))
                    if not first.startswith("SIP/2.0 "):
                        continue
                    if not p.own_via(h):
                        unrestored += 1
                        continue
                    if p.i in pending and is_answer(p, first, h):
                        del pending[p.i]
            now = time.time()
            for i, (p, t) in list(pending.items()):
                if now - t > T1:
                    p.sock.sendto(make(p), dest)
                    pending[i] = (p, now)
        return len(pending) + len(queue)

    def reg_make(p):
        if p.reg_state != "trying":
            p.new_register()
            p.reg_state = "trying"
        return p.reg

    def reg_ok(p, first, h):
        return (h.get("cseq") or [""])[0].endswith("REGISTER")

    def inv_make(p):
        if p.inv_state != "calling":
            p.new_invite()
            p.inv_state = "calling"
        return p.inv

    def inv_ok(p, first, h):
        if (h.get("cseq") or [""])[0].endswith("INVITE") and first.startswith("SIP/2.0 200"):
            p.sock.sendto(p.ack, dest)
            return True
        return False

    done = 0
    for target in regs:
        t0 = time.time()
        lost = transact(phones[done:target], reg_make, reg_ok)
        step = {"kind": "registrations", "n": target, "seconds": time.time() - t0, "unanswered": lost, "unrestored": unrestored}
        done = target
        print(json.dumps(step), flush=True)
        sys.stdin.readline()
    done = 0
    callers = phones  # one call per phone, phones reused round-robin past n
    for target in calls:
        t0 = time.time()
        batch = []
        for k in range(done, target):
            p = callers[k % n]
            if k >= n:
                raise SystemExit("more calls than phones")
            batch.append(p)
        lost = transact(batch, inv_make, inv_ok)
        step = {"kind": "calls", "n": target, "seconds": time.time() - t0, "unanswered": lost, "unrestored": unrestored}
        done = target
        print(json.dumps(step), flush=True)
        sys.stdin.readline()


def svg_plot(points, path, title):
    """Two panels (registrations, calls): RSS (MB, left axis, solid) and CPU per message
    (µs, right axis, dashed) against the count, log-scaled x. Plain SVG."""
    import math
    W, H, M, GAP = 880, 300, 60, 100
    panels = [("registrations", [p for p in points if p["kind"] == "registrations"]),
              ("calls", [p for p in points if p["kind"] == "calls"])]
    pw = (W - 2 * M - GAP) / 2
    rss_max = max(p["rss_kb"] for p in points) / 1024 * 1.2
    cpu_max = max((p["cpu_us_per_msg"] or 0) for p in points) * 1.2 or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13">{title}</text>']
    for k, (name, pts) in enumerate(panels):
        if not pts:
            continue
        x0 = M + k * (pw + GAP)
        y0, y1 = H - 70, 40
        xs = [p["n"] for p in pts]
        lo, hi = math.log10(min(xs)) - 0.1, math.log10(max(xs)) + 0.1

        def X(v):
            return x0 + (math.log10(v) - lo) / (hi - lo) * pw

        def Yr(v):
            return y0 - v / rss_max * (y0 - y1)

        def Yc(v):
            return y0 - v / cpu_max * (y0 - y1)

        out.append(f'<rect x="{x0}" y="{y1}" width="{pw}" height="{y0 - y1}" fill="none" stroke="#999"/>')
        for v in xs:
            out.append(f'<line x1="{X(v):.1f}" y1="{y0}" x2="{X(v):.1f}" y2="{y0 + 4}" stroke="#333"/>'
                       f'<text x="{X(v):.1f}" y="{y0 + 16}" text-anchor="middle">{v:,}</text>')
        out.append(f'<text x="{x0 + pw / 2}" y="{y0 + 30}" text-anchor="middle">{name} (log scale)</text>')
        for i in range(5):
            v = rss_max * i / 4
            out.append(f'<text x="{x0 - 4}" y="{Yr(v) + 4:.1f}" text-anchor="end" fill="#1f5fbf">{v:.1f}</text>')
            c = cpu_max * i / 4
            out.append(f'<text x="{x0 + pw + 4}" y="{Yc(c) + 4:.1f}" fill="#c0392b">{c:.0f}</text>')
        out.append(f'<text x="{x0 - 4}" y="{y1 - 6}" text-anchor="end" fill="#1f5fbf">MB</text>')
        out.append(f'<text x="{x0 + pw + 4}" y="{y1 - 6}" fill="#c0392b">µs</text>')
        rss = " ".join(f"{X(p['n']):.1f},{Yr(p['rss_kb'] / 1024):.1f}" for p in pts)
        out.append(f'<polyline points="{rss}" fill="none" stroke="#1f5fbf" stroke-width="2"/>')
        cpts = [p for p in pts if p["cpu_us_per_msg"]]
        cpu = " ".join(f"{X(p['n']):.1f},{Yc(p['cpu_us_per_msg']):.1f}" for p in cpts)
        out.append(f'<polyline points="{cpu}" fill="none" stroke="#c0392b" stroke-width="2" stroke-dasharray="5,3"/>')
        for p in pts:
            out.append(f'<circle cx="{X(p["n"]):.1f}" cy="{Yr(p["rss_kb"] / 1024):.1f}" r="3" fill="#1f5fbf"/>')
        for p in cpts:
            out.append(f'<circle cx="{X(p["n"]):.1f}" cy="{Yc(p["cpu_us_per_msg"]):.1f}" r="3" fill="#c0392b"/>')
    out.append(f'<text x="{W / 2}" y="{H - 24}" text-anchor="middle"><tspan fill="#1f5fbf">solid: RSS (MB, left axes)</tspan>'
               f'   <tspan fill="#c0392b">dashed: daemon CPU per message (µs, right axes)</tspan></text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def scale_table(points):
    lines = ["| state | messages in the step | RSS | daemon CPU / message of the step | unrewritten |", "|---|---|---|---|---|"]
    for p in points:
        regs = max((q["n"] for q in points if q["kind"] == "registrations"), default=0)
        state = f"{p['n']:,} registrations" if p["kind"] == "registrations" else f"{p['n']:,} calls (+ {regs:,} registrations)"
        lines.append(f"| {state} | {p['messages']} | {p['rss_kb'] / 1024:.1f} MB | {fmt(p['cpu_us_per_msg'], ' µs')} | {p['unrewritten']} |")
    if points:
        lines.append("")
        lines.append(f"At the end `sipalgd status` listed {points[-1]['registrations_in_status']:,} registrations and "
                     f"{points[-1]['calls_in_status']:,} calls; the daemon's peak RSS (VmHWM) was "
                     f"{max(p['hwm_kb'] for p in points) / 1024:.1f} MB before and "
                     f"{points[-1]['hwm_after_status_kb'] / 1024:.1f} MB after building that status.")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", nargs="?", default="run")
    p.add_argument("--phones", default="100,1000,5000")
    p.add_argument("--budgets", default="10,30")
    p.add_argument("--binary", action="append", help="NAME=PATH of a sipalgd build (repeatable)")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--invite-fraction", type=float, default=0.2)
    p.add_argument("--invite-at", type=float, help="start the call burst this many seconds into the storm "
                   "(default: once every phone is registered)")
    p.add_argument("--limit", type=float, default=150)
    p.add_argument("--write")
    p.add_argument("--json")
    p.add_argument("--scale", action="store_true")
    p.add_argument("--scale-registrations", default="100,1000,10000")
    p.add_argument("--scale-calls", default="100,1000,4096")
    p.add_argument("--svg")
    # children
    p.add_argument("--n", type=int)
    p.add_argument("--start-at", type=float)
    p.add_argument("--done")
    p.add_argument("--stop")
    p.add_argument("--report")
    p.add_argument("--probe-done")
    p.add_argument("--registrations")
    p.add_argument("--calls")
    args = p.parse_args()
    if args.mode == "phones":
        return phones_main(args)
    if args.mode == "registrar":
        return registrar_main(args)
    if args.mode == "load":
        return load_main(args)
    if os.geteuid() != 0:
        sys.exit("storm.py needs root (network namespaces, cgroups)")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.scale:
        points = scale_main(args)
        table = scale_table(points)
        print(table)
        if args.svg:
            svg_plot(points, args.svg, f"sipalgd RSS and CPU per message as state accumulates ({stamp})")
        if args.write:
            with open(args.write, "w") as f:
                f.write(f"<!-- written by tests/lab/storm.py --scale on {stamp} -->\n{table}\n")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(points, f, indent=1)
        return
    binaries = [b.split("=", 1) for b in (args.binary or [f"sipalgd={os.path.join(REPO, 'target/release/sipalgd')}"])]
    results = []
    k = 0
    for _ in range(args.runs):
        for n in [int(x) for x in args.phones.split(",")]:
            for budget in [None if b == "none" else float(b) for b in args.budgets.split(",")]:
                for name, path in binaries:
                    k += 1
                    r = storm_run(name, path, budget, n, args, f"st{os.getpid() % 1000}{k}")
                    results.append(r)
                    print(json.dumps(r), flush=True)
    table = storm_table(results)
    print(table)
    if args.write:
        with open(args.write, "w") as f:
            f.write(f"<!-- written by tests/lab/storm.py on {stamp} -->\n{table}\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
