//! The status report (`sipalgd status`), built from the daemon's state. The JSON is
//! documented in docs/status-json.md; the text form is for people at a shell.

use super::json::{key, opt_string, string};
use crate::alg::Counters;
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

/// One cap of the daemon's state (docs/performance.md lists them all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitStatus {
    /// `calls`, `registrations`, ...
    pub name: &'static str,
    /// How many are held now.
    pub now: u64,
    pub max: u64,
    /// What happens at the cap: `evicted` (the oldest/quietest goes) or `refused`.
    pub at_cap: &'static str,
    /// How often it happened since the start.
    pub count: u64,
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

#[derive(Debug, Clone, Default)]
pub struct RegistrationStatus {
    pub aor: String,
    pub private: String,
    pub public: String,
    pub registrar: String,
    pub expires_in: u64,
}

#[derive(Debug, Clone, Default)]
pub struct CallStatus {
    pub call_id: String,
    pub state: &'static str,
    pub outbound: bool,
    pub age: u64,
    pub phone: String,
    pub peer: String,
    pub one_way: bool,
    pub streams: Vec<StreamStatus>,
}

#[derive(Debug, Clone, Default)]
pub struct StreamStatus {
    pub kind: &'static str,
    pub private: Option<String>,
    pub public: Option<String>,
    pub remote: Option<String>,
    pub packets_out: u64,
    pub packets_in: u64,
    pub one_way: bool,
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
        key(&mut o, &mut f, "running");
        o.push_str("true");
        key(&mut o, &mut f, "version");
        string(&mut o, self.version);
        key(&mut o, &mut f, "pid");
        let _ = write!(o, "{}", self.pid);
        key(&mut o, &mut f, "uptime");
        let _ = write!(o, "{}", self.uptime);
        key(&mut o, &mut f, "alg");
        o.push_str(if self.alg { "true" } else { "false" });
        key(&mut o, &mut f, "queue_backend");
        string(&mut o, self.queue_backend);
        key(&mut o, &mut f, "wan");
        {
            o.push('{');
            let mut g = true;
            key(&mut o, &mut g, "device");
            opt_string(&mut o, self.wan_device.as_deref());
            key(&mut o, &mut g, "address");
            opt_string(&mut o, self.wan_address.map(|a| a.to_string()).as_deref());
            key(&mut o, &mut g, "external_address");
            opt_string(
                &mut o,
                self.external_address.map(|a| a.to_string()).as_deref(),
            );
            o.push('}');
        }
        key(&mut o, &mut f, "kernel_helper");
        let _ = write!(
            o,
            "{{\"loaded\":{},\"attached\":{},\"guard\":{}}}",
            self.kernel_helper_loaded, self.kernel_helper_attached, self.kernel_helper_guard
        );
        key(&mut o, &mut f, "flow_offload");
        let fo = &self.flow_offload;
        let _ = write!(
            o,
            "{{\"offloading\":{},\"hardware\":{},\"kept_out\":{},\"offloaded\":{}}}",
            fo.offloading, fo.hardware, fo.kept_out, fo.offloaded
        );
        key(&mut o, &mut f, "counters");
        let c = &self.counters;
        let _ = write!(
            o,
            "{{\"seen\":{},\"rewritten\":{},\"unchanged\":{},\"unparsable\":{},\"verdict_errors\":{},\"program_errors\":{},\"not_restored\":{},\"queue_dropped\":{}}}",
            c.seen, c.rewritten, c.unchanged, c.unparsable, c.verdict_errors, c.program_errors,
            c.not_restored, c.queue_dropped
        );
        key(&mut o, &mut f, "tcp_relay");
        match &self.tcp_relay {
            None => o.push_str("null"),
            Some(t) => {
                let _ = write!(
                    o,
                    "{{\"connections\":{},\"accepted\":{},\"refused\":{},\"messages\":{},\"rewritten\":{},\"closed_unframable\":{},\"timed_out\":{},\"onward_failed\":{},\"relayed\":",
                    t.active, t.accepted, t.refused, t.messages, t.rewritten, t.closed_unframable, t.timed_out, t.onward_failed
                );
                list(&mut o, &self.tcp_connections, |o, c| {
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
        key(&mut o, &mut f, "limits");
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
        key(&mut o, &mut f, "warnings");
        o.push('[');
        for (i, w) in self.warnings.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            string(&mut o, w);
        }
        o.push(']');
        key(&mut o, &mut f, "signalling");
        o.push('[');
        for (i, (private, public)) in self.mappings.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str("{\"private\":");
            string(&mut o, private);
            o.push_str(",\"public\":");
            string(&mut o, public);
            o.push('}');
        }
        o.push(']');
        key(&mut o, &mut f, "registrations");
        list(&mut o, &self.registrations, |o, r| {
            let mut g = true;
            o.push('{');
            field_str(o, &mut g, "aor", &r.aor);
            field_str(o, &mut g, "private", &r.private);
            field_str(o, &mut g, "public", &r.public);
            field_str(o, &mut g, "registrar", &r.registrar);
            field_raw(o, &mut g, "expires_in", r.expires_in);
            o.push('}');
        });
        key(&mut o, &mut f, "calls");
        list(&mut o, &self.calls, |o, c| {
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
        o.push('}');
        o
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
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
        s
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
