#!/usr/bin/env bash
# Build OpenWrt .ipk packages of sipalg without the OpenWrt SDK.
#
#   openwrt/build-ipk.sh [ARCH...]        ARCH: OpenWrt package architecture, default x86_64
#
# Writes into ${OUT_DIR:-dist}:
#   sipalg_<version>_<arch>.ipk        for each ARCH
#   luci-app-sipalg_<version>_all.ipk  if luci-app/ has htdocs/ or root/
#
# The binary is taken from $OUT_DIR/<rust triple>/sipalgd, written by
# openwrt/cross-build.sh: a static musl build, as OpenWrt's libc is musl. For
# x86_64, if that file is missing, this script runs
#   openwrt/cross-build.sh x86_64-unknown-linux-musl
# itself (Debian's rustc-web with -Zbuild-std and musl-tools, installed with
# apt-get on first use; see docs/cross.md): rustup's x86_64-unknown-linux-musl
# std cannot be installed on these machines, and a glibc static build is
# larger than the 1.5 MB budget (1.64 MB) for a libc OpenWrt does not have.
#
# The format is that of OpenWrt's scripts/ipkg-build (opkg, OpenWrt <= 24.10):
# a gzip-compressed tar (not an ar archive) of ./debian-binary ("2.0"),
# ./data.tar.gz and ./control.tar.gz, all made with GNU tar
# --format=gnu --numeric-owner --owner=0 --group=0 --sort=name
# --mtime=@$SOURCE_DATE_EPOCH (default 0) and gzip -n, so builds are
# reproducible. Installed-Size is the size of the uncompressed data tar, as
# ipkg-build computes it. OpenWrt 25.12+ uses apk packages instead: build those
# with the SDK and openwrt/Makefile.
#
# Environment: OUT_DIR, SOURCE_DATE_EPOCH, and cross-build.sh's (SIPALG_CROSS_*).
set -euo pipefail
umask 022

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR=${OUT_DIR:-$ROOT/dist}
case "$OUT_DIR" in /*) ;; *) OUT_DIR=$PWD/$OUT_DIR ;; esac
EPOCH=${SOURCE_DATE_EPOCH:-0}
MAINTAINER="sipalg maintainers"
URL="https://openwrt.org/packages/pkgdata/sipalg"
TAR_OPTS=(--format=gnu --numeric-owner --owner=0 --group=0 --sort=name "--mtime=@$EPOCH")
# As openwrt/Makefile: the kmods, and nftables-json (the daemon and the scripts
# below run nft; firewall4 depends on that variant, so fw4 routers have it).
DEPENDS="kmod-nft-queue, kmod-nfnetlink-queue, kmod-nft-core, kmod-nf-conntrack-netlink, kmod-nft-nat, nftables-json, kmod-nft-tproxy, kmod-nft-fib, ip, procd-ujail"
# openwrt/Makefile USERID, written as include/package-pack.mk does (Require-User:);
# default_postinst (base-files lib/functions.sh add_group_and_user) creates them.
REQUIRE_USER="sipalg=5060:sipalg=5060"

die() {
	echo "build-ipk.sh: $*" >&2
	exit 1
}

tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is required"
command -v gzip >/dev/null || die "gzip is required"

# The [package] version and license of Cargo.toml.
cargo_field() {
	sed -n '/^\[package\]/,/^\[/s/^'"$1"' *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n 1
}
VERSION=$(cargo_field version)
LICENSE=$(cargo_field license)
[ -n "$VERSION" ] || die "cannot read the version from Cargo.toml"

# OpenWrt package architecture -> Rust target triple.
rust_triple() {
	case "$1" in
	x86_64) echo x86_64-unknown-linux-musl ;;
	mipsel_24kc) echo mipsel-unknown-linux-musl ;;
	mips_24kc) echo mips-unknown-linux-musl ;;
	aarch64_cortex-a53 | aarch64_generic) echo aarch64-unknown-linux-musl ;;
	*) return 1 ;;
	esac
}

# Builds the static musl x86-64 sipalgd into $OUT_DIR/x86_64-unknown-linux-musl/.
build_x86_64_musl() {
	echo "build-ipk.sh: building a static musl x86-64 sipalgd (openwrt/cross-build.sh)" >&2
	OUT_DIR=$OUT_DIR "$ROOT/openwrt/cross-build.sh" x86_64-unknown-linux-musl >&2 ||
		die "openwrt/cross-build.sh x86_64-unknown-linux-musl failed"
}

# pack_ipk STAGE_DIR OUT_FILE: STAGE_DIR holds data/ and control/.
pack_ipk() {
	local stage=$1 out=$2 size
	mkdir -p "$stage/pkg"
	(cd "$stage/data" && tar "${TAR_OPTS[@]}" -cf - .) | gzip -n -9 >"$stage/pkg/data.tar.gz"
	size=$(gzip -dc <"$stage/pkg/data.tar.gz" | wc -c)
	size=${size//[[:space:]]/}
	sed -i "s/^Installed-Size: .*/Installed-Size: $size/" "$stage/control/control"
	(cd "$stage/control" && tar "${TAR_OPTS[@]}" -cf - .) | gzip -n -9 >"$stage/pkg/control.tar.gz"
	echo "2.0" >"$stage/pkg/debian-binary"
	(cd "$stage/pkg" && tar "${TAR_OPTS[@]}" -cf - ./debian-binary ./data.tar.gz ./control.tar.gz) |
		gzip -n -9 >"$out.tmp"
	mv "$out.tmp" "$out"
}

# write_control DIR PACKAGE ARCH DEPENDS SECTION DESCRIPTION...
write_control() {
	local dir=$1 pkg=$2 arch=$3 depends=$4 section=$5
	shift 5
	mkdir -p "$dir"
	{
		echo "Package: $pkg"
		echo "Version: $VERSION"
		echo "Depends: $depends"
		echo "Source: sipalg"
		echo "SourceName: $pkg"
		echo "License: $LICENSE"
		echo "LicenseFiles: LICENSE"
		echo "Section: $section"
		echo "URL: $URL"
		echo "Maintainer: $MAINTAINER"
		echo "Architecture: $arch"
		[ -z "${CONTROL_REQUIRE_USER:-}" ] || echo "Require-User: $CONTROL_REQUIRE_USER"
		echo "Installed-Size: 0"
		echo "Description: $1"
		shift
		for line in "$@"; do
			echo " $line"
		done
	} >"$dir/control"
	chmod 0644 "$dir/control"
	# The generic scripts of OpenWrt's include/package-pack.mk; default_postinst
	# and default_prerm source postinst-pkg / prerm-pkg, enable and start (or
	# stop and disable) /etc/init.d scripts and run /etc/uci-defaults.
	cat >"$dir/postinst" <<'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
EOF
	cat >"$dir/prerm" <<'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
EOF
	chmod 0755 "$dir/postinst" "$dir/prerm"
}

# copy_tree SRC DST: files keep their executable bit (0755) or get 0644.
copy_tree() {
	local src=$1 dst=$2 f rel
	[ -d "$src" ] || return 0
	while IFS= read -r -d '' f; do
		rel=${f#"$src"/}
		if [ -d "$f" ]; then
			install -d -m 0755 "$dst/$rel"
		elif [ -x "$f" ]; then
			install -D -m 0755 "$f" "$dst/$rel"
		else
			install -D -m 0644 "$f" "$dst/$rel"
		fi
	done < <(find "$src" -mindepth 1 \( -type d -o -type f \) -print0)
}

build_sipalg() {
	local arch=$1 triple bin stage out
	triple=$(rust_triple "$arch") ||
		die "unknown architecture '$arch' (known: x86_64 mipsel_24kc mips_24kc aarch64_cortex-a53 aarch64_generic)"
	bin=$OUT_DIR/$triple/sipalgd
	if [ ! -f "$bin" ] && [ "$arch" = x86_64 ]; then
		build_x86_64_musl
	fi
	[ -f "$bin" ] || die "$bin is missing: run 'openwrt/cross-build.sh $triple' first (OUT_DIR=$OUT_DIR)"

	stage=$(mktemp -d "${TMPDIR:-/tmp}/sipalg-ipk.XXXXXX")
	STAGES+=("$stage")
	install -D -m 0755 "$bin" "$stage/data/usr/sbin/sipalgd"
	install -D -m 0755 "$ROOT/files/sipalg.init" "$stage/data/etc/init.d/sipalg"
	install -D -m 0644 "$ROOT/files/sipalg.config" "$stage/data/etc/config/sipalg"
	install -D -m 0644 "$ROOT/files/capabilities.json" "$stage/data/etc/capabilities/sipalg.json"
	# fw4 include files, if the package ships any.
	if [ -d "$ROOT/files/nftables.d" ] && [ -n "$(ls -A "$ROOT/files/nftables.d")" ]; then
		install -d -m 0755 "$stage/data/usr/share/nftables.d"
		copy_tree "$ROOT/files/nftables.d" "$stage/data/usr/share/nftables.d"
	fi

	CONTROL_REQUIRE_USER=$REQUIRE_USER write_control "$stage/control" sipalg "$arch" "$DEPENDS" net \
		"SIP through OpenWrt NAT done right: kernel SIP helper off, SIP/RTP timeouts, DSCP, optional correct ALG" \
		"sipalgd keeps the broken kernel SIP helper off SIP traffic, keeps NAT" \
		"bindings of registered phones alive, marks SIP and RTP with DSCP and," \
		"with 'option alg 1', rewrites SIP/SDP for NAT and opens media pinholes." \
		"Configure in /etc/config/sipalg or LuCI (luci-app-sipalg)."
	echo "/etc/config/sipalg" >"$stage/control/conffiles"
	chmod 0644 "$stage/control/conffiles"
	# Our own steps, sourced by default_postinst / default_prerm, and postrm,
	# the same as Package/sipalg/{postinst,prerm,postrm} in openwrt/Makefile.
	cat >"$stage/control/postinst-pkg" <<'EOF'
#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] && exit 0
# pick up the fw4 include files in /usr/share/nftables.d
[ -x /sbin/fw4 ] && /sbin/fw4 -q reload
exit 0
EOF
	cat >"$stage/control/prerm-pkg" <<'EOF'
#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] && exit 0
/etc/init.d/sipalg stop 2>/dev/null
/usr/sbin/sipalgd cleanup 2>/dev/null || true
nft delete table inet sipalg 2>/dev/null
exit 0
EOF
	cat >"$stage/control/postrm" <<'EOF'
#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] && exit 0
nft delete table inet sipalg 2>/dev/null
[ -x /sbin/fw4 ] && /sbin/fw4 -q reload
exit 0
EOF
	chmod 0755 "$stage/control/postinst-pkg" "$stage/control/prerm-pkg" "$stage/control/postrm"

	out=$OUT_DIR/sipalg_${VERSION}_${arch}.ipk
	pack_ipk "$stage" "$out"
	echo "$out  (sipalgd $(wc -c <"$bin" | tr -d ' ') bytes, from $bin)"
}

build_luci() {
	local stage out
	[ -d "$ROOT/luci-app/htdocs" ] || [ -d "$ROOT/luci-app/root" ] || return 0
	stage=$(mktemp -d "${TMPDIR:-/tmp}/sipalg-ipk.XXXXXX")
	STAGES+=("$stage")
	mkdir -p "$stage/data"
	copy_tree "$ROOT/luci-app/htdocs" "$stage/data/www"
	copy_tree "$ROOT/luci-app/root" "$stage/data"
	write_control "$stage/control" luci-app-sipalg all "luci-base, sipalg" luci \
		"LuCI support for sipalg (Services -> SIP ALG)" \
		"Settings and a live status table of registrations and calls for sipalg."
	# As luci.mk does: drop LuCI's caches and reload rpcd for the new ACL.
	cat >"$stage/control/postinst-pkg" <<'EOF'
#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] && exit 0
rm -f /tmp/luci-indexcache /tmp/luci-indexcache.*
rm -rf /tmp/luci-modulecache/
killall -HUP rpcd 2>/dev/null
exit 0
EOF
	chmod 0755 "$stage/control/postinst-pkg"
	out=$OUT_DIR/luci-app-sipalg_${VERSION}_all.ipk
	pack_ipk "$stage" "$out"
	echo "$out"
}

STAGES=()
cleanup() {
	local s
	for s in "${STAGES[@]}"; do
		rm -rf "$s"
	done
}
trap cleanup EXIT

[ $# -gt 0 ] || set -- x86_64
mkdir -p "$OUT_DIR"
for arch in "$@"; do
	build_sipalg "$arch"
done
build_luci
