//! A loop over the engine for profilers (valgrind --tool=callgrind, perf).
//! `profile N` plans N INVITEs statelessly; `profile N memory` as the daemon does, each
//! recorded in the restoration memory (`state::restore::Restore`); `profile N inbound`
//! records the INVITE once and restores its 200 OK from the memory N times.
use sipalg::engine::{plan, plan_with, Direction, KeepPorts, Nat};
use sipalg::state::restore::Restore;
use sipalg_bench::{INVITE, OK_200};

fn main() {
    let nat = Nat {
        private: "192.168.1.20:5060".parse().unwrap(),
        public: "203.0.113.1:40000".parse().unwrap(),
    };
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mode = std::env::args().nth(2).unwrap_or_default();
    let mut table = Restore::default();
    if mode == "inbound" {
        let _ = plan_with(
            INVITE,
            Direction::Outbound,
            &nat,
            &mut KeepPorts,
            &mut table.at(0),
        );
    }
    let mut total = 0;
    for _ in 0..n {
        let result = match mode.as_str() {
            "memory" => plan_with(
                std::hint::black_box(INVITE),
                Direction::Outbound,
                &nat,
                &mut KeepPorts,
                &mut table.at(0),
            ),
            "inbound" => plan_with(
                std::hint::black_box(OK_200),
                Direction::Inbound,
                &nat,
                &mut KeepPorts,
                &mut table.at(0),
            ),
            _ => plan(
                std::hint::black_box(INVITE),
                Direction::Outbound,
                &nat,
                &mut KeepPorts,
            ),
        };
        let Ok(p) = &result else { panic!("unparsable") };
        assert!(!p.is_unchanged());
        total += p.output().len();
    }
    println!("{total}");
}
