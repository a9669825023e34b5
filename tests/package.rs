//! Packaging tests: the .ipk layout built by `openwrt/build-ipk.sh`, shellcheck
//! of the shell scripts, and agreement between `sipalgd schema`, the init
//! script's validate_data datatypes and the default config file.
//!
//! Needs GNU tar, gzip, sh and shellcheck (`apt-get install shellcheck`); no
//! root. The init script runs under BusyBox ash (`apt-get install busybox-static`) with
//! tests/package/init-harness.sh standing in for rc.common, procd.sh, jshn and
//! ubus, and tests/package/validate_data.sh for ubox's validate_data.
//! The x86-64 binary is the static musl build of openwrt/cross-build.sh, which
//! build-ipk.sh runs (Debian's rustc-web and musl-tools, installed with apt-get on
//! first use) into `target/cross`, so later runs reuse that build.

#[path = "common/files.rs"]
mod files;
#[path = "common/ubox.rs"]
mod ubox;
use files::files_under;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sipalgd() -> &'static str {
    env!("CARGO_BIN_EXE_sipalgd")
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "sipalg-package-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cargo_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

fn build_ipks(out_dir: &Path) -> String {
    let out = run(Command::new(root().join("openwrt/build-ipk.sh"))
        .arg("x86_64")
        .current_dir(root())
        .env("OUT_DIR", out_dir)
        .env("SOURCE_DATE_EPOCH", "0")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Built {
    _dir: TempDir,
    out_dir: PathBuf,
    stdout: String,
}

/// Builds the ipks once for all tests of this file.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = TempDir::new("dist");
        let out_dir = dir.0.clone();
        let stdout = build_ipks(&out_dir);
        Built {
            _dir: dir,
            out_dir,
            stdout,
        }
    })
}

fn sipalg_ipk() -> PathBuf {
    built()
        .out_dir
        .join(format!("sipalg_{}_x86_64.ipk", cargo_version()))
}

fn luci_ipk() -> PathBuf {
    built()
        .out_dir
        .join(format!("luci-app-sipalg_{}_all.ipk", cargo_version()))
}

/// One member of a tar listing.
#[derive(Debug, Clone)]
struct Member {
    mode: String,
    owner: String,
    size: u64,
    name: String,
}

/// `tar -tzv` of a gzip tar file.
fn list(tar_gz: &Path) -> Vec<Member> {
    let out = run(Command::new("tar")
        .arg("--numeric-owner")
        .arg("-tzvf")
        .arg(tar_gz));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(f.len() >= 6, "unexpected tar listing line: {l}");
            Member {
                mode: f[0].to_string(),
                owner: f[1].to_string(),
                size: f[2].parse().unwrap(),
                name: f[5..].join(" "),
            }
        })
        .collect()
}

/// Extracts an ipk into `dir`, then its data and control tars into
/// `dir/data` and `dir/control`.
fn unpack(ipk: &Path, dir: &Path) {
    run(Command::new("tar").arg("-xzf").arg(ipk).arg("-C").arg(dir));
    for part in ["data", "control"] {
        let d = dir.join(part);
        std::fs::create_dir_all(&d).unwrap();
        run(Command::new("tar")
            .arg("-xzf")
            .arg(dir.join(format!("{part}.tar.gz")))
            .arg("-C")
            .arg(&d));
    }
}

fn control_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn gunzipped_len(path: &Path) -> u64 {
    let out = run(Command::new("gzip").arg("-dc").arg(path));
    out.stdout.len() as u64
}

fn check_outer(ipk: &Path) {
    let bytes = std::fs::read(ipk).unwrap();
    assert_eq!(
        &bytes[..2],
        &[0x1f, 0x8b],
        "{} must be a gzip-compressed tar (opkg-lede), not an ar archive",
        ipk.display()
    );
    let names: Vec<String> = list(ipk).into_iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        vec!["./debian-binary", "./data.tar.gz", "./control.tar.gz"],
        "outer members of {}",
        ipk.display()
    );
}

fn check_common_control(dir: &Path, package: &str, arch: &str) -> BTreeMap<String, String> {
    assert_eq!(
        std::fs::read_to_string(dir.join("debian-binary")).unwrap(),
        "2.0\n",
        "debian-binary of {package}"
    );
    let control = std::fs::read_to_string(dir.join("control/control")).unwrap();
    let f = control_fields(&control);
    assert_eq!(
        f.get("Package").map(String::as_str),
        Some(package),
        "{control}"
    );
    assert_eq!(
        f.get("Version"),
        Some(&cargo_version()),
        "Version must be Cargo.toml's:\n{control}"
    );
    assert_eq!(
        f.get("Architecture").map(String::as_str),
        Some(arch),
        "{control}"
    );
    assert!(
        f.get("Description").is_some_and(|d| !d.is_empty()),
        "Description missing:\n{control}"
    );
    for k in ["Source", "License", "Section", "Maintainer"] {
        assert!(
            f.contains_key(k),
            "control of {package} lacks {k}:\n{control}"
        );
    }
    let installed = gunzipped_len(&dir.join("data.tar.gz"));
    assert_eq!(
        f.get("Installed-Size"),
        Some(&installed.to_string()),
        "Installed-Size must be the uncompressed data.tar size (zcat data.tar.gz | wc -c)"
    );
    let members = list(&dir.join("control.tar.gz"));
    for m in &members {
        assert_eq!(m.owner, "0/0", "control member {} of {package}", m.name);
    }
    let mode = |n: &str| {
        members
            .iter()
            .find(|m| m.name == n)
            .map(|m| m.mode.clone())
            .unwrap_or_else(|| panic!("{package} control.tar.gz lacks {n}: {members:?}"))
    };
    assert_eq!(mode("./control"), "-rw-r--r--");
    for (script, call) in [
        ("postinst", "default_postinst $0 $@"),
        ("prerm", "default_prerm $0 $@"),
    ] {
        assert_eq!(
            mode(&format!("./{script}")),
            "-rwxr-xr-x",
            "{package} {script} mode"
        );
        let text = std::fs::read_to_string(dir.join("control").join(script)).unwrap();
        assert!(
            text.starts_with("#!/bin/sh\n"),
            "{package} {script}:\n{text}"
        );
        assert!(
            text.contains(". ${IPKG_INSTROOT}/lib/functions.sh") && text.contains(call),
            "{package} {script} must source functions.sh and call {call}:\n{text}"
        );
    }
    for m in members.iter().filter(|m| {
        ["./postinst-pkg", "./prerm-pkg", "./postrm", "./preinst"].contains(&m.name.as_str())
    }) {
        assert_eq!(m.mode, "-rwxr-xr-x", "{package} {}", m.name);
    }
    f
}

/// Checks an x86-64 ELF executable without a program interpreter and
/// without DT_NEEDED libraries (static or static-pie).
fn check_static_x86_64_elf(bin: &[u8]) {
    let u16_at = |o: usize| u16::from_le_bytes([bin[o], bin[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(bin[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bin[o..o + 8].try_into().unwrap());
    assert_eq!(&bin[..4], b"\x7fELF", "sipalgd is not an ELF file");
    assert_eq!(bin[4], 2, "sipalgd must be ELF64");
    assert_eq!(bin[5], 1, "sipalgd must be little-endian");
    assert_eq!(u16_at(18), 0x3e, "sipalgd e_machine must be x86-64 (0x3E)");
    let e_type = u16_at(16);
    assert!(
        e_type == 2 || e_type == 3,
        "e_type {e_type} is not EXEC/DYN"
    );
    let phoff = u64_at(32) as usize;
    let phentsize = u16_at(54) as usize;
    let phnum = u16_at(56) as usize;
    assert!(phnum > 0 && phentsize >= 56);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let p_type = u32_at(ph);
        assert_ne!(
            p_type, 3,
            "sipalgd has a PT_INTERP program header: it is dynamically linked"
        );
        if p_type == 2 {
            // PT_DYNAMIC (static-pie keeps one for self-relocation): no DT_NEEDED.
            let off = u64_at(ph + 8) as usize;
            let size = u64_at(ph + 32) as usize;
            for d in (off..off + size).step_by(16) {
                let tag = u64_at(d);
                if tag == 0 {
                    break;
                }
                assert_ne!(
                    tag, 1,
                    "sipalgd has a DT_NEEDED entry: it needs shared libraries"
                );
            }
        }
    }
}

/// SPEC.md: a stripped release binary of at most 1.5 MB on every target.
const SIZE_BUDGET: usize = 1_572_864;

/// Whether an x86-64 ELF carries glibc's ABI tag (a PT_NOTE with owner "GNU" and
/// type NT_GNU_ABI_TAG = 1, from glibc's crt1.o; musl's start files have none).
fn has_glibc_abi_tag(bin: &[u8]) -> bool {
    let u16_at = |o: usize| u16::from_le_bytes([bin[o], bin[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(bin[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(bin[o..o + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    (0..phnum).any(|i| {
        let ph = phoff + i * phentsize;
        if u32_at(ph) != 4 {
            return false;
        }
        let (mut off, end) = (u64_at(ph + 8), u64_at(ph + 8) + u64_at(ph + 32));
        while off + 12 <= end {
            let (namesz, descsz, kind) = (u32_at(off), u32_at(off + 4), u32_at(off + 8));
            let name = &bin[off + 12..off + 12 + namesz];
            if name == b"GNU\0" && kind == 1 {
                return true;
            }
            off += 12 + namesz.div_ceil(4) * 4 + descsz.div_ceil(4) * 4;
        }
        false
    })
}

#[test]
fn glibc_abi_tag_is_recognised() {
    // A static glibc program (gcc's crt1.o) has the tag; sipalgd's musl build has not
    // (checked in sipalg_ipk_layout).
    let dir = TempDir::new("abi-tag");
    let c = dir.0.join("t.c");
    std::fs::write(&c, "int main(void) { return 0; }\n").unwrap();
    let exe = dir.0.join("t");
    run(Command::new("gcc")
        .arg("-static")
        .arg("-o")
        .arg(&exe)
        .arg(&c));
    assert!(has_glibc_abi_tag(&std::fs::read(&exe).unwrap()));
}

#[test]
fn sipalg_ipk_layout() {
    let ipk = sipalg_ipk();
    assert!(
        ipk.is_file(),
        "missing {}; build-ipk.sh said:\n{}",
        ipk.display(),
        built().stdout
    );
    assert!(
        built().stdout.contains(&ipk.display().to_string()),
        "build-ipk.sh must print the ipk path:\n{}",
        built().stdout
    );
    check_outer(&ipk);
    let dir = TempDir::new("sipalg-ipk");
    unpack(&ipk, &dir.0);
    let f = check_common_control(&dir.0, "sipalg", "x86_64");
    let depends = &f["Depends"];
    // Exactly openwrt/Makefile's DEPENDS (without the architecture condition).
    let ipk_depends: BTreeSet<&str> = depends.split(", ").collect();
    let makefile = makefile_depends();
    assert_eq!(
        ipk_depends,
        makefile
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<&str>>(),
        "build-ipk.sh's Depends vs openwrt/Makefile's DEPENDS"
    );
    for d in ["ip", "kmod-nft-fib", "procd-ujail"] {
        assert!(ipk_depends.contains(d), "Depends lacks {d}: {depends}");
    }
    assert!(
        !ipk_depends.contains("ip-tiny"),
        "depend on ip (ip-tiny and ip-full both provide it): {depends}"
    );
    // The daemon's user: openwrt/Makefile's USERID, in the control file as
    // include/package-pack.mk writes it; default_postinst creates it from there.
    assert_eq!(
        f.get("Require-User"),
        Some(&makefile_var("openwrt/Makefile", "USERID")),
        "control file Require-User"
    );
    assert_eq!(f.get("License"), Some(&cargo_license()));
    assert_eq!(f.get("LicenseFiles").map(String::as_str), Some("LICENSE"));

    assert_eq!(
        std::fs::read_to_string(dir.0.join("control/conffiles")).unwrap(),
        "/etc/config/sipalg\n"
    );

    let members = list(&dir.0.join("data.tar.gz"));
    let by_name: BTreeMap<&str, &Member> = members.iter().map(|m| (m.name.as_str(), m)).collect();
    for m in &members {
        assert_eq!(
            m.owner, "0/0",
            "data member {} must be owned by root",
            m.name
        );
        assert!(
            m.name.starts_with("./"),
            "data member {} must start with ./",
            m.name
        );
    }
    for (path, mode) in [
        ("./usr/sbin/sipalgd", "-rwxr-xr-x"),
        ("./etc/init.d/sipalg", "-rwxr-xr-x"),
        ("./etc/config/sipalg", "-rw-r--r--"),
        ("./etc/capabilities/sipalg.json", "-rw-r--r--"),
    ] {
        let m = by_name
            .get(path)
            .unwrap_or_else(|| panic!("data.tar.gz lacks {path}: {members:?}"));
        assert_eq!(m.mode, mode, "mode of {path}");
    }
    let bin = std::fs::read(dir.0.join("data/usr/sbin/sipalgd")).unwrap();
    assert_eq!(bin.len() as u64, by_name["./usr/sbin/sipalgd"].size);
    check_static_x86_64_elf(&bin);
    assert!(
        !has_glibc_abi_tag(&bin),
        "sipalgd is a glibc build (NT_GNU_ABI_TAG note); OpenWrt's libc is musl"
    );
    assert!(
        bin.len() <= SIZE_BUDGET,
        "sipalgd is {} bytes, over the {SIZE_BUDGET}-byte budget",
        bin.len()
    );
    assert_eq!(
        std::fs::read(dir.0.join("data/etc/config/sipalg")).unwrap(),
        std::fs::read(root().join("files/sipalg.config")).unwrap(),
        "/etc/config/sipalg must be files/sipalg.config"
    );
    assert_eq!(
        std::fs::read(dir.0.join("data/etc/init.d/sipalg")).unwrap(),
        std::fs::read(root().join("files/sipalg.init")).unwrap(),
        "/etc/init.d/sipalg must be files/sipalg.init"
    );
    assert_eq!(
        std::fs::read(dir.0.join("data/etc/capabilities/sipalg.json")).unwrap(),
        std::fs::read(root().join("files/capabilities.json")).unwrap(),
        "/etc/capabilities/sipalg.json must be files/capabilities.json"
    );
    // fw4 include files, if the repository has any.
    let nft = root().join("files/nftables.d");
    for rel in files_under(&nft) {
        let path = format!("./usr/share/nftables.d/{rel}");
        let m = by_name
            .get(path.as_str())
            .unwrap_or_else(|| panic!("data.tar.gz lacks {path}"));
        assert_eq!(m.mode, "-rw-r--r--", "mode of {path}");
    }
    // Nothing else.
    for m in &members {
        let n = m.name.as_str();
        assert!(
            m.mode.starts_with('d')
                || [
                    "./usr/sbin/sipalgd",
                    "./etc/init.d/sipalg",
                    "./etc/config/sipalg",
                    "./etc/capabilities/sipalg.json"
                ]
                .contains(&n)
                || n.starts_with("./usr/share/nftables.d/"),
            "unexpected file in data.tar.gz: {n}"
        );
    }

    // The packaged binary runs and validates the packaged config.
    let out = Command::new(dir.0.join("data/usr/sbin/sipalgd"))
        .args(["check", "--config-dir"])
        .arg(dir.0.join("data/etc/config"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "packaged sipalgd check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn luci_ipk_layout() {
    let luci = root().join("luci-app");
    let htdocs = files_under(&luci.join("htdocs"));
    let rootfs = files_under(&luci.join("root"));
    let ipk = luci_ipk();
    if htdocs.is_empty() && rootfs.is_empty() {
        assert!(
            !ipk.exists(),
            "no luci-app files, but {} was built",
            ipk.display()
        );
        return;
    }
    assert!(
        ipk.is_file(),
        "missing {}; build-ipk.sh said:\n{}",
        ipk.display(),
        built().stdout
    );
    check_outer(&ipk);
    let dir = TempDir::new("luci-ipk");
    unpack(&ipk, &dir.0);
    let f = check_common_control(&dir.0, "luci-app-sipalg", "all");
    let depends: BTreeSet<&str> = f["Depends"].split(", ").collect();
    assert!(
        depends.contains("luci-base") && depends.contains("sipalg"),
        "luci-app-sipalg Depends: {:?}",
        f["Depends"]
    );
    let members = list(&dir.0.join("data.tar.gz"));
    let names: BTreeSet<&str> = members.iter().map(|m| m.name.as_str()).collect();
    let expected: BTreeSet<String> = htdocs
        .iter()
        .map(|r| format!("./www/{r}"))
        .chain(rootfs.iter().map(|r| format!("./{r}")))
        .collect();
    let files: BTreeSet<String> = members
        .iter()
        .filter(|m| !m.mode.starts_with('d'))
        .map(|m| m.name.clone())
        .collect();
    assert_eq!(files, expected, "luci-app-sipalg data files");
    if luci
        .join("htdocs/luci-static/resources/view/sipalg")
        .is_dir()
    {
        assert!(
            names.iter().any(
                |n| n.starts_with("./www/luci-static/resources/view/sipalg/") && n.ends_with(".js")
            ),
            "no view under ./www/luci-static/resources/view/sipalg/: {names:?}"
        );
    }
    if luci.join("root/usr/share/luci/menu.d").is_dir() {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("./usr/share/luci/menu.d/") && n.ends_with(".json")),
            "no menu under ./usr/share/luci/menu.d/: {names:?}"
        );
    }
    for m in &members {
        assert_eq!(m.owner, "0/0", "{}", m.name);
    }
}

#[test]
fn ipks_are_reproducible() {
    let again = TempDir::new("dist-again");
    build_ipks(&again.0);
    for ipk in [sipalg_ipk(), luci_ipk()] {
        if !ipk.exists() {
            continue;
        }
        let other = again.0.join(ipk.file_name().unwrap());
        assert_eq!(
            std::fs::read(&ipk).unwrap(),
            std::fs::read(&other).unwrap(),
            "{} differs between two builds with the same SOURCE_DATE_EPOCH",
            ipk.display()
        );
    }
}

#[test]
fn unknown_arch_without_binary_is_a_clear_error() {
    let dir = TempDir::new("dist-mips");
    let out = Command::new(root().join("openwrt/build-ipk.sh"))
        .arg("mips_24kc")
        .env("OUT_DIR", &dir.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mips-unknown-linux-musl/sipalgd is missing")
            && err.contains("openwrt/cross-build.sh"),
        "{err}"
    );
    let out = Command::new(root().join("openwrt/build-ipk.sh"))
        .arg("sparc")
        .env("OUT_DIR", &dir.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown architecture 'sparc'"));
}

fn shellcheck(args: &[&str], file: &Path) {
    let out = match Command::new("shellcheck").args(args).arg(file).output() {
        Ok(o) => o,
        Err(e) => panic!("shellcheck is not installed ({e}): apt-get install shellcheck"),
    };
    assert!(
        out.status.success(),
        "shellcheck {args:?} {} found problems:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn packaging_scripts_pass_shellcheck() {
    // The init script is sourced by /etc/rc.common (busybox ash). Excluded,
    // as false positives there:
    //   SC2034 START/STOP/USE_PROCD "appear unused": rc.common reads them;
    //   SC3043 "local is undefined in POSIX sh": busybox ash supports it
    //          (and rc.common, procd.sh and every OpenWrt init script use it).
    shellcheck(
        &["-s", "sh", "-e", "SC2034,SC3043"],
        &root().join("files/sipalg.init"),
    );
    shellcheck(&[], &root().join("openwrt/build-ipk.sh"));
}

#[test]
fn all_shell_scripts_pass_shellcheck() {
    let mut scripts = Vec::new();
    for d in ["openwrt", "tests"] {
        for rel in files_under(&root().join(d)) {
            if rel.ends_with(".sh") {
                scripts.push(root().join(d).join(rel));
            }
        }
    }
    assert!(
        scripts.iter().any(|s| s.ends_with("openwrt/build-ipk.sh")),
        "{scripts:?}"
    );
    let mut failures = Vec::new();
    for s in &scripts {
        if let Err(e) = std::panic::catch_unwind(|| shellcheck(&[], s)) {
            failures.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| s.display().to_string()),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A minimal JSON reader for `sipalgd schema`: an array of flat objects whose
/// values are strings or booleans.
fn parse_schema_json(s: &str) -> Vec<BTreeMap<String, String>> {
    struct P<'a> {
        b: &'a [u8],
        i: usize,
    }
    impl P<'_> {
        fn ws(&mut self) {
            while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) {
            self.ws();
            assert_eq!(
                self.b.get(self.i).copied(),
                Some(c),
                "schema JSON: expected '{}' at byte {}",
                c as char,
                self.i
            );
            self.i += 1;
        }
        fn peek(&mut self) -> u8 {
            self.ws();
            self.b[self.i]
        }
        fn string(&mut self) -> String {
            self.eat(b'"');
            let mut out = Vec::new();
            loop {
                let c = self.b[self.i];
                self.i += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let e = self.b[self.i];
                        self.i += 1;
                        out.push(match e {
                            b'n' => b'\n',
                            b't' => b'\t',
                            b'r' => b'\r',
                            other => other,
                        });
                    }
                    c => out.push(c),
                }
            }
            String::from_utf8(out).unwrap()
        }
        fn value(&mut self) -> String {
            match self.peek() {
                b'"' => self.string(),
                b't' => {
                    self.i += 4;
                    "true".into()
                }
                b'f' => {
                    self.i += 5;
                    "false".into()
                }
                // null, a number or an array of strings: kept as JSON text
                b'n' | b'0'..=b'9' | b'[' => {
                    let start = self.i;
                    let end = if self.b[start] == b'[' { b']' } else { b',' };
                    while self.i < self.b.len()
                        && self.b[self.i] != end
                        && (end == b']' || self.b[self.i] != b'}')
                    {
                        self.i += 1;
                    }
                    if end == b']' {
                        self.i += 1;
                    }
                    String::from_utf8(self.b[start..self.i].to_vec())
                        .unwrap()
                        .trim()
                        .to_string()
                }
                c => panic!("schema JSON: unexpected '{}' at byte {}", c as char, self.i),
            }
        }
    }
    let mut p = P {
        b: s.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    p.eat(b'[');
    if p.peek() == b']' {
        return out;
    }
    loop {
        p.eat(b'{');
        let mut obj = BTreeMap::new();
        loop {
            let k = p.string();
            p.eat(b':');
            let v = p.value();
            obj.insert(k, v);
            if p.peek() == b',' {
                p.i += 1;
            } else {
                break;
            }
        }
        p.eat(b'}');
        out.push(obj);
        if p.peek() == b',' {
            p.i += 1;
        } else {
            break;
        }
    }
    p.eat(b']');
    out
}

/// (section type, option) -> (list, datatype, default).
type SchemaMap = BTreeMap<(String, String), (bool, String, String)>;

/// From `sipalgd schema`: the options, and section type -> section name.
fn schema() -> (SchemaMap, BTreeMap<String, String>) {
    let out = run(Command::new(sipalgd()).arg("schema"));
    let objs = parse_schema_json(&String::from_utf8(out.stdout).unwrap());
    assert!(!objs.is_empty(), "sipalgd schema printed no options");
    let mut map = BTreeMap::new();
    let mut names = BTreeMap::new();
    for o in objs {
        for k in [
            "section",
            "section_type",
            "option",
            "list",
            "datatype",
            "default",
        ] {
            assert!(o.contains_key(k), "schema entry without {k}: {o:?}");
        }
        names.insert(o["section_type"].clone(), o["section"].clone());
        let prev = map.insert(
            (o["section_type"].clone(), o["option"].clone()),
            (
                o["list"] == "true",
                o["datatype"].clone(),
                o["default"].clone(),
            ),
        );
        assert!(prev.is_none(), "duplicate schema entry {o:?}");
    }
    (map, names)
}

/// (section type, option) -> (datatype, default) from the init script's
/// `uci_load_validate sipalg <type> ... 'name:datatype[:default]'` calls.
fn init_validation() -> BTreeMap<(String, String), (String, String)> {
    let text = std::fs::read_to_string(root().join("files/sipalg.init")).unwrap();
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut types = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix("uci_load_validate sipalg ") {
            let t = rest.split_whitespace().next().unwrap().to_string();
            types.push(t.clone());
            current = Some(t);
        }
        let Some(t) = current.clone() else {
            continue;
        };
        // Every '...' or "..." word on the line (no escapes inside: the init
        // script has none).
        let mut words = Vec::new();
        let mut rest = line;
        while let Some(i) = rest.find(['\'', '"']) {
            let q = rest.as_bytes()[i] as char;
            let tail = &rest[i + 1..];
            let end = tail
                .find(q)
                .unwrap_or_else(|| panic!("unterminated {q} in init line: {line}"));
            words.push(&tail[..end]);
            rest = &tail[end + 1..];
        }
        for word in words {
            if word == "$1" || word == "$2" {
                continue;
            }
            let mut f = word.splitn(3, ':');
            let name = f.next().unwrap().to_string();
            let datatype = f
                .next()
                .unwrap_or_else(|| panic!("init entry '{word}' has no datatype"))
                .to_string();
            let default = f.next().unwrap_or("").to_string();
            assert!(
                !default.contains(':'),
                "init entry '{word}': more than one ':' after the datatype"
            );
            let prev = out.insert((t.clone(), name), (datatype, default));
            assert!(prev.is_none(), "duplicate init entry '{word}'");
        }
        if !line.trim_end().ends_with('\\') {
            current = None;
        }
    }
    let unique: BTreeSet<&String> = types.iter().collect();
    assert_eq!(
        unique.len(),
        types.len(),
        "a section is validated twice: {types:?}"
    );
    out
}

#[test]
fn init_script_validation_matches_schema() {
    let (schema, _) = schema();
    let init = init_validation();
    for ((t, o), (_, datatype, default)) in &schema {
        match init.get(&(t.clone(), o.clone())) {
            None => panic!(
                "files/sipalg.init does not validate {t}.{o} (schema: '{o}:{datatype}:{default}')"
            ),
            Some((d, def)) => {
                assert_eq!(
                    d, datatype,
                    "datatype of {t}.{o}: init script vs sipalgd schema"
                );
                assert_eq!(
                    def, default,
                    "default of {t}.{o}: init script vs sipalgd schema"
                );
            }
        }
    }
    for (t, o) in init.keys() {
        assert!(
            schema.contains_key(&(t.clone(), o.clone())),
            "files/sipalg.init validates {t}.{o}, which sipalgd schema does not know"
        );
    }
}

#[test]
fn default_config_sets_exactly_the_schema_defaults() {
    let (schema, names) = schema();
    let text = std::fs::read_to_string(root().join("files/sipalg.config")).unwrap();
    let file = sipalg::config::uci::parse(&text).expect("files/sipalg.config must parse");
    let mut seen = BTreeMap::new();
    for s in &file.sections {
        let want = names
            .get(&s.stype)
            .unwrap_or_else(|| panic!("files/sipalg.config has unknown section type {}", s.stype));
        assert_eq!(
            s.name.as_ref(),
            Some(want),
            "section name of type {}",
            s.stype
        );
        for e in &s.entries {
            let prev = seen.insert((s.stype.clone(), e.key.clone()), (e.list, e.value.clone()));
            assert!(
                prev.is_none(),
                "files/sipalg.config sets {}.{} twice",
                s.stype,
                e.key
            );
        }
    }
    // A list without a default is left out: `list x ''` would be an empty
    // entry (LuCI's DynamicList shows it, and saving keeps it beside new ones).
    let expected: BTreeMap<(String, String), (bool, String)> = schema
        .iter()
        .filter(|(_, (list, _, default))| !(*list && default.is_empty()))
        .map(|(k, (list, _, default))| (k.clone(), (*list, default.clone())))
        .collect();
    assert_eq!(
        seen, expected,
        "files/sipalg.config must set every schema option (option/list as in the schema) to its default, except lists without one"
    );
}

#[test]
fn check_accepts_the_default_config() {
    let dir = TempDir::new("check-ok");
    std::fs::copy(root().join("files/sipalg.config"), dir.0.join("sipalg")).unwrap();
    let out = Command::new(sipalgd())
        .args(["check", "--config-dir"])
        .arg(&dir.0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("config OK: enabled, alg off"),
        "{stdout}"
    );
    assert!(stdout.contains("ports 5060"), "{stdout}");
}

#[test]
fn check_rejects_a_broken_config() {
    let dir = TempDir::new("check-bad");
    let path = dir.0.join("sipalg");
    std::fs::write(
        &path,
        "config sipalg 'main'\n\toption alg 'maybe'\n\nconfig timeouts 'timeouts'\n\toption media '30'\n",
    )
    .unwrap();
    let out = Command::new(sipalgd())
        .args(["check", "--config-dir"])
        .arg(&dir.0)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let p = path.display();
    assert!(
        stderr.contains(&format!(
            "{p}:2: section 'main' option 'alg': 'maybe' is not a boolean"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{p}:5: section 'timeouts' option 'media': 30 is below the minimum 60"
        )),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout on error");

    // A missing file.
    let empty = TempDir::new("check-missing");
    let out = Command::new(sipalgd())
        .args(["check", "--config-dir"])
        .arg(&empty.0)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}

/// What one run of the init script under tests/package/init-harness.sh did.
struct InitRun {
    /// One line per effect: `ubus call service <method> <json>`,
    /// `logger <args>: <line>`, `sipalgd <args>`; the simulated root removed
    /// from paths, so they read as on the router (`/etc/config/sipalg`).
    log: String,
    stdout: String,
    stderr: String,
}

impl InitRun {
    /// The JSON of every `ubus call service <method>`.
    fn ubus(&self, method: &str) -> Vec<&str> {
        let prefix = format!("ubus call service {method} ");
        self.log
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .collect()
    }
}

/// Runs `/etc/init.d/sipalg ACTION` (files/sipalg.init) under BusyBox ash with
/// tests/package/init-harness.sh standing in for rc.common, procd.sh, jshn
/// and ubus, and tests/package/validate_data.sh for ubox's validate_data.
/// The daemon is a wrapper that logs its arguments and runs the real
/// `sipalgd check` (other commands are only logged).
fn init_action(config: Option<&str>, action: &str, env: &[(&str, &str)]) -> InitRun {
    let dir = TempDir::new("init");
    let r = &dir.0;
    for d in ["etc/config", "etc/init.d", "usr/sbin"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    if let Some(text) = config {
        std::fs::write(r.join("etc/config/sipalg"), text).unwrap();
    }
    std::fs::copy(
        root().join("files/sipalg.init"),
        r.join("etc/init.d/sipalg"),
    )
    .unwrap();
    let log = r.join("log");
    std::fs::write(&log, "").unwrap();
    let wrapper = r.join("usr/sbin/sipalgd");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"sipalgd $*\" >>'{}'\n[ \"$1\" = check ] && exec '{}' \"$@\"\nexit 0\n",
            log.display(),
            sipalgd()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new("busybox");
    cmd.arg("ash")
        .arg(root().join("tests/package/init-harness.sh"))
        .arg(r.join("etc/init.d/sipalg"))
        .arg(action)
        .env("SIM_ROOT", r)
        .env("SIM_LOG", &log)
        .env_remove("SIM_RUNNING")
        .env_remove("SIM_INVALID")
        .env_remove("SIM_VALIDATE_DATA");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run busybox ash (apt-get install busybox-static): {e}"));
    let strip = |s: &str| s.replace(&r.display().to_string(), "");
    InitRun {
        log: strip(&std::fs::read_to_string(&log).unwrap()),
        stdout: strip(&String::from_utf8_lossy(&out.stdout)),
        stderr: strip(&String::from_utf8_lossy(&out.stderr)),
    }
}

fn default_config() -> String {
    std::fs::read_to_string(root().join("files/sipalg.config")).unwrap()
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            '\t' => out += "\\t",
            c => out.push(c),
        }
    }
    out + "\""
}

/// The "validate" array procd must receive: every schema option with its
/// datatype, per section type, in schema order.
fn expected_validate_json() -> String {
    let out = run(Command::new(sipalgd()).arg("schema"));
    let objs = parse_schema_json(&String::from_utf8(out.stdout).unwrap());
    let mut types: Vec<String> = Vec::new();
    for o in &objs {
        if !types.contains(&o["section_type"]) {
            types.push(o["section_type"].clone());
        }
    }
    let sections: Vec<String> = types
        .iter()
        .map(|t| {
            let data: Vec<String> = objs
                .iter()
                .filter(|o| &o["section_type"] == t)
                .map(|o| {
                    format!(
                        "{}:{}",
                        json_string(&o["option"]),
                        json_string(&o["datatype"])
                    )
                })
                .collect();
            format!(
                "{{\"package\":\"sipalg\",\"type\":{},\"data\":{{{}}}}}",
                json_string(t),
                data.join(",")
            )
        })
        .collect();
    format!("[{}]", sections.join(","))
}

/// The service definition `start` must hand to procd, with `instances` as given.
fn expected_service(instances: &str) -> String {
    format!(
        "{{\"name\":\"sipalg\",\"script\":\"/etc/init.d/sipalg\",\"instances\":{instances},\
         \"triggers\":[[\"config.change\",[\"if\",[\"eq\",\"package\",\"sipalg\"],\
         [\"run_script\",\"/etc/init.d/sipalg\",\"reload\"]],1000]],\
         \"validate\":{},\"data\":{{}}}}",
        expected_validate_json()
    )
}

const RUNNING_INSTANCE: &str = "{\"instance1\":{\
    \"command\":[\"/usr/sbin/sipalgd\",\"--config-dir\",\"/etc/config\"],\
    \"file\":[\"/etc/config/sipalg\"],\"reload_signal\":1,\"term_timeout\":5,\
    \"respawn\":[\"3600\",\"5\",\"5\"],\"stdout\":true,\"stderr\":true,\
    \"env\":{\"PATH\":\"/usr/sbin:/usr/bin:/sbin:/bin\"},\
    \"jail\":{\"name\":\"sipalg\",\"requirejail\":true,\"mount\":{}},\
    \"user\":\"sipalg\",\"group\":\"sipalg\",\
    \"capabilities\":\"/etc/capabilities/sipalg.json\",\"no_new_privs\":true}}";

/// What start and reload do to the files before procd (re)starts or signals the
/// daemon: its state directory, and its config readable by its group.
const PREPARE_FILES: &str = "mkdir -p /var/run/sipalg\n\
    chown -R sipalg:sipalg /var/run/sipalg\n\
    chmod 0700 /var/run/sipalg\n\
    chgrp sipalg /etc/config/sipalg\n\
    chmod 0640 /etc/config/sipalg\n";

/// `start` reaches `ubus call service set` with the daemon's instance (command,
/// respawn, reload on SIGHUP, restart when /etc/config/sipalg changes), the
/// config.change trigger, and every option's datatype as `sipalgd schema` has
/// it, after validate_data's output went through procd.sh's `eval` in BusyBox
/// ash (a `"` in a datatype made ash stop with a syntax error there).
#[test]
fn init_start_hands_procd_the_service() {
    let run = init_action(Some(&default_config()), "start", &[]);
    assert!(
        run.stdout.ends_with("rc=0\n"),
        "start did not finish:\nstdout: {}\nstderr: {}\nlog:\n{}",
        run.stdout,
        run.stderr,
        run.log
    );
    assert_eq!(
        run.ubus("set"),
        vec![expected_service(RUNNING_INSTANCE).as_str()],
        "what procd receives from start\nlog:\n{}\nstderr:\n{}",
        run.log,
        run.stderr
    );
    assert!(
        run.log.contains("sipalgd check --config-dir /etc/config\n"),
        "{}",
        run.log
    );
    let prepared = run.log.find(PREPARE_FILES).expect("the files prepared");
    assert!(
        prepared < run.log.find("ubus call service set").unwrap(),
        "files prepared before procd starts the daemon:\n{}",
        run.log
    );
    assert!(
        !run.log.contains("validate_data rejects"),
        "validate_data must accept the default config:\n{}",
        run.log
    );
}

/// procd.sh prints each datatype between double quotes and `eval`s it (see
/// tests/package/validate_data.sh): `"`, `\`, `$` and backquotes cannot
/// survive that, so no datatype may contain them (string literals in ubox's
/// datatype grammar can use single quotes).
#[test]
fn schema_datatypes_survive_procd_eval() {
    let (schema, _) = schema();
    for ((t, o), (_, datatype, default)) in &schema {
        for c in ['"', '\\', '$', '`'] {
            assert!(
                !datatype.contains(c),
                "{t}.{o}: datatype {datatype} contains {c:?}"
            );
        }
        assert!(
            !datatype.contains(':') && !default.contains(':'),
            "{t}.{o}: validate_data splits 'option:datatype:default' on ':'"
        );
    }
    // ubox validate/cli.c parse_tuple() steps past the end of a tuple that
    // ends in ':' and cuts the next argument at its first ':'.
    let text = std::fs::read_to_string(root().join("files/sipalg.init")).unwrap();
    for line in text.lines() {
        let l = line.trim().trim_end_matches('\\').trim_end();
        assert!(
            !(l.ends_with(":'") || l.ends_with(":\"")),
            "files/sipalg.init: a validation entry ends in ':' (write an empty default without it): {line}"
        );
    }
}

#[test]
fn init_start_adds_no_instance_when_disabled() {
    let config = default_config().replace("option enabled '1'          #", "option enabled '0' #");
    assert!(config.contains("option enabled '0'"), "{config}");
    let run = init_action(Some(&config), "start", &[]);
    assert_eq!(
        run.ubus("set"),
        vec![expected_service("{}").as_str()],
        "{}",
        run.log
    );
    assert!(!run.log.contains("sipalgd check"), "{}", run.log);
}

#[test]
fn init_start_refuses_a_bad_config_and_logs_why() {
    let run = init_action(
        Some("config timeouts 'timeouts'\n\toption media '30'\n"),
        "start",
        &[],
    );
    assert_eq!(
        run.ubus("set"),
        vec![expected_service("{}").as_str()],
        "{}",
        run.log
    );
    assert!(
        run.log.contains(
            "logger -t sipalg -p daemon.err: /etc/config/sipalg:2: section 'timeouts' option 'media': 30 is below the minimum 60\n"
        ),
        "{}",
        run.log
    );
    assert!(
        run.stderr.contains("invalid configuration, not starting"),
        "{}",
        run.stderr
    );
    // A missing config file.
    let run = init_action(None, "start", &[]);
    assert_eq!(
        run.ubus("set"),
        vec![expected_service("{}").as_str()],
        "{}",
        run.log
    );
    assert!(run.log.contains("does not exist"), "{}", run.log);
}

/// validate_data rejecting what `sipalgd check` accepts only warns: the daemon
/// is the authority.
#[test]
fn init_start_trusts_sipalgd_check_over_validate_data() {
    let run = init_action(
        Some(&default_config()),
        "start",
        &[("SIM_INVALID", "media")],
    );
    assert_eq!(
        run.ubus("set"),
        vec![expected_service(RUNNING_INSTANCE).as_str()],
        "{}",
        run.log
    );
    assert!(
        run.log
            .contains("logger -t sipalg -p daemon.warn: validate_data rejects"),
        "{}",
        run.log
    );
}

#[test]
fn init_reload_signals_or_restarts() {
    // Running and enabled: SIGHUP through procd (no signal given: procd's
    // default is SIGHUP), no new service definition.
    let run = init_action(Some(&default_config()), "reload", &[("SIM_RUNNING", "1")]);
    assert_eq!(
        run.ubus("list"),
        vec!["{\"name\":\"sipalg\"}"],
        "{}",
        run.log
    );
    assert_eq!(
        run.ubus("signal"),
        vec!["{\"name\":\"sipalg\"}"],
        "{}",
        run.log
    );
    assert!(run.ubus("set").is_empty(), "{}", run.log);
    // `uci commit` left a root-owned file: its group is given back before the signal.
    assert!(
        run.log
            .find(PREPARE_FILES)
            .is_some_and(|i| i < run.log.find("ubus call service signal").unwrap()),
        "{}",
        run.log
    );
    // Disabled: an empty instance set (procd stops the daemon).
    let config =
        default_config().replace("option enabled '1'          #", "option enabled 'off' #");
    let run = init_action(Some(&config), "reload", &[("SIM_RUNNING", "1")]);
    assert!(run.ubus("signal").is_empty(), "{}", run.log);
    assert_eq!(
        run.ubus("set"),
        vec![expected_service("{}").as_str()],
        "{}",
        run.log
    );
    // Not running yet: start it.
    let run = init_action(Some(&default_config()), "reload", &[]);
    assert!(run.ubus("signal").is_empty(), "{}", run.log);
    assert_eq!(
        run.ubus("set"),
        vec![expected_service(RUNNING_INSTANCE).as_str()],
        "{}",
        run.log
    );
}

#[test]
fn init_stop_deletes_the_service_and_cleans_up() {
    let run = init_action(Some(&default_config()), "stop", &[("SIM_RUNNING", "1")]);
    assert_eq!(
        run.ubus("delete"),
        vec!["{\"name\":\"sipalg\"}"],
        "{}",
        run.log
    );
    // After procd's SIGTERM: cleanup waits for the daemon's exit, up to
    // term_timeout (then ujail's SIGKILL) and a margin.
    assert!(
        run.log.ends_with("sipalgd cleanup --wait 10\n"),
        "{}",
        run.log
    );
    assert!(run.stdout.ends_with("rc=0\n"), "{}", run.stdout);
}

#[test]
fn init_has_a_cleanup_command() {
    let run = init_action(Some(&default_config()), "cleanup", &[]);
    assert_eq!(run.log, "sipalgd cleanup\n");
    assert!(run.stdout.ends_with("rc=0\n"), "{}", run.stdout);
}

/// The values the LuCI settings page is held to (luci-app/tests/consistency.js, over
/// the same file): probes + more, without empty values, quotes or surrounding blanks.
fn shared_values() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("luci-app/tests/fixtures/datatype-values.json"))
        .unwrap();
    let mut out = Vec::new();
    for key in ["\"probes\"", "\"more\""] {
        let start = text.find(key).unwrap_or_else(|| panic!("no {key}")) + key.len();
        let body = &text[start..];
        let body = &body[body.find('[').unwrap() + 1..body.find(']').unwrap()];
        // JSON strings without escapes other than \t
        let mut rest = body;
        while let Some(q) = rest.find('"') {
            let after = &rest[q + 1..];
            let end = after.find('"').unwrap();
            out.push(after[..end].replace("\\t", "\t"));
            rest = &after[end + 1..];
        }
    }
    out.retain(|v| !v.is_empty() && !v.contains('\'') && v.trim() == v);
    assert!(out.len() >= 93, "{} values", out.len());
    out
}

/// Whether `sipalgd check` accepts `value` for the schema option, written as the
/// option (or list item) of its section, in `dir`.
fn check_accepts(
    dir: &Path,
    stype: &str,
    name: &str,
    list: bool,
    option: &str,
    value: &str,
) -> bool {
    let kw = if list { "list" } else { "option" };
    std::fs::write(
        dir.join("sipalg"),
        format!("config {stype} '{name}'\n\t{kw} {option} '{value}'\n"),
    )
    .unwrap();
    Command::new(sipalgd())
        .args(["check", "--config-dir"])
        .arg(dir)
        .output()
        .unwrap()
        .status
        .success()
}

/// The init script validates with the schema's datatypes (init_script_validation_matches_schema);
/// validate_data must accept exactly what `sipalgd check` accepts, for every option,
/// over the LuCI page's value table and the edge cases of ubox's number parsing
/// (strtoul/strtol base 0: hex and octal; port's strtoul wrapping "-1"; cidr4's prefix),
/// validate_data as ubox validate/validate.c evaluates them (tests/common/ubox.rs).
#[test]
fn validate_data_datatypes_accept_what_sipalgd_check_accepts() {
    ubox::self_check();
    let (schema, names) = schema();
    let mut values = shared_values();
    values.extend(
        [
            "0x100",
            "0X100",
            "0200",
            "0150",
            "0777",
            "09",
            "0x",
            "-1",
            "+120",
            "120.0",
            "1e3",
            "00120",
            "604800",
            "0604800",
            "0604801",
            "65535",
            "065535",
            "65536",
            ".",
            "..",
            "a/b",
            "eth0.2",
            "averyveryverylongname",
            "255.255.255.255/032",
            "1.2.3.4/ 8",
            "10.0.0.0/+8",
            "0.0.0.0",
            "8.8.8.8",
            "100.64.0.1",
            "CS5 EF",
            "046",
        ]
        .map(String::from),
    );
    let dir = TempDir::new("validate-model");
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for ((stype, option), (list, datatype, _)) in &schema {
        for value in &values {
            let by_validate = ubox::accepts(datatype, value)
                .unwrap_or_else(|e| panic!("{stype}.{option} {datatype}: {e}"));
            let by_check = check_accepts(&dir.0, stype, &names[stype], *list, option, value);
            compared += 1;
            if by_validate != by_check {
                mismatches.push(format!(
                    "{stype}.{option} = {value:?}: validate_data {by_validate}, sipalgd check {by_check} ({datatype})"
                ));
            }
        }
    }
    assert!(compared > 1000, "{compared}");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The numeric options' datatypes accept exactly the decimal numbers from the
/// schema's min to its max, with any leading zeros, and nothing else made of digits:
/// every number below 2,000, around each maximum and at every hundred's edge up to
/// 700,000 (validate_data as ubox evaluates it, tests/common/ubox.rs).
#[test]
fn numeric_datatypes_are_exactly_their_decimal_range() {
    let out = run(Command::new(sipalgd()).arg("schema"));
    let objs = parse_schema_json(&String::from_utf8(out.stdout).unwrap());
    let mut checked = 0;
    for o in objs
        .iter()
        .filter(|o| o["min"] != "null" && o["max"] != "null")
    {
        let (min, max): (u64, u64) = (o["min"].parse().unwrap(), o["max"].parse().unwrap());
        let dt = o["datatype"].as_str();
        let edge = |n: u64| n % 100 == 0 || n % 100 == 99 || n % 997 == 0;
        for n in (0..=700_000u64).filter(|n| *n < 2000 || edge(*n) || n.abs_diff(max) < 50) {
            let want = (min..=max).contains(&n);
            for v in [n.to_string(), format!("0{n}"), format!("00{n}")] {
                assert_eq!(
                    ubox::accepts(dt, &v).unwrap(),
                    want,
                    "{}.{} = {v} ({dt})",
                    o["section_type"],
                    o["option"]
                );
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "signaling, media, port and the DSCPs: {checked}"
    );
}

/// With SIPALG_VALIDATE_DATA set to OpenWrt's `/sbin/validate_data` (or a build of
/// ubox's validate/cli.c, which takes `<datatype> <value>`), checks tests/common/ubox.rs
/// against it over the same values and every schema datatype (and a few more), and
/// the real one against `sipalgd check`. Skipped (passes) otherwise.
#[test]
fn validate_data_agrees_with_sipalgd_check() {
    let Some(validate) = std::env::var_os("SIPALG_VALIDATE_DATA") else {
        eprintln!("SIPALG_VALIDATE_DATA not set: the real validate_data was not compared");
        return;
    };
    let (schema, names) = schema();
    let dir = TempDir::new("validate-data");
    let mut mismatches = Vec::new();
    let mut datatypes: Vec<String> = schema.values().map(|(_, d, _)| d.clone()).collect();
    datatypes.extend(
        [
            "uinteger",
            "uinteger(10)",
            "range(120,604800)",
            "port",
            "cidr4",
            "and(port,min(1))",
        ]
        .map(String::from),
    );
    let mut values = shared_values();
    values.extend(["0x100", "0150", "08", "-1", "10.0.0.0/", "10.0.0.0/-8"].map(String::from));
    for datatype in &datatypes {
        for value in &values {
            let real = Command::new(&validate)
                .arg(datatype)
                .arg(value)
                .output()
                .unwrap()
                .status
                .success();
            let model = ubox::accepts(datatype, value).unwrap();
            if real != model {
                mismatches.push(format!(
                    "{datatype} {value:?}: validate_data {real}, tests/common/ubox.rs {model}"
                ));
            }
        }
    }
    for ((stype, option), (list, datatype, _)) in &schema {
        for value in &values {
            let real = Command::new(&validate)
                .arg(datatype)
                .arg(value)
                .output()
                .unwrap()
                .status
                .success();
            if real != check_accepts(&dir.0, stype, &names[stype], *list, option, value) {
                mismatches.push(format!(
                    "{stype}.{option} = {value:?}: validate_data {real} ({datatype}), sipalgd check the opposite"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// openwrt/Makefile's `VAR:=value` (the first definition, continuation lines joined).
fn makefile_var(file: &str, var: &str) -> String {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let mut lines = text.lines();
    let prefix = format!("{var}:=");
    while let Some(l) = lines.next() {
        if let Some(v) = l.trim().strip_prefix(&prefix) {
            let mut v = v.to_string();
            while v.ends_with('\\') {
                v.pop();
                v.push(' ');
                v.push_str(lines.next().unwrap_or("").trim());
            }
            return v.split_whitespace().collect::<Vec<_>>().join(" ");
        }
    }
    panic!("{file} has no {var}:=");
}

/// openwrt/Makefile's DEPENDS of Package/sipalg, without `+` and the architecture
/// condition.
fn makefile_depends() -> Vec<String> {
    makefile_var("openwrt/Makefile", "DEPENDS")
        .split_whitespace()
        .filter(|d| !d.starts_with("$("))
        .map(|d| d.trim_start_matches('+').to_string())
        .collect()
}

fn cargo_license() -> String {
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    toml.lines()
        .find_map(|l| l.strip_prefix("license = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("Cargo.toml has a license")
        .to_string()
}

/// A JSON object whose values are arrays of strings (files/capabilities.json).
fn parse_string_arrays(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let body = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .expect("a JSON object");
    let mut rest = body;
    while let Some(q) = rest.find('"') {
        let after = &rest[q + 1..];
        let key_end = after.find('"').unwrap();
        let key = after[..key_end].to_string();
        let after = &after[key_end + 1..];
        let open = after.find('[').expect("an array");
        let close = after.find(']').expect("an array's end");
        let items = after[open + 1..close]
            .split(',')
            .map(|i| i.trim().trim_matches('"').to_string())
            .filter(|i| !i.is_empty())
            .collect();
        assert!(out.insert(key.clone(), items).is_none(), "{key} twice");
        rest = &after[close + 1..];
    }
    out
}

/// The capability sets procd's ujail applies (openwrt/procd @2c1834a
/// jail/capabilities.c): `parseOCIcapabilities_from_file` reads the five sets;
/// `parseOCIcap` gives a set that is ABSENT all 64 bits (JAIL_CAP_ALL), which
/// `applyOCIcapabilities` treats as "leave this set as it is", i.e. root's full set
/// for a process procd started; a name that is not one of `capabilities_names` (built
/// by make_capabilities_h.sh from linux/capability.h's `#define CAP_*`, compared with
/// strcasecmp) fails the whole file, and ujail refuses to start the daemon. So: all
/// five sets, each exactly CAP_NET_ADMIN, each name one the kernel header defines.
#[test]
fn capabilities_file_gives_cap_net_admin_only() {
    let sets = parse_string_arrays(
        &std::fs::read_to_string(root().join("files/capabilities.json")).unwrap(),
    );
    let names: BTreeSet<&str> = sets.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "ambient",
            "bounding",
            "effective",
            "inheritable",
            "permitted"
        ]),
        "a set left out stays whole (root's) under ujail"
    );
    for (set, caps) in &sets {
        assert_eq!(caps, &["CAP_NET_ADMIN"], "{set}");
    }
    let header = std::fs::read_to_string("/usr/include/linux/capability.h")
        .expect("linux/capability.h (apt-get install linux-libc-dev)");
    for cap in sets.values().flatten() {
        assert!(
            header.lines().any(|l| {
                let mut w = l.split_whitespace();
                w.next() == Some("#define") && w.next() == Some(cap.as_str())
            }),
            "{cap} is not a capability linux/capability.h defines"
        );
    }
}

/// What procd does with the instance's parameters (openwrt/procd @2c1834a
/// service/instance.c), and what the init script must therefore hand it:
/// - `capabilities` and `no_new_privs` are only ever passed to ujail (jail_run():
///   `-C`, `-c`); `user`/`group` without a jail make instance_run() call setgid() and
///   setuid() before exec, which leaves a non-root process NO capability. A jail
///   exists only with the `jail` attribute (procd_add_jail) and /sbin/ujail present;
///   without ujail, instance_config_parse() silently drops the jail unless
///   `requirejail` (then the instance is refused). So user + capabilities need
///   `jail` with `requirejail` (and the package needs procd-ujail).
/// - A jail without namespace flags (log, procfs, sysfs, ubus, udebug, ronly, netns,
///   userns, cgroupsns) and without mounts makes ujail skip every namespace
///   (jail/jail.c main(): no CLONE_NEWNS): sipalgd sees the router's filesystem and
///   can run /usr/sbin/nft and ip.
/// - The capabilities path is the file the package installs; user and group are the
///   package's USERID (which the lab runs the daemon as: tests/common/lab.rs).
#[test]
fn init_procd_parameters_do_what_procd_does_with_them() {
    let run = init_action(Some(&default_config()), "start", &[]);
    let set = run.ubus("set");
    let json = set.first().expect("ubus call service set");
    let instance = &json[json.find("\"instance1\":").expect("an instance")..];
    let field = |name: &str| -> Option<String> {
        let key = format!("\"{name}\":");
        let i = instance.find(&key)? + key.len();
        let v = &instance[i..];
        let end = if v.starts_with('{') {
            v.find('}').unwrap() + 1
        } else {
            v.find([',', '}']).unwrap()
        };
        Some(v[..end].to_string())
    };
    let jail = field("jail").expect("user and capabilities need a jail (procd_add_jail)");
    assert!(
        jail.contains("\"requirejail\":true"),
        "without requirejail procd runs the daemon setuid without capabilities when ujail is missing: {jail}"
    );
    for ns in [
        "log",
        "procfs",
        "sysfs",
        "ubus",
        "udebug",
        "ronly",
        "netns",
        "userns",
        "cgroupsns",
    ] {
        assert!(
            !jail.contains(&format!("\"{ns}\"")),
            "{ns}: a namespace hides /usr/sbin/nft and ip from the daemon: {jail}"
        );
    }
    assert!(
        jail.ends_with("\"mount\":{}}") || jail.ends_with("\"mount\":{}"),
        "{jail}"
    );
    assert_eq!(field("no_new_privs").as_deref(), Some("true"));
    // ujail's jailed process gets `container=ujail` and the variables procd passes
    // with -e (the instance's env; jail/jail.c build_envp()) and nothing else: PATH
    // must be one of them, and the lab runs the daemon with the same environment.
    let env = field("env").expect("an env with PATH");
    let path = env
        .strip_prefix("{\"PATH\":\"")
        .and_then(|e| e.strip_suffix("\"}"))
        .unwrap_or_else(|| panic!("env: {env}"));
    for dir in ["/usr/sbin", "/sbin"] {
        assert!(path.split(':').any(|d| d == dir), "PATH {path} lacks {dir}");
    }
    assert!(
        std::fs::read_to_string(root().join("tests/common/lab.rs"))
            .unwrap()
            .contains(&format!("pub const DAEMON_PATH: &str = \"{path}\";")),
        "the lab must give the daemon PATH={path}"
    );
    assert_eq!(
        field("capabilities").as_deref(),
        Some("\"/etc/capabilities/sipalg.json\"")
    );
    let makefile = std::fs::read_to_string(root().join("openwrt/Makefile")).unwrap();
    assert!(
        makefile.contains(
            "$(INSTALL_DATA) $(SIPALG_SRC)/files/capabilities.json $(1)/etc/capabilities/sipalg.json"
        ),
        "openwrt/Makefile must install files/capabilities.json where the init script points"
    );
    let userid = makefile_var("openwrt/Makefile", "USERID");
    let (user, group) = userid.split_once(':').unwrap();
    let (uname, uid) = user.split_once('=').unwrap();
    let (gname, gid) = group.split_once('=').unwrap();
    assert_eq!(field("user"), Some(format!("\"{uname}\"")));
    assert_eq!(field("group"), Some(format!("\"{gname}\"")));
    let lab = std::fs::read_to_string(root().join("tests/common/lab.rs")).unwrap();
    assert!(
        lab.contains(&format!("pub const DAEMON_UID: u32 = {uid};"))
            && lab.contains(&format!("pub const DAEMON_GID: u32 = {gid};")),
        "the lab runs sipalgd as USERID's uid/gid ({uid}/{gid})"
    );
    assert!(
        makefile_depends().iter().any(|d| d == "procd-ujail"),
        "procd-ujail provides /sbin/ujail"
    );
}
