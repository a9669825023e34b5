use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sipalg::engine::{plan, plan_with, Direction, KeepPorts, Nat};
use sipalg::state::restore::Restore;
use sipalg_bench::{INVITE, OK_200};

fn nat() -> Nat {
    Nat {
        private: "192.168.1.20:5060".parse().unwrap(),
        public: "203.0.113.1:40000".parse().unwrap(),
    }
}

fn engine(c: &mut Criterion) {
    let nat = nat();
    let stranger = Nat {
        private: "10.9.9.9:5060".parse().unwrap(),
        public: "203.0.113.9:5060".parse().unwrap(),
    };
    let mut out = Vec::with_capacity(2048);
    // As the daemon does it: the plan is borrowed from the result where it was built.
    c.bench_function("invite_with_sdp_rewritten", |b| {
        b.iter(|| {
            out.clear();
            let result = plan(black_box(INVITE), Direction::Outbound, &nat, &mut KeepPorts);
            let Ok(p) = &result else { unreachable!() };
            p.write_into(&mut out);
            black_box(out.len())
        })
    });
    c.bench_function("invite_with_sdp_rewritten_fresh_buffer", |b| {
        b.iter(|| {
            let result = plan(black_box(INVITE), Direction::Outbound, &nat, &mut KeepPorts);
            let Ok(p) = &result else { unreachable!() };
            p.output()
        })
    });
    c.bench_function("invite_unchanged", |b| {
        b.iter(|| {
            let result = plan(
                black_box(INVITE),
                Direction::Outbound,
                &stranger,
                &mut KeepPorts,
            );
            let Ok(p) = &result else { unreachable!() };
            p.is_unchanged()
        })
    });
    c.bench_function("ok200_inbound_restored", |b| {
        b.iter(|| {
            let result = plan(black_box(OK_200), Direction::Inbound, &nat, &mut KeepPorts);
            let Ok(p) = &result else { unreachable!() };
            p.output()
        })
    });
    // The daemon's path: the outbound INVITE is recorded in the restoration memory (a
    // retransmission: hash and refresh), the 200 is restored from it (hash and lookup).
    let mut memory = Restore::default();
    c.bench_function("invite_with_sdp_rewritten_remembered", |b| {
        b.iter(|| {
            out.clear();
            let result = plan_with(
                black_box(INVITE),
                Direction::Outbound,
                &nat,
                &mut KeepPorts,
                &mut memory.at(0),
            );
            let Ok(p) = &result else { unreachable!() };
            p.write_into(&mut out);
            black_box(out.len())
        })
    });
    c.bench_function("ok200_inbound_restored_from_memory", |b| {
        b.iter(|| {
            let result = plan_with(
                black_box(OK_200),
                Direction::Inbound,
                &nat,
                &mut KeepPorts,
                &mut memory.at(0),
            );
            let Ok(p) = &result else { unreachable!() };
            p.output()
        })
    });
}

criterion_group!(benches, engine);
criterion_main!(benches);
