#!/bin/sh
# Runs one function of files/sipalg.init with stand-ins for rc.common/procd.
#
#   tests/package/init-harness.sh INIT_SCRIPT SIPALGD CONFIG_DIR FUNCTION
#
# Every procd/logger call is printed to stdout, one per line, for
# tests/package.rs to check. Environment knobs:
#   H_VALID    exit status of validate_data (uci_load_validate), default 0
#   H_RUNNING  1: service_running succeeds
#   H_<opt>    value of option <opt> seen by uci_load_validate / config_get_bool
#              (otherwise the entry's default)
# No set -u/-e: rc.common runs init scripts without them.

INIT=$1
SIPALGD=$2
DIR=$3
FUNCTION=$4

extra_command() { echo "extra_command $1"; }
logger() {
	while IFS= read -r line; do
		echo "logger $* $line"
	done
}
procd_open_instance() { echo "procd_open_instance"; }
procd_close_instance() { echo "procd_close_instance"; }
procd_set_param() { echo "procd_set_param $*"; }
procd_send_signal() { echo "procd_send_signal $*"; }
procd_add_reload_trigger() { echo "procd_add_reload_trigger $*"; }
procd_add_validation() { echo "procd_add_validation $*"; }
service_running() { [ "${H_RUNNING:-0}" = 1 ]; }
config_load() { :; }
# config_get_bool VAR SECTION OPTION DEFAULT
config_get_bool() {
	eval "_v=\${H_$3:-$4}"
	case "$_v" in
	1 | on | true | yes | enabled) _v=1 ;;
	*) _v=0 ;;
	esac
	eval "$1=\$_v"
}
# uci_load_validate PACKAGE TYPE NAME FUNCTION 'opt:type:default'...
uci_load_validate() {
	_name=$3
	_function=$4
	shift 4
	for _entry in "$@"; do
		_opt=${_entry%%:*}
		_default=${_entry##*:}
		eval "$_opt=\${H_$_opt:-\$_default}"
	done
	echo "validate $_name"
	if [ -n "$_function" ]; then
		"$_function" "$_name" "${H_VALID:-0}"
	else
		return "${H_VALID:-0}"
	fi
}
start() { start_service; }
stop() { echo "stop"; }

# shellcheck source=/dev/null
. "$INIT"
# shellcheck disable=SC2034 # read by the sourced init script
PROG=$SIPALGD
# shellcheck disable=SC2034 # read by the sourced init script
CONFIG_DIR=$DIR
"$FUNCTION"
echo "rc=$?"
