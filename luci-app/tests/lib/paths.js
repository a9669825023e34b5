'use strict';
/* Where things are, and which config the tests use. */
const fs = require('fs');
const path = require('path');

const TESTS = path.resolve(__dirname, '..');
const APP = path.resolve(TESTS, '..');
const REPO = path.resolve(APP, '..');
const HTDOCS = path.join(APP, 'htdocs');
const VIEWS = path.join(HTDOCS, 'luci-static/resources/view/sipalg');
const MENU = path.join(APP, 'root/usr/share/luci/menu.d/luci-app-sipalg.json');
const ACL = path.join(APP, 'root/usr/share/rpcd/acl.d/luci-app-sipalg.json');
const FIXTURES = path.join(TESTS, 'fixtures');
const DEFAULT_CONFIG = path.join(REPO, 'files/sipalg.config');
const SPEC_COPY = path.join(TESTS, 'spec-uci.conf');

/* SPEC.md lives in shared/, beside the repository (CI) or its parent. */
function findSpec() {
	const candidates = [
		process.env.SIPALG_SPEC,
		path.join(REPO, '..', 'shared', 'SPEC.md'),
		path.join(REPO, 'shared', 'SPEC.md'),
		path.join(REPO, 'SPEC.md')
	].filter(Boolean);
	return candidates.find((p) => fs.existsSync(p)) || null;
}

/* The ```...``` block under "## UCI configuration" of SPEC.md. */
function specUciBlock(specPath) {
	const text = fs.readFileSync(specPath, 'utf8');
	const m = /^## UCI configuration[^\n]*\n[\s\S]*?^```[^\n]*\n([\s\S]*?)^```/m.exec(text);
	if (!m) throw new Error(`${specPath}: no UCI block under "## UCI configuration"`);
	return m[1];
}

/* The config the settings page is shown with: files/sipalg.config, else the SPEC table. */
function configText() {
	if (fs.existsSync(DEFAULT_CONFIG))
		return { name: 'files/sipalg.config', text: fs.readFileSync(DEFAULT_CONFIG, 'utf8') };
	const spec = findSpec();
	if (spec)
		return { name: 'SPEC.md UCI table', text: specUciBlock(spec) };
	return { name: 'luci-app/tests/spec-uci.conf', text: fs.readFileSync(SPEC_COPY, 'utf8') };
}

function sipalgdBinary() {
	for (const p of [ process.env.SIPALGD, path.join(REPO, 'target/debug/sipalgd'), path.join(REPO, 'target/release/sipalgd') ])
		if (p && fs.existsSync(p)) return p;
	return null;
}

module.exports = { TESTS, APP, REPO, HTDOCS, VIEWS, MENU, ACL, FIXTURES, DEFAULT_CONFIG, SPEC_COPY,
	findSpec, specUciBlock, configText, sipalgdBinary };
