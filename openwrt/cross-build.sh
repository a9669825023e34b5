#!/usr/bin/env bash
# Cross-build static sipalgd for OpenWrt router CPUs on Debian 12, without rustup targets.
#
#   openwrt/cross-build.sh [--test] [--setup-only] [TRIPLE...]
#
# TRIPLE: mipsel-unknown-linux-musl (ramips, soft-float), mips-unknown-linux-musl
# (ath79, big-endian, soft-float), aarch64-unknown-linux-musl, x86_64-unknown-linux-musl
# (static-pie). Default: all four.
#
# Toolchain: Debian's rustc-web/cargo-web 1.96 + rust-web-src with RUSTC_BOOTSTRAP=1
# -Zbuild-std, Debian's cross gcc as linker, musl from Debian (x86_64, aarch64) or built
# soft-float from Debian's musl source (mipsel, mips). See docs/cross.md.
#
# Output: ${OUT_DIR:-dist}/<triple>/sipalgd (stripped); a size table; exit 1 if a binary
# is larger than the budget (1.5 MB).
# --test:       also run `cargo test --lib` and `--test corpus` under qemu-user, smoke-run
#               the release binary, and check the ELF headers with tests/cross.rs.
# --setup-only: install/prepare the toolchain and exit.
#
# Environment:
#   SIPALG_CROSS_CACHE   toolchain cache (soft-float musl, specs, wrappers) [/var/cache/sipalg-cross]
#   SIPALG_CROSS_TARGET  cargo target dir                                    [<repo>/target/cross]
#   OUT_DIR              output dir                                          [<repo>/dist]
#   SIPALG_SIZE_BUDGET   bytes                                               [1572864]
#   SIPALG_CROSS_LOCKED  1: pass --locked to cargo (Cargo.lock must be current) [1]
#   SIPALG_CROSS_NO_APT  1: never call apt-get; fail if something is missing  [0]
#   SIPALG_UNWIND        libunwind for release builds: stub (no unwinder) | gcc [stub]
#   SIPALG_QEMU_TIMEOUT  seconds per test binary under qemu                  [900]
#   SIPALG_QEMU_SKIP     test-name filters skipped under qemu    [per target, see triple_info]
set -euo pipefail

ALL_TRIPLES=(mipsel-unknown-linux-musl mips-unknown-linux-musl aarch64-unknown-linux-musl x86_64-unknown-linux-musl)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/openwrt/cross
CACHE=${SIPALG_CROSS_CACHE:-/var/cache/sipalg-cross}
TARGET_DIR=${SIPALG_CROSS_TARGET:-$ROOT/target/cross}
OUT_DIR=${OUT_DIR:-$ROOT/dist}
case "$OUT_DIR" in /*) ;; *) OUT_DIR=$PWD/$OUT_DIR ;; esac
BUDGET=${SIPALG_SIZE_BUDGET:-1572864}
LOCKED=${SIPALG_CROSS_LOCKED:-1}
RELEASE_UNWIND=${SIPALG_UNWIND:-stub}
RUSTC_DEB=/usr/bin/rustc
CARGO_DEB=/usr/bin/cargo
MUSL_CFLAGS_MIPS="-msoft-float -march=mips32r2 -mtune=24kc -Os"

RUN_TESTS=0
SETUP_ONLY=0
TRIPLES=()
for a in "$@"; do
	case "$a" in
	--test) RUN_TESTS=1 ;;
	--setup-only) SETUP_ONLY=1 ;;
	-h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "unknown option: $a" >&2; exit 2 ;;
	*) TRIPLES+=("$a") ;;
	esac
done
[ ${#TRIPLES[@]} -gt 0 ] || TRIPLES=("${ALL_TRIPLES[@]}")

T0=$SECONDS
PHASE_LOG=()
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'cross-build: error: %s\n' "$*" >&2; exit 1; }
phase_start() { PHASE_NAME=$1; PHASE_T=$SECONDS; log "$1"; }
phase_end() { PHASE_LOG+=("$(printf '%-48s %4ds' "$PHASE_NAME" $((SECONDS - PHASE_T)))"); PHASE_NAME=; }
print_times() {
	local rc=$?
	[ -n "${PHASE_NAME:-}" ] && PHASE_LOG+=("$(printf '%-48s %4ds  (FAILED)' "$PHASE_NAME" $((SECONDS - PHASE_T)))")
	echo >&2
	[ ${#PHASE_LOG[@]} -eq 0 ] || printf '%s\n' "${PHASE_LOG[@]}" >&2
	printf '%-48s %4ds  (exit %d)\n' "total" $((SECONDS - T0)) $rc >&2
}
trap print_times EXIT

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || die "need root (or sudo) for apt-get and $CACHE"
	SUDO=sudo
fi

# ---------------------------------------------------------------------------------------
# per-target facts
# ---------------------------------------------------------------------------------------
# sets: GNU (cross gcc prefix), QEMU, MUSL (debian|source), DEBARCH, LDSO, SHIM_CFLAGS
triple_info() {
	case "$1" in
	mipsel-unknown-linux-musl)
		GNU=mipsel-linux-gnu QEMU=qemu-mipsel-static MUSL=source DEBARCH=
		LDSO=/lib/ld-musl-mipsel-sf.so.1; read -ra SHIM_CFLAGS <<<"$MUSL_CFLAGS_MIPS" ;;
	mips-unknown-linux-musl)
		GNU=mips-linux-gnu QEMU=qemu-mips-static MUSL=source DEBARCH=
		LDSO=/lib/ld-musl-mips-sf.so.1; read -ra SHIM_CFLAGS <<<"$MUSL_CFLAGS_MIPS" ;;
	aarch64-unknown-linux-musl)
		GNU=aarch64-linux-gnu QEMU=qemu-aarch64-static MUSL=debian DEBARCH=arm64
		LDSO=/lib/ld-musl-aarch64.so.1 SHIM_CFLAGS=(-Os) ;;
	x86_64-unknown-linux-musl)
		GNU=x86_64-linux-gnu QEMU="" MUSL=debian DEBARCH=amd64
		LDSO=/lib/ld-musl-x86_64.so.1 SHIM_CFLAGS=(-Os) ;;
	*) die "unsupported triple: $1 (supported: ${ALL_TRIPLES[*]})" ;;
	esac
	# gcc's crtbeginS.o/crtendS.o are hard-float (FPXX) objects on Debian's mips(el)
	# gcc; Rust needs nothing from them (.init_array, eh_frame_hdr lookup), so the
	# soft-float targets link without them and carry no hard-float object at all
	case "$1" in
	mips*) CRTBEGIN='' CRTEND='' ;;
	*) CRTBEGIN='crtbeginS.o%s' CRTEND='crtendS.o%s' ;;
	esac
	# tests that talk to the kernel and hang under this qemu (see docs/cross.md);
	# SIPALG_QEMU_SKIP (space-separated test-name filters) replaces the list
	case "$1" in
	mips-*) QEMU_SKIP=(daemon::wan::tests::loopback_has_an_address) ;; # rtnetlink dump, BE guest
	*) QEMU_SKIP=() ;;
	esac
	if [ -n "${SIPALG_QEMU_SKIP+x}" ]; then read -ra QEMU_SKIP <<<"$SIPALG_QEMU_SKIP"; fi
	TENV=$(echo "$1" | tr 'a-z-' 'A-Z_')      # CARGO_TARGET_<TENV>_*
	CT=$CACHE/$1                              # per-target cache dir
	if [ "$MUSL" = debian ]; then
		MUSL_INC=/usr/include/${GNU%-gnu}-musl
		MUSL_LIB=/usr/lib/${GNU%-gnu}-musl
		MUSL_DESC="Debian's musl-dev:$DEBARCH"
	else
		MUSL_INC=$CT/musl/include
		MUSL_LIB=$CT/musl/lib
		MUSL_DESC="soft-float musl built from Debian's source ($MUSL_CFLAGS_MIPS)"
	fi
}

# ---------------------------------------------------------------------------------------
# 1. Debian packages (idempotent)
# ---------------------------------------------------------------------------------------
apt_get() {
	[ "${SIPALG_CROSS_NO_APT:-0}" = 1 ] && die "missing packages and SIPALG_CROSS_NO_APT=1: apt-get $*"
	# another job may hold the apt/dpkg locks: wait for them
	local i
	for i in $(seq 1 60); do
		if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q "$@"; then
			return 0
		fi
		if ! $SUDO fuser /var/lib/apt/lists/lock /var/lib/dpkg/lock-frontend >/dev/null 2>&1; then
			return 1
		fi
		log "apt is busy, waiting ($i)"; sleep 10
	done
	return 1
}

APT_UPDATED=0
apt_update() { [ $APT_UPDATED = 1 ] || { apt_get update && APT_UPDATED=1; }; }

ensure_deb_src() {
	# `apt-get source musl` needs deb-src entries; add ours once (deb822 format)
	if grep -rqsE '^[[:space:]]*(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 0
	fi
	log "adding deb-src entries: /etc/apt/sources.list.d/sipalg-deb-src.sources"
	$SUDO tee /etc/apt/sources.list.d/sipalg-deb-src.sources >/dev/null <<'EOF'
# added by sipalg openwrt/cross-build.sh: `apt-get source musl` for a soft-float musl
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	APT_UPDATED=0
}

ensure_packages() {
	local want=(rustc-web cargo-web rust-web-src musl-tools musl-dev dpkg-dev binutils gcc psmisc)
	local t need_src=0 archs=()
	[ $RUN_TESTS = 1 ] && want+=(qemu-user-static)
	for t in "${TRIPLES[@]}"; do
		triple_info "$t"
		[ "$GNU" = x86_64-linux-gnu ] || want+=("gcc-$GNU")
		[ "$MUSL" = source ] && need_src=1
		if [ "$MUSL" = debian ] && [ "$DEBARCH" != amd64 ]; then
			want+=("musl-dev:$DEBARCH"); archs+=("$DEBARCH")
		fi
	done
	local a
	for a in "${archs[@]}"; do
		if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
			[ "${SIPALG_CROSS_NO_APT:-0}" = 1 ] && die "architecture $a not enabled"
			log "dpkg --add-architecture $a"
			$SUDO dpkg --add-architecture "$a"; APT_UPDATED=0; FORCE_UPDATE=1
		fi
	done
	[ $need_src = 1 ] && [ ! -f "$CACHE/src/musl.stamp" ] && { ensure_deb_src; FORCE_UPDATE=1; }
	local missing=() p
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ] || [ "${FORCE_UPDATE:-0}" = 1 ]; then
		apt_update
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		log "apt-get install ${missing[*]}"
		apt_get install -y --no-install-recommends "${missing[@]}"
	fi
	if [ ! -x $RUSTC_DEB ] || [ ! -x $CARGO_DEB ]; then die "$RUSTC_DEB / $CARGO_DEB missing"; fi
	RUST_SRC=$($RUSTC_DEB --print sysroot)/lib/rustlib/src/rust/library
	[ -d "$RUST_SRC" ] || RUST_SRC=$(find /usr/src -maxdepth 2 -path '/usr/src/rustc-*/library' | head -n1)
	[ -d "$RUST_SRC/std" ] || die "rust-web-src: std source not found"
}

# ---------------------------------------------------------------------------------------
# 2. soft-float musl from Debian's source (mipsel, mips), once per cache
# ---------------------------------------------------------------------------------------
ensure_musl_source() {
	[ -f "$CACHE/src/musl.stamp" ] && return 0
	log "apt-get source musl"
	$SUDO mkdir -p "$CACHE/src"
	$SUDO rm -rf "$CACHE/src/musl-"*/
	(cd "$CACHE/src" && apt_get source musl)
	local d
	d=$(find "$CACHE/src" -mindepth 1 -maxdepth 1 -type d -name 'musl-*' | head -n1)
	[ -f "$d/configure" ] || die "musl source not unpacked"
	echo "$d" | $SUDO tee "$CACHE/src/musl.stamp" >/dev/null
}

build_musl() { # triple
	local t=$1 src stamp want
	src=$(cat "$CACHE/src/musl.stamp")
	want="$(basename "$src") $GNU CFLAGS=$MUSL_CFLAGS_MIPS"
	stamp=$CT/musl/.sipalg-stamp
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
	phase_start "build soft-float musl for $t"
	$SUDO rm -rf "$CT/musl" "$CT/musl-build"
	$SUDO mkdir -p "$CT/musl-build"
	(
		cd "$CT/musl-build"
		$SUDO "$src/configure" --target="${GNU%-linux-gnu}-linux-muslsf" --prefix="$CT/musl" \
			--disable-shared --disable-wrapper \
			CC="$GNU-gcc" AR="$GNU-ar" RANLIB="$GNU-ranlib" CFLAGS="$MUSL_CFLAGS_MIPS" >/dev/null
		grep -q '^ARCH = mips$' config.mak || die "musl configure: unexpected ARCH"
		grep -qE '^SUBARCH = (el)?-sf$' config.mak || die "musl configure did not select soft-float (SUBARCH -sf/el-sf)"
		if ! { $SUDO make -j"$(nproc)" && $SUDO make install; } >"$CACHE/musl-$t.log" 2>&1; then
			tail -n 30 "$CACHE/musl-$t.log" >&2; die "musl build failed: $CACHE/musl-$t.log"
		fi
	)
	$SUDO rm -rf "$CT/musl-build"
	echo "$want" | $SUDO tee "$stamp" >/dev/null
	phase_end
}

# ---------------------------------------------------------------------------------------
# 3. specs, linker wrapper, libunwind.a variants
# ---------------------------------------------------------------------------------------
install_if_changed() { # tmpfile dest [mode]
	if [ ! -f "$2" ] || ! cmp -s "$1" "$2"; then
		$SUDO install -m "${3:-644}" "$1" "$2"
	fi
	rm -f "$1"
}

setup_target() { # triple
	local t=$1 gcc tmp
	triple_info "$t"
	$SUDO mkdir -p "$CT" "$CACHE/bin"
	[ "$MUSL" = source ] && build_musl "$t"
	[ -f "$MUSL_LIB/libc.a" ] || die "$MUSL_LIB/libc.a missing"
	[ -f "$MUSL_LIB/rcrt1.o" ] || die "$MUSL_LIB/rcrt1.o missing"
	gcc=$(command -v "$GNU-gcc") || die "$GNU-gcc not installed"

	tmp=$(mktemp)
	sed -e "s|@MUSL_INC@|$MUSL_INC|g" -e "s|@MUSL_LIB@|$MUSL_LIB|g" -e "s|@MUSL_LDSO@|$LDSO|g" \
		-e "s|@CRTBEGIN@|$CRTBEGIN|g" -e "s|@CRTEND@|$CRTEND|g" \
		"$HERE/musl-gcc.specs.in" >"$tmp"
	install_if_changed "$tmp" "$CT/musl-gcc.specs"
	tmp=$(mktemp)
	sed -e "s|@TRIPLE@|$t|g" -e "s|@GCC@|$gcc|g" -e "s|@SPECS@|$CT/musl-gcc.specs|g" \
		-e "s|@CACHE_T@|$CT|g" -e "s|@MUSL_DESC@|$MUSL_DESC|g" "$HERE/cc-wrapper.in" >"$tmp"
	install_if_changed "$tmp" "$CACHE/bin/$t-cc" 755
	CC_WRAP=$CACHE/bin/$t-cc

	build_unwind "$t" "$gcc"
	# cargo does not see linker-side changes: fold them into RUSTFLAGS (via a --cfg) so a
	# changed specs/musl/libunwind relinks everything, and only then
	tmp=$(mktemp)
	cat "$CT/musl-gcc.specs" "$CC_WRAP" "$MUSL_LIB/libc.a" "$CT"/unwind-*/libunwind.a |
		sha256sum | cut -c1-12 >"$tmp"
	install_if_changed "$tmp" "$CT/toolkey"
}

build_unwind() { # triple gcc
	local t=$1 gcc=$2
	# libunwind.a variants (rebuilt when the templates change)
	local key stamp=$CT/unwind.stamp
	key=$(cat "$HERE/unwind-shim.c" "$HERE/unwind-stub.c" "$CT/musl-gcc.specs" | sha256sum | cut -c1-16)
	key="$key $(basename "$(dirname "$($gcc -print-libgcc-file-name)")")"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then return 0; fi
	local w
	w=$(mktemp -d)
	"$CC_WRAP" "${SHIM_CFLAGS[@]}" -fPIC -c "$HERE/unwind-stub.c" -o "$w/stub.o"
	"$GNU-ar" rcs "$w/libunwind-stub.a" "$w/stub.o"
	# real unwinder: gcc's libgcc_eh.a + shim with strong refs to what libgcc_eh needs
	# weakly from libc (computed, so a different gcc build cannot silently regress)
	local eh
	eh=$($gcc -print-file-name=libgcc_eh.a)
	[ -f "$eh" ] || die "$GNU: libgcc_eh.a not found"
	{
		echo "/* generated by cross-build.sh: weak undefined symbols of $eh defined by musl */"
		comm -12 <("$GNU-nm" "$eh" 2>/dev/null | awk '$1 == "w" { print $2 }' | sort -u) \
			<("$GNU-nm" --defined-only "$MUSL_LIB/libc.a" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TW]/ { print $3 }' | sort -u) \
			>"$w/syms"
		while read -r s; do echo "extern char ${s}[];"; done <"$w/syms"
		echo "__attribute__((used)) void *const sipalg_pthread_refs[] = {"
		while read -r s; do echo "	(void *)$s,"; done <"$w/syms"
		echo "	0 };"
	} >"$w/pthread-refs.inc"
	grep -q pthread_once "$w/syms" || log "warning: $t: libgcc_eh has no weak pthread_once reference?"
	"$CC_WRAP" "${SHIM_CFLAGS[@]}" -fPIC -I"$w" -c "$HERE/unwind-shim.c" -o "$w/shim.o"
	cp "$eh" "$w/libunwind-gcc.a"; chmod u+w "$w/libunwind-gcc.a"
	"$GNU-ar" rs "$w/libunwind-gcc.a" "$w/shim.o"
	$SUDO mkdir -p "$CT/unwind-stub" "$CT/unwind-gcc"
	$SUDO install -m 644 "$w/libunwind-stub.a" "$CT/unwind-stub/libunwind.a"
	$SUDO install -m 644 "$w/libunwind-gcc.a" "$CT/unwind-gcc/libunwind.a"
	$SUDO install -m 644 "$w/pthread-refs.inc" "$CT/unwind-gcc/pthread-refs.inc"
	rm -rf "$w"
	echo "$key" | $SUDO tee "$stamp" >/dev/null
}

# ---------------------------------------------------------------------------------------
# 4. cargo
# ---------------------------------------------------------------------------------------
cargo_deb() { # triple cargo-subcommand cargo-args... [-- test-args...]
	local t=$1 sub=$2; shift 2
	triple_info "$t"
	local locked=()
	[ "$LOCKED" = 1 ] && locked=(--locked)
	# one target per invocation, so RUSTFLAGS applies to target artifacts only
	env -u CARGO_ENCODED_RUSTFLAGS -u RUSTC_WRAPPER -u RUSTC_WORKSPACE_WRAPPER \
		RUSTC=$RUSTC_DEB RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
		CARGO_TARGET_DIR="$TARGET_DIR" \
		RUSTFLAGS="-C link-self-contained=no -C target-feature=+crt-static --cfg sipalg_cross_toolchain=\"$(cat "$CT/toolkey")\"" \
		"CARGO_TARGET_${TENV}_LINKER=$CACHE/bin/$t-cc" \
		${QEMU:+"CARGO_TARGET_${TENV}_RUNNER=timeout -k 10 ${SIPALG_QEMU_TIMEOUT:-900} $QEMU"} \
		"CC_${t//-/_}=$CACHE/bin/$t-cc" "AR_${t//-/_}=$GNU-ar" \
		"$CARGO_DEB" "$sub" --target "$t" "${locked[@]}" "$@"
}

build_release() { # triple
	local t=$1
	phase_start "release build $t"
	SIPALG_UNWIND=$RELEASE_UNWIND cargo_deb "$t" build --release -Zbuild-std=std,panic_abort --bin sipalgd \
		--manifest-path "$ROOT/Cargo.toml"
	triple_info "$t"
	mkdir -p "$OUT_DIR/$t"
	local strip=$GNU-strip
	command -v "$strip" >/dev/null || strip="strip"
	"$strip" --strip-all -o "$OUT_DIR/$t/sipalgd.tmp" "$TARGET_DIR/$t/release/sipalgd"
	mv "$OUT_DIR/$t/sipalgd.tmp" "$OUT_DIR/$t/sipalgd"
	phase_end
}

run_tests() { # triple
	local t=$1
	triple_info "$t"
	phase_start "tests $t${QEMU:+ (under $QEMU)}"
	local tests=(--lib)
	[ -f "$ROOT/tests/corpus.rs" ] && tests+=(--test corpus)
	# test harness needs panic=unwind (catch_unwind per test): real unwinder
	local skip=() n
	if [ -n "$QEMU" ]; then
		for n in "${QEMU_SKIP[@]}"; do skip+=(--skip "$n"); done
		[ ${#skip[@]} -eq 0 ] || log "skipped under $QEMU: ${QEMU_SKIP[*]}"
	fi
	SIPALG_UNWIND=gcc cargo_deb "$t" test -Zbuild-std "${tests[@]}" --manifest-path "$ROOT/Cargo.toml" \
		-- "${skip[@]}"
	log "smoke run: $t sipalgd --version"
	local v
	v=$(${QEMU:+$QEMU} "$OUT_DIR/$t/sipalgd" --version) || die "$t: sipalgd --version failed"
	echo "    $v"
	phase_end
}

# ---------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------
phase_start "toolchain packages"
ensure_packages
phase_end
for t in "${TRIPLES[@]}"; do
	triple_info "$t"
	if [ "$MUSL" = source ]; then ensure_musl_source; break; fi
done
for t in "${TRIPLES[@]}"; do setup_target "$t"; done
log "toolchain ready in $CACHE ($($RUSTC_DEB --version))"
[ $SETUP_ONLY = 1 ] && exit 0

for t in "${TRIPLES[@]}"; do build_release "$t"; done
if [ $RUN_TESTS = 1 ]; then
	for t in "${TRIPLES[@]}"; do run_tests "$t"; done
	phase_start "tests/cross.rs (ELF checks, host)"
	locked=()
	[ "$LOCKED" = 1 ] && locked=(--locked)
	env -u CARGO_ENCODED_RUSTFLAGS -u RUSTFLAGS RUSTC=$RUSTC_DEB CARGO_TARGET_DIR="$TARGET_DIR" \
		SIPALG_DIST="$OUT_DIR" SIPALG_REQUIRE_CROSS="${TRIPLES[*]}" \
		"$CARGO_DEB" test --manifest-path "$ROOT/Cargo.toml" --test cross "${locked[@]}" -- --nocapture --test-threads=1
	phase_end
fi

echo
printf '%-30s %12s  %s\n' triple "bytes" "budget $BUDGET"
fail=0
for t in "${TRIPLES[@]}"; do
	f=$OUT_DIR/$t/sipalgd
	s=$(stat -c %s "$f")
	if [ "$s" -le "$BUDGET" ]; then ok=ok; else ok="OVER BUDGET"; fail=1; fi
	printf '%-30s %12d  %s (%s KiB)\n' "$t" "$s" "$ok" $(((s + 1023) / 1024))
done
[ $fail = 0 ] || die "a stripped sipalgd exceeds the size budget of $BUDGET bytes"
