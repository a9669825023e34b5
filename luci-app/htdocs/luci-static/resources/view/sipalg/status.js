'use strict';
'require view';
'require dom';
'require poll';
'require fs';
'require rpc';
'require uci';

/*
 * Live status of sipalgd: the JSON printed by `sipalgd status --json`
 * (docs/status-json.md), refreshed every 5 seconds.
 */

var callServiceList = rpc.declare({
	object: 'service',
	method: 'list',
	params: [ 'name' ],
	expect: { '': {} }
});

function getStatus() {
	return fs.exec_direct('/usr/sbin/sipalgd', [ 'status', '--json' ], 'json').then(function(st) {
		if (st == null || typeof(st) != 'object')
			return { running: false, error: _('sipalgd printed no status') };
		return st;
	}).catch(function(err) {
		return { running: false, denied: !!(err && err.name == 'PermissionError'),
			error: (err && err.message) ? err.message : String(err) };
	});
}

/* true / false from procd's service list, null when unknown */
function getServiceRunning() {
	return L.resolveDefault(callServiceList('sipalg'), null).then(function(res) {
		if (res == null || typeof(res) != 'object')
			return null;

		var inst = (res.sipalg && res.sipalg.instances) ? res.sipalg.instances : {};

		return Object.keys(inst).some(function(k) { return inst[k] && inst[k].running; });
	});
}

function duration(secs) {
	secs = Math.max(0, Math.floor(+secs || 0));

	var d = Math.floor(secs / 86400),
	    h = Math.floor(secs / 3600) % 24,
	    m = Math.floor(secs / 60) % 60,
	    s = secs % 60;

	if (d > 0)
		return '%dd %dh %dm'.format(d, h, m);
	if (h > 0)
		return '%dh %dm %ds'.format(h, m, s);
	if (m > 0)
		return '%dm %ds'.format(m, s);
	return '%ds'.format(s);
}

function text(v) {
	return (v == null || v === '') ? '-' : String(v);
}

function label(cls, txt, title) {
	return E('span', { 'class': 'label ' + cls, 'title': title || null }, [ txt ]);
}

/*
 * Children for E(): E() puts a lone string in as HTML, so text that comes from
 * the daemon (SIP URIs, Call-IDs, warnings) always goes in wrapped in an array,
 * where it becomes a text node.
 */
function cell(c) {
	return Array.isArray(c) ? c : [ c ];
}

function kvTable(id, rows) {
	return E('table', { 'class': 'table', 'id': id }, rows.map(function(r) {
		return E('tr', { 'class': 'tr' }, [
			E('td', { 'class': 'td left', 'width': '33%' }, cell(r[0])),
			E('td', { 'class': 'td left' }, cell(r[1]))
		]);
	}));
}

function dataTable(id, titles, rows, empty) {
	var t = E('table', { 'class': 'table', 'id': id }, [
		E('tr', { 'class': 'tr table-titles' }, titles.map(function(title) {
			return E('th', { 'class': 'th' }, title);
		}))
	]);

	if (!rows.length)
		t.appendChild(E('tr', { 'class': 'tr placeholder' },
			E('td', { 'class': 'td', 'colspan': String(titles.length) }, E('em', {}, empty))));

	rows.forEach(function(r) {
		t.appendChild(E('tr', { 'class': 'tr' + (r.cls ? ' ' + r.cls : '') }, r.cells.map(function(c, i) {
			return E('td', { 'class': 'td', 'data-title': titles[i] }, cell(c));
		})));
	});

	return t;
}

function streamOneWay(st) {
	return st.one_way === true;
}

function callOneWay(call) {
	return call.one_way === true ||
		(Array.isArray(call.streams) && call.streams.some(streamOneWay));
}

/* Which way the audio is missing, in words, for the warning text. */
function oneWayHint(st) {
	var out = +st.packets_out || 0, inn = +st.packets_in || 0;

	if (out > 0 && inn == 0)
		return _('nothing arrives from the far end');
	if (inn > 0 && out == 0)
		return _('nothing leaves towards the far end');
	return _('one direction has stopped');
}

return view.extend({
	load: function() {
		return Promise.all([
			getStatus(),
			getServiceRunning(),
			L.resolveDefault(uci.load('sipalg'), null)
		]);
	},

	/* cgi-io refused to run sipalgd status: this says nothing about the daemon */
	renderDenied: function(st, svcRunning) {
		return E('div', { 'class': 'alert-message warning', 'id': 'sipalg-denied' }, [
			E('h4', {}, _('No permission to read the SIP ALG status')),
			E('p', {}, _('The router refused to run "/usr/sbin/sipalgd status --json" for this login, so the live status cannot be shown. The luci-app-sipalg access rights (rpcd ACL) must grant it; reinstalling luci-app-sipalg restores them.')),
			E('p', {}, [ _('Service state reported by procd:'), ' ',
				svcRunning === true ? _('running') : (svcRunning === false ? _('not running') : _('unknown')) ]),
			st.error ? E('p', {}, [ _('Details:'), ' ', E('code', {}, [ String(st.error) ]) ]) : ''
		]);
	},

	renderNotRunning: function(st, svcRunning) {
		var enabled = uci.get('sipalg', 'main', 'enabled'),
		    hints = [];

		if (enabled === '0')
			hints.push(_('The service is disabled on the Settings page.'));
		else if (svcRunning === true)
			hints.push(_('procd reports the service as running, but the daemon does not answer on its control socket.'));
		else
			hints.push(_('Start it with "/etc/init.d/sipalg start" and look at "logread -e sipalgd" for errors.'));

		return E('div', { 'class': 'alert-message warning', 'id': 'sipalg-not-running' }, [
			E('h4', {}, _('The SIP ALG daemon is not running')),
			E('p', {}, _('sipalgd did not answer, so there is no live status. While it is down, sipalg does not rewrite SIP, guard against the kernel SIP helper, or apply its timeouts and DSCP marks.')),
			st.error ? E('p', {}, [ _('Details:'), ' ', E('code', {}, [ String(st.error) ]) ]) : '',
			E('p', {}, hints)
		]);
	},

	renderSummary: function(st, svcRunning) {
		var wan = st.wan || {},
		    kh = st.kernel_helper || {},
		    rows = [];

		rows.push([ _('Service'), [
			st.running ? label('success', _('running')) : label('important', _('not running')),
			svcRunning === false ? ' ' + _('(answering, but not started by procd)') : ''
		] ]);
		rows.push([ _('SIP ALG'), st.alg
			? [ label('notice', _('on')), ' ', _('SIP and SDP are rewritten for phones behind NAT') ]
			: [ label('notice', _('off')), ' ', _('SIP passes unmodified; timeouts, helper guard and DSCP still apply') ] ]);
		rows.push([ _('Queue backend'), st.queue_backend == 'iptables-nft'
			? _('iptables-nft (xt NFQUEUE fallback)') : text(st.queue_backend) ]);
		rows.push([ _('WAN device'), text(wan.device) ]);
		rows.push([ _('WAN address'), text(wan.address) ]);
		rows.push([ _('External address'), wan.external_address ? String(wan.external_address) : _('none (the WAN address is advertised)') ]);
		rows.push([ _('Kernel SIP helper'),
			!kh.loaded ? _('not loaded')
				: kh.attached ? _('loaded and attached to SIP flows')
				: kh.guard ? _('loaded, kept off SIP traffic by sipalg')
				: _('loaded, not guarded') ]);
		rows.push([ _('Version'), text(st.version) + (st.pid ? ' (pid %d)'.format(st.pid) : '') ]);
		rows.push([ _('Uptime'), st.uptime != null ? duration(st.uptime) : '-' ]);

		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, _('Service')),
			kvTable('sipalg-summary', rows)
		]);
	},

	renderNotices: function(st) {
		var kh = st.kernel_helper || {},
		    calls = Array.isArray(st.calls) ? st.calls : [],
		    warnings = Array.isArray(st.warnings) ? st.warnings : [],
		    oneway = calls.filter(callOneWay),
		    nodes = [];

		if ((kh.loaded && !kh.guard) || kh.attached)
			nodes.push(E('div', { 'class': 'alert-message warning', 'id': 'sipalg-kernel-helper' }, [
				E('strong', {}, _('The kernel SIP helper is active.')), ' ',
				kh.attached
					? _('nf_conntrack_sip is attached to SIP flows, so SIP may be rewritten twice. Uncheck "Allow the kernel SIP helper" in Settings, or remove kmod-nf-nathelper-extra.')
					: _('nf_conntrack_sip is loaded and "Allow the kernel SIP helper" is checked, so fw4 may attach it to SIP flows. Uncheck it in Settings unless you rely on it.')
			]));

		if (oneway.length)
			nodes.push(E('div', { 'class': 'alert-message warning', 'id': 'sipalg-one-way' }, [
				E('strong', {}, _('One-way audio')), ': ',
				_('%d call(s) send media in one direction only. See the Media streams table below for which direction is missing.').format(oneway.length)
			]));

		if (warnings.length)
			nodes.push(E('div', { 'class': 'alert-message notice', 'id': 'sipalg-warnings' }, [
				E('strong', {}, _('Warnings from sipalgd')),
				E('ul', {}, warnings.map(function(w) { return E('li', {}, [ String(w) ]); }))
			]));

		return nodes;
	},

	renderRegistrations: function(st) {
		var regs = Array.isArray(st.registrations) ? st.registrations : [];

		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, _('Registrations')),
			dataTable('sipalg-registrations',
				[ _('Address of record'), _('Phone (private contact)'), _('Public contact'), _('Registrar'), _('Expires in') ],
				regs.map(function(r) {
					return { cells: [ text(r.aor), text(r.private), text(r.public), text(r.registrar),
						r.expires_in != null ? duration(r.expires_in) : '-' ] };
				}),
				_('No registrations seen yet.'))
		]);
	},

	renderCalls: function(st) {
		var calls = Array.isArray(st.calls) ? st.calls : [],
		    streamRows = [];

		var callRows = calls.map(function(c) {
			var streams = Array.isArray(c.streams) ? c.streams : [];

			streams.forEach(function(s) {
				var oneway = streamOneWay(s) || (c.one_way === true && streams.length == 1);

				streamRows.push({
					cls: oneway ? 'sipalg-one-way' : '',
					cells: [
						text(c.call_id), text(s.kind), text(s.private), text(s.public), text(s.remote),
						String(+s.packets_out || 0), String(+s.packets_in || 0),
						oneway ? [ label('warning', _('one-way audio')), ' ', oneWayHint(s) ] : label('success', _('both ways'))
					]
				});
			});

			return {
				cls: callOneWay(c) ? 'sipalg-one-way' : '',
				cells: [
					text(c.call_id), text(c.state), text(c.direction),
					c.age != null ? duration(c.age) : '-', text(c.phone), text(c.peer),
					String(streams.length),
					callOneWay(c) ? label('warning', _('one-way audio')) : label('success', _('OK'))
				]
			};
		});

		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, _('Calls')),
			dataTable('sipalg-calls',
				[ _('Call-ID'), _('State'), _('Direction'), _('Age'), _('Phone'), _('Peer'), _('Streams'), _('Audio') ],
				callRows, _('No calls in progress.')),
			E('h3', {}, _('Media streams')),
			E('p', {}, _('Packets out: phone to far end. Packets in: far end to phone.')),
			dataTable('sipalg-streams',
				[ _('Call-ID'), _('Kind'), _('Phone side (private)'), _('Public'), _('Remote'), _('Packets out'), _('Packets in'), _('Audio') ],
				streamRows, _('No media streams.'))
		]);
	},

	renderCounters: function(st) {
		var c = st.counters || {};

		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, _('Counters')),
			kvTable('sipalg-counters', [
				[ _('SIP messages seen'), String(+c.seen || 0) ],
				[ _('Rewritten'), String(+c.rewritten || 0) ],
				[ _('Passed unchanged'), String(+c.unchanged || 0) ],
				[ _('Unparsable (passed unchanged)'), String(+c.unparsable || 0) ],
				[ _('Dropped under overload (senders retransmit)'), String(+c.queue_dropped || 0) ],
				[ _('Verdict errors'), String(+c.verdict_errors || 0) ]
			].concat(st.tcp_relay ? [
				[ _('SIP over TCP connections relayed'), String(+st.tcp_relay.connections || 0) ],
				[ _('SIP over TCP messages relayed'), String(+st.tcp_relay.messages || 0) ]
			] : []))
		]);
	},

	renderBody: function(data) {
		var st = data[0] || { running: false },
		    svcRunning = data[1];

		if (st.denied)
			return [ this.renderDenied(st, svcRunning) ];
		if (st.running !== true)
			return [ this.renderNotRunning(st, svcRunning) ];

		return [].concat(
			this.renderNotices(st),
			this.renderSummary(st, svcRunning),
			this.renderRegistrations(st),
			this.renderCalls(st),
			this.renderCounters(st));
	},

	render: function(data) {
		var body = E('div', { 'id': 'sipalg-status' }, this.renderBody(data));

		poll.add(L.bind(function() {
			return Promise.all([ getStatus(), getServiceRunning() ]).then(L.bind(function(res) {
				dom.content(body, this.renderBody(res));
			}, this));
		}, this), 5);

		return E([], [
			E('h2', {}, _('SIP ALG status')),
			E('div', { 'class': 'cbi-map-descr' },
				_('Registrations and calls sipalgd sees, with media packet counts per direction. Refreshed every 5 seconds.')),
			body
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
