//! Our firewall state for the configuration and WAN: the ruleset's input (from the
//! configuration and the core's policy), the atomic install, the replay of the live
//! calls' and registrations' elements after it, and the TCP relay's listener.

use super::datapath::commit;
use super::ruleset::{self, Backend, Input, SnatElement};
use super::{capabilities, firewall, lock, tcp, wan, Shared};
use crate::alg::Policy;
use crate::config::{Config, MediaSource};
use std::sync::{Arc, Mutex};

/// The core's policy from the configuration: the one copy the daemon builds and hands
/// over ([`crate::alg::Processor::set_policy`]); everything else asks the core.
pub fn policy(c: &Config) -> Policy {
    Policy {
        alg: c.alg,
        media_any: c.media_source == MediaSource::Any,
        external_ip: c.external_address,
        signaling_timeout: c.timeouts.signaling,
        media_timeout: c.timeouts.media,
    }
}

/// The configured trusted sources as nft set elements.
pub fn trusted_sources(c: &Config) -> Vec<String> {
    c.trusted_sources.iter().map(|t| t.to_string()).collect()
}

/// What goes into our table for this configuration, the core's policy and the WAN.
pub fn ruleset_input<'a>(
    c: &'a Config,
    policy: &Policy,
    wan: &'a wan::Wan,
    snat: &'a [SnatElement],
    trusted: &'a [String],
) -> Input<'a> {
    Input {
        wan_devices: &wan.devices,
        wan_address: wan.address,
        ports: &c.ports,
        backend: Backend::Nft,
        snat,
        alg: policy.alg,
        media_any: policy.media_any,
        trusted,
        kernel_helper_guard: !c.kernel_helper,
        timeouts: Some((policy.signaling_timeout, policy.media_timeout)),
        dscp: c
            .qos
            .enabled
            .then_some((c.qos.signaling_dscp, c.qos.media_dscp)),
        tcp_relay: (c.tcp && policy.alg).then_some(crate::relay::RELAY_PORT),
        maps_as_sets: true,
    }
}

impl Shared {
    /// The core's signalling mappings as SNAT map elements.
    fn snat_elements(&self) -> Vec<SnatElement> {
        let Some(wan_ip) = self.processor.wan_ip() else {
            return Vec::new();
        };
        self.processor
            .snat_elements()
            .into_iter()
            .map(|e| SnatElement {
                private: e.private,
                public: ruleset::snat_public(wan_ip, e.public_port),
                timeout_s: e.seconds,
            })
            .collect()
    }

    /// Hands the core the policy of the current configuration and the WAN address.
    pub(super) fn apply_config(&mut self) {
        self.processor
            .set_policy(policy(&self.config), self.wan.address);
    }

    /// Installs (atomically replaces) our firewall state for the current config/WAN,
    /// then puts back the per-call and per-registration elements.
    pub(super) fn install_firewall(&mut self) -> Result<(), String> {
        self.installed = false;
        if self.wan.devices.is_empty() {
            return Err("no WAN device: set wan_device or add a default route".into());
        }
        let snat = self.snat_elements();
        let trusted = trusted_sources(&self.config);
        let policy = *self.processor.policy();
        let mut input = ruleset_input(&self.config, &policy, &self.wan, &snat, &trusted);
        self.relay_off = None;
        if input.tcp_relay.is_some() {
            self.relay_off = self.relay_off_reason().or_else(|| {
                firewall::install_tproxy_route().err().map(|e| {
                    format!("cannot add the policy route for the TCP relay ({e}): SIP over TCP passes unmodified")
                })
            });
            if let Some(why) = &self.relay_off {
                log::warn!("{why}");
                input.tcp_relay = None;
            }
        }
        input.maps_as_sets = self.processor.maps_mark_media();
        self.ct_timeouts = capabilities::ct_timeout();
        if !self.ct_timeouts {
            log::warn!("conntrack timeout policies are not available; SIP and media flows keep the global UDP timeouts, registered phones' flows are still extended");
            input.timeouts = None;
        }
        let backend = firewall::install(&input, self.backend)?;
        self.backend = backend;
        self.installed = true;
        self.replay_state();
        Ok(())
    }

    /// Why SIP over TCP is not diverted to the relay although the ruleset would.
    fn relay_off_reason(&self) -> Option<String> {
        if self.relay.is_none() {
            Some("the TCP relay is not listening: SIP over TCP passes unmodified".into())
        } else if bridge_calls_iptables() {
            // br_netfilter runs the prerouting hooks inside the bridge, before IP
            // input orphans the packet: the socket tproxy assigned is lost and the
            // connection is reset. Not diverting keeps TCP SIP working, unmodified.
            Some("br_netfilter is loaded with net.bridge.bridge-nf-call-iptables=1, which breaks transparent proxying on bridged LANs: SIP over TCP passes unmodified".into())
        } else {
            None
        }
    }

    /// Re-adds the elements of live calls and registrations (a new table starts empty),
    /// under the lock the caller holds.
    fn replay_state(&mut self) {
        let actions = self.processor.replay(self.now());
        let wan_ip = self.wan.address;
        let processor = &mut self.processor;
        commit(&mut self.kernel, &actions, wan_ip, |n| {
            processor.count_program_errors(n)
        });
    }
}

/// Whether br_netfilter passes bridged IPv4 through the IP hooks (in this namespace).
fn bridge_calls_iptables() -> bool {
    std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
        .is_ok_and(|v| v.trim() == "1")
}

/// Starts the TCP relay's transparent listener (it relays only what the ruleset
/// diverts to it: nothing with `tcp 0` or `alg 0`).
pub(super) fn start_relay(shared: &Arc<Mutex<Shared>>) -> Option<Arc<crate::relay::Stats>> {
    let listener = match crate::relay::listen(crate::relay::RELAY_PORT) {
        Ok(l) => l,
        Err(e) => {
            log::warn!(
                "TCP relay: cannot listen on 127.0.0.1:{} ({e}); SIP over TCP passes unmodified",
                crate::relay::RELAY_PORT
            );
            return None;
        }
    };
    let established =
        std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established")
            .ok()
            .and_then(|v| v.trim().parse().ok());
    let signaling = lock(shared).processor.policy().signaling_timeout;
    let limits = crate::relay::conn::Limits {
        idle: u64::from(signaling),
        ..Default::default()
    };
    let stats = Arc::new(crate::relay::Stats::default());
    let handler = Arc::new(tcp::Relay::new(Arc::clone(shared)));
    let keepalive = crate::relay::conn::keepalive_idle(established, 600);
    match crate::relay::start(listener, handler, Arc::clone(&stats), limits, keepalive) {
        Ok(()) => Some(stats),
        Err(e) => {
            log::warn!("TCP relay: cannot start ({e}); SIP over TCP passes unmodified");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_what_the_configuration_says_and_the_ruleset_follows_it() {
        let c = crate::config::parse(
            "sipalg",
            "config sipalg 'main'\n\toption alg '1'\n\toption media_source 'any'\n\toption external_address '203.0.113.7'\n\toption tcp '1'\nconfig timeouts 'timeouts'\n\toption signaling '600'\n\toption media '90'\n",
        )
        .unwrap();
        let p = policy(&c);
        assert_eq!(
            p,
            Policy {
                alg: true,
                media_any: true,
                external_ip: Some("203.0.113.7".parse().unwrap()),
                signaling_timeout: 600,
                media_timeout: 90,
            }
        );
        let w = wan::Wan::default();
        let input = ruleset_input(&c, &p, &w, &[], &[]);
        assert!(input.alg && input.media_any);
        assert_eq!(input.timeouts, Some((600, 90)));
        assert_eq!(input.tcp_relay, Some(crate::relay::RELAY_PORT));
        // The ruleset follows the policy handed over, not a second reading of the file.
        let off = Policy { alg: false, ..p };
        let input = ruleset_input(&c, &off, &w, &[], &[]);
        assert!(!input.alg);
        assert_eq!(input.tcp_relay, None, "no relay without the ALG");
        let defaults = policy(&crate::config::parse("sipalg", "config sipalg 'main'\n").unwrap());
        assert_eq!(
            defaults,
            Policy {
                alg: false,
                ..Policy::default()
            },
            "the core's default policy is the configuration's with the ALG on"
        );
    }
}
