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

async function openView(browser, srv, viewPath, state) {
	Object.assign(srv.state, state);
	srv.log.length = 0;
	const page = await browser.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`);
	});
	/* nothing but the test server: any other request is a bug */
	await page.route('**/*', (route) => route.request().url().startsWith(srv.url) ? route.continue() : route.abort());
	await page.goto(`${srv.url}/?view=${viewPath}`);
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
	check(`${label}: summary shows service, ALG ${st.alg ? 'on' : 'off'}, queue backend and WAN device/address`,
		/Service\s+RUNNING/i.test(summaryText) && new RegExp(`SIP ALG\\s+${st.alg ? 'ON' : 'OFF'}`, 'i').test(summaryText) &&
		summaryText.includes(st.queue_backend) && (!wan.device || summaryText.includes(wan.device)) &&
		(!wan.address || summaryText.includes(wan.address)) && (!wan.external_address || summaryText.includes(wan.external_address)), summaryText);

	const kh = st.kernel_helper || {};
	const helperWanted = !!((kh.loaded && !kh.guard) || kh.attached);
	check(`${label}: kernel-helper warning ${helperWanted ? 'shown' : 'not shown'}`, !!(await page.$('#sipalg-kernel-helper')) === helperWanted);

	const warns = await page.$$eval('#sipalg-warnings li', (lis) => lis.map((l) => l.innerText)).catch(() => []);
	check(`${label}: all ${(st.warnings || []).length} daemon warnings listed`, JSON.stringify(warns) === JSON.stringify(st.warnings || []), JSON.stringify(warns));

	const regs = await rows(page, 'sipalg-registrations');
	const regOk = regs.length === (st.registrations || []).length && (st.registrations || []).every((r, i) =>
		regs[i].cells[0] === r.aor && regs[i].cells[1] === r.private && regs[i].cells[2] === r.public && regs[i].cells[3] === r.registrar);
	check(`${label}: registrations table has ${(st.registrations || []).length} row(s): AOR, private, public contact, registrar`, regOk, JSON.stringify(regs));

	const calls = await rows(page, 'sipalg-calls');
	const callOk = calls.length === (st.calls || []).length && (st.calls || []).every((c, i) =>
		calls[i].cells[0] === c.call_id && calls[i].cells[1] === c.state && calls[i].cells[2] === c.direction &&
		calls[i].warn === callOneWay(c) && /one-way audio/i.test(calls[i].cells[7]) === callOneWay(c));
	check(`${label}: calls table has ${(st.calls || []).length} row(s) with Call-ID, state, direction and a one-way label exactly on one-way calls`,
		callOk, JSON.stringify(calls));

	const streams = await rows(page, 'sipalg-streams');
	const want = [];
	(st.calls || []).forEach((c) => (c.streams || []).forEach((s) => want.push([ c, s ])));
	const strOk = streams.length === want.length && want.every(([ c, s ], i) => {
		const r = streams[i].cells;
		return r[0] === c.call_id && r[1] === s.kind && r[2] === s.private && r[3] === s.public && r[4] === s.remote &&
			r[5] === String(s.packets_out) && r[6] === String(s.packets_in) &&
			(s.one_way === true ? /one-way audio/i.test(r[7]) : !/one-way/i.test(r[7]));
	});
	check(`${label}: media streams table has ${want.length} row(s) with endpoints and packets out/in per direction`, strOk, JSON.stringify(streams));

	const anyOneWay = (st.calls || []).some(callOneWay);
	const banner = await visibleText(page, '#sipalg-one-way');
	check(`${label}: one-way audio banner ${anyOneWay ? 'shown' : 'not shown'}`, anyOneWay ? /one-way audio/i.test(banner || '') : banner === null, banner);

	const counters = await visibleText(page, '#sipalg-counters') || '';
	const c = st.counters || {};
	check(`${label}: counters shown`, [ 'seen', 'rewritten', 'unchanged', 'unparsable', 'verdict_errors' ]
		.every((k) => counters.includes(String(c[k] || 0))), counters);
	check(`${label}: what the kernel's queue dropped under overload shown`,
		new RegExp(`Dropped under overload[^0-9]*${c.queue_dropped || 0}`).test(counters), counters);
	if (st.tcp_relay)
		check(`${label}: relayed TCP connections shown`,
			counters.includes('SIP over TCP connections relayed') && counters.includes(String(st.tcp_relay.connections)), counters);

	const execs = srv.log.filter((l) => l.kind === 'exec');
	check(`${label}: status comes from "/usr/sbin/sipalgd status --json", all calls ACL-granted`,
		execs.length >= 1 && execs.every((l) => l.req.command === '/usr/sbin/sipalgd' && l.req.params.join(' ') === 'status --json') &&
		srv.log.every((l) => l.allowed), JSON.stringify(srv.log));

	const polls = await page.evaluate(() => window.LuCIStub.polls.map((p) => p.interval));
	check(`${label}: refreshes itself every 5 s (poll.add(..., 5))`, polls.length === 1 && polls[0] === 5, JSON.stringify(polls));
	if (screenshot) await shot(page, screenshot);
	return page;
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
			calls.length === 2 && !calls[0].warn && /OK/.test(calls[0].cells[7]) && calls[1].warn && /one-way audio/i.test(calls[1].cells[7]),
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
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipalg-luci-chromium-'));
	const srv = await server.start();
	let context = null;
	try {
		context = await chromium.launchPersistentContext(userDataDir, {
			executablePath: CHROMIUM,
			headless: true,
			viewport: { width: 1280, height: 900 },
			args: [ '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
				'--disable-background-networking', '--disable-component-update', '--disable-sync' ]
		});
		const browser = { newPage: () => context.newPage() };
		await settingsTest(browser, srv);
		await statusTests(browser, srv);
	}
	finally {
		if (context) await context.close();
		await srv.close();
		fs.rmSync(userDataDir, { recursive: true, force: true });
	}
	note(`screenshots in ${path.relative(P.REPO, OUT) || OUT}: ${fs.readdirSync(OUT).filter((f) => f.endsWith('.png')).join(', ')}`);
}

main().catch((e) => check('browser test ran', false, e.stack || String(e))).finally(() => {
	const s = summary();
	note(`browser: ${s.passed} passed, ${s.failed} failed`);
	process.exitCode = s.failed ? 1 : 0;
});
