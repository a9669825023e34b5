//! The status report (`sipalgd status`), built from the daemon's state. The JSON is
//! documented in docs/status-json.md; the text form is for people at a shell.

use super::json::{key, opt_string, string};
use super::{helper_guard, offload, Shared};
pub use crate::alg::{CallStatus, LimitStatus, RegistrationStatus, StreamStatus};
use crate::alg::{Counters, Snapshot};
use crate::netlink::nfqueue;
use std::fmt::Write;
use std::net::Ipv4Addr;

/// A snapshot of what the daemon reports.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub version: &'static str,
    pub pid: u32,
    pub uptime: u64,
    pub alg: bool,
    pub queue_backend: &'static str,
    pub wan_device: Option<String>,
    pub wan_address: Option<Ipv4Addr>,
    pub external_address: Option<Ipv4Addr>,
    pub kernel_helper_loaded: bool,
    pub kernel_helper_attached: bool,
    pub kernel_helper_guard: bool,
    pub flow_offload: FlowOffload,
    pub counters: Counters,
    pub warnings: Vec<String>,
    pub mappings: Vec<(String, String)>,
    pub registrations: Vec<RegistrationStatus>,
    pub calls: Vec<CallStatus>,
    /// The TCP relay's counters (None: it does not listen).
    pub tcp_relay: Option<crate::relay::Counts>,
    /// The connections it relays.
    pub tcp_connections: Vec<TcpConnectionStatus>,
    /// The caps of the state: how full each is, and what happened at it.
    pub limits: Vec<LimitStatus>,
}

/// fw4's flow offloading as far as sipalg is concerned.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowOffload {
    /// fw4 has a flowtable and a `flow offload` rule.
    pub offloading: bool,
    /// With `flags offload` (hardware).
    pub hardware: bool,
    /// sipalg's rule comes before fw4's `flow offload` (or there is none).
    pub kept_out: bool,
    /// sipalg's flows found offloaded anyway at the last check.
    pub offloaded: usize,
}

#[derive(Debug, Clone, Default)]
pub struct TcpConnectionStatus {
    /// The phone's signalling endpoint (address, Via port).
    pub phone: String,
    /// The phone's end of the connection.
    pub source: String,
    pub peer: String,
    pub public: String,
    pub age: u64,
}

impl Shared {
    /// The status report; `helper` is [`helper_guard::seen`] and `queue` our line of
    /// `/proc/net/netfilter/nfnetlink_queue`, both read by the caller without holding
    /// the state lock. What the core holds comes from its snapshot.
    pub fn status(&self, helper: helper_guard::Seen, queue: Option<nfqueue::QueueStats>) -> Status {
        let now = self.now();
        let core: Snapshot = self.processor.snapshot(now);
        let guard = !self.config.kernel_helper && helper.guard_in_fw4;
        Status {
            version: env!("CARGO_PKG_VERSION"),
            pid: std::process::id(),
            uptime: now,
            alg: core.alg,
            queue_backend: self.backend.name(),
            wan_device: self.wan.devices.first().cloned(),
            wan_address: self.wan.address,
            external_address: core.external_address,
            kernel_helper_loaded: helper_guard::loaded(),
            kernel_helper_attached: helper.attached && !guard,
            kernel_helper_guard: guard,
            flow_offload: FlowOffload {
                offloading: helper.offload.offloading,
                hardware: helper.offload.hardware,
                kept_out: helper.offload.kept_out,
                offloaded: self.offloaded,
            },
            counters: Counters {
                // The kernel's own count where its file is readable (root only: the
                // daemon runs as its own user on a router), else the packet ids that
                // never arrived (a drop after the last packet shows with the next one).
                queue_dropped: queue.map_or(core.counters.queue_dropped, |q| {
                    (q.dropped + q.user_dropped).max(core.counters.queue_dropped)
                }),
                ..core.counters
            },
            warnings: self.warnings(helper, guard),
            mappings: core.mappings,
            registrations: core.registrations,
            calls: core.calls,
            limits: core.limits,
            tcp_relay: self.relay.as_ref().map(|r| r.counts()),
            tcp_connections: self.tcp_connections(now),
        }
    }

    /// What the report warns about: the kernel's SIP helper, the relay, offloading,
    /// timeout policies.
    fn warnings(&self, helper: helper_guard::Seen, guard: bool) -> Vec<String> {
        let mut warnings = self.warnings.clone();
        if helper.attached && self.config.kernel_helper {
            warnings.push("the kernel SIP helper (nf_conntrack_sip) is attached to SIP traffic (kernel_helper=1)".into());
        } else if helper.attached && guard {
            warnings.push("fw4 attaches the kernel SIP helper to SIP traffic; sipalg keeps it off (kernel_helper=0)".into());
        } else if helper.attached {
            warnings.push("fw4 attaches the kernel SIP helper to SIP traffic and sipalg's guard is not in fw4's prerouting chain (auto_includes off in /etc/config/firewall? run 'fw4 reload'): Linux's helper rewrites SIP too".into());
        }
        if let Some(why) = &self.relay_off {
            warnings.push(why.clone());
        }
        warnings.extend(offload::warning(helper.offload));
        warnings.extend(offload::offloaded_warning(self.offloaded));
        if !self.ct_timeouts {
            warnings.push("this kernel has no conntrack timeout policies: SIP and media flows use the global UDP timeouts".into());
        }
        warnings
    }

    /// The connections the TCP relay holds.
    fn tcp_connections(&self, now: u64) -> Vec<TcpConnectionStatus> {
        self.relay
            .as_ref()
            .map(|r| r.connections())
            .unwrap_or_default()
            .into_iter()
            .map(|(c, since)| TcpConnectionStatus {
                phone: c.phone.to_string(),
                source: c.source.to_string(),
                peer: c.peer.to_string(),
                public: c.public.to_string(),
                age: now.saturating_sub(since),
            })
            .collect()
    }
}

fn list<T>(o: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    o.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        each(o, item);
    }
    o.push(']');
}

fn field_str(o: &mut String, first: &mut bool, k: &str, v: &str) {
    key(o, first, k);
    string(o, v);
}

fn field_raw(o: &mut String, first: &mut bool, k: &str, v: impl core::fmt::Display) {
    key(o, first, k);
    let _ = write!(o, "{v}");
}

impl Status {
    pub fn to_json(&self) -> String {
        let mut o = String::from("{");
        let mut f = true;
        self.json_daemon(&mut o, &mut f);
        self.json_counters(&mut o, &mut f);
        self.json_limits_and_warnings(&mut o, &mut f);
        self.json_registrations(&mut o, &mut f);
        self.json_calls(&mut o, &mut f);
        o.push('}');
        o
    }

    /// The daemon, its WAN, the kernel helper and flow offloading.
    fn json_daemon(&self, o: &mut String, f: &mut bool) {
        key(o, f, "running");
        o.push_str("true");
        key(o, f, "version");
        string(o, self.version);
        key(o, f, "pid");
        let _ = write!(o, "{}", self.pid);
        key(o, f, "uptime");
        let _ = write!(o, "{}", self.uptime);
        key(o, f, "alg");
        o.push_str(if self.alg { "true" } else { "false" });
        key(o, f, "queue_backend");
        string(o, self.queue_backend);
        key(o, f, "wan");
        {
            o.push('{');
            let mut g = true;
            key(o, &mut g, "device");
            opt_string(o, self.wan_device.as_deref());
            key(o, &mut g, "address");
            opt_string(o, self.wan_address.map(|a| a.to_string()).as_deref());
            key(o, &mut g, "external_address");
            opt_string(o, self.external_address.map(|a| a.to_string()).as_deref());
            o.push('}');
        }
        key(o, f, "kernel_helper");
        let _ = write!(
            o,
            "{{\"loaded\":{},\"attached\":{},\"guard\":{}}}",
            self.kernel_helper_loaded, self.kernel_helper_attached, self.kernel_helper_guard
        );
        key(o, f, "flow_offload");
        let fo = &self.flow_offload;
        let _ = write!(
            o,
            "{{\"offloading\":{},\"hardware\":{},\"kept_out\":{},\"offloaded\":{}}}",
            fo.offloading, fo.hardware, fo.kept_out, fo.offloaded
        );
    }

    /// The counters and the TCP relay.
    fn json_counters(&self, o: &mut String, f: &mut bool) {
        key(o, f, "counters");
        let c = &self.counters;
        let _ = write!(
            o,
            "{{\"seen\":{},\"rewritten\":{},\"unchanged\":{},\"unparsable\":{},\"verdict_errors\":{},\"program_errors\":{},\"not_restored\":{},\"queue_dropped\":{}}}",
            c.seen, c.rewritten, c.unchanged, c.unparsable, c.verdict_errors, c.program_errors,
            c.not_restored, c.queue_dropped
        );
        key(o, f, "tcp_relay");
        match &self.tcp_relay {
            None => o.push_str("null"),
            Some(t) => {
                let _ = write!(
                    o,
                    "{{\"connections\":{},\"accepted\":{},\"refused\":{},\"messages\":{},\"rewritten\":{},\"closed_unframable\":{},\"timed_out\":{},\"onward_failed\":{},\"relayed\":",
                    t.active, t.accepted, t.refused, t.messages, t.rewritten, t.closed_unframable, t.timed_out, t.onward_failed
                );
                list(o, &self.tcp_connections, |o, c| {
                    let mut g = true;
                    o.push('{');
                    field_str(o, &mut g, "phone", &c.phone);
                    field_str(o, &mut g, "source", &c.source);
                    field_str(o, &mut g, "peer", &c.peer);
                    field_str(o, &mut g, "public", &c.public);
                    field_raw(o, &mut g, "age", c.age);
                    o.push('}');
                });
                o.push('}');
            }
        }
    }

    /// The caps of the state, the warnings and the signalling mappings.
    fn json_limits_and_warnings(&self, o: &mut String, f: &mut bool) {
        key(o, f, "limits");
        o.push('{');
        for (i, l) in self.limits.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "\"{}\":{{\"now\":{},\"max\":{},\"{}\":{}}}",
                l.name, l.now, l.max, l.at_cap, l.count
            );
        }
        o.push('}');
        key(o, f, "warnings");
        o.push('[');
        for (i, w) in self.warnings.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            string(o, w);
        }
        o.push(']');
        key(o, f, "signalling");
        o.push('[');
        for (i, (private, public)) in self.mappings.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str("{\"private\":");
            string(o, private);
            o.push_str(",\"public\":");
            string(o, public);
            o.push('}');
        }
        o.push(']');
    }

    /// The registrations.
    fn json_registrations(&self, o: &mut String, f: &mut bool) {
        key(o, f, "registrations");
        list(o, &self.registrations, |o, r| {
            let mut g = true;
            o.push('{');
            field_str(o, &mut g, "aor", &r.aor);
            field_str(o, &mut g, "private", &r.private);
            field_str(o, &mut g, "public", &r.public);
            field_str(o, &mut g, "registrar", &r.registrar);
            field_raw(o, &mut g, "expires_in", r.expires_in);
            o.push('}');
        });
    }

    /// The calls and their streams.
    fn json_calls(&self, o: &mut String, f: &mut bool) {
        key(o, f, "calls");
        list(o, &self.calls, |o, c| {
            let mut g = true;
            o.push('{');
            field_str(o, &mut g, "call_id", &c.call_id);
            field_str(o, &mut g, "state", c.state);
            field_str(
                o,
                &mut g,
                "direction",
                if c.outbound { "outbound" } else { "inbound" },
            );
            field_raw(o, &mut g, "age", c.age);
            field_str(o, &mut g, "phone", &c.phone);
            field_str(o, &mut g, "peer", &c.peer);
            field_raw(o, &mut g, "one_way", c.one_way);
            key(o, &mut g, "streams");
            list(o, &c.streams, |o, s| {
                let mut h = true;
                o.push('{');
                field_str(o, &mut h, "kind", s.kind);
                key(o, &mut h, "private");
                opt_string(o, s.private.as_deref());
                key(o, &mut h, "public");
                opt_string(o, s.public.as_deref());
                key(o, &mut h, "remote");
                opt_string(o, s.remote.as_deref());
                field_raw(o, &mut h, "packets_out", s.packets_out);
                field_raw(o, &mut h, "packets_in", s.packets_in);
                field_raw(o, &mut h, "one_way", s.one_way);
                o.push('}');
            });
            o.push('}');
        });
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.text_daemon(&mut s);
        self.text_counters(&mut s);
        self.text_state(&mut s);
        self.text_calls(&mut s);
        s
    }

    /// The daemon, its WAN, the kernel helper and flow offloading.
    fn text_daemon(&self, s: &mut String) {
        let opt = |a: Option<Ipv4Addr>| a.map_or("-".to_string(), |a| a.to_string());
        let _ = writeln!(
            s,
            "sipalgd {} (pid {}, up {}s)",
            self.version, self.pid, self.uptime
        );
        let _ = writeln!(s, "ALG:            {}", if self.alg { "on" } else { "off" });
        let _ = writeln!(s, "queue backend:  {}", self.queue_backend);
        let _ = writeln!(
            s,
            "WAN:            {} {}{}",
            self.wan_device.as_deref().unwrap_or("-"),
            opt(self.wan_address),
            self.external_address
                .map_or(String::new(), |e| format!(" (advertising {e})"))
        );
        let kh = match (self.kernel_helper_loaded, self.kernel_helper_attached) {
            (_, true) => "ACTIVE on SIP traffic",
            (true, false) => "loaded, kept off SIP traffic",
            (false, false) => "not loaded",
        };
        let _ = writeln!(s, "kernel helper:  {kh}");
        let fo = &self.flow_offload;
        if fo.offloading {
            let _ = writeln!(
                s,
                "flow offload:   {} on, {}",
                if fo.hardware { "hardware" } else { "software" },
                if fo.kept_out {
                    "sipalg's flows kept out"
                } else {
                    "sipalg's flows NOT kept out"
                }
            );
        } else {
            let _ = writeln!(s, "flow offload:   off");
        }
    }

    /// The counters, the caps and the TCP relay.
    fn text_counters(&self, s: &mut String) {
        let c = &self.counters;
        let _ = writeln!(
            s,
            "messages:       {} seen, {} rewritten, {} unchanged, {} unparsable (all passed on)",
            c.seen, c.rewritten, c.unchanged, c.unparsable
        );
        let _ = writeln!(
            s,
            "overload:       {} dropped by the kernel's queue (senders retransmit; nothing passes unrewritten)",
            c.queue_dropped
        );
        let _ = writeln!(
            s,
            "limits:         {}",
            self.limits
                .iter()
                .map(|l| format!("{} {}/{} ({} {})", l.name, l.now, l.max, l.count, l.at_cap))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if c.not_restored > 0 {
            let _ = writeln!(
                s,
                "not restored:   {} towards the LAN kept the public address the ALG had not written (log_level debug says why)",
                c.not_restored
            );
        }
        if let Some(t) = &self.tcp_relay {
            let _ = writeln!(
                s,
                "TCP relay:      {} connections ({} accepted, {} refused at the limit), {} messages, {} rewritten",
                t.active, t.accepted, t.refused, t.messages, t.rewritten
            );
            for c in &self.tcp_connections {
                let _ = writeln!(
                    s,
                    "  TCP {} (from {}) <-> {} as {}, {}s",
                    c.phone, c.source, c.peer, c.public, c.age
                );
            }
        }
    }

    /// The warnings, the signalling mappings and the registrations.
    fn text_state(&self, s: &mut String) {
        for w in &self.warnings {
            let _ = writeln!(s, "warning:        {w}");
        }
        if !self.mappings.is_empty() {
            let _ = writeln!(s, "\nSIP endpoints (private -> public)");
            for (private, public) in &self.mappings {
                let _ = writeln!(s, "  {private:<22} -> {public}");
            }
        }
        let _ = writeln!(s, "\nRegistrations ({})", self.registrations.len());
        if !self.registrations.is_empty() {
            let _ = writeln!(
                s,
                "  {:<28} {:<22} {:<22} {:<22} {:>8}",
                "AOR", "PHONE", "PUBLIC", "REGISTRAR", "EXPIRES"
            );
            for r in &self.registrations {
                let _ = writeln!(
                    s,
                    "  {:<28} {:<22} {:<22} {:<22} {:>7}s",
                    r.aor, r.private, r.public, r.registrar, r.expires_in
                );
            }
        }
    }

    /// The calls and their streams.
    fn text_calls(&self, s: &mut String) {
        let _ = writeln!(s, "\nCalls ({})", self.calls.len());
        for c in &self.calls {
            let _ = writeln!(
                s,
                "  {} {} {} {}s  phone {}  peer {}{}",
                c.call_id,
                if c.outbound { "outbound" } else { "inbound" },
                c.state,
                c.age,
                c.phone,
                c.peer,
                if c.one_way { "  ONE-WAY AUDIO" } else { "" }
            );
            for st in &c.streams {
                let _ = writeln!(
                    s,
                    "    {:<6} {} -> {} <-> {}  out {} in {}{}",
                    st.kind,
                    st.private.as_deref().unwrap_or("-"),
                    st.public.as_deref().unwrap_or("-"),
                    st.remote.as_deref().unwrap_or("-"),
                    st.packets_out,
                    st.packets_in,
                    if st.one_way { "  (one-way)" } else { "" }
                );
            }
        }
    }
}

/// A JSON string literal (for callers outside the daemon module).
pub fn json_string(out: &mut String, s: &str) {
    string(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_documented_fields() {
        let st = Status {
            version: "0.1.0",
            pid: 7,
            alg: true,
            queue_backend: "nft",
            wan_device: Some("eth1".into()),
            wan_address: Some(Ipv4Addr::new(198, 51, 100, 1)),
            warnings: vec!["a \"quoted\" warning".into()],
            mappings: vec![("192.168.1.20:5060".into(), "198.51.100.1:5060".into())],
            registrations: vec![RegistrationStatus {
                aor: "sip:100@x".into(),
                private: "192.168.1.20:5060".into(),
                public: "198.51.100.1:5060".into(),
                registrar: "198.51.100.10:5060".into(),
                expires_in: 60,
            }],
            calls: vec![CallStatus {
                call_id: "c1".into(),
                state: "confirmed",
                outbound: true,
                age: 3,
                phone: "192.168.1.20:5060".into(),
                peer: "198.51.100.10:5060".into(),
                one_way: true,
                streams: vec![StreamStatus {
                    kind: "audio",
                    private: Some("192.168.1.20:4000".into()),
                    public: Some("198.51.100.1:4000".into()),
                    remote: None,
                    packets_out: 10,
                    packets_in: 0,
                    one_way: true,
                }],
            }],
            limits: vec![
                LimitStatus {
                    name: "calls",
                    now: 1,
                    max: 4096,
                    at_cap: "evicted",
                    count: 0,
                },
                LimitStatus {
                    name: "registrations",
                    now: 1,
                    max: 16384,
                    at_cap: "refused",
                    count: 2,
                },
            ],
            ..Status::default()
        };
        let j = st.to_json();
        for needle in [
            r#""running":true"#,
            r#""alg":true"#,
            r#""queue_backend":"nft""#,
            r#""wan":{"device":"eth1","address":"198.51.100.1","external_address":null}"#,
            r#""kernel_helper":{"loaded":false,"attached":false,"guard":false},"flow_offload":{"offloading":false,"hardware":false,"kept_out":false,"offloaded":0}"#,
            r#""counters":{"seen":0,"rewritten":0,"unchanged":0,"unparsable":0"#,
            r#""warnings":["a \"quoted\" warning"]"#,
            r#""limits":{"calls":{"now":1,"max":4096,"evicted":0},"registrations":{"now":1,"max":16384,"refused":2}}"#,
            r#""not_restored":0,"queue_dropped":0}"#,
            r#""registrations":[{"aor":"sip:100@x","private":"192.168.1.20:5060","public":"198.51.100.1:5060","registrar":"198.51.100.10:5060","expires_in":60}]"#,
            r#""calls":[{"call_id":"c1","state":"confirmed","direction":"outbound","age":3,"phone":"192.168.1.20:5060","peer":"198.51.100.10:5060","one_way":true,"streams":[{"kind":"audio","private":"192.168.1.20:4000","public":"198.51.100.1:4000","remote":null,"packets_out":10,"packets_in":0,"one_way":true}]}]"#,
        ] {
            assert!(j.contains(needle), "{needle} missing in {j}");
        }
        assert!(st.to_text().contains("ALG:            on"));
        assert!(st.to_text().contains(
            "limits:         calls 1/4096 (0 evicted), registrations 1/16384 (2 refused)"
        ));
        assert!(st.to_text().contains("ONE-WAY AUDIO"));
    }
}
