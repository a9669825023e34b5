'use strict';
'require view';
'require form';
'require uci';
'require tools.widgets as widgets';

/*
 * Settings of sipalg (/etc/config/sipalg). The options, sections, defaults
 * and datatypes are those of `sipalgd schema` (the daemon's option table):
 * each text input takes exactly what `sipalgd check` accepts, by a LuCI
 * datatype (schema "luci_datatype") and, where a datatype cannot say it, a
 * check named in the schema's "luci_rules" (RULES below). The tests in
 * luci-app/tests hold this file to the schema and to `sipalgd check`.
 */

/*
 * sipalgd's own checks that no LuCI datatype expresses, by schema name. Their
 * messages read like LuCI's own ("Expecting: valid IPv4 address", from
 * validation.js): LuCI shows a validate function's string as it is.
 */
function expecting(what) {
	return _('Expecting: %s').format(what);
}

var RULES = {
	/* sipalgd reads dotted quads strictly: 010.0.0.1 is refused */
	ip4_no_leading_zero: function(v) {
		return !String(v).split('/')[0].split('.').some(function(o) { return /^0[0-9]/.test(o); }) ||
			expecting(_('valid IPv4 address without leading zeros'));
	},
	/* an address other hosts can reach: not 0.0.0.0, 127/8, multicast, broadcast */
	ip4_public_unicast: function(v) {
		var o = String(v).split('.').map(Number);
		return !((o[0] == 0 && o[1] == 0 && o[2] == 0 && o[3] == 0) || o[0] == 127 || (o[0] >= 224 && o[0] <= 239) ||
			String(v) == '255.255.255.255') || expecting(_('public IPv4 address of the outer router'));
	},
	/* a DSCP name in any case, or a number 0-63 */
	dscp: function(v) {
		v = String(v);
		if (/^[0-9]+$/.test(v))
			return +v <= 63 || expecting(_('valid DSCP number (0-63)'));
		return /^(EF|VA|LE|CS[0-7]|AF[1-4][1-3])$/.test(v.toUpperCase()) ||
			expecting(_('valid DSCP name (CS0-CS7, AF11-AF43, EF, VA, LE) or number (0-63)'));
	}
};

/*
 * A form validate function applying the named RULES (to each space-separated
 * value of a list item, as sipalgd splits them); .rules lists them for the tests.
 */
function rules(names, list) {
	var fn = function(section_id, value) {
		var values = list ? String(value || '').split(/[ \t]+/) : [ value ];
		for (var j = 0; j < values.length; j++) {
			if (values[j] == null || values[j] === '')
				continue;
			for (var i = 0; i < names.length; i++) {
				var r = RULES[names[i]](values[j]);
				if (r !== true)
					return r;
			}
		}
		return true;
	};
	fn.rules = names;
	return fn;
}

/* DSCP names accepted in signaling_dscp / media_dscp, with their code points. */
var DSCP_NAMES = [
	[ 'CS0', 0, _('best effort') ],
	[ 'LE', 1, _('lower effort') ],
	[ 'CS1', 8, _('low priority') ],
	[ 'AF11', 10 ], [ 'AF12', 12 ], [ 'AF13', 14 ],
	[ 'CS2', 16 ],
	[ 'AF21', 18 ], [ 'AF22', 20 ], [ 'AF23', 22 ],
	[ 'CS3', 24 ],
	[ 'AF31', 26 ], [ 'AF32', 28 ], [ 'AF33', 30 ],
	[ 'CS4', 32 ],
	[ 'AF41', 34 ], [ 'AF42', 36 ], [ 'AF43', 38 ],
	[ 'CS5', 40, _('signaling') ],
	[ 'VA', 44, _('voice admit') ],
	[ 'EF', 46, _('telephony') ],
	[ 'CS6', 48, _('network control') ],
	[ 'CS7', 56 ]
];

function dscpOption(s, name, title, description, dflt) {
	var o = s.option(form.Value, name, title, description);

	DSCP_NAMES.forEach(function(d) {
		o.value(d[0], d[2] ? '%s (%d, %s)'.format(d[0], d[1], d[2]) : '%s (%d)'.format(d[0], d[1]));
	});
	o.validate = rules([ 'dscp' ]);
	o.default = dflt;
	o.placeholder = dflt;
	o.rmempty = false;

	return o;
}

return view.extend({
	render: function() {
		var m, s, o;

		m = new form.Map('sipalg', _('SIP ALG'),
			_('Makes SIP phones, ATAs and PBXs behind this router work with a SIP provider: keeps Linux\'s own SIP helper out of the way, keeps NAT mappings of SIP and media alive long enough, and marks voice traffic for priority. The status page shows registrations, calls and one-way audio.'));

		/*
		 * main: what most people change on "General"; what only a special setup
		 * needs on "Advanced" (LuCI form tabs).
		 */
		s = m.section(form.NamedSection, 'main', 'sipalg', _('General settings'));
		s.addremove = false;
		s.tab('general', _('General'));
		s.tab('advanced', _('Advanced'));

		o = s.taboption('general', form.Flag, 'alg', _('SIP ALG (rewrite SIP and SDP for NAT)'),
			_('Turn this on only for phones that do not handle NAT themselves (no STUN, ICE or outbound proxy and no "NAT keep-alive"/rport setting); leave it off otherwise, because those phones already send their public address and work best unmodified.'));
		o.default = '0';
		o.rmempty = false;

		o = s.taboption('general', form.Flag, 'enabled', _('Enable service'),
			_('Runs sipalgd. Even with the ALG switch off it keeps the kernel SIP helper off SIP traffic, applies the SIP and media timeouts below and marks DSCP.'));
		o.default = '1';
		o.rmempty = false;

		o = s.taboption('advanced', form.Flag, 'kernel_helper', _('Allow the kernel SIP helper'),
			_('Leave unchecked: sipalg keeps Linux\'s nf_conntrack_sip / nf_nat_sip off SIP traffic, because a second ALG mangles SIP and causes one-way audio. Check only if you deliberately rely on the kernel helper instead of sipalg.'));
		o.default = '0';
		o.rmempty = false;

		o = s.taboption('advanced', widgets.DeviceSelect, 'wan_device', _('WAN device'),
			_('Network device facing the SIP provider. Empty: the device of the default route.'));
		o.noaliases = true;
		o.nocreate = true;
		o.optional = true;
		o.rmempty = true;
		o.default = '';

		o = s.taboption('advanced', form.Value, 'external_address', _('External address'),
			_('Public IPv4 address to advertise instead of the WAN address, for double NAT or carrier-grade NAT. Empty: the WAN device\'s address.'));
		o.datatype = 'ip4addr("nomask")';
		o.validate = rules([ 'ip4_no_leading_zero', 'ip4_public_unicast' ]);
		o.placeholder = '203.0.113.1';
		o.rmempty = true;
		o.default = '';

		o = s.taboption('advanced', form.DynamicList, 'port', _('SIP ports'),
			_('UDP (and TCP) ports on which SIP is handled, usually 5060.'));
		o.datatype = 'list(and(port,min(1)))';
		o.placeholder = '5060';
		o.default = [ '5060' ];
		o.rmempty = false;

		o = s.taboption('advanced', form.Flag, 'tcp', _('SIP over TCP'),
			_('With the ALG on, SIP over TCP from LAN phones to the SIP ports is relayed by sipalgd (transparent proxy) and rewritten like SIP over UDP: calls, registrations, media pinholes and DSCP work the same. Connections being relayed when sipalgd stops are lost; new ones then pass unmodified. SIP over TLS (5061) is never diverted or modified.'));
		o.default = '1';
		o.rmempty = false;

		o = s.taboption('advanced', form.DynamicList, 'trusted_source', _('Trusted sources'),
			_('Extra provider addresses or networks (IPv4 or CIDR) allowed to reach registered phones on their public contact, besides the registrar itself. Everyone else is kept out (no ghost calls from scanners).'));
		o.datatype = 'list(or(ip4addr("nomask"),cidr4))';
		o.validate = rules([ 'ip4_no_leading_zero' ], true);
		o.placeholder = '198.51.100.0/24';
		o.rmempty = true;
		o.default = [];
		/* an empty item (list trusted_source '' of older default configs) is no entry */
		o.cfgvalue = function(section_id) {
			return L.toArray(uci.get('sipalg', section_id, 'trusted_source')).filter(function(v) { return v !== ''; });
		};

		/* labels short enough for the theme's 210 px select (luci-app/tests checks the width) */
		o = s.taboption('general', form.ListValue, 'media_source', _('Media source check'),
			_('Which addresses may send a call\'s media (audio, video) in through the router. "SDP address only" (sdp, safest): only the address the far end announced in its SDP. "Any address" (any): for providers whose media servers send from other addresses than announced, if you hear nothing from the far end.'));
		o.value('sdp', _('SDP address only'));
		o.value('any', _('Any address'));
		o.default = 'sdp';
		o.rmempty = false;

		o = s.taboption('advanced', form.ListValue, 'log_level', _('Log level'),
			_('How much sipalgd writes to the system log (logread -e sipalgd).'));
		o.value('error', _('Errors (error)'));
		o.value('warning', _('Warnings (warning)'));
		o.value('info', _('Information (info)'));
		o.value('debug', _('Debug (debug)'));
		o.default = 'info';
		o.rmempty = false;

		/* timeouts */
		s = m.section(form.NamedSection, 'timeouts', 'timeouts', _('Timeouts'),
			_('Idle timeouts of the NAT/conntrack entries of SIP and media flows. They apply to those flows only, not to all UDP traffic.'));
		s.addremove = false;

		o = s.option(form.Value, 'signaling', _('Signaling timeout (s)'),
			_('Idle timeout of SIP flows in seconds, 120 to 604800 (a week). A registered phone\'s mapping is kept at least until its registration expires, so incoming calls keep working.'));
		o.datatype = 'and(uinteger,range(120,604800))';
		o.default = '3600';
		o.placeholder = '3600';
		o.rmempty = false;

		o = s.option(form.Value, 'media', _('Media timeout (s)'),
			_('Idle timeout of RTP/RTCP flows in seconds, 60 to 604800 (a week). Long enough to survive a call on hold without packets.'));
		o.datatype = 'and(uinteger,range(60,604800))';
		o.default = '300';
		o.placeholder = '300';
		o.rmempty = false;

		/* qos */
		s = m.section(form.NamedSection, 'qos', 'qos', _('QoS (DSCP marking)'),
			_('Marks SIP and each call\'s media in both directions: towards the provider and towards the LAN, where Wi-Fi WMM and SQM use the marks.'));
		s.addremove = false;

		o = s.option(form.Flag, 'enabled', _('Mark DSCP'),
			_('Set the DSCP field of SIP and media packets.'));
		o.default = '1';
		o.rmempty = false;

		dscpOption(s, 'signaling_dscp', _('SIP DSCP'),
			_('DSCP for SIP signaling: a name (CS0-CS7, AF11-AF43, EF, VA, LE) or a number 0-63. Default CS5, the RFC 4594 signaling class.'),
			'CS5');

		dscpOption(s, 'media_dscp', _('Media DSCP'),
			_('DSCP for RTP/RTCP media: a name (CS0-CS7, AF11-AF43, EF, VA, LE) or a number 0-63. Default EF (46), expedited forwarding for voice.'),
			'EF');

		return m.render();
	}
});
