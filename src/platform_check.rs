//! Platform sanity tests, meant to run under qemu-user for every router target
//! (`openwrt/cross-build.sh --test`, see docs/cross.md).
//!
//! They catch the cross-build mistakes that compile and link fine but compute garbage:
//! - a soft-float Rust target linked against a hard-float libc (floats passed in FPU
//!   registers on one side, integer registers on the other: `5f64.sqrt()` gave 5.0);
//! - byte-order mistakes (mips is big-endian, mipsel/aarch64/x86-64 little-endian);
//! - a broken unwinder (missing `-lunwind` replaced by something that crashes).
//!
//! Every input goes through `black_box`, so nothing is folded at compile time and the
//! libm/libc calls really happen at run time on the target.

use std::hint::black_box;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[test]
fn f64_libm_calls_cross_the_c_abi_correctly() {
    // these lower to musl's sqrt/sin/exp/log/pow/fmod: wrong float ABI => wrong results
    let five = black_box(5.0f64);
    assert!(
        close(five.sqrt(), 2.23606797749979),
        "sqrt(5) = {}",
        five.sqrt()
    );
    assert!(close(black_box(2.0f64).sqrt(), std::f64::consts::SQRT_2));
    assert!(close(black_box(1.0f64).exp(), std::f64::consts::E));
    assert!(close(black_box(std::f64::consts::E).ln(), 1.0));
    assert!(close(black_box(std::f64::consts::FRAC_PI_6).sin(), 0.5));
    assert!(close(
        black_box(2.0f64).powf(black_box(10.5)),
        1448.1546878700492
    ));
    assert_eq!(black_box(7.5f64) % black_box(2.0), 1.5);
    let third = black_box(1.0f64) / black_box(3.0);
    assert_eq!(format!("{third}"), "0.3333333333333333");
    assert_eq!(format!("{:.3}", black_box(5.0f64).sqrt()), "2.236");
    assert_eq!(black_box("3.25").parse::<f64>().unwrap() * 2.0, 6.5);
}

#[test]
fn f32_arithmetic_and_libm() {
    let x = black_box(5.0f32);
    assert!(
        (x.sqrt() - 2.236068).abs() < 1e-6,
        "sqrtf(5) = {}",
        x.sqrt()
    );
    assert_eq!(
        format!("{:.2}", black_box(10.0f32) / black_box(4.0)),
        "2.50"
    );
    assert_eq!(black_box(0.1f32) + black_box(0.2f32), 0.3f32);
    assert_eq!(black_box(0.1f64) + black_box(0.2f64), 0.30000000000000004);
}

#[test]
fn f64_through_libc_strtod() {
    // a double *returned by C*: the other half of the float calling convention
    let s = std::ffi::CString::new(black_box("1234.5e-1")).unwrap();
    let v = unsafe { libc::strtod(s.as_ptr(), std::ptr::null_mut()) };
    assert_eq!(v, 123.45, "strtod returned {v}");
}

#[test]
fn integer_to_float_conversions() {
    // soft-float helpers (__floatsidf, __fixdfsi, ...) from compiler-builtins
    assert_eq!(black_box(5060u16) as f64, 5060.0);
    assert_eq!(black_box(-3.99f64) as i32, -3);
    assert_eq!(black_box(u64::MAX) as f64, 18446744073709551615.0);
    assert_eq!(black_box(1e10f64) as u32, u32::MAX);
}

#[test]
fn network_byte_order_round_trips() {
    assert_eq!(u16::from_be_bytes(black_box([0x13, 0xc4])), 5060);
    assert_eq!(black_box(5060u16).to_be_bytes(), [0x13, 0xc4]);
    assert_eq!(u16::from_le_bytes(black_box([0xc4, 0x13])), 5060);
    assert_eq!(
        u32::from_be_bytes(black_box([192, 168, 1, 1])),
        0xc0a8_0101,
        "192.168.1.1"
    );
    assert_eq!(black_box(0xc0a8_0101u32).to_be_bytes(), [192, 168, 1, 1]);
    let a = std::net::Ipv4Addr::from(black_box(0xc633_6401u32));
    assert_eq!(a.octets(), [198, 51, 100, 1]);
    assert_eq!(u32::from(a), 0xc633_6401);
    assert_eq!(a.to_string(), "198.51.100.1");
    // a port as libc's sockaddr_in carries it: network order in memory
    let sin_port = black_box(5060u16).to_be();
    assert_eq!(sin_port.to_ne_bytes(), [0x13, 0xc4]);
}

#[test]
fn native_endianness_matches_cfg() {
    let ne = black_box(0x0102_0304u32).to_ne_bytes();
    if cfg!(target_endian = "big") {
        assert_eq!(ne, [1, 2, 3, 4]);
    } else {
        assert_eq!(ne, [4, 3, 2, 1]);
    }
}

/// RFC 1071 one's-complement sum of 16-bit big-endian words.
fn ones_complement_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in bytes.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from_be_bytes([chunk[0], 0])
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn ipv4_header_checksum_of_a_known_packet() {
    // 192.168.0.1 -> 192.168.0.199, UDP, total length 115, checksum 0xb861
    let mut hdr: [u8; 20] = black_box([
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ]);
    assert_eq!(
        ones_complement_checksum(&hdr),
        0,
        "valid header sums to 0xffff"
    );
    assert_eq!(u16::from_be_bytes([hdr[2], hdr[3]]), 115);
    assert_eq!(
        u32::from_be_bytes([hdr[12], hdr[13], hdr[14], hdr[15]]),
        0xc0a8_0001
    );
    hdr[10] = 0;
    hdr[11] = 0;
    assert_eq!(ones_complement_checksum(&hdr), 0xb861);
    // odd length: trailing byte is padded with zero
    assert_eq!(ones_complement_checksum(&[0x01]), !0x0100);
}

#[test]
fn threads_and_locks() {
    use std::sync::{Arc, Mutex};
    let total = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..4u64)
        .map(|i| {
            let total = Arc::clone(&total);
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    *total.lock().unwrap() += black_box(i + 1);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*total.lock().unwrap(), 10_000);
}

#[cfg(panic = "unwind")]
#[test]
fn unwinder_catches_a_panic() {
    // exercises the libunwind.a the cross build supplies (libgcc_eh + musl shim)
    let r = std::panic::catch_unwind(|| {
        if black_box(true) {
            panic!("expected test panic");
        }
        1
    });
    assert!(r.is_err());
}

#[test]
fn backtrace_capture_does_not_crash() {
    // _Unwind_Backtrace through the supplied unwinder (NULL pthread_once used to crash)
    let bt = std::backtrace::Backtrace::force_capture();
    let _ = black_box(bt.to_string());
}
