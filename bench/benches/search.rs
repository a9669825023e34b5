//! `wire::search` (the `memchr` crate's SSE2 searcher on x86-64, `memchr::memchr`
//! elsewhere) against `memchr::memchr` (run-time AVX2/SSE2 choice) and the portable
//! word-at-a-time searcher that MIPS routers get, on the line lengths SIP and SDP have.
//! Until issue #21, `wire::search` was the project's own SSE2/NEON/SWAR code; the
//! figures that replaced it are in `src/wire/search.rs` and docs/dependencies.md.
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
    // memchr's SSE2 searcher called directly: no run-time dispatch to AVX2 through a
    // function pointer, so it can be inlined into the line reader.
    #[cfg(target_arch = "x86_64")]
    g.bench_function("memchr sse2 One", |b| {
        let one = memchr::arch::x86_64::sse2::memchr::One::new(b'\n').unwrap();
        b.iter(|| lines(&|s| one.find(black_box(s))))
    });
    // memchr's portable word-at-a-time searcher: what `memchr::memchr` is on MIPS.
    g.bench_function("memchr all One (SWAR)", |b| {
        let one = memchr::arch::all::memchr::One::new(b'\n');
        b.iter(|| lines(&|s| one.find(black_box(s))))
    });
    g.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
