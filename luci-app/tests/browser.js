'use strict';
/*
 * Headless-browser test of the real view files, loaded through the LuCI
 * stand-in (stub/) from a server on 127.0.0.1. Checks what a person would see
 * and takes screenshots into $TEST_OUT (default target/test-out/luci).
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const P = require('./lib/paths');
const { parseUci, options } = require('./lib/uci');
const { check, note, summary } = require('./lib/tap');
const server = require('./server');

const OUT = path.resolve(P.REPO, process.env.TEST_OUT || 'target/test-out/luci');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const LAB = process.env.SIPALG_STATUS_JSON ? path.resolve(process.env.SIPALG_STATUS_JSON) : path.join(P.FIXTURES, 'status-lab.json');
const fx = (n) => path.join(P.FIXTURES, n);

function callOneWay(c) {
	return c.one_way === true || (Array.isArray(c.streams) && c.streams.some((s) => s.one_way === true));
}

/* what the page shows for a long Call-ID / address of record: its start, in full on hover */
const shortened = (id, max) => (id.length > max ? id.substr(0, max - 2) + '…' : id);

/* the daemon's words (docs/status-json.md) and the page's labels for them */
const WORDS = {
	state: { early: 'Setting up', confirmed: 'Connected' },
	direction: { outbound: 'Outgoing', inbound: 'Incoming' },
	kind: { audio: 'Audio', video: 'Video', image: 'Fax (T.38)', application: 'Application', text: 'Text', message: 'Message', other: 'Other' }
};

async function openView(browser, srv, viewPath, state, opts) {
	Object.assign(srv.state, state);
	srv.log.length = 0;
	const page = await (opts && opts.context ? opts.context.newPage() : browser.newPage());
	const errors = [];
	page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`);
	});
	/* nothing but the test server: any other request is a bug */
	await page.route('**/*', (route) => route.request().url().startsWith(srv.url) ? route.continue() : route.abort());
	await page.goto(`${srv.url}/?view=${viewPath}${opts && opts.pseudo ? '&pseudo=1' : ''}`);
	const done = await page.evaluate(() => window.__viewDone);
	return { page, errors, done };
}

async function rows(page, table) {
	return page.$$eval(`#${table} tr.tr:not(.table-titles):not(.placeholder)`, (trs) => trs.map((tr) => ({
		cls: tr.className,
		cells: [ ...tr.querySelectorAll('td') ].map((td) => td.innerText.trim()),
		warn: !!tr.querySelector('.label.warning')
	})));
}

const visibleText = (page, sel) => page.$eval(sel, (e) => e.innerText).catch(() => null);
const shot = (page, name) => page.screenshot({ path: path.join(OUT, name), fullPage: true });

async function settingsTest(browser, srv) {
	const { page, errors, done } = await openView(browser, srv, 'sipalg/settings', {});
	check('settings: view loads without errors', done === 'ok' && !errors.length, [ done, ...errors ].join('; '));

	/* every option of the SPEC table (files/sipalg.config leaves out lists without a default) */
	const expected = options(parseUci(fs.readFileSync(P.SPEC_COPY, 'utf8'), 'spec-uci.conf'));
	const rendered = await page.$$eval('#cbi-sipalg .cbi-value', (vs) => vs.map((v) => ({
		id: v.id, name: v.dataset.name, widget: v.dataset.widget,
		title: v.querySelector('.cbi-value-title').innerText.trim(),
		descr: (v.querySelector('.cbi-value-description') || { innerText: '' }).innerText.trim(),
		visible: v.offsetParent !== null
	})));
	check('settings: map titled "SIP ALG"', (await visibleText(page, '#cbi-sipalg h2')) === 'SIP ALG');
	const first = rendered[0] || {};
	check('settings: the first option on the page is the ALG switch (a checkbox)',
		first.id === 'cbi-sipalg-main-alg' && first.widget === 'Flag' &&
		!!(await page.$('#cbi-sipalg-main-alg input[type=checkbox]')), JSON.stringify(first));
	check('settings: the ALG switch says when to turn it on', /SIP ALG/.test(first.title || '') &&
		/do not handle NAT/.test(first.descr || '') && /STUN/.test(first.descr || '') && /leave it off/.test(first.descr || ''), first.descr);
	const ids = new Set(rendered.filter((r) => r.visible && r.title && r.descr).map((r) => r.id));
	const missing = expected.map((o) => `cbi-sipalg-${o.section}-${o.option}`).filter((id) => !ids.has(id));
	check(`settings: all ${expected.length} options are shown with a title and help text`, !missing.length && expected.length >= 15, missing.join(', '));
	const sections = await page.$$eval('#cbi-sipalg fieldset.cbi-section', (fs) => fs.map((f) => f.id));
	check('settings: sections main, timeouts and qos are shown', sections.join() === 'cbi-sipalg-main,cbi-sipalg-timeouts,cbi-sipalg-qos', sections.join());

	/* what a router owner needs is on "General"; the rest on "Advanced" (form tabs) */
	const tabs = await page.evaluate(() => {
		const pane = (t) => document.querySelector(`#cbi-sipalg-main div[data-tab="${t}"]`);
		const names = (t) => pane(t) ? [ ...pane(t).querySelectorAll('.cbi-value') ].map((v) => v.dataset.name) : null;
		return { menu: [ ...document.querySelectorAll('#cbi-sipalg-main .cbi-tabmenu li') ].map((l) => `${l.dataset.tab}:${l.className}`),
			general: names('general'), advanced: names('advanced'),
			advancedHeight: pane('advanced') ? pane('advanced').getBoundingClientRect().height : -1 };
	});
	check('settings: the main section has a General tab (ALG switch, service, media source) and an Advanced tab (the rest), General open',
		tabs.menu.join() === 'general:cbi-tab,advanced:cbi-tab-disabled' && JSON.stringify(tabs.general) === '["alg","enabled","media_source"]' &&
		JSON.stringify(tabs.advanced) === '["kernel_helper","wan_device","external_address","port","tcp","trusted_source","log_level"]' &&
		tabs.advancedHeight === 0, JSON.stringify(tabs));

	/*
	 * Select labels fit the theme's select: 210 px wide (cascade.css "input, textarea,
	 * select { width: 210px; padding: 4px }", 1 px border), 13 px "Helvetica Neue",
	 * Helvetica, Arial; Chromium's menu-list arrow takes 24 px of it. In LuCI 23.05's
	 * real page, in this Chromium, "Only the address in the SDP (sdp)" (220 px) was cut
	 * after about 175 px. So a ListValue label may be at most 176 px wide, a combobox
	 * choice (cbi-dropdown, at most 400 px wide) at most 366 px.
	 */
	const widths = await page.evaluate(() => {
		const ctx = document.createElement('canvas').getContext('2d');
		const out = [];
		for (const sel of document.querySelectorAll('#cbi-sipalg select')) {
			const st = getComputedStyle(sel);
			ctx.font = `${st.fontSize} ${st.fontFamily}`;
			const combo = !!sel.closest('.cbi-dropdown');
			for (const o of sel.options)
				out.push({ id: sel.closest('.cbi-value').id, text: o.text, w: Math.ceil(ctx.measureText(o.text).width), max: combo ? 366 : 176, font: ctx.font });
		}
		return out;
	});
	const tooWide = widths.filter((w) => w.w > w.max);
	check(`settings: every choice label fits its select at the theme's font (${widths.length} labels; ListValue <= 176 px, combobox <= 366 px)`,
		widths.length > 20 && widths[0].font.includes('13px') && !tooWide.length,
		tooWide.map((w) => `${w.id} "${w.text}" ${w.w} px > ${w.max}`).join('; '));

	const vals = await page.evaluate(() => ({
		alg: document.querySelector('#cbi-sipalg-main-alg input').checked,
		enabled: document.querySelector('#cbi-sipalg-main-enabled input').checked,
		helper: document.querySelector('#cbi-sipalg-main-kernel_helper input').checked,
		port: document.querySelector('#cbi-sipalg-main-port .cbi-dynlist').innerText,
		media_source: document.querySelector('#cbi-sipalg-main-media_source select').value,
		log_level: document.querySelector('#cbi-sipalg-main-log_level select').value,
		signaling: document.querySelector('#cbi-sipalg-timeouts-signaling input').value,
		media: document.querySelector('#cbi-sipalg-timeouts-media input').value,
		sdscp: document.querySelector('#cbi-sipalg-qos-signaling_dscp select').value,
		mdscp: document.querySelector('#cbi-sipalg-qos-media_dscp select').value,
		dscpChoices: [ ...document.querySelectorAll('#cbi-sipalg-qos-media_dscp option') ].map((o) => o.value)
	}));
	check('settings: the default config is shown (ALG off, service on, helper guard on, port 5060, sdp, info, 3600/300 s, CS5/EF)',
		!vals.alg && vals.enabled && !vals.helper && /5060/.test(vals.port) && vals.media_source === 'sdp' && vals.log_level === 'info' &&
		vals.signaling === '3600' && vals.media === '300' && vals.sdscp === 'CS5' && vals.mdscp === 'EF', JSON.stringify(vals));
	const names = [ 'CS0', 'CS1', 'CS2', 'CS3', 'CS4', 'CS5', 'CS6', 'CS7', 'AF11', 'AF12', 'AF13', 'AF21', 'AF22', 'AF23',
		'AF31', 'AF32', 'AF33', 'AF41', 'AF42', 'AF43', 'EF', 'VA', 'LE' ];
	check('settings: DSCP choices list CS0-CS7, AF11-AF43, EF, VA, LE', names.every((n) => vals.dscpChoices.includes(n)),
		names.filter((n) => !vals.dscpChoices.includes(n)).join(', '));

	/* typing into fields: LuCI-style datatype validation marks bad values */
	async function invalidAfter(sel, text) {
		await page.fill(sel, text);
		return page.$eval(sel, (e) => e.classList.contains('cbi-input-invalid'));
	}
	const sig = '#cbi-sipalg-timeouts-signaling input[type=text]';
	const dscp = '#cbi-sipalg-qos-media_dscp input[type=text]';
	const ext = '#cbi-sipalg-main-external_address input[type=text]';
	await page.click('#cbi-sipalg-main .cbi-tabmenu li[data-tab=advanced] a');
	const v = {
		sig100: await invalidAfter(sig, '100'), sig120: await invalidAfter(sig, '120'),
		dscp64: await invalidAfter(dscp, '64'), dscp46: await invalidAfter(dscp, '46'), dscpAF41: await invalidAfter(dscp, 'AF41'),
		extBad: await invalidAfter(ext, '203.0.113.300'), extOk: await invalidAfter(ext, '203.0.113.30'),
		extMask: await invalidAfter(ext, '203.0.113.7/32'), extNetmask: await invalidAfter(ext, '203.0.113.0/255.255.255.0'),
		extZero: await invalidAfter(ext, '010.0.0.1'), extLoop: await invalidAfter(ext, '127.0.0.1'),
		dscpMinusZero: await invalidAfter(dscp, '-0'), dscpLower: await invalidAfter(dscp, 'ef')
	};
	check('settings: invalid input is flagged (signalling 100 s, DSCP 64/-0, bad IPv4, IPv4 with /32 or netmask, leading zero, loopback), valid input is not (120 s, DSCP 46/AF41/ef, IPv4)',
		v.sig100 && !v.sig120 && v.dscp64 && !v.dscp46 && !v.dscpAF41 && v.extBad && !v.extOk &&
		v.extMask && v.extNetmask && v.extZero && v.extLoop && v.dscpMinusZero && !v.dscpLower, JSON.stringify(v));
	const tsItems = await page.$$eval('#cbi-sipalg-main-trusted_source .cbi-dynlist .item', (xs) => xs.map((x) => x.innerText));
	check('settings: trusted sources start with no entry (no empty item)', tsItems.length === 0, JSON.stringify(tsItems));
	await page.fill(sig, '3600'); await page.fill(dscp, 'EF'); await page.fill(ext, '');
	check('settings: Save & Apply button present', !!(await page.$('.cbi-page-actions .cbi-button-apply')));
	check('settings: loading used only ACL-granted calls', srv.log.length > 0 && srv.log.every((l) => l.allowed),
		JSON.stringify(srv.log.filter((l) => !l.allowed)));
	await shot(page, 'settings.png');
	await page.close();
}

/* data-driven checks for any status JSON (the lab replaces status-lab.json with real output) */
async function statusChecks(browser, srv, file, label, screenshot) {
	let st;
	try { st = JSON.parse(fs.readFileSync(file, 'utf8')); }
	catch (e) { return check(`${label}: fixture ${file} is JSON`, false, e.message); }
	const { page, errors, done } = await openView(browser, srv, 'sipalg/status', { status: file, service: 'running' });
	check(`${label}: view loads without errors`, done === 'ok' && !errors.length, [ done, ...errors ].join('; '));
	if (st.running !== true) { await page.close(); return check(`${label}: fixture says running`, false); }

	check(`${label}: no "not running" notice while the daemon runs`, !(await page.$('#sipalg-not-running')));
	const summaryText = await visibleText(page, '#sipalg-summary') || '';
	const wan = st.wan || {};
	check(`${label}: summary shows service, ALG ${st.alg ? 'on' : 'off'} and WAN device/address`,
		/Service\s+RUNNING/i.test(summaryText) && new RegExp(`SIP ALG\\s+${st.alg ? 'ON' : 'OFF'}`, 'i').test(summaryText) &&
		(!wan.device || summaryText.includes(wan.device)) &&
		(!wan.address || summaryText.includes(wan.address)) && (!wan.external_address || summaryText.includes(wan.external_address)), summaryText);
	/* jargon stays out of sight: collapsed under "Details for troubleshooting" */
	const details = await page.evaluate(() => {
		const d = document.querySelector('details#sipalg-details');
		const outside = document.querySelector('#sipalg-status').cloneNode(true);
		const inner = outside.querySelector('details');
		if (inner) inner.remove();
		return d ? { open: d.open, summary: d.querySelector('summary').innerText, text: d.textContent, outside: outside.textContent } : null;
	});
	check(`${label}: queue backend, verdict errors and the other internals are in a collapsed "Details for troubleshooting", in plain words`,
		!!details && !details.open && /Details for troubleshooting/.test(details.summary) &&
		/How SIP reaches sipalgd/.test(details.text) && /verdict errors/.test(details.text) &&
		(st.queue_backend == 'nft' ? /nft queue/ : /iptables-nft \(fallback/).test(details.text) &&
		!/Queue backend|Verdict errors|queue_backend|verdict_errors/.test(details.outside), JSON.stringify(details && { open: details.open, text: details.text.slice(0, 300) }));

	const kh = st.kernel_helper || {};
	const helperWanted = !!((kh.loaded && !kh.guard) || kh.attached);
	check(`${label}: kernel-helper warning ${helperWanted ? 'shown' : 'not shown'}`, !!(await page.$('#sipalg-kernel-helper')) === helperWanted);

	const warns = await page.$$eval('#sipalg-warnings li', (lis) => lis.map((l) => l.innerText)).catch(() => []);
	check(`${label}: all ${(st.warnings || []).length} daemon warnings listed`, JSON.stringify(warns) === JSON.stringify(st.warnings || []), JSON.stringify(warns));

	const regs = await rows(page, 'sipalg-registrations');
	const regOk = regs.length === (st.registrations || []).length && (st.registrations || []).every((r, i) =>
		regs[i].cells[0] === shortened(r.aor, 40) && regs[i].cells[1] === r.private && regs[i].cells[2] === r.public && regs[i].cells[3] === r.registrar);
	check(`${label}: registrations table has ${(st.registrations || []).length} row(s): AOR, private, public contact, registrar`, regOk, JSON.stringify(regs));

	const calls = await rows(page, 'sipalg-calls');
	const callOk = calls.length === (st.calls || []).length && (st.calls || []).every((c, i) =>
		calls[i].cells[0] === String(i + 1) && calls[i].cells[1] === shortened(c.call_id, 14) &&
		calls[i].cells[2] === (WORDS.state[c.state] || c.state) && calls[i].cells[3] === (WORDS.direction[c.direction] || c.direction) &&
		calls[i].warn === callOneWay(c) && /one-way/i.test(calls[i].cells[7]) === callOneWay(c));
	check(`${label}: calls table has ${(st.calls || []).length} row(s): number, Call-ID, state and direction in words, a one-way label exactly on one-way calls`,
		callOk, JSON.stringify(calls));
	const titles = await page.$$eval('#sipalg-calls tr.tr:not(.table-titles) td:nth-child(2)', (tds) => tds.map((td) => (td.querySelector('[title]') || td).getAttribute('title') || td.innerText.trim()));
	check(`${label}: a shortened Call-ID is there in full on hover`, (st.calls || []).every((c, i) => titles[i] === c.call_id), JSON.stringify(titles));

	const streams = await rows(page, 'sipalg-streams');
	const want = [];
	(st.calls || []).forEach((c, n) => (c.streams || []).forEach((s) => want.push([ c, s, n + 1 ])));
	const strOk = streams.length === want.length && want.every(([ c, s, n ], i) => {
		const r = streams[i].cells;
		return r[0] === String(n) && r[1] === (WORDS.kind[s.kind] || s.kind) && r[2] === s.private && r[3] === s.public && r[4] === s.remote &&
			r[5] === String(s.packets_out) && r[6] === String(s.packets_in) &&
			(s.one_way === true ? /one-way/i.test(r[7]) : !/one-way/i.test(r[7]));
	});
	check(`${label}: media streams table has ${want.length} row(s): call number, media in words, endpoints, packets out/in per direction`, strOk, JSON.stringify(streams));

	const anyOneWay = (st.calls || []).some(callOneWay);
	const banner = await visibleText(page, '#sipalg-one-way');
	check(`${label}: one-way audio banner ${anyOneWay ? 'shown' : 'not shown'}`, anyOneWay ? /one-way audio/i.test(banner || '') : banner === null, banner);

	const counters = await visibleText(page, '#sipalg-counters') || '';
	const c = st.counters || {};
	check(`${label}: counters shown`, [ 'seen', 'rewritten', 'unchanged', 'unparsable' ]
		.every((k) => counters.includes(String(c[k] || 0))) && details && details.text.includes(String(c.verdict_errors || 0)), counters);
	check(`${label}: what the kernel's queue dropped under overload shown`,
		new RegExp(`Dropped under overload[^0-9]*${c.queue_dropped || 0}`).test(counters), counters);
	if (st.tcp_relay) {
		const r = st.tcp_relay, row = (name) => (new RegExp(`${name}\\s+(\\d+)`).exec(counters) || [])[1];
		check(`${label}: SIP over TCP: connections, messages and the relay's failures (provider not reachable, refused, unreadable) shown`,
			row('connections now') === String(r.connections) && row('messages relayed') === String(r.messages) &&
			row('provider not reachable') === String(r.onward_failed) && row('refused \\(too many connections\\)') === String(r.refused) &&
			row('closed, SIP unreadable') === String(r.closed_unframable), counters);
		const problem = +r.onward_failed > 0 || +r.refused > 0 || +r.closed_unframable > 0;
		const notice = await visibleText(page, '#sipalg-tcp-problems');
		check(`${label}: a failing TCP relay is a warning at the top ${problem ? '(shown)' : '(none: nothing failed)'}`,
			problem ? /SIP over TCP has problems/.test(notice || '') &&
				(!+r.onward_failed || notice.includes(`${r.onward_failed} connection`)) &&
				(!+r.refused || notice.includes(`${r.refused} connection`)) &&
				(!+r.closed_unframable || notice.includes(`${r.closed_unframable} connection`)) : notice === null, notice);
	}

	const execs = srv.log.filter((l) => l.kind === 'exec');
	check(`${label}: status comes from "/usr/sbin/sipalgd status --json", all calls ACL-granted`,
		execs.length >= 1 && execs.every((l) => l.req.command === '/usr/sbin/sipalgd' && l.req.params.join(' ') === 'status --json') &&
		srv.log.every((l) => l.allowed), JSON.stringify(srv.log));

	const polls = await page.evaluate(() => window.LuCIStub.polls.map((p) => p.interval));
	check(`${label}: refreshes itself every 5 s (poll.add(..., 5))`, polls.length === 1 && polls[0] === 5, JSON.stringify(polls));
	if (screenshot) await shot(page, screenshot);
	return page;
}

/* every string that reaches a fixture's status page, for telling data from page text */
function dataStrings(st) {
	const out = new Set();
	/* the daemon's words are not data: the page must show them as labels */
	const words = new Set([ 'state', 'direction', 'kind', 'queue_backend' ]);
	const walk = (v) => {
		if (v == null) return;
		if (Array.isArray(v)) return v.forEach(walk);
		if (typeof v == 'object') return Object.entries(v).forEach(([ k, x ]) => { if (!words.has(k)) walk(x); });
		out.add(String(v));
		out.add(shortened(String(v), 14));
		out.add(shortened(String(v), 40));
	};
	walk(st);
	return out;
}

/*
 * With the pseudo-translation (every _() / N_() string comes back as ⟦...⟧), every
 * piece of text on the page is either such a string or data from the daemon
 * (addresses, Call-IDs, numbers, durations, its warnings): the daemon's words
 * (confirmed, outbound, audio, nft...) must not reach the page as they come.
 */
async function pseudoScan(browser, srv, file, label) {
	const st = JSON.parse(fs.readFileSync(file, 'utf8'));
	const { page, errors, done } = await openView(browser, srv, 'sipalg/status', { status: file, service: 'running' }, { pseudo: true });
	const nodes = await page.evaluate(() => {
		const out = [];
		const w = document.createTreeWalker(document.getElementById('view'), NodeFilter.SHOW_TEXT);
		for (let n = w.nextNode(); n; n = w.nextNode()) if (n.nodeValue.trim()) out.push(n.nodeValue.trim());
		return out;
	});
	const data = dataStrings(st);
	const untranslated = nodes.filter((t) => !(/^⟦[\s\S]*⟧$/.test(t) || data.has(t) || /^[-–:()\s]+$/.test(t) ||
		/^\d+$/.test(t) || /^\d+[dhms](\u00a0\d+[dhms])*$/.test(t)));
	check(`${label}: with a pseudo-translation, every word on the status page went through _() / N_() (the rest is data)`,
		done === 'ok' && !errors.length && nodes.length > 30 && !untranslated.length, JSON.stringify(untranslated.slice(0, 10)));
	await page.close();
	return nodes;
}

/* the values docs/status-json.md lists for a field ("`a` (...) or `b`"), read from its table */
function documentedValues(doc, field) {
	const row = doc.split('\n').find((l) => l.startsWith(`| \`${field}\` |`));
	if (!row) return [];
	const cell = row.split('|')[2];
	return [ ...cell.matchAll(/`("?)([a-z][a-z0-9-]*)\1`/g) ].filter((m) => field === 'queue_backend' ? m[1] === '"' : true).map((m) => m[2]);
}

async function daemonWordTests(browser, srv) {
	const doc = fs.readFileSync(path.join(P.REPO, 'docs/status-json.md'), 'utf8');
	const values = {
		state: documentedValues(doc, 'calls[].state'), direction: documentedValues(doc, 'calls[].direction'),
		kind: documentedValues(doc, 'streams[].kind'), backend: documentedValues(doc, 'queue_backend')
	};
	check('docs/status-json.md lists the values of state, direction, kind and queue_backend',
		values.state.length >= 2 && values.direction.length >= 2 && values.kind.length >= 7 && values.backend.length >= 2, JSON.stringify(values));
	const base = JSON.parse(fs.readFileSync(fx('status-oneway.json'), 'utf8'));
	const n = Math.max(values.state.length, values.direction.length, values.kind.length, values.backend.length);
	for (let i = 0; i < n; i++) {
		const st = JSON.parse(JSON.stringify(base));
		st.queue_backend = values.backend[i % values.backend.length];
		st.calls[0].state = values.state[i % values.state.length];
		st.calls[0].direction = values.direction[i % values.direction.length];
		st.calls[0].streams[0].kind = values.kind[i % values.kind.length];
		const file = path.join(OUT, `status-docs-${i}.json`);
		fs.writeFileSync(file, JSON.stringify(st));
		const { page } = await openView(browser, srv, 'sipalg/status', { status: file, service: 'running' }, { pseudo: true });
		const got = await page.evaluate(() => ({
			call: [ ...document.querySelectorAll('#sipalg-calls tr.tr:not(.table-titles) td') ].slice(2, 4).map((td) => td.innerText.trim()),
			kind: document.querySelector('#sipalg-streams tr.tr:not(.table-titles) td:nth-child(2)').innerText.trim(),
			backend: document.querySelector('#sipalg-details-table tr td:nth-child(2)').textContent.trim()
		}));
		const ok = [ ...got.call, got.kind, got.backend ].every((t) => /^⟦.+⟧$/.test(t));
		check(`status: state "${st.calls[0].state}", direction "${st.calls[0].direction}", kind "${st.calls[0].streams[0].kind}", backend "${st.queue_backend}" are shown as translatable labels`,
			ok, JSON.stringify(got));
		await page.close();
	}

	/* N_(): one call / two calls */
	for (const [ count, want ] of [ [ 1, /^⟦1 call sends media in one direction only:⟧/ ], [ 2, /^⟦2 calls send media in one direction only:⟧/ ] ]) {
		const st = JSON.parse(JSON.stringify(base));
		st.calls = st.calls.slice(0, 1).concat(st.calls.slice(1));
		st.calls.forEach((c, i) => { c.one_way = i < count; c.streams.forEach((x) => { x.one_way = i < count; }); });
		const file = path.join(OUT, `status-plural-${count}.json`);
		fs.writeFileSync(file, JSON.stringify(st));
		const { page } = await openView(browser, srv, 'sipalg/status', { status: file, service: 'running' }, { pseudo: true });
		const banner = await page.$eval('#sipalg-one-way', (e) => [ ...e.childNodes ].filter((n) => n.nodeType === 3).map((n) => n.nodeValue.trim()).filter(Boolean).join(' ')).catch(() => null);
		check(`status: the one-way banner counts ${count} call${count > 1 ? 's' : ''} with N_() (singular and plural forms)`, want.test(banner || ''), banner);
		await page.close();
	}
}

/*
 * Layout with long data (fixtures/status-wide.json: a 57-character Call-ID, 21-character
 * addresses, 7-digit counters), at 1280 px (the theme's container: 940 px) and at
 * 375 px with the theme's phone rules (tables become cards).
 */
async function layoutTests(browser, phone, srv) {
	const wide = fx('status-wide.json');
	/* on a phone a card's cell is half the screen: a long account (address of record) may take two lines there */
	const measure = (page, may) => page.evaluate((may) => {
		const oneLine = (el) => {
			const r = document.createRange();
			r.selectNodeContents(el);
			const h = r.getBoundingClientRect().height;
			return h <= 1.5 * (parseFloat(getComputedStyle(el).lineHeight) || 18);
		};
		const out = { docW: document.documentElement.scrollWidth, viewW: window.innerWidth, wrapped: [], tables: [] };
		for (const t of document.querySelectorAll('#sipalg-registrations, #sipalg-calls, #sipalg-streams')) {
			out.tables.push({ id: t.id, w: t.scrollWidth, room: t.parentElement.clientWidth });
			t.querySelectorAll('.th').forEach((th) => { if (th.offsetParent && !oneLine(th)) out.wrapped.push(`${t.id} header "${th.innerText.trim()}"`); });
			t.querySelectorAll('tr.tr:not(.table-titles):not(.placeholder) .td').forEach((td, i) => {
				const title = td.dataset.title || '';
				if (/Call-ID|Account|Phone|Public|Registrar|Far end|Duration|Expires|Out|In/.test(title) && title !== may && !oneLine(td))
					out.wrapped.push(`${t.id} ${title} "${td.innerText.trim()}"`);
			});
		}
		return out;
	}, may || null);
	let { page } = await openView(browser, srv, 'sipalg/status', { status: wide, service: 'running' });
	let m = await measure(page);
	check('status at 1280 px, long data: no table header, Call-ID, address, counter or duration wraps, tables fit the 940 px container',
		m.viewW === 1280 && !m.wrapped.length && m.tables.length === 3 && m.tables.every((t) => t.w <= t.room && t.room <= 940) && m.docW <= m.viewW,
		JSON.stringify(m));
	await shot(page, 'status-wide.png');
	await page.close();

	({ page } = await openView(browser, srv, 'sipalg/status', { status: wide, service: 'running' }, { context: phone }));
	m = await measure(page, 'Account');
	const cards = await page.$eval('#sipalg-streams', (t) => getComputedStyle(t).display);
	check('status at 375 px with the theme\'s phone rules: tables are cards, nothing wider than the screen, no value but a long account wraps',
		m.viewW === 375 && cards === 'flex' && m.docW <= 375 && !m.wrapped.length, JSON.stringify(Object.assign(m, { cards })));
	await shot(page, 'status-phone.png');
	await page.close();

	({ page } = await openView(browser, srv, 'sipalg/settings', {}, { context: phone }));
	const sw = await page.evaluate(() => document.documentElement.scrollWidth);
	check('settings at 375 px: nothing wider than the screen', sw <= 375, String(sw));
	await shot(page, 'settings-phone.png');
	await page.close();
}

async function statusTests(browser, srv) {
	note(`status fixture: ${path.relative(P.REPO, LAB)}`);
	let page = await statusChecks(browser, srv, LAB, 'status (lab fixture)', 'status.png');

	/* the live refresh: the daemon stops, the next poll shows it */
	if (page) {
		srv.state.status = fx('status-down.json');
		await page.evaluate(() => window.LuCIStub.pollTick());
		const t = await visibleText(page, '#sipalg-not-running');
		check('status: a poll after the daemon stopped replaces the tables with the "not running" notice',
			/not running/i.test(t || '') && !(await page.$('#sipalg-calls')), t);
		await page.close();
	}

	/* a fixture this test controls: one two-way and one one-way call */
	page = await statusChecks(browser, srv, fx('status-oneway.json'), 'status (one-way fixture)', null);
	if (page) {
		const calls = await rows(page, 'sipalg-calls');
		check('status: the two-way call has no one-way warning, the one-way call has one',
			calls.length === 2 && !calls[0].warn && /OK/.test(calls[0].cells[7]) && calls[1].warn && /one-way/i.test(calls[1].cells[7]),
			JSON.stringify(calls));
		const streams = await rows(page, 'sipalg-streams');
		check('status: per-direction packet counts are in the right columns (out 2100 / in 2098; out 850 / in 0)',
			streams.length === 3 && streams[0].cells[5] === '2100' && streams[0].cells[6] === '2098' &&
			streams[1].cells[5] === '850' && streams[1].cells[6] === '0' && streams[1].warn && streams[2].warn && !streams[0].warn,
			JSON.stringify(streams));
		const w = await page.$eval('#sipalg-warnings', (e) => ({ text: e.innerText, bold: !!e.querySelector('li b') }));
		check('status: daemon text is shown as text, never as HTML', /<b>markup<\/b>/.test(w.text) && !w.bold, JSON.stringify(w));
		await shot(page, 'status-one-way.png');
		await page.close();
	}

	/* kernel helper attached, no calls, ALG off */
	page = await statusChecks(browser, srv, fx('status-helper.json'), 'status (helper fixture)', null);
	if (page) {
		const warn = await visibleText(page, '#sipalg-kernel-helper');
		const empty = await page.$$eval('tr.placeholder', (r) => r.map((x) => x.innerText.trim()));
		check('status: kernel helper warning when the helper is attached; empty tables say so',
			/kernel SIP helper is active/i.test(warn || '') && empty.some((t) => /No registrations/.test(t)) && empty.some((t) => /No calls/.test(t)),
			JSON.stringify({ warn, empty }));
		await page.close();
	}

	/* daemon down: sipalgd status --json prints {"running": false, ...} */
	let o = await openView(browser, srv, 'sipalg/status', { status: fx('status-down.json'), service: 'stopped' });
	let t = await visibleText(o.page, '#sipalg-not-running');
	check('status (daemon down): clear "not running" notice with the reason, no tables, no errors',
		o.done === 'ok' && !o.errors.length && /The SIP ALG daemon is not running/.test(t || '') && /sipalgd\.sock/.test(t || '') &&
		!(await o.page.$('#sipalg-calls')) && !(await o.page.$('#sipalg-registrations')), JSON.stringify({ done: o.done, errors: o.errors, t }));
	await shot(o.page, 'status-not-running.png');
	await o.page.close();

	/* an ACL without "cgi-io": [ "exec" ] (cgi-io answers 403): the page must not claim the daemon is down */
	const aclNoCgi = JSON.parse(fs.readFileSync(P.ACL, 'utf8'));
	delete aclNoCgi['luci-app-sipalg'].read['cgi-io'];
	o = await openView(browser, srv, 'sipalg/status', { status: fx('status-lab.json'), service: 'running', acl: aclNoCgi });
	t = await visibleText(o.page, '#sipalg-denied');
	check('status (exec refused by the ACL): says permission is missing and that procd runs the service, not "not running"',
		o.done === 'ok' && !o.errors.length && /No permission/.test(t || '') && /running/.test(t || '') &&
		!(await o.page.$('#sipalg-not-running')) && srv.log.some((l) => l.kind === 'exec' && !l.allowed),
		JSON.stringify({ done: o.done, errors: o.errors, t }));
	await o.page.close();
	srv.state.acl = null;

	/* exec itself fails (sipalgd missing): still a notice, not a crash */
	o = await openView(browser, srv, 'sipalg/status', { status: 'EXEC_FAIL', service: 'absent' });
	t = await visibleText(o.page, '#sipalg-not-running');
	check('status (exec fails): "not running" notice instead of a crash',
		o.done === 'ok' && !o.errors.length && /not running/.test(t || ''), JSON.stringify({ done: o.done, errors: o.errors, t }));
	await o.page.close();
}

async function main() {
	fs.mkdirSync(OUT, { recursive: true });
	const { chromium } = require('playwright-core');
	const dirs = [ 0, 1 ].map(() => fs.mkdtempSync(path.join(os.tmpdir(), 'sipalg-luci-chromium-')));
	const srv = await server.start();
	const args = [ '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync' ];
	let context = null, phone = null;
	try {
		context = await chromium.launchPersistentContext(dirs[0], {
			executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 900 }, args
		});
		/* a phone: the theme's mobile.css applies by device width (header.ut, mobile.css) */
		phone = await chromium.launchPersistentContext(dirs[1], {
			executablePath: CHROMIUM, headless: true, viewport: { width: 375, height: 812 }, screen: { width: 375, height: 812 },
			isMobile: true, hasTouch: true, deviceScaleFactor: 2, args
		});
		const browser = { newPage: () => context.newPage() };
		await settingsTest(browser, srv);
		await statusTests(browser, srv);
		await pseudoScan(browser, srv, LAB, 'status (lab fixture)');
		await pseudoScan(browser, srv, fx('status-wide.json'), 'status (wide fixture)');
		const captured = path.join(P.REPO, 'target/test-out/status-lab.json');
		if (fs.existsSync(captured)) {
			await statusChecks(browser, srv, captured, 'status (captured by the lab)', null).then((p) => p && p.close());
			await pseudoScan(browser, srv, captured, 'status (captured by the lab)');
		}
		else note('target/test-out/status-lab.json not there (the lab test writes it): not rendered');
		await statusChecks(browser, srv, fx('status-wide.json'), 'status (wide fixture)', null).then((p) => p && p.close());
		await daemonWordTests(browser, srv);
		await layoutTests(browser, phone, srv);
	}
	finally {
		if (context) await context.close();
		if (phone) await phone.close();
		await srv.close();
		dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
	}
	note(`screenshots in ${path.relative(P.REPO, OUT) || OUT}: ${fs.readdirSync(OUT).filter((f) => f.endsWith('.png')).join(', ')}`);
}

main().catch((e) => check('browser test ran', false, e.stack || String(e))).finally(() => {
	const s = summary();
	note(`browser: ${s.passed} passed, ${s.failed} failed`);
	process.exitCode = s.failed ? 1 : 0;
});
