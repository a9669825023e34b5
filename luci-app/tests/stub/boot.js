/* Starts the view named in ?view=... with the LuCI stand-in, talking to server.js. */
(function() {
	'use strict';

	function post(kind, payload) {
		return fetch('/__stub/' + kind, { method: 'POST', body: JSON.stringify(payload) }).then(function(res) {
			/* exec: like LuCI fs.js handleCgiIoReply, a named error per HTTP status */
			if (!res.ok && kind === 'exec') {
				var e = new Error(res.statusText);
				e.name = { 400: 'InvalidArgumentError', 403: 'PermissionError', 404: 'NotFoundError' }[res.status] || 'Error';
				throw e;
			}
			if (!res.ok)
				return res.text().then(function(t) { throw new Error('HTTP ' + res.status + ': ' + t); });
			return kind === 'exec' ? res.text() : res.json();
		});
	}

	var stub = window.LuCIStub.install({
		readSource: function(url) {
			return fetch(url).then(function(res) {
				if (!res.ok) throw new Error('HTTP ' + res.status + ' while loading ' + url);
				return res.text();
			});
		},
		backend: post
	});

	var query = new URLSearchParams(location.search),
	    view = query.get('view') || 'sipalg/status';

	/* ?pseudo=1: every _() / N_() string comes back as ⟦...⟧ */
	stub.pseudo = query.get('pseudo') === '1';
	window.__viewDone = stub.loadView(view).then(function() { return 'ok'; }, function(e) {
		return 'error: ' + (e && e.stack || e);
	});
})();
