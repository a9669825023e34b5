#!/bin/sh
# shellcheck disable=SC2154 # the JSON tree variables are assigned through eval
# Runs an action of files/sipalg.init the way an OpenWrt router does, under
# BusyBox ash, and records what procd would receive:
#
#   busybox ash tests/package/init-harness.sh INIT ACTION
#
# INIT should be installed as .../etc/init.d/sipalg (the service is named after
# it). Environment:
#   SIM_ROOT      root of the simulated router: $SIM_ROOT/etc/config/sipalg is
#                 the config, $SIM_ROOT/usr/sbin/sipalgd the daemon (the init
#                 script's PROG and CONFIG_DIR are pointed there, the only
#                 change made to it)
#   SIM_LOG       file receiving one line per effect outside the shell:
#                 "ubus call service <method> <json>", "logger <args>: <line>"
#   SIM_RUNNING   1: procd reports the instance as running
#   SIM_INVALID   options the validate_data stand-in reports invalid
#   SIM_VALIDATE_DATA  a real validate_data to use instead of
#                 tests/package/validate_data.sh (it must read $UCI_CONFDIR)
#   SIM_DAEMON_PID  a process standing for the running daemon: on `ubus call
#                 service delete` the harness does what procd does then
#                 (service/instance.c instance_stop(); with a jail, ujail's
#                 jail/jail.c jail_handle_signal() the same): SIGTERM, return
#                 at once, SIGKILL after SIM_TERM_TIMEOUT (default 5) seconds
#                 if it still runs. It logs "procd: SIGTERM <pid>", "procd:
#                 SIGKILL <pid>" and "procd: <pid> exited".
#
# chown and chgrp (the daemon's user does not exist here) only log what they
# would do; chmod and mkdir run on the simulated root and log too.
# The pieces below are re-implementations (not copies) of OpenWrt's, written
# from these sources, keeping what matters for the init script:
#   openwrt/openwrt package/base-files/files/etc/rc.common  (actions, procd glue)
#   openwrt/openwrt package/base-files/files/lib/functions.sh (config_get_bool)
#   openwrt/openwrt package/system/procd/files/procd.sh      (procd_*, and
#     uci_load_validate/uci_validate_section, which `eval` validate_data's
#     stdout: that is where a datatype with a '"' broke the service)
#   openwrt/libubox sh/jshn.sh                               (json_* tree)
#   openwrt/ubox validate/cli.c                             (validate_data)
# Simplified on purpose: one JSON namespace (procd.sh switches to "procd"
# and back), no flock (procd_lock), respawn defaults without /etc/config/system,
# `ubus call service list` answered from SIM_RUNNING.

initscript=$1
action=${2:-help}
HARNESS_DIR=$(cd "$(dirname "$0")" && pwd)
export UCI_CONFDIR="$SIM_ROOT/etc/config"

sim_log() { printf '%s\n' "$*" >>"$SIM_LOG"; }

# --- outside world -----------------------------------------------------------

logger() {
	_args=''
	while [ $# -gt 0 ]; do
		case $1 in
		-t | -p)
			_args="$_args $1 $2"
			shift 2
			;;
		*) break ;;
		esac
	done
	if [ $# -gt 0 ]; then
		sim_log "logger$_args: $*"
	else
		while IFS= read -r _line; do
			sim_log "logger$_args: $_line"
		done
	fi
}

chown() {
	sim_log "chown $*"
}
chgrp() {
	sim_log "chgrp $*"
}
chmod() {
	sim_log "chmod $*"
	command chmod "$@"
}
mkdir() {
	sim_log "mkdir $*"
	command mkdir "$@"
}

# Whether process $1 still runs (a zombie has exited: its files, locks
# included, are closed).
sim_alive() {
	kill -0 "$1" 2>/dev/null || return 1
	_state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null)
	case $_state in
	Z* | X* | '') return 1 ;;
	esac
}

# procd stopping the instance (see SIM_DAEMON_PID): the watcher runs on after
# the ubus call has returned, as procd's timer does.
sim_procd_stop() {
	_pid=$SIM_DAEMON_PID
	kill -TERM "$_pid" 2>/dev/null && sim_log "procd: SIGTERM $_pid"
	(
		_ticks=0
		while sim_alive "$_pid"; do
			if [ "$_ticks" -ge "$((${SIM_TERM_TIMEOUT:-5} * 10))" ]; then
				kill -KILL "$_pid" 2>/dev/null && sim_log "procd: SIGKILL $_pid"
				_ticks=0
			fi
			sleep 0.1
			_ticks=$((_ticks + 1))
		done
		sim_log "procd: $_pid exited"
	) &
}

# ubus call service <method> <json>
ubus() {
	sim_log "ubus $*"
	[ "$3" = delete ] && [ -n "$SIM_DAEMON_PID" ] && sim_procd_stop
	if [ "$3" = list ]; then
		if [ "${SIM_RUNNING:-0}" = 1 ]; then
			echo '{"sipalg":{"instances":{"instance1":{"running":true}}}}'
		else
			echo '{}'
		fi
	fi
}

# Only what procd_running asks: is some instance's "running" true?
jsonfilter() {
	grep -q '"running":true' && echo true
}

validate_data() {
	if [ -n "$SIM_VALIDATE_DATA" ]; then
		"$SIM_VALIDATE_DATA" "$@"
	else
		busybox ash "$HARNESS_DIR/validate_data.sh" "$@"
	fi
}

# --- jshn: a JSON tree in shell variables -------------------------------------
# Node N: _jt_N type (object array string int boolean), _jk_N key, _jv_N
# value, _jc_N children, _jp_N parent. _jcur is the open container.

json_init() {
	_jn=1
	_jt_1=object _jk_1='' _jc_1='' _jp_1=0
	_jcur=1
}

json_cleanup() { json_init; }

json_set_namespace() {
	[ -n "$2" ] && eval "$2=\${_jns:-}"
	_jns=$1
}

_json_add() {
	_jn=$((_jn + 1))
	eval "_jt_$_jn=\$1 _jk_$_jn=\$2 _jv_$_jn=\$3 _jc_$_jn='' _jp_$_jn=\$_jcur"
	eval "_jc_$_jcur=\"\$_jc_$_jcur $_jn\""
}

json_add_object() {
	_json_add object "$1" ''
	_jcur=$_jn
}
json_add_array() {
	_json_add array "$1" ''
	_jcur=$_jn
}
json_close_object() { eval "_jcur=\$_jp_$_jcur"; }
json_close_array() { eval "_jcur=\$_jp_$_jcur"; }
json_add_string() { _json_add string "$1" "$2"; }
json_add_int() { _json_add int "$1" "$2"; }
json_add_boolean() {
	case $2 in
	1 | true) _json_add boolean "$1" true ;;
	*) _json_add boolean "$1" false ;;
	esac
}

json_select() {
	if [ "$1" = .. ]; then
		eval "_jcur=\$_jp_$_jcur"
		return 0
	fi
	eval "_kids=\$_jc_$_jcur"
	for _k in $_kids; do
		eval "_kk=\$_jk_$_k _kt=\$_jt_$_k"
		if [ "$_kk" = "$1" ] && { [ "$_kt" = object ] || [ "$_kt" = array ]; }; then
			_jcur=$_k
			return 0
		fi
	done
	[ -n "$_json_no_warning" ] || echo "WARNING: Variable '$1' does not exist or is not an array/object" >&2
	return 1
}

json_get_values() {
	_vals=''
	eval "_kids=\$_jc_$_jcur"
	for _k in $_kids; do
		eval "_vals=\"\$_vals\${_vals:+ }\$_jv_$_k\""
	done
	eval "$1=\$_vals"
}

_json_str() {
	printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g; s/	/\\t/g')"
}

# Serialises node $1. Variables are suffixed with the node id: ash has no
# locals outside `local`, and this recurses.
_json_node() {
	eval "_t=\$_jt_$1 _v=\$_jv_$1"
	case $_t in
	string) _json_str "$_v" ;;
	int | boolean) printf '%s' "$_v" ;;
	object | array)
		eval "_t_$1=\$_t _sep_$1=''"
		if [ "$_t" = object ]; then printf '{'; else printf '['; fi
		eval "_list=\$_jc_$1"
		for _k in $_list; do
			eval "printf '%s' \"\$_sep_$1\"; _sep_$1=,"
			eval "_t=\$_t_$1"
			if [ "$_t" = object ]; then
				eval "_json_str \"\$_jk_$_k\""
				printf ':'
			fi
			_json_node "$_k"
		done
		eval "_t=\$_t_$1"
		if [ "$_t" = object ]; then printf '}'; else printf ']'; fi
		;;
	esac
}

json_dump() {
	_json_node 1
	echo
}

# --- procd.sh ----------------------------------------------------------------

PROCD_RELOAD_DELAY=1000

procd_lock() { :; }

_procd_ubus_call() {
	ubus call service "$1" "$(json_dump)"
	json_cleanup
}

procd_open_service() {
	_PROCD_INSTANCE_SEQ=0
	json_init
	json_add_string name "$1"
	[ -n "$2" ] && json_add_string script "$2"
	json_add_object instances
}

procd_close_service() {
	json_close_object
	procd_open_trigger
	service_triggers
	procd_close_trigger
	type service_data >/dev/null 2>&1 && {
		json_add_object data
		service_data
		json_close_object
	}
	_procd_ubus_call "${1:-set}"
}

procd_open_instance() {
	_PROCD_INSTANCE_SEQ=$((_PROCD_INSTANCE_SEQ + 1))
	json_add_object "${1:-instance$_PROCD_INSTANCE_SEQ}"
}

_procd_array() {
	json_add_array "$1"
	shift
	for _a in "$@"; do json_add_string "" "$_a"; done
	json_close_array
}

procd_set_param() {
	_type=$1
	shift
	case $_type in
	env | data | limits)
		json_add_object "$_type"
		for _a in "$@"; do
			_val=${_a#*=}
			[ "$_a" = "$_val" ] && _val=''
			json_add_string "${_a%%=*}" "$_val"
		done
		json_close_object
		;;
	command | netdev | file | respawn | watch | watchdog) _procd_array "$_type" "$@" ;;
	nice | term_timeout) json_add_int "$_type" "$1" ;;
	reload_signal) json_add_int "$_type" "$(kill -l "$1")" ;;
	pidfile | user | group | seccomp | capabilities | facility | extroot | overlaydir | tmpoverlaysize | vrf)
		json_add_string "$_type" "$1"
		;;
	stdout | stderr | no_new_privs) json_add_boolean "$_type" "$1" ;;
	esac
}

# procd.sh _procd_add_jail: a "jail" object, each known flag a boolean, and an
# empty "mount" object procd_add_jail_mount fills.
procd_add_jail() {
	json_add_object jail
	json_add_string name "$1"
	shift
	for _a in "$@"; do
		case $_a in
		log | ubus | udebug | procfs | sysfs | ronly | requirejail | netns | userns | cgroupsns)
			json_add_boolean "$_a" 1
			;;
		esac
	done
	json_add_object mount
	json_close_object
	json_close_object
}

_procd_jail_mount() {
	_flag=$1
	shift
	_json_no_warning=1
	json_select jail || return
	json_select mount || {
		json_select ..
		return
	}
	for _a in "$@"; do json_add_string "$_a" "$_flag"; done
	json_select ..
	json_select ..
	_json_no_warning=''
}
procd_add_jail_mount() { _procd_jail_mount 0 "$@"; }
procd_add_jail_mount_rw() { _procd_jail_mount 1 "$@"; }

procd_close_instance() {
	_json_no_warning=1
	if json_select respawn; then
		json_get_values _respawn
		if [ -z "$_respawn" ]; then
			for _a in 3600 5 5; do json_add_string "" "$_a"; done
		fi
		json_select ..
	fi
	_json_no_warning=''
	json_close_object
}

_procd_trigger_open=0
procd_open_trigger() {
	_procd_trigger_open=$((_procd_trigger_open + 1))
	[ "$_procd_trigger_open" -gt 1 ] && return
	json_add_array triggers
}
procd_close_trigger() {
	_procd_trigger_open=$((_procd_trigger_open - 1))
	[ "$_procd_trigger_open" -lt 1 ] || return
	json_close_array
}

procd_add_reload_trigger() {
	_name=$(basename "$initscript")
	procd_open_trigger
	for _file in "$@"; do
		json_add_array
		json_add_string "" config.change
		json_add_array
		json_add_string "" if
		_procd_array "" eq package "$_file"
		_procd_array "" run_script "/etc/init.d/$_name" reload
		json_close_array
		json_add_int "" "$PROCD_RELOAD_DELAY"
		json_close_array
	done
	procd_close_trigger
}

procd_add_validation() {
	json_select ..
	json_add_array validate
	# Unquoted in procd.sh too: the function runs with no arguments.
	# shellcheck disable=SC2068
	$@
	json_close_array
	json_select triggers
}

procd_running() {
	json_init
	json_add_string name "$1"
	_running=$(_procd_ubus_call list | jsonfilter -l 1 -e "@['$1'].instances[*].running")
	[ "$_running" = true ]
}

procd_kill() {
	json_init
	[ -n "$1" ] && json_add_string name "$1"
	[ -n "$2" ] && json_add_string instance "$2"
	_procd_ubus_call delete
}

procd_send_signal() {
	_sig=$3
	case $_sig in
	[A-Z]*) _sig=$(kill -l "$_sig" 2>/dev/null) || return 1 ;;
	esac
	json_init
	json_add_string name "$1"
	[ -n "$2" ] && [ "$2" != "*" ] && json_add_string instance "$2"
	[ -n "$_sig" ] && json_add_int signal "$_sig"
	_procd_ubus_call signal
}

# procd.sh: validate_data's stdout is eval'd as shell code, as it is.
uci_validate_section() {
	_package=$1
	_type=$2
	_name=$3
	shift 3
	_result=$(validate_data "$_package" "$_type" "$_name" "$@" 2>/dev/null)
	_error=$?
	eval "$_result"
	return $_error
}

uci_load_validate() {
	_package=$1
	_type=$2
	_name=$3
	_function=$4
	shift 4
	for _option in "$@"; do
		eval "local ${_option%%:*}"
	done
	uci_validate_section "$_package" "$_type" "$_name" "$@"
	_result=$?
	[ -n "$_function" ] || return $_result
	eval "$_function \"\$_name\" \"\$_result\""
}

# --- functions.sh: config_load / config_get_bool --------------------------------

config_load() {
	_cfg_entries=$(busybox ash "$HARNESS_DIR/validate_data.sh" --dump "$UCI_CONFDIR/$1" 2>/dev/null)
}

# config_get_bool VAR SECTION OPTION DEFAULT
config_get_bool() {
	_tmp=$4
	_sect=''
	while IFS=' ' read -r _k _a _b; do
		case $_k in
		s) _sect=$_b ;;
		o) [ "$_sect" = "$2" ] && [ "$_a" = "$3" ] && _tmp=$_b ;;
		esac
	done <<EOF
$_cfg_entries
EOF
	case $_tmp in
	1 | on | true | yes | enabled) _tmp=1 ;;
	0 | off | false | no | disabled) _tmp=0 ;;
	*) _tmp=$4 ;;
	esac
	eval "$1=\$_tmp"
}

# --- rc.common -----------------------------------------------------------------

ALL_COMMANDS='boot shutdown depends'
extra_command() { ALL_COMMANDS="$ALL_COMMANDS $1"; }
for _c in start stop restart reload enable disable enabled; do extra_command "$_c"; done
start_service() { return 0; }
stop_service() { return 0; }
service_triggers() { return 0; }
service_data() { return 0; }
service_running() { procd_running "${1:-$(basename "$initscript")}" "${2:-*}"; }

# shellcheck source=/dev/null
. "$initscript"

# The one change to the script: the router's paths live under SIM_ROOT.
# shellcheck disable=SC2034 # read by the init script
PROG="$SIM_ROOT/usr/sbin/sipalgd"
# shellcheck disable=SC2034 # read by the init script
CONFIG_DIR="$SIM_ROOT/etc/config"
# shellcheck disable=SC2034 # read by the init script
RUN_DIR="$SIM_ROOT/var/run/sipalg"

[ -n "$USE_PROCD" ] || {
	echo "init-harness: $initscript does not set USE_PROCD" >&2
	exit 2
}
extra_command running
start() {
	procd_open_service "$(basename "$initscript")" "$initscript"
	start_service "$@"
	procd_close_service set
}
stop() {
	procd_lock
	stop_service "$@"
	procd_kill "$(basename "$initscript")" "$1"
	if type service_stopped >/dev/null 2>&1; then
		service_stopped
	fi
}
reload() {
	if type reload_service >/dev/null 2>&1; then
		procd_lock
		reload_service "$@"
	else
		start
	fi
}
restart() {
	stop "$@"
	start "$@"
}
running() { service_running "$@"; }

case " $ALL_COMMANDS " in
*" $action "*) ;;
*)
	echo "init-harness: unknown action $action" >&2
	exit 2
	;;
esac
shift 2
"$action" "$@"
echo "rc=$?"
