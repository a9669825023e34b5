#!/usr/bin/env python3
"""SIP through the router, measured: sipalgd against Linux's own SIP helper (and a
plain NAT router for reference), in the same run, in the namespace lab.

    python3 tests/lab/bench.py [--quick] [--write docs/performance-lab.md]

For each router it measures, with INVITE/200 transactions (SDP in both, a new Call-ID
and media port each) sent from a LAN phone to a WAN server through the router:
  latency     sequential transactions: p50 / p99 round trip
  throughput  a window of outstanding transactions for a fixed time: completed per
              second, and how many were lost (no 200 within 1 s)
and what arrived: INVITEs at the server that still carry the phone's private address
(outside From/To, which are never rewritten) and 200s at the phone whose top Via was
not restored to the phone's address both count as "unrewritten" (for the plain router
that is every message: it is the reference, not an ALG).
For sipalgd also its peak RSS after 1,000 calls are up (VmHWM). With --tcp, the same
transactions are also sent over one TCP connection (sipalgd relays it; the others
forward it), reported beside UDP.
Needs root. Cleans up its namespaces on exit. Sends only inside its own namespaces.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PHONE, SERVER, WAN = "192.168.1.20", "198.51.100.10", "198.51.100.1"


def sdp(ip, port):
    return f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"


def invite(i, transport="UDP"):
    body = sdp(PHONE, 10000 + (2 * i) % 50000)
    return (f"INVITE sip:bob@{SERVER} SIP/2.0\r\nVia: SIP/2.0/{transport} {PHONE}:5060;branch=z9hG4bK-{i};rport\r\n"
            f"From: <sip:a@{PHONE}>;tag={i}\r\nTo: <sip:bob@{SERVER}>\r\nCall-ID: bench-{i}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:a@{PHONE}:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()


def leaks_private(msg):
    """The message still carries the LAN phone's address outside From/To."""
    head, _, body = msg.partition(b"\r\n\r\n")
    lines = [l for l in head.split(b"\r\n") if not l.lower().startswith((b"from:", b"to:"))]
    return any(b"192.168.1." in l for l in lines + body.split(b"\r\n"))


def restored(msg):
    """A response's top Via names the phone again (the ALG restored what it rewrote)."""
    for l in msg.split(b"\r\n"):
        if l.lower().startswith(b"via:"):
            return f"{PHONE}:5060".encode() in l
    return False


def frames(buf):
    """Whole SIP messages at the front of a TCP stream buffer (Content-Length framing)."""
    out = []
    while True:
        buf = buf.lstrip(b"\r\n")
        i = buf.find(b"\r\n\r\n")
        if i < 0:
            return out, buf
        cl = 0
        for line in buf[:i].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() in (b"content-length", b"l"):
                cl = int(value)
        end = i + 4 + cl
        if len(buf) < end:
            return out, buf
        out.append(buf[:end])
        buf = buf[end:]


def answer(data, body):
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    keep = [h for h in head[1:] if h.split(b":", 1)[0].lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
    return b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + (
        f";tag=srv\r\nContact: <sip:bob@{SERVER}:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def uas_tcp(args):
    """WAN side over TCP: answer every INVITE on its connection, at once."""
    import threading
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((SERVER, 5060))
    ls.listen(16)
    ls.settimeout(args.duration)
    body = sdp("198.51.100.20", 30000)

    def serve(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        while True:
            data = c.recv(65536)
            if not data:
                return
            msgs, buf = frames(buf + data)
            if msgs:
                c.sendall(b"".join(answer(m, body) for m in msgs))
    try:
        while True:
            c, _ = ls.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    except socket.timeout:
        pass


def uac_tcp(args):
    """LAN side over one TCP connection: latency, then throughput, as JSON."""
    import selectors
    s = socket.create_connection((SERVER, 5060), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    n = args.offset
    rtts = []
    buf = b""
    lost_seq = 0
    for _ in range(args.latency_n):
        n += 1
        t0 = time.perf_counter()
        s.sendall(invite(n, "TCP"))
        want = f"bench-{n}\r".encode()
        got = False
        try:
            while not got:
                msgs, buf = frames(buf + s.recv(65536))
                got = any(want in m for m in msgs)
            rtts.append(time.perf_counter() - t0)
        except socket.timeout:
            lost_seq += 1
    rtts.sort()
    res = {"p50_us": statistics.median(rtts) * 1e6 if rtts else None,
           "p99_us": rtts[max(int(len(rtts) * 0.99) - 1, 0)] * 1e6 if rtts else None,
           "lost_sequential": lost_seq, "tps": 0, "lost": 0, "last": n}
    if args.seconds > 0:
        s.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(s, selectors.EVENT_READ)
        sent = {}
        done = 0

        def answered(timeout):
            """Reads what arrived within `timeout`; returns how many outstanding INVITEs
            it answered (and forgets them)."""
            nonlocal buf
            count = 0
            for _ in sel.select(timeout=timeout):
                try:
                    data = s.recv(1 << 20)
                except BlockingIOError:
                    continue
                msgs, buf = frames(buf + data)
                for m in msgs:
                    cid = m.split(b"Call-ID: bench-", 1)
                    if len(cid) == 2 and sent.pop(int(cid[1].split(b"\r", 1)[0]), None) is not None:
                        count += 1
            return count

        end = time.perf_counter() + args.seconds
        while time.perf_counter() < end:
            out = []
            while len(sent) < args.window:
                n += 1
                out.append(invite(n, "TCP"))
                sent[n] = time.perf_counter()
            if out:
                s.setblocking(True)
                s.sendall(b"".join(out))
                s.setblocking(False)
            done += answered(0.2)
        res["tps"] = done / args.seconds
        # TCP loses nothing silently: what is still outstanding gets 1 s to arrive.
        drain_end = time.perf_counter() + 1.0
        while sent and time.perf_counter() < drain_end:
            answered(0.1)
        res["lost"] = len(sent)
    print(json.dumps(res))


def uas(args):
    """WAN side: answer every INVITE with a 200 carrying SDP, at once. On SIGTERM it
    writes how many INVITEs arrived and how many still leaked the private address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((SERVER, 5060))
    s.settimeout(args.duration)
    body = sdp("198.51.100.20", 30000)
    seen = {"invites": 0, "unrewritten": 0}

    def report(*_):
        with open(args.report, "w") as f:
            json.dump(seen, f)
        os._exit(0)

    signal.signal(signal.SIGTERM, report)
    try:
        while True:
            data, peer = s.recvfrom(65535)
            seen["invites"] += 1
            seen["unrewritten"] += leaks_private(data)
            head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            # The request's Via, From, To (with our tag), Call-ID and CSeq, as a UAS does.
            keep = [h + b";tag=srv" if h.lower().startswith(b"to:") else h
                    for h in head[1:] if h.split(b":", 1)[0].lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
            resp = b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + (
                f"\r\nContact: <sip:bob@{SERVER}:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}"
            ).encode()
            s.sendto(resp, peer)
    except socket.timeout:
        pass
    report()


def uac(args):
    """LAN side: latency (sequential) then throughput (windowed), printed as JSON."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((PHONE, 5060))
    dest = (SERVER, 5060)
    n = args.offset
    rtts = []
    s.settimeout(1.0)
    lost_seq = 0
    unrestored = 0
    for _ in range(args.latency_n):
        n += 1
        t0 = time.perf_counter()
        s.sendto(invite(n), dest)
        try:
            while True:
                data, _ = s.recvfrom(65535)
                if f"bench-{n}\r".encode() in data:
                    unrestored += not restored(data)
                    break
            rtts.append(time.perf_counter() - t0)
        except socket.timeout:
            lost_seq += 1
    rtts.sort()
    if args.seconds <= 0:
        print(json.dumps({"p50_us": statistics.median(rtts) * 1e6 if rtts else None,
                          "p99_us": rtts[max(int(len(rtts) * 0.99) - 1, 0)] * 1e6 if rtts else None,
                          "lost_sequential": lost_seq, "tps": 0, "lost": 0, "last": n,
                          "unrestored": unrestored}))
        return
    # Throughput: keep `window` transactions outstanding for `seconds`.
    s.setblocking(False)
    sent = {}
    done = lost = 0
    end = time.perf_counter() + args.seconds
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    while time.perf_counter() < end:
        while len(sent) < args.window:
            n += 1
            s.sendto(invite(n), dest)
            sent[n] = time.perf_counter()
        for _ in sel.select(timeout=0.2):
            while True:
                try:
                    data, _ = s.recvfrom(65535)
                except BlockingIOError:
                    break
                cid = data.split(b"Call-ID: bench-", 1)
                if len(cid) == 2:
                    k = int(cid[1].split(b"\r", 1)[0])
                    if sent.pop(k, None) is not None:
                        done += 1
                        unrestored += not restored(data)
        now = time.perf_counter()
        for k in [k for k, t in sent.items() if now - t > 1.0]:
            del sent[k]
            lost += 1
    print(json.dumps({
        "p50_us": None,
        "p99_us": None,
        "lost_sequential": lost_seq,
        "tps": done / args.seconds,
        "lost": lost,
        "last": n,
        "unrestored": unrestored,
    }))


def sh(*cmd, check=True, **kw):
    r = subprocess.run(cmd, check=False, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({r.returncode}): {r.stderr or ''}{r.stdout or ''}")
    return r


def ns(prefix, host, *cmd, **kw):
    return sh("ip", "netns", "exec", f"{prefix}-{host}", *cmd, **kw)


def daemon_cpu_s(pid):
    """User + system CPU seconds of a process, all its threads (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_router(kind, args, prefix, sipalgd):
    env = dict(os.environ, SIPALG_LAB_KERNEL_HELPER="1" if kind == "kernel helper" else "0")
    sh("bash", f"{HERE}/lab.sh", "up", prefix, env=env)
    daemon = None
    workdir = f"/tmp/sipalg-bench-{prefix}"
    os.makedirs(workdir, exist_ok=True)
    try:
        if kind.startswith("sipalgd"):
            with open(f"{workdir}/sipalg", "w") as f:
                f.write("config sipalg 'main'\n\toption enabled '1'\n\toption alg '1'\n\toption log_level 'warning'\n")
            daemon = subprocess.Popen(["ip", "netns", "exec", f"{prefix}-r", sipalgd, "--config-dir", workdir,
                                       "--socket", f"{workdir}/s.sock"], env=dict(os.environ, SIPALG_LOG_SOCKET=f"{workdir}/none"))
            for _ in range(100):
                if sh(sipalgd, "status", "--socket", f"{workdir}/s.sock", check=False, capture_output=True).returncode == 0:
                    break
                time.sleep(0.05)
            else:
                raise SystemExit(f"sipalgd did not start: {daemon.poll()}")
        report = f"{workdir}/uas.json"
        server = subprocess.Popen(["ip", "netns", "exec", f"{prefix}-wan", sys.executable, __file__, "uas",
                                   "--duration", str(args.seconds + args.latency_n / 100 + 30), "--report", report])
        time.sleep(0.3)

        def load(latency_n, seconds, offset):
            out = ns(prefix, "lan1", sys.executable, __file__, "uac", "--latency-n", str(latency_n),
                     "--seconds", str(seconds), "--window", str(args.window), "--offset", str(offset),
                     capture_output=True, text=True)
            return json.loads(out.stdout)

        # Phase 1: sequential transactions (latency); each leaves a call up.
        res = load(args.latency_n, 0, 0)
        if daemon and os.environ.get("BENCH_DEBUG"):
            for t in os.listdir(f"/proc/{daemon.pid}/task"):
                st = open(f"/proc/{daemon.pid}/task/{t}/stat").read().split()[2]
                wchan = open(f"/proc/{daemon.pid}/task/{t}/wchan").read()
                comm = open(f"/proc/{daemon.pid}/task/{t}/comm").read().strip()
                print("thread", t, comm, st, wchan, flush=True)
            os.system(f"bash -c 'time {sipalgd} status --json --socket {workdir}/s.sock | wc -c; time {sipalgd} status --json --socket {workdir}/s.sock | wc -c'")
        if daemon:
            st = json.loads(sh(sipalgd, "status", "--json", "--socket", f"{workdir}/s.sock", capture_output=True, text=True).stdout)
            res["calls"] = len(st["calls"])
            with open(f"/proc/{daemon.pid}/status") as f:
                res["peak_rss_kb"] = int([l for l in f if l.startswith("VmHWM")][0].split()[1])
        # Phase 2: a window of outstanding transactions (throughput, losses).
        cpu_before = daemon_cpu_s(daemon.pid) if daemon else None
        phase2 = load(0, args.seconds, res["last"])
        res["tps"], res["lost"] = phase2["tps"], phase2["lost"]
        if daemon and phase2["tps"] > 0:
            # The daemon's own CPU (every thread, user + system, including the kernel
            # work done in its context: netlink, reinjecting packets) per transaction of
            # the throughput phase: a per-work figure, steadier than throughput on a
            # shared VM, to compare sipalgd builds with each other.
            used = daemon_cpu_s(daemon.pid) - cpu_before
            res["cpu_us_per_tx"] = used * 1e6 / (phase2["tps"] * args.seconds)
        res["unrestored"] += phase2["unrestored"]
        if daemon:
            st = json.loads(sh(sipalgd, "status", "--json", "--socket", f"{workdir}/s.sock", capture_output=True, text=True).stdout)
            res["rewritten"] = st["counters"]["rewritten"]
            res["queue_dropped"] = st["counters"].get("queue_dropped")
        if args.tcp:
            tserver = subprocess.Popen(["ip", "netns", "exec", f"{prefix}-wan", sys.executable, __file__, "uas-tcp",
                                        "--duration", str(args.seconds + args.latency_n / 100 + 30)])
            time.sleep(0.3)
            out = ns(prefix, "lan1", sys.executable, __file__, "uac-tcp", "--latency-n", str(args.latency_n),
                     "--seconds", str(args.seconds), "--window", str(args.window), "--offset", str(10 ** 6),
                     capture_output=True, text=True)
            t = json.loads(out.stdout)
            res["tcp"] = {k: t[k] for k in ("p50_us", "p99_us", "tps", "lost", "lost_sequential")}
            if daemon:
                st = json.loads(sh(sipalgd, "status", "--json", "--socket", f"{workdir}/s.sock", capture_output=True, text=True).stdout)
                res["tcp"]["relayed"] = (st.get("tcp_relay") or {}).get("messages", 0)
            tserver.kill()
        server.terminate()
        server.wait(10)
        with open(report) as f:
            uas_seen = json.load(f)
        res["invites"] = uas_seen["invites"]
        res["unrewritten"] = uas_seen["unrewritten"] + res["unrestored"]
        return res
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait(5)
        sh("bash", f"{HERE}/lab.sh", "down", prefix, check=False)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", nargs="?", default="run")
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--latency-n", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--window", type=int, default=32)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--report")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tcp", action="store_true", help="also measure over one TCP connection")
    p.add_argument("--write")
    p.add_argument("--routers", default="no ALG,kernel helper,sipalgd")
    p.add_argument("--sipalgd", default=os.path.join(REPO, "target/release/sipalgd"))
    p.add_argument("--baseline", help="another sipalgd binary, measured in the same run as 'sipalgd baseline'")
    args = p.parse_args()
    if args.mode == "uas":
        return uas(args)
    if args.mode == "uac":
        return uac(args)
    if args.mode == "uas-tcp":
        return uas_tcp(args)
    if args.mode == "uac-tcp":
        return uac_tcp(args)
    if args.quick:
        args.seconds = 3
    if os.geteuid() != 0:
        sys.exit("bench.py needs root (network namespaces)")
    results = {}
    routers = args.routers.split(",") + (["sipalgd baseline"] if args.baseline else [])
    for i, kind in enumerate(routers):
        binary = args.baseline if kind == "sipalgd baseline" else args.sipalgd
        results[kind] = run_router(kind, args, f"sb{os.getpid() % 1000}{i}", binary)
        print(kind, results[kind], flush=True)
    if not {"no ALG", "kernel helper", "sipalgd"} <= set(results):
        return
    k, s, n = results["kernel helper"], results["sipalgd"], results["no ALG"]
    lines = [
        "| router | p50 | p99 | throughput | lost | unrewritten |",
        "|---|---|---|---|---|---|",
    ]
    for kind, r in results.items():
        unrw = f"{r['unrewritten']} (reference)" if kind == "no ALG" else str(r["unrewritten"])
        lines.append(f"| {kind} | {r['p50_us']:.0f} µs | {r['p99_us']:.0f} µs | {r['tps']:.0f} tx/s | "
                     f"{r['lost']} + {r['lost_sequential']} | {unrw} |")
    if args.tcp:
        for kind, r in results.items():
            t = r["tcp"]
            lines.append(f"| {kind}, TCP | {t['p50_us']:.0f} µs | {t['p99_us']:.0f} µs | {t['tps']:.0f} tx/s | "
                         f"{t['lost']} + {t['lost_sequential']} | - |")
    lines.append("")
    lines.append(f"latency: {args.latency_n} sequential INVITE/200 transactions; throughput: {args.window} outstanding for {args.seconds:g} s; "
                 "lost: windowed + sequential (no 200 within 1 s); unrewritten: INVITEs that reached the server with the phone's "
                 "private address outside From/To, plus 200s that reached the phone without its Via restored")
    lines.append("")

    def ratios(ref, name, budget):
        return (f"sipalgd / {name}: p50 {s['p50_us'] / ref['p50_us']:.2f}×, p99 {s['p99_us'] / ref['p99_us']:.2f}×, "
                f"throughput {s['tps'] / ref['tps']:.2f}×{budget}")

    checks = [
        ("p50 ≤ 1.3× helper", s["p50_us"] <= 1.3 * k["p50_us"]),
        ("p99 ≤ 2× helper", s["p99_us"] <= 2 * k["p99_us"]),
        ("throughput ≥ 1.0× helper", s["tps"] >= k["tps"]),
        ("0 lost", s["lost"] + s["lost_sequential"] == 0),
        ("0 unrewritten", s["unrewritten"] == 0),
        ("RSS ≤ 8 MB", s["peak_rss_kb"] <= 8 * 1024),
    ]
    lines.append(ratios(k, "kernel helper", ""))
    lines.append(ratios(n, "no ALG", ""))
    if "sipalgd baseline" in results:
        lines.append(ratios(results["sipalgd baseline"], "sipalgd baseline", ""))
    for kind, r in results.items():
        if "cpu_us_per_tx" in r:
            lines.append(f"{kind}: {r['cpu_us_per_tx']:.1f} µs of daemon CPU per transaction (throughput phase)")
    lines.append(f"sipalgd peak RSS with {s['calls']} active calls: {s['peak_rss_kb'] / 1024:.1f} MB (VmHWM); "
                 f"SIP dropped by the kernel's queue (overload): {s['queue_dropped']}")
    lines.append("budgets: " + ", ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in checks))
    table = "\n".join(lines)
    print(table)
    if args.write:
        with open(args.write, "w") as f:
            f.write(f"<!-- written by tests/lab/bench.py on {time.strftime('%Y-%m-%d')} -->\n{table}\n")


if __name__ == "__main__":
    main()
