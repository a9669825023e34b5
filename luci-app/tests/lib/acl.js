'use strict';
/*
 * How a router decides whether a LuCI session may make a call, re-implemented
 * (not copied) from these sources, for the tests:
 *
 *  - openwrt/rpcd session.c, rpc_login_setup_acl_file/rpc_login_setup_acl_scope:
 *    an acl.d group grants, per permission level ("read", "write") the user
 *    has for the group, tuples (scope, object, function):
 *      "<scope>": { "<object>": [ "<function>", ... ] }   table notation
 *      "<scope>": [ "<object>", ... ]                     array notation: the
 *                                                         function is the level
 *    A user with "write" on a group also gets its "read" block
 *    (rpc_login_test_permission). Access is checked with fnmatch(3) on object
 *    and function, FNM_NOESCAPE (uh_foreach_matching_acl).
 *  - rpcd ubus calls: (ubus, <object>, <method>); uci: (uci, <config>, read|write).
 *  - LuCI modules/luci-base/htdocs/luci-static/resources/fs.js exec_direct():
 *    the command and each parameter, with '\' and white space backslash-escaped,
 *    joined by ' ', POSTed to cgi-exec.
 *  - openwrt/cgi-io main.c main_exec(): refuses unless (cgi-io, exec, read);
 *    then util.c parse_command() splits the command line (unescaping) and
 *    (file, <all arguments joined by ' '>, exec) or else
 *    (file, <executable path>, exec) must be granted.
 */

/* fnmatch(pattern, string, FNM_NOESCAPE) without FNM_PATHNAME/FNM_PERIOD. */
function fnmatch(pattern, str) {
	let re = '^';
	for (let i = 0; i < pattern.length; i++) {
		const c = pattern[i];
		if (c === '*') re += '[\\s\\S]*';
		else if (c === '?') re += '[\\s\\S]';
		else if (c === '[') {
			const end = pattern.indexOf(']', i + 2);
			if (end < 0) { re += '\\['; continue; }
			let body = pattern.slice(i + 1, end);
			let neg = false;
			if (body[0] === '!' || body[0] === '^') { neg = true; body = body.slice(1); }
			re += '[' + (neg ? '^' : '') + body.replace(/[\\\]]/g, '\\$&') + ']';
			i = end;
		}
		else re += c.replace(/[.+^${}()|\\/\]]/g, '\\$&');
	}
	return new RegExp(re + '$').test(str);
}

/*
 * The grants of the acl.d file `aclJson` for a user with permission `level`
 * ("read" or "write") on every group in it: [ [scope, object, function] ].
 */
function grants(aclJson, level) {
	const out = [];
	const levels = level === 'write' ? [ 'read', 'write' ] : [ 'read' ];
	for (const group of Object.keys(aclJson)) {
		const g = aclJson[group];
		if (!g || typeof g !== 'object') continue;
		for (const perm of levels) {
			const p = g[perm];
			if (!p || typeof p !== 'object' || Array.isArray(p)) continue;
			for (const scope of Object.keys(p)) {
				const s = p[scope];
				if (Array.isArray(s)) {
					for (const obj of s) if (typeof obj === 'string') out.push([ scope, obj, perm ]);
				}
				else if (s && typeof s === 'object') {
					for (const obj of Object.keys(s)) {
						if (!Array.isArray(s[obj])) continue;
						for (const fn of s[obj]) if (typeof fn === 'string') out.push([ scope, obj, fn ]);
					}
				}
			}
		}
	}
	return out;
}

function access(granted, scope, obj, fn) {
	return granted.some(([ s, o, f ]) => s === scope && fnmatch(o, obj) && fnmatch(f, fn));
}

/* fs.exec_direct's command line. */
function execDirectCmdline(command, params) {
	const esc = (s) => String(s).replace(/\\/g, '\\\\').replace(/(\s)/g, '\\$1');
	return [ command ].concat(params || []).map(esc).join(' ');
}

/* cgi-io util.c parse_command: the argument vector. */
function parseCommand(cmdline) {
	const args = [];
	let cur = null;
	for (let i = 0; i < cmdline.length; i++) {
		const c = cmdline[i];
		if (c === '\\' && i + 1 < cmdline.length) {
			cur = (cur || '') + cmdline[++i];
		}
		else if (/\s/.test(c)) {
			if (cur !== null) args.push(cur);
			cur = null;
		}
		else cur = (cur || '') + c;
	}
	if (cur !== null) args.push(cur);
	return args;
}

/*
 * What cgi-io answers to fs.exec_direct(command, params) for `granted`:
 * { code: 200|403|404, reason }. `resolve` maps argv[0] to the executable
 * path (cgi-io searches $PATH for a name without '/').
 */
function cgiExec(granted, command, params, resolve) {
	if (!access(granted, 'cgi-io', 'exec', 'read'))
		return { code: 403, reason: 'Exec permission denied' };
	const args = parseCommand(execDirectCmdline(command, params));
	if (!args.length) return { code: 400, reason: 'Invalid command parameter' };
	if (access(granted, 'file', args.join(' '), 'exec')) return { code: 200 };
	const exe = (resolve || ((a) => (a.includes('/') ? a : null)))(args[0]);
	if (!exe) return { code: 404, reason: 'Executable not found' };
	if (access(granted, 'file', exe, 'exec')) return { code: 200 };
	return { code: 403, reason: 'Access to command denied by ACL' };
}

module.exports = { fnmatch, grants, access, execDirectCmdline, parseCommand, cgiExec };
