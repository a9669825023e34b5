//! `wire::search` (ours: SSE2/NEON, SWAR elsewhere) against the `memchr` crate, on the
//! line lengths SIP and SDP have. The daemon keeps its own only while it measures at
//! least as fast here (docs/performance.md).
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sipalg::wire::text::find_lf;
use sipalg_bench::INVITE;

fn search(c: &mut Criterion) {
    let inv = INVITE;
    // Every line of a typical INVITE: the search the parser does per line.
    let lines = |f: &dyn Fn(&[u8]) -> Option<usize>| {
        let mut rest = inv;
        let mut n = 0;
        while let Some(i) = f(rest) {
            n += 1;
            rest = &rest[i + 1..];
        }
        n
    };
    let mut g = c.benchmark_group("find_lf per line of an INVITE");
    g.bench_function("wire::search", |b| {
        b.iter(|| lines(&|s| find_lf(black_box(s))))
    });
    g.bench_function("memchr", |b| {
        b.iter(|| lines(&|s| memchr::memchr(b'\n', black_box(s))))
    });
    g.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
