//! The OpenWrt SDK build of openwrt/Makefile and luci-app/Makefile, held against what
//! the SDK really does (read in openwrt/openwrt, openwrt/luci and openwrt/packages):
//!
//! - `scripts/feeds` (install_generic) links a feed package as
//!   `package/feeds/<feed>/<directory name>` (`ln -sf ../../../$path`), and
//!   `include/subdir.mk` names the make targets after that path
//!   (`package/feeds/<feed>/<dir>/compile`, alias `package/<dir>/compile`).
//! - Make runs in the link's real directory: `CURDIR` is this repository's
//!   `luci-app/`, so relative includes resolve from there.
//! - `luci.mk` (openwrt/luci): `LUCI_NAME?=$(notdir ${CURDIR})`,
//!   `PKG_NAME?=$(LUCI_NAME)`; out-of-tree apps include `$(TOPDIR)/feeds/luci/luci.mk`.
//! - `include/package.mk`: `STAMP_PREPARED` carries an md5 of `${CURDIR}` and
//!   `$(PKG_FILE_DEPENDS)` (find_md5): sources elsewhere must be listed there.
//! - `lang/rust/rust-package.mk` (openwrt/packages) is included from
//!   `$(TOPDIR)/feeds/packages/lang/rust/` and needs `PKG_BUILD_DEPENDS:=rust/host`.
//! - firewall4's Makefile depends on `+nftables-json`; nftables' two variants both
//!   provide `nftables`, and `nftables-nojson` (the default variant) conflicts with
//!   `nftables-json`.
//!
//! The Makefiles are run with GNU make against a small stand-in SDK written by the
//! test (rules.mk, include/package.mk, the rust and luci includes reduced to the
//! variables above), through a `package/feeds/sipalg/<dir>` symlink as scripts/feeds
//! makes it. No upstream file is copied.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Sdk(PathBuf);

impl Drop for Sdk {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A stand-in SDK whose package.mk prints the variables of the package being built.
fn sdk(tag: &str) -> Sdk {
    let dir = std::env::temp_dir().join(format!("sipalg-sdk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write(
        &dir.join("rules.mk"),
        "INCLUDE_DIR:=$(TOPDIR)/include\nBUILD_DIR:=$(TOPDIR)/build_dir\n",
    );
    // BuildPackage evaluates Package/<name> like package.mk does and prints the fields.
    write(
        &dir.join("include/package.mk"),
        r#"PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
define BuildPackage
  $(eval $(Package/$(1)))
  $(info PACKAGE=$(1))
  $(info PKG_NAME=$(PKG_NAME))
  $(info PKG_VERSION=$(PKG_VERSION))
  $(info PKG_RELEASE=$(PKG_RELEASE))
  $(info PKG_FILE_DEPENDS=$(PKG_FILE_DEPENDS))
  $(info PKG_BUILD_DEPENDS=$(PKG_BUILD_DEPENDS))
  $(info DEPENDS=$(DEPENDS))
  $(info PKGARCH=$(PKGARCH))
  $(info CONFFILES=$(strip $(Package/$(1)/conffiles)))
endef
all:
"#,
    );
    write(
        &dir.join("feeds/packages/lang/rust/rust-package.mk"),
        "RUST_ARCH_DEPENDS:=@(x86_64)\n",
    );
    // luci.mk's naming and its own BuildPackage call (reduced).
    write(
        &dir.join("feeds/luci/luci.mk"),
        r#"LUCI_NAME?=$(notdir ${CURDIR})
PKG_NAME?=$(LUCI_NAME)
PKG_RELEASE?=1
include $(INCLUDE_DIR)/package.mk
define Package/$(PKG_NAME)
  DEPENDS:=$(LUCI_DEPENDS)
  PKGARCH:=$(LUCI_PKGARCH)
endef
$(eval $(call BuildPackage,$(PKG_NAME)))
"#,
    );
    // What `./scripts/feeds install` leaves: package/feeds/sipalg/<dir> -> the repository.
    let feed = dir.join("package/feeds/sipalg");
    std::fs::create_dir_all(&feed).unwrap();
    for d in ["openwrt", "luci-app"] {
        std::os::unix::fs::symlink(root().join(d), feed.join(d)).unwrap();
    }
    Sdk(dir)
}

/// `make -C package/feeds/sipalg/<dir>` as the SDK runs it; the printed fields.
fn dump(sdk: &Sdk, dir: &str) -> std::collections::BTreeMap<String, String> {
    let out = Command::new("make")
        .arg("--no-print-directory")
        .arg("-C")
        .arg(sdk.0.join("package/feeds/sipalg").join(dir))
        .arg(format!("TOPDIR={}", sdk.0.display()))
        .output()
        .expect("GNU make is needed (apt-get install make)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "make in package/feeds/sipalg/{dir} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn cargo_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[test]
fn sipalg_makefile_in_the_sdk() {
    let sdk = sdk("sipalg");
    let f = dump(&sdk, "openwrt");
    assert_eq!(f["PACKAGE"], "sipalg");
    assert_eq!(f["PKG_NAME"], "sipalg");
    assert_eq!(
        f["PKG_VERSION"],
        cargo_version(),
        "the version is Cargo.toml's"
    );
    assert_eq!(f["PKG_BUILD_DEPENDS"], "rust/host");
    assert_eq!(f["CONFFILES"], "/etc/config/sipalg");
    let deps: Vec<&str> = f["DEPENDS"].split_whitespace().collect();
    for d in [
        "@(x86_64)",
        "+kmod-nft-queue",
        "+kmod-nfnetlink-queue",
        "+kmod-nft-core",
        "+kmod-nf-conntrack-netlink",
        "+kmod-nft-nat",
        // the daemon and the maintainer scripts run nft; the variant fw4 depends on
        "+nftables-json",
    ] {
        assert!(deps.contains(&d), "DEPENDS lacks {d}: {deps:?}");
    }
    assert!(
        !deps.contains(&"+nftables-nojson") && !deps.contains(&"+nftables"),
        "nftables-nojson (the default provider of nftables) conflicts with fw4's nftables-json: {deps:?}"
    );
    // Everything Build/Prepare copies from outside openwrt/ is tracked for rebuilds.
    let tracked: Vec<PathBuf> = f["PKG_FILE_DEPENDS"]
        .split_whitespace()
        .map(|p| PathBuf::from(p.trim_end_matches('/')))
        .collect();
    let real = |p: &Path| std::fs::canonicalize(p).unwrap();
    let tracked: Vec<PathBuf> = tracked.iter().map(|p| real(p)).collect();
    for needed in ["Cargo.toml", "Cargo.lock", "src", "files", "bench"] {
        let p = real(&root().join(needed));
        assert!(
            tracked.contains(&p),
            "PKG_FILE_DEPENDS lacks {needed}: {tracked:?}"
        );
    }
}

#[test]
fn luci_makefile_in_the_sdk() {
    let sdk = sdk("luci");
    let f = dump(&sdk, "luci-app");
    assert_eq!(
        f["PKG_NAME"], "luci-app-sipalg",
        "luci.mk would name the package after the directory"
    );
    assert_eq!(f["PACKAGE"], "luci-app-sipalg");
    assert_eq!(
        f["PKG_VERSION"],
        cargo_version(),
        "one version for both packages, Cargo.toml's"
    );
    assert_eq!(f["PKGARCH"], "all");
    let deps: Vec<&str> = f["DEPENDS"].split_whitespace().collect();
    for d in ["+luci-base", "+sipalg"] {
        assert!(deps.contains(&d), "DEPENDS lacks {d}: {deps:?}");
    }
    let text = std::fs::read_to_string(root().join("luci-app/Makefile")).unwrap();
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("PKG_VERSION:=")
                && l[13..].starts_with(|c: char| c.is_ascii_digit())),
        "luci-app/Makefile must not hard-code the version"
    );
}

/// apk (OpenWrt 25.12+) takes versions like 1.2.3, 1.2.3_rc1 (`PKG_VERSION-rPKG_RELEASE`);
/// Cargo's pre-release form 1.2.3-rc1 is not one.
#[test]
fn the_version_is_one_apk_accepts() {
    let v = cargo_version();
    let (nums, suffix) = v.split_once('_').unwrap_or((v, ""));
    assert!(
        nums.split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        "version {v}: apk needs digits and dots (suffixes as _rc1, _beta2)"
    );
    assert!(
        suffix.is_empty()
            || ["alpha", "beta", "pre", "rc", "p"].iter().any(|s| suffix
                .strip_prefix(s)
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))),
        "version {v}: unknown apk suffix"
    );
}

/// The README's SDK steps are the ones above, for a fresh SDK, with opkg and apk.
#[test]
fn readme_sdk_steps_are_right() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Install on a router")
        .nth(1)
        .expect("README has an 'Install on a router' section");
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    for needed in [
        "src-link sipalg ",
        "./scripts/feeds update -a",
        "./scripts/feeds install sipalg luci-app-sipalg",
        "make defconfig",
        "make package/feeds/sipalg/openwrt/compile package/feeds/sipalg/luci-app/compile",
        "opkg install",
        "apk add --allow-untrusted",
    ] {
        assert!(
            section.contains(needed),
            "README's install section lacks `{needed}`"
        );
    }
    for wrong in ["package/sipalg/compile", "package/luci-app-sipalg/compile"] {
        assert!(
            !section.contains(wrong),
            "README names a make target the SDK does not have: {wrong}"
        );
    }
    // The targets name directories that hold the package Makefiles.
    for dir in ["openwrt", "luci-app"] {
        let mk = std::fs::read_to_string(root().join(dir).join("Makefile")).unwrap();
        assert!(
            mk.contains("call BuildPackage"),
            "{dir}/Makefile lacks the 'call BuildPackage' signature include/scan.mk greps for"
        );
    }
}
