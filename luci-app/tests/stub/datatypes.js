/*
 * A small evaluator of LuCI / UCI datatype expressions ("and(uinteger,min(120))",
 * 'or("EF",range(0,63))', "list(port)"), written for the tests of luci-app-sipalg.
 *
 * It parses expressions the way LuCI's validation.js does (function names,
 * numbers and quoted string literals as arguments; or/and/neg/list combine
 * them) and knows the common datatypes' meaning. An unknown datatype name is
 * an error, as it is in LuCI, so a typo in a view's datatype fails the tests.
 *
 * The 'luci' flavor follows openwrt/luci modules/luci-base/htdocs/luci-static/
 * resources/validation.js (re-implemented, not copied): parseInteger
 * /^-?\d+$/ (so uinteger and port take "-0"), parseDecimal /^-?\d+(\.\d+)?$/,
 * parseIPv4 /^\d{1,3}(\.\d{1,3}){3}$/ with octets <= 255 (leading zeros
 * allowed), ip4addr without "nomask" also taking /prefix and /netmask,
 * cidr4 requiring /\d{1,2}, netdevname, no not() (LuCI has neg() only).
 *
 * Used both in Node (consistency test) and in the browser (form stand-in).
 */
(function(root) {
	'use strict';

	function isInt(v) { return /^-?(0|[1-9][0-9]*)$/.test(v); }
	function isUint(v) { return /^(0|[1-9][0-9]*)$/.test(v); }
	function isFloat(v) { return /^-?[0-9]+(\.[0-9]+)?$/.test(v); }

	function ip4(v) {
		var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v);
		if (!m) return false;
		for (var i = 1; i <= 4; i++)
			if (+m[i] > 255 || (m[i].length > 1 && m[i][0] == '0')) return false;
		return true;
	}

	function ip6(v) {
		if (!/^[0-9a-fA-F:.]+$/.test(v) || v.indexOf(':') < 0) return false;
		var dbl = v.split('::');
		if (dbl.length > 2) return false;
		var groups = v.replace('::', ':x:').split(':').filter(function(g) { return g !== ''; });
		var n = 0;
		for (var i = 0; i < groups.length; i++) {
			if (groups[i] == 'x') continue;
			if (i == groups.length - 1 && groups[i].indexOf('.') >= 0) { if (!ip4(groups[i])) return false; n += 2; continue; }
			if (!/^[0-9a-fA-F]{1,4}$/.test(groups[i])) return false;
			n++;
		}
		return dbl.length == 2 ? n < 8 : n == 8;
	}

	function cidr(v, check, maxlen) {
		var m = /^(.+)\/(\d{1,3})$/.exec(v);
		return !!m && check(m[1]) && +m[2] <= maxlen;
	}

	function hostname(v) {
		return v.length <= 253 && /^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)*\.?$/.test(v);
	}

	/* validation.js parseInteger / parseDecimal / parseIPv4 */
	function lInt(v) { return /^-?\d+$/.test(v) ? +v : NaN; }
	function lDec(v) { return /^-?\d+(?:\.\d+)?$/.test(v) ? +v : NaN; }
	function lIPv4(v) {
		var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v);
		return !!m && +m[1] <= 255 && +m[2] <= 255 && +m[3] <= 255 && +m[4] <= 255;
	}
	function lPrefix4(v) { return !isNaN(v) && +v >= 0 && +v <= 32; }
	function lIp4addr(v, nomask) {
		var m = (nomask ? /^(\d+\.\d+\.\d+\.\d+)$/ : /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+\.\d+\.\d+\.\d+)|\/(\d{1,2}))?$/).exec(v);
		return !!m && lIPv4(m[1]) && (m[2] ? lIPv4(m[2]) : (m[3] ? lPrefix4(m[3]) : true));
	}
	function lCidr4(v, negative) {
		var m = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\/(-)?(\d{1,2})$/.exec(v);
		return !!m && lIPv4(m[1]) && (!!negative || !m[2]) && lPrefix4(m[3]);
	}
	function bytelen(v) { return typeof Buffer != 'undefined' ? Buffer.byteLength(v) : new Blob([ v ]).size; }

	/* LuCI's meaning where it differs from procd's (flavor 'luci') */
	var luciTypes = {
		'integer': function(v) { return !isNaN(lInt(v)); },
		'uinteger': function(v) { return lInt(v) >= 0; },
		'float': function(v) { return !isNaN(lDec(v)); },
		'ufloat': function(v) { return lDec(v) >= 0; },
		'ip4addr': function(v, nomask) { return lIp4addr(v, nomask); },
		'ipaddr': function(v, nomask) { return lIp4addr(v, nomask) || ip6(v); },
		'cidr4': function(v, negative) { return lCidr4(v, negative); },
		'cidr': function(v, negative) { return lCidr4(v, negative) || cidr(v, ip6, 128); },
		'ipmask4': function(v, negative) {
			return lCidr4(v, negative) || /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\/(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.test(v) &&
				lIPv4(v.split('/')[0]) && lIPv4(v.split('/')[1]) || lIp4addr(v);
		},
		'port': function(v) { var p = lInt(v); return p >= 0 && p <= 65535; },
		'netdevname': function(v) { return v != '.' && v != '..' && /^[^:/%\s]{1,15}$/.test(v); },
		'min': function(v, n) { return lDec(v) >= +n; },
		'max': function(v, n) { return lDec(v) <= +n; },
		'range': function(v, a, b) { return lDec(v) >= +a && lDec(v) <= +b; },
		'minlength': function(v, n) { return bytelen(v) >= +n; },
		'maxlength': function(v, n) { return bytelen(v) <= +n; },
		'rangelength': function(v, a, b) { return bytelen(v) >= +a && bytelen(v) <= +b; }
	};

	/* datatype name -> function(value, args...) returning true/false */
	var types = {
		'integer': function(v) { return isInt(v); },
		'uinteger': function(v) { return isUint(v); },
		'float': function(v) { return isFloat(v); },
		'ufloat': function(v) { return isFloat(v) && +v >= 0; },
		'bool': function(v) { return /^(0|1|yes|no|on|off|true|false|enabled|disabled)$/.test(v); },
		'string': function() { return true; },
		'ipaddr': function(v) { return ip4(v) || ip6(v); },
		'ip4addr': function(v) { return ip4(v); },
		'ip6addr': function(v) { return ip6(v); },
		'cidr': function(v) { return cidr(v, ip4, 32) || cidr(v, ip6, 128); },
		'cidr4': function(v) { return cidr(v, ip4, 32); },
		'cidr6': function(v) { return cidr(v, ip6, 128); },
		/* procd's validate_data only (the init script, `sipalgd schema`): an anchored extended regex */
		'regex': function(v, re) { return new RegExp('^(?:' + re + ')$').test(v); },
		'ipmask4': function(v) { return cidr(v, ip4, 32) || ip4(v); },
		'port': function(v) { return isUint(v) && +v <= 65535; },
		'portrange': function(v) {
			var m = /^(\d+)(?:-(\d+))?$/.exec(v);
			return !!m && +m[1] <= 65535 && (m[2] == null || (+m[2] <= 65535 && +m[2] >= +m[1]));
		},
		'hostname': function(v) { return hostname(v); },
		'host': function(v) { return hostname(v) || ip4(v) || ip6(v); },
		'uciname': function(v) { return /^[a-zA-Z0-9_]+$/.test(v); },
		'min': function(v, n) { return isFloat(v) && +v >= n; },
		'max': function(v, n) { return isFloat(v) && +v <= n; },
		'range': function(v, a, b) { return isFloat(v) && +v >= a && +v <= b; },
		'minlength': function(v, n) { return v.length >= n; },
		'maxlength': function(v, n) { return v.length <= n; },
		'rangelength': function(v, a, b) { return v.length >= a && v.length <= b; }
	};

	var procdOnly = { regex: 1, not: 1 };
	var luciOnly = { netdevname: 1 };

	/* Parse "name(arg,arg)" into a tree: {fn, args} | {lit} | {num} */
	function parse(code, flavor) {
		var pos = 0;

		function ws() { while (pos < code.length && /\s/.test(code[pos])) pos++; }

		function expr() {
			ws();
			var c = code[pos];
			if (c == '"' || c == "'") {
				var end = code.indexOf(c, pos + 1);
				if (end < 0) throw new SyntaxError('unterminated string in datatype "' + code + '"');
				var lit = code.substring(pos + 1, end);
				pos = end + 1;
				return { lit: lit };
			}
			var m = /^-?[0-9.]+/.exec(code.substring(pos));
			if (m) { pos += m[0].length; return { num: +m[0] }; }
			m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(code.substring(pos));
			if (!m) throw new SyntaxError('unexpected "' + code.substring(pos) + '" in datatype "' + code + '"');
			pos += m[0].length;
			var node = { fn: m[0], args: [] };
			ws();
			if (code[pos] == '(') {
				pos++;
				ws();
				if (code[pos] != ')') {
					for (;;) {
						node.args.push(expr());
						ws();
						if (code[pos] == ',') { pos++; continue; }
						if (code[pos] == ')') break;
						throw new SyntaxError('expected "," or ")" in datatype "' + code + '"');
					}
				}
				pos++;
			}
			var known = { or: 1, and: 1, not: 1, neg: 1, list: 1 };
			var luci = flavor != 'procd';
			if ((luci && procdOnly[node.fn]) || (!luci && luciOnly[node.fn]) ||
			    (!known[node.fn] && !types[node.fn] && !(luci && luciTypes[node.fn])))
				throw new SyntaxError('unknown datatype "' + node.fn + '" in "' + code + '"');
			return node;
		}

		var tree = expr();
		ws();
		if (pos != code.length) throw new SyntaxError('trailing "' + code.substring(pos) + '" in datatype "' + code + '"');
		return tree;
	}

	function evaluate(node, value, flavor) {
		/* LuCI's or()/and() compare literals with == (a number literal matches "05") */
		if (node.lit != null) return value === node.lit;
		if (node.num != null) return flavor != 'procd' ? value == node.num : value === String(node.num);
		var a = node.args;
		switch (node.fn) {
		case 'or': return a.some(function(x) { return evaluate(x, value, flavor); });
		case 'and': return a.every(function(x) { return evaluate(x, value, flavor); });
		case 'not': return !evaluate(a[0], value, flavor);
		case 'neg': return evaluate(a[0], value.replace(/^\s*!\s*/, ''), flavor);
		case 'list': return (flavor != 'procd' ? (String(value).match(/[^ \t]+/g) || []) : String(value).trim().split(/\s+/))
			.every(function(x) { return evaluate(a[0], x, flavor); });
		}
		/* procd's cidr4/cidr6 take a bare address too (the mask is optional); LuCI's need the mask */
		if (flavor == 'procd' && (node.fn == 'cidr4' || node.fn == 'cidr6') && String(value).indexOf('/') < 0)
			return node.fn == 'cidr4' ? ip4(String(value)) : ip6(String(value));
		var args = a.map(function(x) {
			if (x.num != null) return x.num;
			if (x.lit != null) return x.lit;
			throw new SyntaxError('argument of ' + node.fn + '() must be a number or a string');
		});
		var fn = (flavor != 'procd' && luciTypes[node.fn]) || types[node.fn];
		return !!fn.apply(null, [ String(value) ].concat(args));
	}

	/* flavor: 'luci' (views, LuCI's validation.js; default) or 'procd' (validate_data, sipalgd schema) */
	function compile(code, flavor) {
		var tree = parse(String(code), flavor);
		return function(value) { return evaluate(tree, String(value), flavor); };
	}

	var api = { compile: compile, parse: parse, types: Object.keys(types) };

	if (typeof module == 'object' && module.exports)
		module.exports = api;
	else
		root.SipalgDatatypes = api;
})(typeof window != 'undefined' ? window : globalThis);
