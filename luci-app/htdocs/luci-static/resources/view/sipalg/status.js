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

/*
 * The daemon's words (docs/status-json.md), each given a label a translation can
 * change; luci-app/tests checks that every documented value has one. A value the
 * daemon adds later is shown as it comes.
 */
var STATES = {
	early: _('Setting up'),
	confirmed: _('Connected')
};

var DIRECTIONS = {
	outbound: _('Outgoing'),
	inbound: _('Incoming')
};

var KINDS = {
	audio: _('Audio'),
	video: _('Video'),
	image: _('Fax (T.38)'),
	application: _('Application'),
	text: _('Text'),
	message: _('Message'),
	other: _('Other')
};

var BACKENDS = {
	'nft': _('nft queue'),
	'iptables-nft': _('iptables-nft (fallback: this kernel has no nft queue)')
};

function word(map, v) {
	return Object.prototype.hasOwnProperty.call(map, v) ? map[v] : text(v);
}

/*
 * A Call-ID can be long (a UUID and a host name): shown shortened so that the
 * tables keep one line per row, in full on hover.
 */
function shortId(id, max) {
	id = text(id);
	max = max || 14;
	return id.length > max ? E('span', { 'title': id }, [ id.substr(0, max - 2) + '…' ]) : id;
}

function count(v) {
	return String(+v || 0);
}

function duration(secs) {
	secs = Math.max(0, Math.floor(+secs || 0));

	var d = Math.floor(secs / 86400),
	    h = Math.floor(secs / 3600) % 24,
	    m = Math.floor(secs / 60) % 60,
	    s = secs % 60;

	/* no-break spaces: a duration never wraps inside a table cell */
	if (d > 0)
		return '%dd\u00a0%dh\u00a0%dm'.format(d, h, m);
	if (h > 0)
		return '%dh\u00a0%dm\u00a0%ds'.format(h, m, s);
	if (m > 0)
		return '%dm\u00a0%ds'.format(m, s);
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

/* A call's streams that are one-way (the whole call when it has one stream). */
function callStreamsOneWay(call) {
	var streams = Array.isArray(call.streams) ? call.streams : [];

	return streams.filter(function(s) {
		return streamOneWay(s) || (call.one_way === true && streams.length == 1);
	});
}

/* Every one-way stream with the number of its call (1-based, as in the Calls table). */
function oneWayStreams(calls) {
	var out = [];

	calls.forEach(function(c, i) {
		callStreamsOneWay(c).forEach(function(s) { out.push({ call: i + 1, stream: s }); });
	});

	return out;
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
		rows.push([ _('WAN device'), text(wan.device) ]);
		rows.push([ _('WAN address'), text(wan.address) ]);
		rows.push([ _('External address'), wan.external_address ? String(wan.external_address) : _('none (the WAN address is advertised)') ]);
		rows.push([ _('Kernel SIP helper'),
			!kh.loaded ? _('not loaded')
				: kh.attached ? _('loaded and attached to SIP flows')
				: kh.guard ? _('loaded, kept off SIP traffic by sipalg')
				: _('loaded, not guarded') ]);
		rows.push([ _('SIP over TCP'), st.tcp_relay
			? N_(+st.tcp_relay.connections || 0, 'relayed by sipalgd: %d connection now',
				'relayed by sipalgd: %d connections now').format(+st.tcp_relay.connections || 0)
			: (st.alg ? _('not relayed: SIP over TCP passes unmodified') : _('not relayed (the ALG is off)')) ]);
		rows.push([ _('Running for'), st.uptime != null ? duration(st.uptime) : '-' ]);

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
				E('strong', {}, _('One-way audio')), ' ',
				N_(oneway.length,
					'%d call sends media in one direction only:',
					'%d calls send media in one direction only:').format(oneway.length),
				E('div', {}, oneWayStreams(calls).map(function(w) {
					return E('div', { 'class': 'sipalg-one-way-stream' },
						[ _('Call %d, %s: %s').format(w.call, word(KINDS, w.stream.kind), oneWayHint(w.stream)) ]);
				}))
			]));

		var relay = st.tcp_relay || {},
		    problems = [];

		if (+relay.onward_failed > 0)
			problems.push(N_(+relay.onward_failed, '%d connection could not reach the provider.',
				'%d connections could not reach the provider.').format(+relay.onward_failed));
		if (+relay.refused > 0)
			problems.push(N_(+relay.refused, '%d connection was refused: 128 were open already.',
				'%d connections were refused: 128 were open already.').format(+relay.refused));
		if (+relay.closed_unframable > 0)
			problems.push(N_(+relay.closed_unframable, '%d connection was closed: its SIP could not be read (bad Content-Length or a header over 16 KB).',
				'%d connections were closed: their SIP could not be read (bad Content-Length or a header over 16 KB).').format(+relay.closed_unframable));

		if (problems.length)
			nodes.push(E('div', { 'class': 'alert-message warning', 'id': 'sipalg-tcp-problems' }, [
				E('strong', {}, _('SIP over TCP has problems')), ' ',
				problems.join(' '), ' ',
				_('Counted since sipalgd started; "logread -e sipalgd" says more.')
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
				[ _('Account'), _('Phone'), _('Public address'), _('Registrar'), _('Expires in') ],
				regs.map(function(r) {
					return { cells: [ shortId(r.aor, 40), text(r.private), text(r.public), text(r.registrar),
						r.expires_in != null ? duration(r.expires_in) : '-' ] };
				}),
				_('No registrations seen yet.'))
		]);
	},

	renderCalls: function(st) {
		var calls = Array.isArray(st.calls) ? st.calls : [],
		    streamRows = [];

		/* calls are numbered; a stream names its call by that number (Call-IDs are long) */
		var callRows = calls.map(function(c, i) {
			var streams = Array.isArray(c.streams) ? c.streams : [],
			    oneway = callStreamsOneWay(c);

			streams.forEach(function(s) {
				var one = oneway.indexOf(s) > -1;

				streamRows.push({
					cls: one ? 'sipalg-one-way' : '',
					cells: [
						String(i + 1), word(KINDS, s.kind), text(s.private), text(s.public), text(s.remote),
						count(s.packets_out), count(s.packets_in),
						one ? label('warning', _('one-way'), oneWayHint(s)) : label('success', _('both ways'))
					]
				});
			});

			return {
				cls: callOneWay(c) ? 'sipalg-one-way' : '',
				cells: [
					String(i + 1), shortId(c.call_id), word(STATES, c.state), word(DIRECTIONS, c.direction),
					c.age != null ? duration(c.age) : '-', text(c.phone), text(c.peer),
					callOneWay(c) ? label('warning', _('one-way')) : label('success', _('OK'))
				]
			};
		});

		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, _('Calls')),
			dataTable('sipalg-calls',
				[ _('Call'), _('Call-ID'), _('State'), _('Direction'), _('Duration'), _('Phone'), _('Far end'), _('Audio') ],
				callRows, _('No calls in progress.')),
			E('h3', {}, _('Media streams')),
			E('p', {}, _('Out: packets from the phone to the far end. In: packets from the far end to the phone.')),
			dataTable('sipalg-streams',
				[ _('Call'), _('Media'), _('Phone'), _('Public'), _('Far end'), _('Out'), _('In'), _('Audio') ],
				streamRows, _('No media streams.'))
		]);
	},

	renderCounters: function(st) {
		var c = st.counters || {},
		    relay = st.tcp_relay;

		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, _('SIP messages')),
			kvTable('sipalg-counters', [
				[ _('Seen'), count(c.seen) ],
				[ _('Rewritten'), count(c.rewritten) ],
				[ _('Passed unchanged'), count(c.unchanged) ],
				[ _('Unreadable (passed unchanged)'), count(c.unparsable) ],
				[ _('Dropped under overload (senders retransmit)'), count(c.queue_dropped) ]
			].concat(relay ? [
				[ _('SIP over TCP: connections now'), count(relay.connections) ],
				[ _('SIP over TCP: messages relayed'), count(relay.messages) ],
				[ _('SIP over TCP: provider not reachable'), count(relay.onward_failed) ],
				[ _('SIP over TCP: refused (too many connections)'), count(relay.refused) ],
				[ _('SIP over TCP: closed, SIP unreadable'), count(relay.closed_unframable) ]
			] : []))
		]);
	},

	/* What only someone debugging needs: collapsed, in plain words with the term in brackets. */
	renderDetails: function(st) {
		var c = st.counters || {},
		    relay = st.tcp_relay;

		return E('details', { 'class': 'cbi-section', 'id': 'sipalg-details' }, [
			E('summary', {}, _('Details for troubleshooting')),
			kvTable('sipalg-details-table', [
				[ _('How SIP reaches sipalgd'), word(BACKENDS, st.queue_backend) ],
				[ _('Version'), st.pid ? _('%s (process %d)').format(text(st.version), st.pid) : text(st.version) ],
				[ _('Packets the kernel did not take back (verdict errors)'), count(c.verdict_errors) ],
				[ _('Firewall updates that failed'), count(c.program_errors) ],
				[ _('Addresses left as received (not restored)'), count(c.not_restored) ]
			].concat(relay ? [
				[ _('SIP over TCP: connections accepted'), count(relay.accepted) ],
				[ _('SIP over TCP: closed when idle'), count(relay.timed_out) ]
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
			this.renderCounters(st),
			this.renderDetails(st));
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
