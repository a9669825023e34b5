'use strict';
/*
 * Consistency of luci-app-sipalg with the rest of the project:
 *  - the (section, option) pairs the settings view declares
 *    == the SPEC's UCI table == files/sipalg.config (when present)
 *    == `sipalgd schema` (when a built sipalgd has that command);
 *  - list-ness, section types, defaults and datatypes agree;
 *  - the rpcd ACL grants every exec / ubus / uci access the views make;
 *  - menu.d points at view files that exist and at this ACL.
 */
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const P = require('./lib/paths');
const { parseUci, options, forLuci } = require('./lib/uci');
const { check, note, summary } = require('./lib/tap');
const ACL = require('./lib/acl');

globalThis.SipalgDatatypes = require('./stub/datatypes.js');
require('./stub/luci-stub.js');
const stub = globalThis.LuCIStub;
const DT = globalThis.SipalgDatatypes;

const key = (o) => `${o.section}.${o.option}`;
const setDiff = (a, b) => [ ...a ].filter((x) => !b.has(x));
function sameSet(name, a, b, an, bn) {
	const A = new Set(a), B = new Set(b);
	const onlyA = setDiff(A, B), onlyB = setDiff(B, A);
	return check(name, !onlyA.length && !onlyB.length,
		[ onlyA.length ? `only in ${an}: ${onlyA.join(', ')}` : '', onlyB.length ? `only in ${bn}: ${onlyB.join(', ')}` : '' ].filter(Boolean).join('; '));
}

/* default values as lists of non-empty strings, for comparison */
function norm(v) {
	if (v == null) return [];
	if (typeof v == 'boolean') return [ v ? '1' : '0' ];
	const a = Array.isArray(v) ? v : [ v ];
	return a.map(String).filter((x) => x !== '');
}
const eq = (a, b) => JSON.stringify(norm(a)) === JSON.stringify(norm(b));

/* values to probe datatypes with (shared with tests/package.rs, which holds the init
 * script's validate_data datatypes to sipalgd check over the same table) */
const VALUES = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'datatype-values.json'), 'utf8'));
const PROBES = VALUES.probes;

async function main() {
	/* ---- 1. what the settings view declares (run in Node with the stand-in) ---- */
	const cfg = P.configText();
	const cfgData = parseUci(cfg.text, cfg.name);
	stub.install({
		readSource: (url) => Promise.resolve(fs.readFileSync(path.join(P.HTDOCS, url), 'utf8')),
		backend: (kind, req) => kind === 'uci' && req.config === 'sipalg'
			? Promise.resolve(forLuci(cfgData))
			: Promise.reject(new Error(`no ${kind} backend in the consistency test`))
	});
	await stub.loadView('sipalg/settings');
	const maps = stub.maps.map((m) => m.describe());
	check('settings view builds exactly one form.Map, for config "sipalg"', maps.length === 1 && maps[0].config === 'sipalg',
		JSON.stringify(maps.map((m) => m.config)));
	const view = maps[0] ? maps[0].options : [];
	const viewKeys = view.map(key);

	check('settings view: the ALG switch (main.alg, a Flag) is the first option',
		view[0] && view[0].section === 'main' && view[0].option === 'alg' && view[0].widget === 'Flag',
		view[0] ? `${key(view[0])} (${view[0].widget})` : 'no options');
	check('settings view: no option declared twice', new Set(viewKeys).size === viewKeys.length);
	const undocumented = view.filter((o) => !o.title || !o.description || o.description.length < 20).map(key);
	check('settings view: every option has a title and help text', !undocumented.length, undocumented.join(', '));

	const badDt = [];
	for (const o of view) {
		if (!o.datatype) continue;
		try { DT.compile(o.datatype); } catch (e) { badDt.push(`${key(o)}: ${e.message}`); }
	}
	check('settings view: every datatype is a valid LuCI datatype expression', !badDt.length, badDt.join('; '));

	/* the SPEC table: from SPEC.md when found (and the committed copy must match it), else the copy */
	const specPath = P.findSpec();
	const copy = options(parseUci(fs.readFileSync(P.SPEC_COPY, 'utf8'), 'spec-uci.conf'));
	let spec = copy;
	if (specPath) {
		spec = options(parseUci(P.specUciBlock(specPath), specPath));
		check('tests/spec-uci.conf is the same table as SPEC.md', JSON.stringify(spec) === JSON.stringify(copy),
			'update luci-app/tests/spec-uci.conf from SPEC.md');
	}
	else note('SPEC.md not found beside the repository; using luci-app/tests/spec-uci.conf');

	const specBy = Object.fromEntries(spec.map((o) => [ key(o), o ]));
	sameSet('settings view options == SPEC UCI table', viewKeys, spec.map(key), 'view', 'SPEC');

	const typeErr = view.filter((o) => specBy[key(o)] && specBy[key(o)].type !== o.sectiontype)
		.map((o) => `${key(o)}: view type ${o.sectiontype}, SPEC ${specBy[key(o)].type}`);
	check('settings view section types (main=sipalg, timeouts, qos) match SPEC', !typeErr.length, typeErr.join('; '));

	const listErr = view.filter((o) => specBy[key(o)] && specBy[key(o)].list !== o.list)
		.map((o) => `${key(o)}: view ${o.list ? 'list' : 'option'}, SPEC ${specBy[key(o)].list ? 'list' : 'option'}`);
	check('settings view uses DynamicList exactly for SPEC lists', !listErr.length, listErr.join('; '));

	const dflErr = view.filter((o) => specBy[key(o)] && !eq(o.default, specBy[key(o)].value))
		.map((o) => `${key(o)}: view ${JSON.stringify(o.default)}, SPEC ${JSON.stringify(specBy[key(o)].value)}`);
	check('settings view defaults == SPEC defaults', !dflErr.length, dflErr.join('; '));

	/* SPEC comments that state a datatype: check the view's datatype agrees on probes */
	const expectations = [
		[ 'timeouts.signaling', [ '120', '3600' ], [ '119', '-1', 'abc', '1.5' ] ],
		[ 'main.port', [ '5060' ], [ '0' ] ],
		[ 'timeouts.media', [ '60', '300' ], [ '59', 'abc' ] ],
		[ 'main.port', [ '5060', '1', '65535' ], [ '0x1', '65536', 'abc', '-1' ] ],
		[ 'main.external_address', [ '203.0.113.1' ], [ '256.1.1.1', 'pbx.example.net', '::1' ] ],
		[ 'main.trusted_source', [ '198.51.100.10', '198.51.100.0/24' ], [ '10.0.0.0/33', 'abc' ] ],
		[ 'qos.signaling_dscp', [ 'CS5', 'EF', 'AF41', 'VA', 'LE', 'CS0', '0', '46', '63' ], [ '64', 'CS8', 'abc', '-1', '1.5' ] ],
		[ 'qos.media_dscp', [ 'EF', 'CS5', '46' ], [ '64', 'XX' ] ]
	];
	const viewBy = Object.fromEntries(view.map((o) => [ key(o), o ]));
	const semErr = [];
	for (const [ k, good, bad ] of expectations) {
		const o = viewBy[k];
		if (!o || !o.accepts) { semErr.push(`${k}: no datatype or validate function`); continue; }
		const f = o.accepts;
		good.filter((v) => !f(v)).forEach((v) => semErr.push(`${k} rejects ${v}`));
		bad.filter((v) => f(v)).forEach((v) => semErr.push(`${k} accepts ${v}`));
	}
	check('settings view datatypes accept/reject what the SPEC describes', !semErr.length, semErr.join('; '));
	const choiceErr = [];
	if (viewBy['main.media_source'] && viewBy['main.media_source'].choices.join() !== 'sdp,any') choiceErr.push('media_source');
	if (viewBy['main.log_level'] && viewBy['main.log_level'].choices.join() !== 'error,warning,info,debug') choiceErr.push('log_level');
	check('settings view choices: media_source sdp|any, log_level error|warning|info|debug', !choiceErr.length, choiceErr.join(', '));

	/* ---- 2. files/sipalg.config ---- */
	if (fs.existsSync(P.DEFAULT_CONFIG)) {
		const conf = options(parseUci(fs.readFileSync(P.DEFAULT_CONFIG, 'utf8'), 'files/sipalg.config'));
		/* a list without a default is left out of the file (list x '' would be an empty entry) */
		sameSet('files/sipalg.config options == settings view options (but lists without a default)', conf.map(key),
			view.filter((o) => !(o.list && !norm(o.default).length)).map(key), 'files/sipalg.config', 'view');
		const emptyItems = conf.filter((o) => o.list && Array.isArray(o.value) && o.value.includes('')).map(key);
		check('files/sipalg.config has no empty list item', !emptyItems.length, emptyItems.join(', '));
		const confErr = conf.filter((o) => viewBy[key(o)]).flatMap((o) => {
			const v = viewBy[key(o)], e = [];
			if (o.type !== v.sectiontype) e.push(`${key(o)}: section type ${o.type} vs view ${v.sectiontype}`);
			if (o.list !== v.list) e.push(`${key(o)}: ${o.list ? 'list' : 'option'} vs view ${v.list ? 'DynamicList' : v.widget}`);
			if (!eq(o.value, v.default)) e.push(`${key(o)}: ${JSON.stringify(o.value)} vs view default ${JSON.stringify(v.default)}`);
			if (v.accepts && norm(o.value).some((x) => !v.accepts(x))) e.push(`${key(o)}: ${JSON.stringify(o.value)} fails the view's validation`);
			return e;
		});
		check('files/sipalg.config types, list-ness and values agree with the settings view', !confErr.length, confErr.join('; '));
	}
	else note('files/sipalg.config not present: compared against the SPEC table only');

	/* ---- 3. sipalgd schema ---- */
	const bin = P.sipalgdBinary();
	let schema = null;
	if (!bin) note('no built sipalgd (target/debug or target/release): schema comparison skipped');
	else {
		let out = null;
		try { out = execFileSync(bin, [ 'schema' ], { encoding: 'utf8', stdio: [ 'ignore', 'pipe', 'pipe' ], timeout: 10000 }); }
		catch (e) { note(`${path.relative(P.REPO, bin)} schema exited ${e.status}: this build has no schema command yet; schema comparison skipped`); }
		if (out != null) {
			try { schema = JSON.parse(out); } catch (e) { schema = null; }
			check('sipalgd schema prints a JSON array of {section, option, ...}', Array.isArray(schema) &&
				schema.every((s) => s && typeof s.section == 'string' && typeof s.option == 'string'), out.slice(0, 200));
		}
	}
	if (Array.isArray(schema)) {
		/* section may be given by name (main) or by type (sipalg) */
		const typeToName = {};
		view.forEach((o) => { typeToName[o.sectiontype] = o.section; });
		const sk = (s) => `${viewBy[`${s.section}.${s.option}`] ? s.section : (typeToName[s.section] || s.section)}.${s.option}`;
		sameSet('sipalgd schema options == settings view options', schema.map(sk), viewKeys, 'schema', 'view');

		const errs = [], notes = [];
		for (const s of schema) {
			const o = viewBy[sk(s)];
			if (!o) continue;
			if (s.section_type != null && s.section_type !== o.sectiontype) errs.push(`${sk(s)}: schema section_type ${s.section_type}, view ${o.sectiontype}`);
			if (s.list != null && !!s.list !== o.list) errs.push(`${sk(s)}: schema list=${s.list}, view ${o.widget}`);
			if (s.default !== undefined && !eq(s.default, o.default)) errs.push(`${sk(s)}: schema default ${JSON.stringify(s.default)}, view ${JSON.stringify(o.default)}`);
			/* one source: the view's LuCI datatype, rules and choices are the schema's */
			if (s.luci_datatype !== undefined && (s.luci_datatype || null) !== (o.datatype || null))
				errs.push(`${sk(s)}: schema luci_datatype ${JSON.stringify(s.luci_datatype)}, view datatype ${JSON.stringify(o.datatype)}`);
			const viewRules = (o.validate && o.validate.rules) || [];
			if (s.luci_rules !== undefined && JSON.stringify(s.luci_rules) !== JSON.stringify(viewRules))
				errs.push(`${sk(s)}: schema luci_rules ${JSON.stringify(s.luci_rules)}, view ${JSON.stringify(viewRules)}`);
			if (Array.isArray(s.values) && s.values.length && JSON.stringify(s.values) !== JSON.stringify(o.choices))
				errs.push(`${sk(s)}: schema values ${JSON.stringify(s.values)}, view choices ${JSON.stringify(o.choices)}`);
			if (!s.datatype) continue;
			if (/^\s*(list\()?string\)?\s*$/.test(String(s.datatype))) { notes.push(`${sk(s)}: schema datatype "${s.datatype}" constrains nothing; not compared`); continue; }
			let sdt = String(s.datatype);
			const lm = /^\s*list\((.*)\)\s*$/.exec(sdt);
			if (lm && o.list && !/^\s*list\(/.test(o.datatype || '')) sdt = lm[1];
			let sf;
			try { sf = DT.compile(sdt, 'procd'); }
			catch (e) { notes.push(`${sk(s)}: schema datatype "${s.datatype}" not comparable (${e.message})`); continue; }
			if (o.kind === 'flag') {
				if (!sf('0') || !sf('1')) errs.push(`${sk(s)}: schema datatype ${s.datatype} rejects 0/1 of a Flag`);
			}
			else if (o.kind === 'select') {
				o.choices.filter((c) => !sf(c)).forEach((c) => errs.push(`${sk(s)}: schema datatype ${s.datatype} rejects choice ${c}`));
				const extra = PROBES.filter((v) => sf(v) && !o.choices.includes(v));
				if (extra.length) notes.push(`${sk(s)}: schema datatype ${s.datatype} is wider than the view's choices (${extra.slice(0, 5).join(', ')})`);
			}
			else if (o.accepts) {
				/* the page must never save what the daemon refuses; being stricter is reported */
				const vf = o.accepts;
				const looser = PROBES.filter((v) => vf(v) && !sf(v));
				const stricter = PROBES.filter((v) => !vf(v) && sf(v));
				if (looser.length) errs.push(`${sk(s)}: view ${o.datatype} accepts what schema ${s.datatype} refuses: ${looser.map((v) => JSON.stringify(v)).join(', ')}`);
				if (stricter.length) notes.push(`${sk(s)}: the view is stricter than the schema on ${stricter.map((v) => JSON.stringify(v)).join(', ')}`);
			}
			else notes.push(`${sk(s)}: schema has datatype ${s.datatype}, the view widget ${o.widget} has none`);
		}
		notes.forEach(note);
		check('sipalgd schema list-ness, defaults and datatypes agree with the settings view', !errs.length, errs.join('; '));
	}

	/* ---- 3b. every input accepts exactly what `sipalgd check` accepts ---- */
	if (bin && Array.isArray(schema)) {
		const typeOf = {};
		view.forEach((o) => { typeOf[o.section] = o.sectiontype; });
		const tmp = fs.mkdtempSync(path.join(require('os').tmpdir(), 'sipalg-luci-check-'));
		const daemonAccepts = (o, v) => {
			fs.writeFileSync(path.join(tmp, 'sipalg'),
				`config ${typeOf[o.section]} '${o.section}'\n\t${o.list ? 'list' : 'option'} ${o.option} '${v}'\n`);
			try { execFileSync(bin, [ 'check', '--config-dir', tmp ], { stdio: 'ignore', timeout: 10000 }); return true; }
			catch (e) { return false; }
		};
		const TABLE = PROBES.concat(VALUES.more).filter((v) => v !== '' && !v.includes("'") && v.trim() === v);
		const mism = [];
		let compared = 0;
		for (const o of view) {
			if (!o.accepts) continue;
			compared++;
			for (const v of TABLE) {
				const page = !!o.accepts(v), daemon = daemonAccepts(o, v);
				if (page !== daemon) mism.push(`${key(o)} ${JSON.stringify(v)}: page ${page ? 'accepts' : 'refuses'}, sipalgd check ${daemon ? 'accepts' : 'refuses'}`);
			}
		}
		check(`every text input (${compared}) accepts exactly what sipalgd check accepts, over ${TABLE.length} values`,
			compared >= 6 && !mism.length, mism.join('; '));
		/* choice lists offer only what the daemon accepts */
		const badChoice = [];
		view.filter((o) => o.kind === 'select' || o.kind === 'flag').forEach((o) => {
			(o.kind === 'flag' ? [ '0', '1' ] : o.choices).forEach((c) => { if (!daemonAccepts(o, c)) badChoice.push(`${key(o)} ${c}`); });
		});
		check('every choice and checkbox value of the page is accepted by sipalgd check', !badChoice.length, badChoice.join('; '));
		fs.rmSync(tmp, { recursive: true, force: true });
	}
	else note('no built sipalgd with schema: the page was not checked against sipalgd check');

	/* ---- 3c. an empty list item is no entry ---- */
	{
		const ts = viewBy['main.trusted_source'];
		const legacy = parseUci("config sipalg 'main'\n\tlist trusted_source ''\n", 'legacy');
		stub.install({
			readSource: (url) => Promise.resolve(fs.readFileSync(path.join(P.HTDOCS, url), 'utf8')),
			backend: (kind, req) => kind === 'uci' && req.config === 'sipalg' ? Promise.resolve(forLuci(legacy))
				: Promise.reject(new Error('no backend'))
		});
		const uciMod = stub.classes.uci;
		await uciMod.load('sipalg');
		const raw = uciMod.get('sipalg', 'main', 'trusted_source');
		const shown = ts ? ts.cfgvalue('main') : null;
		check("trusted_source: the stand-in's uci returns [''] for list trusted_source ''", JSON.stringify(raw) === '[""]', JSON.stringify(raw));
		check("trusted_source: list trusted_source '' (older default config) shows no entry", ts && Array.isArray(shown) && shown.length === 0,
			JSON.stringify(shown));
	}

	/* ---- 3d. the words a person reads ---- */
	{
		/* every string literal of both views (the user-visible ones go through _() / N_()) */
		const strings = [];
		for (const f of fs.readdirSync(P.VIEWS).filter((f) => f.endsWith('.js'))) {
			const src = fs.readFileSync(path.join(P.VIEWS, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
			for (const m of src.matchAll(/'((?:[^'\\\n]|\\.)*)'/g)) strings.push([ f, m[1] ]);
		}
		/*
		 * One spelling: the UCI options are "signaling" and "signaling_dscp", RFC 4594
		 * names the class "Signaling", LuCI is written in US English: "signaling".
		 */
		const brit = strings.filter(([ , t ]) => /signall/i.test(t)).map(([ f, t ]) => `${f}: ${t}`);
		check('views spell it "signaling" everywhere (the UCI option\'s spelling), never "signalling"',
			!brit.length && strings.some(([ , t ]) => /signaling/.test(t)), brit.join(' | '));
		/* a count is said with N_(n, singular, plural), never "call(s)" */
		const plurals = strings.filter(([ , t ]) => /[a-z]\(s\)/i.test(t)).map(([ f, t ]) => `${f}: ${t}`);
		check('views use N_() for counts, no "thing(s)" strings', !plurals.length, plurals.join(' | '));

		/*
		 * Validate functions' messages read like LuCI's own: validation.js shows a
		 * datatype's as _('Expecting: %s').format(...), and a validate function's
		 * string as it is (openwrt/luci validation.js Validator.validate at
		 * 23a246e4b4), so ours say "Expecting: ..." themselves.
		 */
		const badMsg = [];
		let rejected = 0;
		for (const o of view.filter((o) => o.validate)) {
			for (const v of PROBES.concat([ '010.0.0.1', '127.0.0.1', '224.0.0.1', '0.0.0.0', '64', 'XX', '1.2.3.4 010.0.0.1' ])) {
				const r = o.validate(o.section, v);
				if (r === true) continue;
				rejected++;
				if (typeof r != 'string' || !/^Expecting: [a-z]/.test(r)) badMsg.push(`${key(o)} ${JSON.stringify(v)}: ${JSON.stringify(r)}`);
			}
		}
		check('validate messages read like LuCI\'s ("Expecting: valid ...")', rejected > 10 && !badMsg.length, badMsg.slice(0, 5).join('; '));
	}

	/* ---- 4. ACL covers what the views use ---- */
	const acl = JSON.parse(fs.readFileSync(P.ACL, 'utf8'));
	check('ACL file defines exactly the group "luci-app-sipalg"', Object.keys(acl).join() === 'luci-app-sipalg', Object.keys(acl).join());
	const g = acl['luci-app-sipalg'] || {};
	const rd = g.read || {}, wr = g.write || {};
	/* what rpcd grants a user with only "read" (status page) or "write" (settings) on the group */
	const canRead = ACL.grants(acl, 'read'), canWrite = ACL.grants(acl, 'write');
	const used = { exec: new Map(), ubus: new Set(), uciRead: new Set(), uciWrite: new Set() };
	for (const f of fs.readdirSync(P.VIEWS).filter((f) => f.endsWith('.js'))) {
		const src = fs.readFileSync(path.join(P.VIEWS, f), 'utf8');
		for (const m of src.matchAll(/fs\.exec(?:_direct)?\(\s*'([^']+)'\s*,\s*\[([^\]]*)\]/g)) {
			const args = [ ...m[2].matchAll(/'([^']*)'/g) ].map((x) => x[1]);
			used.exec.set([ m[1], ...args ].join(' '), [ m[1], args ]);
		}
		for (const m of src.matchAll(/rpc\.declare\(\{[^}]*?object:\s*'([^']+)'[^}]*?method:\s*'([^']+)'/g))
			used.ubus.add(`${m[1]}.${m[2]}`);
		for (const m of src.matchAll(/uci\.load\(\s*'([^']+)'/g)) used.uciRead.add(m[1]);
		for (const m of src.matchAll(/new form\.Map\(\s*'([^']+)'/g)) { used.uciRead.add(m[1]); used.uciWrite.add(m[1]); }
		if (/fs\.(read|write|list|stat|remove)/.test(src)) used.exec.set(`(other fs call in ${f})`, [ '', [] ]);
	}
	note(`views use: exec ${[ ...used.exec.keys() ].join(', ') || '-'}; ubus ${[ ...used.ubus ].join(', ') || '-'}; uci ${[ ...used.uciRead ].join(', ')}`);
	check('views use the sipalgd status exec, the service list ubus call and uci sipalg',
		used.exec.has('/usr/sbin/sipalgd status --json') && used.ubus.has('service.list') && used.uciRead.has('sipalg'));
	const miss = [];
	used.exec.forEach(([ cmd, args ], k) => {
		const r = ACL.cgiExec(canRead, cmd, args);
		if (r.code !== 200) miss.push(`cgi-io exec ${k}: ${r.code} ${r.reason}`);
	});
	used.ubus.forEach((u) => { const [ o, m ] = u.split('.'); if (!ACL.access(canRead, 'ubus', o, m)) miss.push(`ubus ${u}`); });
	used.uciRead.forEach((c) => { if (!ACL.access(canRead, 'uci', c, 'read')) miss.push(`uci read ${c}`); });
	used.uciWrite.forEach((c) => { if (!ACL.access(canWrite, 'uci', c, 'write')) miss.push(`uci write ${c}`); });
	check('ACL (as rpcd and cgi-io check it) grants a read-only user every exec / ubus / uci read the views make, and a write user the uci writes',
		!miss.length, miss.join('; '));
	const extra = [];
	const fileGrants = Object.assign({}, rd.file || {}, wr.file || {});
	const ubusGrants = Object.assign({}, rd.ubus || {}, wr.ubus || {});
	Object.keys(fileGrants).forEach((c) => { if (!used.exec.has(c) || JSON.stringify(fileGrants[c]) !== '["exec"]') extra.push(`file ${c} ${JSON.stringify(fileGrants[c])}`); });
	Object.keys(ubusGrants).forEach((o) => ubusGrants[o].forEach((m) => { if (!used.ubus.has(`${o}.${m}`)) extra.push(`ubus ${o}.${m}`); }));
	(wr.uci || []).forEach((c) => { if (!used.uciWrite.has(c)) extra.push(`uci write ${c}`); });
	if (JSON.stringify(rd['cgi-io'] || []) !== (used.exec.size ? '["exec"]' : '[]') || wr['cgi-io']) extra.push(`cgi-io ${JSON.stringify(rd['cgi-io'])} / ${JSON.stringify(wr['cgi-io'])}`);
	const scopes = new Set([ ...Object.keys(rd), ...Object.keys(wr) ]);
	[ 'file', 'ubus', 'uci', 'cgi-io' ].forEach((k) => scopes.delete(k));
	scopes.forEach((k) => extra.push(`scope ${k}`));
	check('ACL grants nothing the views do not use', !extra.length, extra.join('; '));

	/* the model itself: without "cgi-io": [ "exec" ] cgi-io refuses, as on a router */
	const noCgi = JSON.parse(JSON.stringify(acl));
	if (noCgi['luci-app-sipalg'] && noCgi['luci-app-sipalg'].read) delete noCgi['luci-app-sipalg'].read['cgi-io'];
	const r0 = ACL.cgiExec(ACL.grants(noCgi, 'read'), '/usr/sbin/sipalgd', [ 'status', '--json' ]);
	check('ACL model: without "cgi-io": [ "exec" ], cgi-io answers 403 "Exec permission denied"',
		r0.code === 403 && r0.reason === 'Exec permission denied', JSON.stringify(r0));
	const r1 = ACL.cgiExec(canRead, '/usr/sbin/sipalgd', [ 'check' ]);
	check('ACL model: only the exact command line is granted (sipalgd check is refused)', r1.code === 403, JSON.stringify(r1));
	check('ACL model: fnmatch patterns', ACL.fnmatch('/usr/sbin/sipalgd *', '/usr/sbin/sipalgd status --json') &&
		!ACL.fnmatch('/usr/sbin/sipalgd', '/usr/sbin/sipalgd status') && ACL.fnmatch('[rw]ead', 'read') && ACL.fnmatch('*', 'a/b'));
	check('ACL model: exec_direct escapes, cgi-io unescapes', JSON.stringify(ACL.parseCommand(ACL.execDirectCmdline('/bin/x', [ 'a b', 'c\\d' ]))) ===
		JSON.stringify([ '/bin/x', 'a b', 'c\\d' ]));

	/* ---- 5. menu.d ---- */
	const menu = JSON.parse(fs.readFileSync(P.MENU, 'utf8'));
	const top = menu['admin/services/sipalg'] || {};
	check('menu: admin/services/sipalg titled "SIP ALG", gated on the ACL and uci sipalg',
		top.title === 'SIP ALG' && top.depends && JSON.stringify(top.depends.acl) === '["luci-app-sipalg"]' &&
		top.depends.uci && top.depends.uci.sipalg === true);
	const kids = [ 'status', 'settings' ].map((k) => menu[`admin/services/sipalg/${k}`]);
	const missingViews = kids.map((k, i) => {
		if (!k || !k.action || k.action.type !== 'view') return `admin/services/sipalg/${[ 'status', 'settings' ][i]} is not a view`;
		const f = path.join(P.HTDOCS, 'luci-static/resources/view', `${k.action.path}.js`);
		return fs.existsSync(f) ? null : `${k.action.path}.js missing`;
	}).filter(Boolean);
	check('menu: status and settings children point at existing view files', !missingViews.length, missingViews.join('; '));
	const alias = top.action && top.action.type === 'alias' ? top.action.path : null;
	check('menu: the parent entry opens a child page', (alias && menu[alias]) || (top.action && top.action.type === 'firstchild'),
		JSON.stringify(top.action));
}

main().catch((e) => { check('consistency test ran', false, e.stack || String(e)); }).finally(() => {
	const s = summary();
	note(`consistency: ${s.passed} passed, ${s.failed} failed`);
	process.exitCode = s.failed ? 1 : 0;
});
