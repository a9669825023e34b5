#!/usr/bin/env bash
# Tests of luci-app-sipalg. Run from the repository root:
#
#   bash luci-app/tests/run.sh
#
# 1. JSON lint of the menu.d and acl.d files
# 2. syntax check of every view file (wrapped in a function: views have a top-level return)
# 3. consistency: settings view == SPEC UCI table == files/sipalg.config == `sipalgd schema`
#    (when built), datatypes, defaults; ACL covers what the views use; menu entries
# 4. headless Chromium renders the real views through a LuCI stand-in served on 127.0.0.1
# 5. screenshots in ${TEST_OUT:-target/test-out/luci}/
#
# Installs what it needs when missing: node/npm and chromium (Debian packages, as root),
# playwright-core (pinned in package.json / package-lock.json; it never downloads a browser).
# Environment: SIPALG_STATUS_JSON=path  status JSON to render instead of fixtures/status-lab.json
#              TEST_OUT=dir             where screenshots go
# The last line is "luci: N passed, N failed"; the exit status is non-zero if any failed.
set -u -o pipefail

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
APP_DIR=$(dirname "$TESTS_DIR")
REPO_DIR=$(dirname "$APP_DIR")
cd "$REPO_DIR" || exit 2

TEST_OUT=${TEST_OUT:-target/test-out/luci}
export TEST_OUT
mkdir -p "$TEST_OUT"

passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

finish() {
	echo "luci: $passed passed, $failed failed"
	if [ "$failed" -eq 0 ]; then exit 0; else exit 1; fi
}

apt_updated=0
apt_install() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "# cannot install $* (not root)"
		return 1
	fi
	if [ "$apt_updated" -eq 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
		apt_updated=1
	fi
	echo "# apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

# ---- installs ----
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	apt_install nodejs npm || true
fi
if ! command -v node >/dev/null 2>&1; then
	not_ok "node is available"
	finish
fi
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM
if [ ! -x "$CHROMIUM" ]; then
	apt_install chromium || true
fi
if [ ! -f "$TESTS_DIR/node_modules/playwright-core/package.json" ]; then
	echo "# npm ci (playwright-core, no browser download)"
	(cd "$TESTS_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) ||
		(cd "$TESTS_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1) || true
fi

# ---- 1. JSON lint ----
for f in "$APP_DIR"/root/usr/share/luci/menu.d/*.json "$APP_DIR"/root/usr/share/rpcd/acl.d/*.json \
	"$TESTS_DIR"/fixtures/*.json "$TESTS_DIR"/package.json; do
	rel=${f#"$REPO_DIR"/}
	if err=$(node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$f" 2>&1); then
		ok "JSON lint: $rel"
	else
		not_ok "JSON lint: $rel: $err"
	fi
done

# ---- 2. view syntax ----
views=("$APP_DIR"/htdocs/luci-static/resources/view/sipalg/*.js)
if [ "${#views[@]}" -ne 2 ]; then
	not_ok "exactly two view files (settings.js, status.js): found ${#views[@]}"
fi
for f in "${views[@]}"; do
	rel=${f#"$REPO_DIR"/}
	if err=$(node -e '
		const src = require("fs").readFileSync(process.argv[1], "utf8");
		new Function("(function(window, document, L) {\n" + src + "\n})");
		if (!/^\x27use strict\x27;\n\x27require view\x27;/.test(src)) throw new Error("must start with \x27use strict\x27; \x27require view\x27;");
		if (!/return view\.extend\(\{/.test(src)) throw new Error("must return view.extend({...})");
		if (/style\s*[:=]/.test(src)) throw new Error("inline style");
	' "$f" 2>&1); then
		ok "view syntax: $rel"
	else
		not_ok "view syntax: $rel: $err"
	fi
done

# ---- 3. consistency, 4./5. browser ----
# Each script prints "ok - ..." / "not ok - ..." lines; count them here.
run_node() {
	local name=$1 out rc
	shift
	out=$(node "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	local p f
	p=$(printf '%s\n' "$out" | grep -c '^ok - ' || true)
	f=$(printf '%s\n' "$out" | grep -c '^not ok - ' || true)
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		not_ok "$name exited $rc"
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		not_ok "$name ran no checks"
	fi
}

run_node consistency "$TESTS_DIR/consistency.js"

if [ ! -x "$CHROMIUM" ]; then
	not_ok "chromium at $CHROMIUM (apt-get install chromium)"
elif [ ! -f "$TESTS_DIR/node_modules/playwright-core/package.json" ]; then
	not_ok "playwright-core installed in luci-app/tests/node_modules (npm ci)"
else
	run_node browser "$TESTS_DIR/browser.js"
	for png in settings.png status.png status-not-running.png status-wide.png status-phone.png settings-phone.png; do
		if [ -s "$TEST_OUT/$png" ]; then ok "screenshot $TEST_OUT/$png"; else not_ok "screenshot $TEST_OUT/$png"; fi
	done
fi

finish
