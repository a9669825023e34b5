//! A loop over the engine for profilers (valgrind --tool=callgrind, perf).
//! `profile N` plans N INVITEs statelessly; `profile N memory` as the daemon does, each
//! recorded in the restoration memory (`state::restore::Restore`).
use sipalg::engine::{plan, plan_with, Direction, KeepPorts, Nat};
use sipalg::state::restore::Restore;
use sipalg_bench::INVITE;

fn main() {
    let nat = Nat {
        private: "192.168.1.20:5060".parse().unwrap(),
        public: "203.0.113.1:40000".parse().unwrap(),
    };
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let remember = std::env::args().nth(2).is_some_and(|a| a == "memory");
    let mut table = Restore::default();
    let mut total = 0;
    for _ in 0..n {
        let result = if remember {
            plan_with(
                std::hint::black_box(INVITE),
                Direction::Outbound,
                &nat,
                &mut KeepPorts,
                &mut table.at(0),
            )
        } else {
            plan(
                std::hint::black_box(INVITE),
                Direction::Outbound,
                &nat,
                &mut KeepPorts,
            )
        };
        let Ok(p) = &result else { panic!("unparsable") };
        total += p.output().len();
    }
    println!("{total}");
}
