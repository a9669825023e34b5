//! The WAN side: which device faces the provider (configured, or the default route's
//! device) and its IPv4 address. Read from /proc and getifaddrs; re-checked periodically
//! so that address changes (DHCP, PPPoE reconnects) are followed without a restart.

use std::ffi::CStr;
use std::net::Ipv4Addr;

/// The device of the IPv4 default route, from `/proc/net/route`.
pub fn default_route_device() -> Option<String> {
    let text = std::fs::read_to_string("/proc/net/route").ok()?;
    default_route_in(&text)
}

fn default_route_in(text: &str) -> Option<String> {
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 7 && f[1] == "00000000" && f[7] == "00000000").then(|| f[0].to_string())
    })
}

/// The first IPv4 address of `device`.
pub fn ipv4_of(device: &str) -> Option<Ipv4Addr> {
    let mut ifap: *mut libc::ifaddrs = core::ptr::null_mut();
    // SAFETY: getifaddrs fills a list that we walk read-only and free exactly once.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return None;
        }
        let mut found = None;
        let mut cur = ifap;
        while !cur.is_null() {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
                && CStr::from_ptr(ifa.ifa_name).to_bytes() == device.as_bytes()
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                break;
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(ifap);
        found
    }
}

/// The WAN as currently seen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wan {
    pub devices: Vec<String>,
    pub address: Option<Ipv4Addr>,
}

/// Resolves the configured devices (or the default route's) and the address of the
/// first one that has an IPv4 address.
pub fn detect(configured: &[String]) -> Wan {
    let devices = if configured.is_empty() {
        default_route_device().into_iter().collect()
    } else {
        configured.to_vec()
    };
    let address = devices.iter().find_map(|d| ipv4_of(d));
    Wan { devices, address }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_default_route_device() {
        let t =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 br-lan\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                 eth1\t00000000\t0164A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_route_in(t), Some("eth1".to_string()));
        assert_eq!(default_route_in("Iface\tDestination\n"), None);
    }

    #[test]
    fn loopback_has_an_address() {
        assert_eq!(ipv4_of("lo"), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(ipv4_of("no-such-device0"), None);
    }
}
