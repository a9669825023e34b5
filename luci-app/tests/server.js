'use strict';
/*
 * Test web server on 127.0.0.1 only: serves the app's htdocs, the LuCI
 * stand-in and a harness page, and answers the stand-in's exec / ubus / uci
 * calls from fixtures. Like rpcd and cgi-io on a router, it refuses any call
 * the app's ACL file does not grant, and logs every call for the tests.
 */
const http = require('http');
const fs = require('fs');
const path = require('path');
const P = require('./lib/paths');
const { parseUci, forLuci } = require('./lib/uci');
const ACL = require('./lib/acl');

const TYPES = { '.js': 'application/javascript', '.css': 'text/css', '.json': 'application/json', '.html': 'text/html' };

/*
 * Whether rpcd / cgi-io would let a user who has only the "read" permission
 * of luci-app-sipalg make this call (lib/acl.js re-implements their checks).
 */
function aclAllows(kind, req, aclJson) {
	const granted = ACL.grants(aclJson || JSON.parse(fs.readFileSync(P.ACL, 'utf8')), 'read');
	if (kind === 'exec')
		return ACL.cgiExec(granted, req.command, req.params).code === 200;
	if (kind === 'ubus')
		return ACL.access(granted, 'ubus', req.object, req.method);
	if (kind === 'uci')
		return ACL.access(granted, 'uci', req.config, 'read');
	return false;
}

/*
 * state:
 *   status:  fixture file path for `sipalgd status --json`, or 'EXEC_FAIL' (exec error)
 *   service: 'running' | 'stopped' | 'absent'  (procd's view of the sipalg service)
 *   acl:     an acl.d JSON object to use instead of the app's file (null: the file)
 */
function start(initial) {
	const state = Object.assign({ status: path.join(P.FIXTURES, 'status-lab.json'), service: 'running' }, initial || {});
	const log = [];

	const cfg = P.configText();
	const uciData = forLuci(parseUci(cfg.text, cfg.name));

	function answer(kind, req) {
		const allowed = aclAllows(kind, req, state.acl);
		log.push({ kind, req, allowed });
		if (!allowed) return { code: 403, body: 'Access denied by ACL' };
		if (kind === 'exec') {
			if (state.status === 'EXEC_FAIL') return { code: 500, body: 'Failed to execute: No such file or directory' };
			return { code: 200, body: fs.readFileSync(state.status, 'utf8'), type: 'text/plain' };
		}
		if (kind === 'ubus') {
			if (req.object === 'service' && req.method === 'list') {
				if (state.service === 'absent') return { code: 200, json: {} };
				const inst = { instance1: { running: state.service === 'running', pid: 1234, command: [ '/usr/sbin/sipalgd' ] } };
				return { code: 200, json: { sipalg: { instances: inst } } };
			}
			return { code: 404, body: 'Object not found' };
		}
		if (kind === 'uci') return { code: 200, json: req.config === 'sipalg' ? uciData : {} };
		return { code: 400, body: 'bad request' };
	}

	const server = http.createServer((rq, rs) => {
		const url = new URL(rq.url, 'http://127.0.0.1');
		const send = (code, body, type) => { rs.writeHead(code, { 'Content-Type': type || 'text/plain', 'Cache-Control': 'no-store' }); rs.end(body); };

		if (url.pathname === '/' || url.pathname === '/harness.html')
			return send(200, fs.readFileSync(path.join(P.TESTS, 'stub/harness.html')), 'text/html');

		if (url.pathname.startsWith('/__stub/')) {
			let body = '';
			rq.on('data', (d) => { body += d; });
			rq.on('end', () => {
				let req;
				try { req = JSON.parse(body || '{}'); } catch (e) { return send(400, 'bad json'); }
				const r = answer(url.pathname.slice(8), req);
				if (r.json !== undefined) return send(r.code, JSON.stringify(r.json), 'application/json');
				return send(r.code, r.body, r.type);
			});
			return;
		}

		let file = null;
		if (url.pathname.startsWith('/luci-static/')) file = path.join(P.HTDOCS, url.pathname);
		else if (url.pathname.startsWith('/stub/')) file = path.join(P.TESTS, url.pathname);
		const base = file && (file.startsWith(path.join(P.HTDOCS, path.sep)) || file.startsWith(path.join(P.TESTS, 'stub', path.sep)));
		if (!base || !fs.existsSync(file) || !fs.statSync(file).isFile()) return send(404, 'not found');
		return send(200, fs.readFileSync(file), TYPES[path.extname(file)] || 'application/octet-stream');
	});

	return new Promise((resolve) => {
		server.listen(0, '127.0.0.1', () => {
			resolve({
				url: `http://127.0.0.1:${server.address().port}`,
				state, log,
				close: () => new Promise((r) => server.close(r))
			});
		});
	});
}

module.exports = { start };

if (require.main === module) {
	/* manual use: node server.js, then open the printed URL */
	start().then((s) => console.log(`${s.url}/?view=sipalg/status  ${s.url}/?view=sipalg/settings`));
}
