//! A loop over the engine for profilers (valgrind --tool=callgrind, perf).
use sipalg::engine::{plan, Direction, KeepPorts, Nat};
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
    let mut total = 0;
    for _ in 0..n {
        let result = plan(
            std::hint::black_box(INVITE),
            Direction::Outbound,
            &nat,
            &mut KeepPorts,
        );
        let Ok(p) = &result else { panic!("unparsable") };
        total += p.output().len();
    }
    println!("{total}");
}
