'use strict';
/*
 * Minimal reader of UCI config files (config/option/list lines, quotes,
 * comments), for the tests. Returns LuCI-style data:
 *   { main: { '.name': 'main', '.type': 'sipalg', '.index': 0, enabled: '1', port: ['5060'] }, ... }
 * plus, per section, '.lists': names of options given with `list`.
 */

function tokenize(line, where) {
	const out = [];
	let i = 0;
	while (i < line.length) {
		const c = line[i];
		if (c === ' ' || c === '\t') { i++; continue; }
		if (c === '#') break;
		let tok = '';
		while (i < line.length && line[i] !== ' ' && line[i] !== '\t') {
			if (line[i] === '\'' || line[i] === '"') {
				const q = line[i];
				const end = line.indexOf(q, i + 1);
				if (end < 0) throw new Error(`${where}: unterminated quote`);
				tok += line.substring(i + 1, end);
				i = end + 1;
			}
			else if (line[i] === '#' && tok === '') break;
			else tok += line[i++];
		}
		out.push(tok);
	}
	return out;
}

function parseUci(text, name) {
	const data = {};
	let cur = null, idx = 0, anon = 0;
	text.split('\n').forEach((raw, n) => {
		const where = `${name}:${n + 1}`;
		const t = tokenize(raw, where);
		if (!t.length) return;
		if (t[0] === 'package') return;
		if (t[0] === 'config') {
			const sid = t[2] != null ? t[2] : `cfg${(anon++).toString(16)}`;
			cur = data[sid] = { '.name': sid, '.type': t[1], '.index': idx++, '.anonymous': t[2] == null, '.lists': [] };
			return;
		}
		if (!cur) throw new Error(`${where}: ${t[0]} outside of a config section`);
		if (t[0] === 'option') { cur[t[1]] = t[2] != null ? t[2] : ''; return; }
		if (t[0] === 'list') {
			if (!Array.isArray(cur[t[1]])) cur[t[1]] = [];
			cur[t[1]].push(t[2] != null ? t[2] : '');
			if (!cur['.lists'].includes(t[1])) cur['.lists'].push(t[1]);
			return;
		}
		throw new Error(`${where}: unknown keyword "${t[0]}"`);
	});
	return data;
}

/* [{section, type, option, list, value}] */
function options(data) {
	const out = [];
	for (const sid of Object.keys(data)) {
		const s = data[sid];
		for (const k of Object.keys(s)) {
			if (k[0] === '.') continue;
			out.push({ section: sid, type: s['.type'], option: k, list: s['.lists'].includes(k), value: s[k] });
		}
	}
	return out;
}

/* data without the '.lists' helper, for LuCI-style consumers */
function forLuci(data) {
	const out = {};
	for (const sid of Object.keys(data)) {
		out[sid] = Object.assign({}, data[sid]);
		delete out[sid]['.lists'];
	}
	return out;
}

module.exports = { parseUci, options, forLuci };
