//! Loads the shared test corpus (`../shared/corpus`, or `$SIPALG_CORPUS`): every SIP
//! message file, libosip2's `|`-separated torture files, and every SDP fixture wrapped
//! in an INVITE sent by the host its first `c=` names. Shared by the corpus test and the
//! rsip/sdp-rs oracle test.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub struct Item {
    pub name: String,
    pub bytes: Vec<u8>,
}

pub fn corpus_dir() -> PathBuf {
    // `shared/` sits beside the repository; this file is also compiled from `bench/`.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("SIPALG_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            manifest
                .ancestors()
                .map(|a| a.join("../shared/corpus"))
                .find(|d| d.exists())
                .unwrap_or_default()
        });
    assert!(
        dir.join("MANIFEST.md").exists(),
        "corpus not found at {} (set SIPALG_CORPUS)",
        dir.display()
    );
    dir
}

fn files(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, keep, out);
        } else if keep(&p) {
            out.push(p);
        }
    }
}

/// Items separated by a line holding only `|` (libosip2's torture files).
fn split_bars(data: &[u8]) -> Vec<Vec<u8>> {
    let text = data.to_vec();
    let mut items = Vec::new();
    let mut cur = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let t: &[u8] = line.strip_suffix(b"\n").unwrap_or(line);
        let t = t.strip_suffix(b"\r").unwrap_or(t);
        if t == b"|" {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.extend_from_slice(line);
        }
    }
    items.push(cur);
    items
        .into_iter()
        .filter(|i| !i.iter().all(|b| b.is_ascii_whitespace()))
        .collect()
}

/// Wraps an SDP body in an INVITE sent by the host its first `c=IN IP4` names, so that
/// the outbound rewrite treats the SDP as the sender's own.
pub fn wrap_sdp(sdp: &[u8]) -> Vec<u8> {
    let sender = first_connection_address(sdp).unwrap_or(Ipv4Addr::new(192, 168, 1, 20));
    let mut m = format!(
        "INVITE sip:bob@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP {sender}:5060;branch=z9hG4bKcorpus\r\nContact: <sip:alice@{sender}:5060>\r\nCall-ID: corpus\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
        sdp.len()
    )
    .into_bytes();
    m.extend_from_slice(sdp);
    m
}

pub fn load_corpus() -> Vec<Item> {
    let root = corpus_dir();
    let mut items = Vec::new();
    let mut add = |name: String, bytes: Vec<u8>| items.push(Item { name, bytes });
    let mut paths = Vec::new();
    let ext = |e: &'static str| move |p: &Path| p.extension().is_some_and(|x| x == e);
    files(&root.join("rfc4475"), &ext("dat"), &mut paths);
    files(
        &root.join("pcaps/extracted-sip-messages"),
        &ext("sip"),
        &mut paths,
    );
    files(&root.join("streams"), &|_| true, &mut paths);
    files(
        &root.join("pjproject-sendto"),
        &|p| p.to_string_lossy().ends_with(".sipmsg.txt"),
        &mut paths,
    );
    files(
        &root.join("libosip2-test-res"),
        &|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sip"))
        },
        &mut paths,
    );
    for p in &paths {
        add(
            p.strip_prefix(&root).unwrap().display().to_string(),
            std::fs::read(p).unwrap(),
        );
    }
    for name in ["torture_msgs2", "torture_hgs"] {
        let data = std::fs::read(root.join("libosip2-test-res").join(name)).unwrap();
        for (i, m) in split_bars(&data).into_iter().enumerate() {
            add(format!("libosip2-test-res/{name}#{i}"), m);
        }
    }
    let mut sdps = Vec::new();
    files(&root.join("sdp"), &ext("sdp"), &mut sdps);
    files(&root.join("pjproject-sendto"), &ext("sdp"), &mut sdps);
    files(
        &root.join("libosip2-test-res"),
        &|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sdp"))
        },
        &mut sdps,
    );
    for p in &sdps {
        add(
            format!("{} (in INVITE)", p.strip_prefix(&root).unwrap().display()),
            wrap_sdp(&std::fs::read(p).unwrap()),
        );
    }
    let data = std::fs::read(root.join("libosip2-test-res/torture_sdps")).unwrap();
    for (i, s) in split_bars(&data).into_iter().enumerate() {
        add(
            format!("libosip2-test-res/torture_sdps#{i} (in INVITE)"),
            wrap_sdp(&s),
        );
    }
    items
}

pub fn first_connection_address(body: &[u8]) -> Option<Ipv4Addr> {
    let pos = body.windows(9).position(|w| w == b"c=IN IP4 ")?;
    let rest = &body[pos + 9..];
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .unwrap_or(rest.len());
    sipalg::wire::text::parse_ipv4(&rest[..end])
}
