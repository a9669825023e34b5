#!/bin/sh
# A stand-in for OpenWrt's /sbin/validate_data (ubox validate/cli.c), written
# from that source for tests/package/init-harness.sh. It prints exactly what
# the real one prints on stdout, because procd.sh eval's that text:
#
#   validate_data PACKAGE TYPE '' 'opt:datatype:default'...
#     (section name empty: the `ubus call service validate` description)
#     json_add_object; json_add_string "package" "PACKAGE"; ...
#     json_add_object "data"; json_add_string "opt" "datatype"; ...
#     json_close_object; json_close_object;
#   The datatype is printed between double quotes WITHOUT any escaping
#   (cli.c main(): printf("json_add_string \"%s\" \"%s\"; ", opt, expr)).
#
#   validate_data PACKAGE TYPE NAME 'opt:datatype:default'...
#     one shell assignment per option (cli.c validate_value/export_value):
#     bool  -> opt=1;            (or 0)
#     number-> opt=5060;         (printed raw)
#     string-> opt='it'"'"'s';  (single-quoted)
#     list  -> opt=a\ b;         (items joined by "\ ")
#     unset/empty/invalid -> unset -v opt;
#   exit status 255 when a value is invalid.
#
# Tuples are split like cli.c parse_tuple(): on ':' not preceded by '\' (the
# '\' stays in the text); a third ':' ends the default. parse_tuple writes a
# NUL over each ':' and then steps one byte further, so a tuple ENDING in ':'
# ('opt:datatype:' for an empty default) makes it step over the string's end
# into the next argument (argv strings are adjacent in memory) and cut that
# one at its first ':' ('port:list(...):5060' becomes 'port': no datatype, so
# the option vanishes from the JSON and fails validation). This is emulated:
# it is how `media_source` was lost after `trusted_source:list(cidr4):`.
#
# What is NOT reimplemented: ubox's datatype grammar (validate/validate.c
# dt_parse). The type of a value is taken from the datatype's name: `bool`,
# anything with `uinteger`/`port` (numbers), else string; a value is invalid
# only if its option is named in $SIM_INVALID (or a bool/number does not
# parse). tests/package.rs checks the datatypes themselves against a real
# validate_data when SIPALG_VALIDATE_DATA points to one. The config is read
# from $UCI_CONFDIR/PACKAGE (libuci's /etc/config), with a small UCI reader.

# parse_tuple TUPLE: sets _opt, _expr, _def; fails without a second field.
# Sets _overrun=1 if TUPLE ends in an unescaped ':' (see above).
parse_tuple() {
	_rest=$1
	_field=0
	_opt='' _expr='' _def=''
	_have_expr=0
	_esc=0
	_overrun=0
	while [ -n "$_rest" ]; do
		_c=${_rest%"${_rest#?}"}
		_rest=${_rest#?}
		if [ "$_esc" = 0 ] && [ "$_c" = "\\" ]; then
			_esc=1
		elif [ "$_esc" = 0 ] && [ "$_c" = ':' ]; then
			_field=$((_field + 1))
			[ "$_field" = 1 ] && _have_expr=1
			[ "$_field" -ge 3 ] && break
			[ -z "$_rest" ] && _overrun=1
			continue
		else
			_esc=0
		fi
		case $_field in
		0) _opt=$_opt$_c ;;
		1) _expr=$_expr$_c ;;
		2) _def=$_def$_c ;;
		esac
	done
	[ "$_have_expr" = 1 ]
}

# cut_at_colon TUPLE: TUPLE up to its first unescaped ':' (what is left of
# the argument after the previous tuple's overrun).
cut_at_colon() {
	_rest=$1
	_out=''
	_esc=0
	while [ -n "$_rest" ]; do
		_c=${_rest%"${_rest#?}"}
		_rest=${_rest#?}
		if [ "$_esc" = 0 ] && [ "$_c" = ':' ]; then
			break
		elif [ "$_esc" = 0 ] && [ "$_c" = "\\" ]; then
			_esc=1
		else
			_esc=0
		fi
		_out=$_out$_c
	done
	printf '%s' "$_out"
}

# The dt_type validate_data would report for VALUE under EXPR:
# bool, number, string or invalid (see above).
dt_type() {
	_e=$1
	_v=$2
	[ -n "$_v" ] || {
		echo invalid
		return
	}
	case " $SIM_INVALID " in
	*" $_cur_opt "*)
		echo invalid
		return
		;;
	esac
	case $_e in
	bool)
		case $_v in
		0 | off | false | no | disabled | 1 | on | true | yes | enabled) echo bool ;;
		*) echo invalid ;;
		esac
		;;
	*uinteger* | *port*)
		case $_v in
		*[!0-9\ ]* | ' '*) echo invalid ;;
		*) echo number ;;
		esac
		;;
	*) echo string ;;
	esac
}

escape_value() {
	case $1 in
	bool)
		case $2 in
		0 | off | false | no | disabled) printf 0 ;;
		1 | on | true | yes | enabled) printf 1 ;;
		esac
		;;
	string)
		printf "'%s'" "$(printf '%s' "$2" | sed "s/'/'\"'\"'/g")"
		;;
	*) printf '%s' "$2" ;;
	esac
}

export_value() {
	if [ "$1" = invalid ] || [ -z "$3" ]; then
		printf 'unset -v %s; ' "$2"
		return
	fi
	printf '%s=' "$2"
	escape_value "$1" "$3"
	printf '; '
}

# The entries of section NAME of FILE (all sections if NAME is empty), one per line: "o KEY VALUE" or
# "l KEY VALUE" (value verbatim after UCI unquoting; no newlines).
read_section() {
	awk -v want="$2" '
	function word(   w, q, c) {
		sub(/^[ \t]+/, "", line)
		w = ""
		while (length(line) > 0) {
			c = substr(line, 1, 1)
			if (c == " " || c == "\t") break
			if (c == "#" && w == "") { line = ""; break }
			if (c == "\x27" || c == "\"") {
				q = c; line = substr(line, 2)
				while (length(line) > 0 && substr(line, 1, 1) != q) {
					if (q == "\"" && substr(line, 1, 1) == "\\") line = substr(line, 2)
					w = w substr(line, 1, 1); line = substr(line, 2)
				}
				line = substr(line, 2)
				got = 1
				continue
			}
			w = w c; line = substr(line, 2); got = 1
		}
		return w
	}
	{
		line = $0; got = 0
		kw = word()
		if (kw == "config") {
			t = word(); name = word(); insec = (name == want || want == "")
			if (want == "") print "s " t " " name
			next
		}
		if (!insec) next
		if (kw == "option" || kw == "list") {
			key = word(); got = 0; val = word()
			print substr(kw, 1, 1) " " key " " val
		}
	}' "$1"
}

# --dump FILE: every entry of FILE, with "s TYPE NAME" lines between sections
# (used by init-harness.sh's config_load; not a validate_data mode).
if [ "$1" = --dump ]; then
	read_section "$2" ''
	exit
fi

package=$1
stype=$2
section=$3
shift 3 2>/dev/null || {
	echo "usage: validate_data <package> <section_type> <section_name> 'option:datatype:default'..." >&2
	exit 255
}

if [ -z "$section" ]; then
	printf 'json_add_object; '
	printf 'json_add_string "package" "%s"; ' "$package"
	printf 'json_add_string "type" "%s"; ' "$stype"
	printf 'json_add_object "data"; '
	cut=0
	for t in "$@"; do
		[ "$cut" = 1 ] && t=$(cut_at_colon "$t")
		parse_tuple "$t"
		ok=$?
		cut=$_overrun
		[ "$ok" = 0 ] || continue
		printf 'json_add_string "%s" "%s"; ' "$_opt" "$_expr"
	done
	printf 'json_close_object; '
	printf 'json_close_object; '
	exit 0
fi

file=${UCI_CONFDIR:-/etc/config}/$package
[ -r "$file" ] || exit 255
entries=$(read_section "$file" "$section")
rc=0
cut=0
for t in "$@"; do
	[ "$cut" = 1 ] && t=$(cut_at_colon "$t")
	parse_tuple "$t"
	ok=$?
	cut=$_overrun
	if [ "$ok" != 0 ]; then
		echo "$t is not a valid option" >&2
		rc=255
		continue
	fi
	_cur_opt=$_opt
	kind='' value='' items=''
	# Like libuci: a later `option` replaces, `list` lines append.
	while read -r k key v; do
		[ "$key" = "$_opt" ] || continue
		if [ "$k" = l ]; then
			[ "$kind" = l ] || items=''
			kind=l
			items="$items
$v"
		else
			kind=o
			value=$v
		fi
	done <<EOF
$entries
EOF
	empty=1
	if [ "$kind" = l ]; then
		first=1
		while IFS= read -r item; do
			[ -n "$item" ] || continue
			if [ "$first" = 1 ]; then printf '%s=' "$_opt"; else printf '\\ '; fi
			first=0
			empty=0
			type=$(dt_type "$_expr" "$item")
			if [ "$type" = invalid ]; then rc=255; else escape_value "$type" "$item"; fi
			echo "$package.$section.$_opt=$item validates as $_expr with $type" >&2
		done <<EOF
$items
EOF
		[ "$empty" = 1 ] || printf '; '
	elif [ "$kind" = o ] && [ -n "$value" ]; then
		empty=0
		type=$(dt_type "$_expr" "$value")
		[ "$type" = invalid ] && rc=255
		export_value "$type" "$_opt" "$value"
		echo "$package.$section.$_opt=$value validates as $_expr with $type" >&2
	fi
	if [ "$empty" = 1 ]; then
		_cur_opt=''
		type=$(dt_type "$_expr" "$_def")
		[ "$type" = invalid ] && type=string
		export_value "$type" "$_opt" "$_def"
		echo "$package.$section.$_opt is unset and defaults to $_expr $_def" >&2
	fi
done
exit $rc
