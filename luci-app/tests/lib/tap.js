'use strict';
/* Tiny result printer: "ok - name" / "not ok - name: why"; run.sh counts the lines. */
let failed = 0, passed = 0;

function check(name, cond, detail) {
	if (cond) { passed++; console.log(`ok - ${name}`); }
	else { failed++; console.log(`not ok - ${name}${detail ? ': ' + detail : ''}`); }
	return !!cond;
}

function note(msg) { console.log(`# ${msg}`); }

function summary() { return { passed, failed }; }

module.exports = { check, note, summary };
