/*
 * A small stand-in for the parts of LuCI's client-side API that the
 * luci-app-sipalg views use: L (require, bind, resolveDefault, dom), E, _, N_,
 * String.prototype.format, the view base class, form (Map, NamedSection,
 * TypedSection, tabs, Flag, Value, ListValue, DynamicList), tools.widgets
 * (DeviceSelect), poll, fs, rpc, uci and ui.
 *
 * _() and N_() behave like cbi.js's (no catalog: the English string; N_ picks
 * the singular for n == 1). With LuCIStub.pseudo set, every string they return
 * is wrapped in ⟦ ⟧, a pseudo-translation: text on the page without the marks
 * did not go through them.
 *
 * It loads view files the way LuCI's luci.js does: it reads the leading
 * 'require ...' string statements, loads those classes, and evaluates the
 * file as the body of function(window, document, L, <required classes>).
 * The forms render to real DOM with LuCI's class names, option names
 * and titles, so a browser test can look at them as a person would.
 *
 * fs.exec_direct, rpc and uci talk to the test server (server.js), which
 * checks every call against the app's rpcd ACL file, as rpcd and cgi-io do.
 *
 * In Node (no document), forms only record their options: the consistency
 * test reads what the settings view declares from LuCIStub.maps.
 */
(function(root) {
	'use strict';

	var hasDOM = (typeof root.document != 'undefined');
	var stub = {
		maps: [],          /* every form.Map created */
		polls: [],         /* functions given to poll.add, with their interval */
		calls: [],         /* fs / rpc / uci calls made by the views */
		readSource: null,  /* function(url) -> Promise<string>, set by install() */
		backend: null      /* function(kind, payload) -> Promise<result> */
	};

	/* ---- String.prototype.format (the subset LuCI views use) ---- */
	if (!String.prototype.format) {
		Object.defineProperty(String.prototype, 'format', {
			configurable: true, writable: true,
			value: function() {
				var args = arguments, i = 0;
				return String(this).replace(/%(%|-?[0-9]*(?:\.[0-9]+)?[sdfxqht])/g, function(m, spec) {
					if (spec == '%') return '%';
					var v = args[i++], conv = spec[spec.length - 1];
					switch (conv) {
					case 's': return (v == null) ? '' : String(v);
					case 'd': return String(Math.trunc(+v || 0));
					case 'f': var p = /\.([0-9]+)/.exec(spec); return (+v || 0).toFixed(p ? +p[1] : 6);
					case 'x': return (+v || 0).toString(16);
					case 'h': case 'q': return String(v == null ? '' : v).replace(/[&<>"']/g, function(c) { return '&#' + c.charCodeAt(0) + ';'; });
					case 't':
						var s = +v || 0, mm = Math.floor(s / 60) % 60, hh = Math.floor(s / 3600) % 24, dd = Math.floor(s / 86400);
						return dd > 0 ? '%dd %dh %dm %ds'.format(dd, hh, mm, s % 60) : '%dh %dm %ds'.format(hh, mm, s % 60);
					}
					return m;
				});
			}
		});
	}

	/* ---- Class ---- */
	function Class() {}
	Class.extend = function(props) {
		var Parent = this;
		var Ctor = function() {
			if (typeof this.__init__ == 'function')
				this.__init__.apply(this, arguments);
		};
		Ctor.prototype = Object.create(Parent.prototype);
		Object.keys(props || {}).forEach(function(k) { Ctor.prototype[k] = props[k]; });
		Ctor.prototype.constructor = Ctor;
		Ctor.prototype.__base__ = Parent.prototype;
		Ctor.extend = Class.extend;
		Ctor.singleton = Class.singleton;
		Ctor.isSubclass = function(c) { return c != null && c.prototype instanceof Ctor; };
		return Ctor;
	};
	Class.singleton = function(props) { var C = this.extend(props); return new C(); };
	Class.prototype.super = function(key, args) {
		for (var p = Object.getPrototypeOf(Object.getPrototypeOf(this)); p; p = Object.getPrototypeOf(p))
			if (Object.prototype.hasOwnProperty.call(p, key))
				return (typeof p[key] == 'function') ? p[key].apply(this, args || []) : p[key];
		return null;
	};
	Class.prototype.varargs = function(args, offset) {
		return Array.prototype.slice.call(arguments, 2).concat(Array.prototype.slice.call(args, offset));
	};
	Class.isSubclass = function(c) { return c != null && typeof c == 'function' && c.prototype instanceof Class; };

	/* ---- dom (behaves like LuCI's L.dom for create/append/content) ---- */
	var dom = {
		elem: function(e) { return e != null && typeof e == 'object' && 'nodeType' in e; },
		append: function(node, children) {
			if (!this.elem(node)) return null;
			if (Array.isArray(children)) {
				for (var i = 0; i < children.length; i++) {
					if (this.elem(children[i])) node.appendChild(children[i]);
					else if (children[i] != null) node.appendChild(root.document.createTextNode('' + children[i]));
				}
				return node.lastChild;
			}
			if (typeof children == 'function') return this.append(node, children(node));
			if (this.elem(children)) return node.appendChild(children);
			/* like LuCI: a lone string child is HTML */
			if (children != null) { node.innerHTML = '' + children; return node.lastChild; }
			return null;
		},
		content: function(node, children) {
			if (!this.elem(node)) return null;
			while (node.firstChild) node.removeChild(node.firstChild);
			return this.append(node, children);
		},
		attr: function(node, key, val) {
			var attr = (typeof key == 'object' && key != null) ? key : (function() { var o = {}; o[key] = val; return o; })();
			Object.keys(attr).forEach(function(k) {
				var v = attr[k];
				if (v == null) return;
				if (k == 'style') throw new Error('inline style attribute used on <' + node.tagName.toLowerCase() + '>');
				if (typeof v == 'function') node.addEventListener(k, v);
				else if (typeof v == 'object') node.setAttribute(k, JSON.stringify(v));
				else node.setAttribute(k, v);
			});
		},
		create: function(html, attr, data) {
			var elem;
			if (!(attr instanceof Object) || Array.isArray(attr)) { data = attr; attr = null; }
			if (Array.isArray(html)) {
				elem = root.document.createDocumentFragment();
				for (var i = 0; i < html.length; i++) elem.appendChild(this.create(html[i]));
			}
			else if (this.elem(html)) elem = html;
			else elem = root.document.createElement(html);
			if (attr) this.attr(elem, attr);
			this.append(elem, data);
			return elem;
		},
		parent: function(node, sel) { return node && node.closest ? node.closest(sel) : null; },
		matches: function(node, sel) { return this.elem(node) && node.matches(sel); },
		isEmpty: function(node) { return !node || !node.firstElementChild; }
	};

	function E() { return dom.create.apply(dom, arguments); }
	function tr(s) { return stub.pseudo ? '⟦' + s + '⟧' : s; }
	function _(s) { return tr(s); }
	function N_(n, s, p) { return tr(n != 1 ? p : s); }

	/* ---- poll ---- */
	var poll = {
		add: function(fn, interval) {
			if (typeof fn != 'function' || isNaN(interval)) throw new TypeError('Invalid argument to poll.add()');
			stub.polls.push({ fn: fn, interval: interval });
			return true;
		},
		remove: function(fn) { stub.polls = stub.polls.filter(function(p) { return p.fn !== fn; }); return true; },
		start: function() {}, stop: function() {}, active: function() { return false; }
	};
	/* run every registered poll function once, as a tick of LuCI's poller would */
	stub.pollTick = function() { return Promise.all(stub.polls.map(function(p) { return p.fn(); })); };

	/* ---- fs ---- */
	var fs = {
		exec_direct: function(command, params, type) {
			stub.calls.push({ kind: 'exec', command: command, params: params || [] });
			return stub.backend('exec', { command: command, params: params || [] }).then(function(out) {
				if (type == 'json') return JSON.parse(out);
				if (type == 'blob') return new root.Blob([ out ]);
				return out;
			});
		},
		exec: function(command, params) {
			stub.calls.push({ kind: 'ubus-exec', command: command, params: params || [] });
			return stub.backend('exec', { command: command, params: params || [] }).then(function(out) {
				return { code: 0, stdout: out, stderr: '' };
			});
		}
	};

	/* ---- rpc ---- */
	var rpc = {
		declare: function(opts) {
			stub.calls.push({ kind: 'declare', object: opts.object, method: opts.method });
			return function() {
				var params = {}, args = arguments;
				(opts.params || []).forEach(function(p, i) { if (args[i] !== undefined) params[p] = args[i]; });
				stub.calls.push({ kind: 'ubus', object: opts.object, method: opts.method, params: params });
				return stub.backend('ubus', { object: opts.object, method: opts.method, params: params }).then(function(res) {
					if (opts.expect) {
						var key = Object.keys(opts.expect)[0], dflt = opts.expect[key];
						var v = (key === '') ? res : (res != null ? res[key] : null);
						if (v == null || (dflt != null && typeof v != typeof dflt)) v = dflt;
						res = v;
					}
					return (typeof opts.filter == 'function') ? opts.filter(res, params) : res;
				});
			};
		}
	};

	/* ---- uci ---- */
	var uciState = {};
	var uci = {
		load: function(config) {
			var configs = Array.isArray(config) ? config : [ config ];
			return Promise.all(configs.map(function(c) {
				stub.calls.push({ kind: 'uci', config: c, access: 'read' });
				return stub.backend('uci', { config: c }).then(function(data) { uciState[c] = data; return c; });
			}));
		},
		get: function(config, section, option) {
			var s = uciState[config] && uciState[config][section];
			if (!s) return null;
			return option == null ? s : (s[option] === undefined ? null : s[option]);
		},
		set: function(config, section, option, value) {
			stub.calls.push({ kind: 'uci', config: config, access: 'write' });
			if (uciState[config] && uciState[config][section]) uciState[config][section][option] = value;
		},
		sections: function(config, type) {
			var c = uciState[config] || {};
			return Object.keys(c).map(function(k) { return c[k]; }).filter(function(s) { return !type || s['.type'] == type; });
		},
		unset: function() {}, save: function() { return Promise.resolve(); }, apply: function() { return Promise.resolve(); }
	};

	/* ---- ui ---- */
	var ui = {
		addNotification: function(title, children, cls) {
			var n = E('div', { 'class': 'alert-message ' + (cls || '') }, [ title ? E('h4', {}, [ title ]) : '', children ]);
			var mc = root.document.getElementById('maincontent');
			mc.insertBefore(n, mc.firstChild);
			return n;
		},
		showModal: function(title, children) { return ui.addNotification(title, children, 'modal'); },
		hideModal: function() {},
		changes: { apply: function() {} }
	};

	/* ---- form ---- */
	var uid = 0;

	var AbstractValue = Class.extend({
		__init__: function(section, option, title, description) {
			this.section = section;
			this.map = section.map;
			this.option = option;
			this.title = title || '';
			this.description = description || '';
			this.keylist = [];
			this.vallist = [];
			this.deps = [];
			this.optional = false;
			this.rmempty = true;
		},
		value: function(key, label) { this.keylist.push(String(key)); this.vallist.push(label != null ? label : key); },
		depends: function(field, val) { this.deps.push([ field, val ]); },
		cfgvalue: function(sid) { return uci.get(this.map.config, sid, this.option); },
		widgetKind: 'text',
		describe: function() {
			return {
				section: this.section.section, sectiontype: this.section.sectiontype,
				option: this.option, widget: this.widgetName, kind: this.widgetKind, tab: this.tab || null,
				list: this.widgetKind == 'list', datatype: this.datatype || null,
				default: this.default === undefined ? null : this.default,
				choices: this.keylist.slice(), title: this.title, description: this.description,
				rmempty: this.rmempty,
				validate: typeof this.validate == 'function' ? this.validate : null,
				accepts: this.validator(),
				cfgvalue: this.cfgvalue.bind(this)
			};
		},
		/*
		 * What the input accepts, like LuCI's Validator.validate(): the datatype
		 * first, then the option's validate(section_id, value) must return true.
		 */
		validator: function() {
			if (!this.datatype && typeof this.validate != 'function') return null;
			var dt = this.datatype ? root.SipalgDatatypes.compile(this.datatype) : null;  /* throws on an unknown datatype, as LuCI does */
			var vf = typeof this.validate == 'function' ? this.validate.bind(this) : null;
			var sid = this.section.section;
			return function(value) {
				return (!dt || dt(value)) && (!vf || vf(sid, value) === true);
			};
		},
		renderWidget: function(id, value) {
			return E('input', { 'type': 'text', 'class': 'cbi-input-text', 'id': id, 'name': id,
				'value': Array.isArray(value) ? value.join(' ') : (value != null ? value : ''),
				'placeholder': this.placeholder != null ? this.placeholder : null });
		},
		render: function(sid) {
			var id = 'widget.cbid.%s.%s.%s'.format(this.map.config, sid, this.option),
			    value = this.cfgvalue(sid);
			if (value == null && this.default != null) value = this.default;
			var widget = this.renderWidget(id, value),
			    check = this.validator();

			if (check) {
				var inputs = widget.matches('input[type=text]') ? [ widget ] : Array.prototype.slice.call(widget.querySelectorAll('input[type=text]'));
				inputs.forEach(function(inp) {
					var validate = function() {
						var ok = inp.value === '' || check(inp.value);
						inp.classList.toggle('cbi-input-invalid', !ok);
					};
					inp.addEventListener('input', validate);
					validate();
				});
			}

			return E('div', { 'class': 'cbi-value', 'id': 'cbi-%s-%s-%s'.format(this.map.config, sid, this.option),
				'data-name': this.option, 'data-widget': this.widgetName }, [
				E('label', { 'class': 'cbi-value-title', 'for': id }, [ this.title ]),
				E('div', { 'class': 'cbi-value-field' }, [
					widget,
					this.description ? E('div', { 'class': 'cbi-value-description' }, [ this.description ]) : ''
				])
			]);
		}
	});

	var Value = AbstractValue.extend({
		widgetName: 'Value',
		renderWidget: function(id, value) {
			if (!this.keylist.length)
				return AbstractValue.prototype.renderWidget.call(this, id, value);
			/* ui.Combobox: the choices plus free text */
			var keys = this.keylist.slice(), labels = this.vallist.slice();
			if (value != null && value !== '' && keys.indexOf(String(value)) < 0) { keys.push(String(value)); labels.push(String(value)); }
			return E('div', { 'class': 'cbi-dropdown combobox', 'id': id }, [
				E('select', { 'class': 'cbi-input-select' }, keys.map(function(k, i) {
					return E('option', { 'value': k, 'selected': (String(value) === k) ? 'selected' : null }, [ labels[i] ]);
				})),
				' ',
				E('input', { 'type': 'text', 'class': 'cbi-input-text create-item-input', 'value': value != null ? value : '',
					'placeholder': _('custom') })
			]);
		}
	});

	var Flag = AbstractValue.extend({
		widgetName: 'Flag', widgetKind: 'flag', enabled: '1', disabled: '0',
		renderWidget: function(id, value) {
			return E('div', { 'class': 'cbi-checkbox' }, [
				E('input', { 'type': 'checkbox', 'id': id, 'name': id, 'checked': (String(value) === this.enabled) ? 'checked' : null }),
				E('label', { 'for': id })
			]);
		}
	});

	var ListValue = AbstractValue.extend({
		widgetName: 'ListValue', widgetKind: 'select',
		renderWidget: function(id, value) {
			var self = this;
			return E('select', { 'class': 'cbi-input-select', 'id': id, 'name': id }, this.keylist.map(function(k, i) {
				return E('option', { 'value': k, 'selected': (String(value) === k) ? 'selected' : null }, [ self.vallist[i] ]);
			}));
		}
	});

	var DynamicList = AbstractValue.extend({
		widgetName: 'DynamicList', widgetKind: 'list',
		renderWidget: function(id, value) {
			/* like LuCI's form.DynamicList / ui.DynamicList: L.toArray(value), every item shown, '' too */
			var items = L.toArray(value);
			return E('div', { 'class': 'cbi-dynlist', 'id': id }, items.map(function(v) {
				return E('div', { 'class': 'item' }, [ E('span', {}, [ v ]) ]);
			}).concat([
				E('div', { 'class': 'add-item' }, [
					E('input', { 'type': 'text', 'class': 'cbi-input-text', 'placeholder': this.placeholder != null ? this.placeholder : null }),
					E('button', { 'class': 'cbi-button cbi-button-add' }, [ '+' ])
				])
			]));
		}
	});

	var DeviceSelect = AbstractValue.extend({
		widgetName: 'DeviceSelect', widgetKind: 'device',
		renderWidget: function(id, value) {
			var devs = [ 'eth0', 'eth1', 'br-lan', 'pppoe-wan', 'wan' ];
			if (value && devs.indexOf(value) < 0) devs.push(value);
			return E('select', { 'class': 'cbi-input-select', 'id': id, 'name': id },
				[ E('option', { 'value': '' }, [ _('-- unspecified --') ]) ].concat(devs.map(function(d) {
					return E('option', { 'value': d, 'selected': value === d ? 'selected' : null }, [ d ]);
				})));
		}
	});

	var AbstractSection = Class.extend({
		__init__: function(map, title, description) {
			this.map = map;
			this.title = title || '';
			this.description = description || '';
			this.children = [];
		},
		option: function(cls, option, title, description) {
			if (typeof cls != 'function' || !(cls.prototype instanceof AbstractValue))
				throw new TypeError('Class must be a descendent of AbstractValue');
			var o = new cls(this, option, title, description);
			this.children.push(o);
			return o;
		},
		/* like form.js: tab() declares a tab, taboption() puts an option on it */
		tab: function(name, title, description) {
			if (this.tabs && this.tabs[name]) throw 'Tab already declared';
			this.tabs = this.tabs || [];
			this.tabs.push({ name: name, title: title, description: description });
			this.tabs[name] = this.tabs[this.tabs.length - 1];
		},
		taboption: function(tab, cls, option, title, description) {
			if (!this.tabs || !this.tabs[tab]) throw new ReferenceError('Associated tab not declared');
			var o = this.option(cls, option, title, description);
			o.tab = tab;
			return o;
		},
		/*
		 * Tabs as form.js renderTabContainers and ui.js tabs.initTabGroup build
		 * them: a ul.cbi-tabmenu of li[data-tab] (cbi-tab / cbi-tab-disabled), and
		 * panes div[data-tab][data-tab-title][data-tab-active] in a
		 * .cbi-section-node-tabbed; the first tab is active.
		 */
		renderNode: function(sid) {
			var self = this;
			if (!this.tabs)
				return E('div', { 'class': 'cbi-section-node' }, this.children.map(function(o) { return o.render(sid); }));
			var panes = this.tabs.map(function(t, i) {
				return E('div', { 'data-tab': t.name, 'data-tab-title': t.title, 'data-tab-active': i == 0 ? 'true' : 'false' },
					[ t.description ? E('div', { 'class': 'cbi-tab-descr' }, [ t.description ]) : '' ].concat(
						self.children.filter(function(o) { return o.tab === t.name; }).map(function(o) { return o.render(sid); })));
			});
			var group = E('div', { 'class': 'cbi-section-node cbi-section-node-tabbed', 'id': 'cbi-%s-%s-tabs'.format(this.map.config, sid) }, panes);
			var menu = E('ul', { 'class': 'cbi-tabmenu' }, this.tabs.map(function(t, i) {
				return E('li', { 'class': i == 0 ? 'cbi-tab' : 'cbi-tab-disabled', 'data-tab': t.name }, [
					E('a', { 'href': '#', 'click': function(ev) {
						ev.preventDefault();
						menu.querySelectorAll('li').forEach(function(li) { li.className = li.getAttribute('data-tab') === t.name ? 'cbi-tab' : 'cbi-tab-disabled'; });
						panes.forEach(function(p) { p.setAttribute('data-tab-active', p.getAttribute('data-tab') === t.name ? 'true' : 'false'); });
					} }, [ t.title ])
				]);
			}));
			return E([ menu, group ]);
		},
		renderSection: function(sid) {
			return E('fieldset', { 'class': 'cbi-section', 'id': 'cbi-%s-%s'.format(this.map.config, sid) }, [
				this.title ? E('h3', {}, [ this.title ]) : '',
				this.description ? E('div', { 'class': 'cbi-section-descr' }, [ this.description ]) : '',
				this.renderNode(sid)
			]);
		}
	});

	var NamedSection = AbstractSection.extend({
		__init__: function(map, section, sectiontype, title, description) {
			AbstractSection.prototype.__init__.call(this, map, title, description);
			this.section = section;
			this.sectiontype = sectiontype;
		},
		render: function() {
			var s = uci.get(this.map.config, this.section);
			if (!s || s['.type'] != this.sectiontype)
				return E('div', { 'class': 'cbi-section missing', 'id': 'cbi-%s-%s'.format(this.map.config, this.section) }, [
					E('em', {}, [ 'missing section %s of type %s'.format(this.section, this.sectiontype) ]) ]);
			return this.renderSection(this.section);
		}
	});

	var TypedSection = AbstractSection.extend({
		__init__: function(map, sectiontype, title, description) {
			AbstractSection.prototype.__init__.call(this, map, title, description);
			this.section = null;
			this.sectiontype = sectiontype;
		},
		render: function() {
			var self = this;
			return E('div', {}, uci.sections(this.map.config, this.sectiontype).map(function(s) { return self.renderSection(s['.name']); }));
		}
	});

	var FormMap = Class.extend({
		__init__: function(config, title, description) {
			this.config = config;
			this.title = title || '';
			this.description = description || '';
			this.children = [];
			stub.maps.push(this);
		},
		section: function(cls) {
			if (typeof cls != 'function' || !(cls.prototype instanceof AbstractSection))
				throw new TypeError('Class must be a descendent of AbstractSection');
			var args = [ this ].concat(Array.prototype.slice.call(arguments, 1));
			var s = Object.create(cls.prototype);
			cls.apply(s, args);
			this.children.push(s);
			return s;
		},
		load: function() { return uci.load(this.config); },
		render: function() {
			var self = this;
			return this.load().then(function() {
				if (!hasDOM) return null;
				return E('div', { 'class': 'cbi-map', 'id': 'cbi-' + self.config }, [
					self.title ? E('h2', {}, [ self.title ]) : '',
					self.description ? E('div', { 'class': 'cbi-map-descr' }, [ self.description ]) : '',
					E('div', { 'class': 'cbi-map-sections' }, self.children.map(function(s) { return s.render(); }))
				]);
			});
		},
		save: function() { return Promise.resolve(); },
		reset: function() { return Promise.resolve(); },
		describe: function() {
			var out = [];
			this.children.forEach(function(s) { s.children.forEach(function(o) { out.push(o.describe()); }); });
			return { config: this.config, title: this.title, options: out };
		}
	});

	var form = {
		Map: FormMap, JSONMap: FormMap,
		AbstractSection: AbstractSection, NamedSection: NamedSection, TypedSection: TypedSection,
		AbstractValue: AbstractValue, Value: Value, Flag: Flag, ListValue: ListValue, DynamicList: DynamicList
	};

	var widgets = { DeviceSelect: DeviceSelect };

	/* ---- view ---- */
	var View = Class.extend({
		__init__: function() {
			var self = this, vp = hasDOM ? root.document.getElementById('view') : null;
			if (vp) dom.content(vp, E('div', { 'class': 'spinning' }, [ _('Loading view…') ]));
			stub.viewPromise = Promise.resolve(this.load()).then(function(data) { return self.render(data); }).then(function(nodes) {
				if (!vp) return nodes;
				dom.content(vp, nodes);
				dom.append(vp, self.addFooter());
				return nodes;
			});
			stub.viewPromise.catch(function(err) {
				stub.viewError = String(err && err.stack || err);
				if (vp) dom.content(vp, E('pre', { 'class': 'alert-message error', 'id': 'view-error' }, [ stub.viewError ]));
			});
		},
		load: function() {},
		render: function() {},
		handleSave: function() { return Promise.resolve(); },
		handleSaveApply: function() { return Promise.resolve(); },
		handleReset: function() { return Promise.resolve(); },
		addFooter: function() {
			var btns = [];
			if (this.handleSaveApply) btns.push(E('button', { 'class': 'cbi-button cbi-button-apply' }, [ _('Save & Apply') ]));
			if (this.handleSave) btns.push(E('button', { 'class': 'cbi-button cbi-button-save' }, [ _('Save') ]));
			if (this.handleReset) btns.push(E('button', { 'class': 'cbi-button cbi-button-reset' }, [ _('Reset') ]));
			return btns.length ? E('div', { 'class': 'cbi-page-actions' }, btns) : E([]);
		}
	});

	/* ---- L ---- */
	var classes = {
		'view': View, 'form': form, 'dom': dom, 'poll': poll, 'fs': fs, 'rpc': rpc,
		'uci': uci, 'ui': ui, 'tools.widgets': widgets
	};

	var L = {
		env: { base_url: '/luci-static/resources', pollinterval: 5 },
		Class: Class, dom: dom, Poll: poll, ui: ui,
		bind: function(fn, self) {
			var args = Array.prototype.slice.call(arguments, 2);
			return function() { return fn.apply(self, args.concat(Array.prototype.slice.call(arguments))); };
		},
		resolveDefault: function(p, d) { return Promise.resolve(p).catch(function() { return d; }); },
		isObject: function(v) { return v != null && typeof v == 'object'; },
		toArray: function(v) {
			if (v == null) return [];
			if (Array.isArray(v)) return v;
			var s = String(v).trim();
			return s == '' ? [] : s.split(/\s+/);
		},
		raise: function(type, fmt) { var e = new Error(fmt ? String(fmt) : type); e.name = type; throw e; },
		error: function(type, fmt) { L.raise(type, fmt); },
		url: function() { return '/cgi-bin/luci/' + Array.prototype.join.call(arguments, '/'); },
		resource: function() { return '/luci-static/resources/' + Array.prototype.join.call(arguments, '/'); },
		require: function(name) {
			if (classes[name] != null) return Promise.resolve(classes[name]);
			var url = '%s/%s.js'.format(L.env.base_url, name.replace(/\./g, '/'));
			return stub.readSource(url).then(function(source) { return compileClass(name, url, source); });
		}
	};

	/* Same rules as luci.js: leading string statements are 'use strict' or 'require x [as y]'. */
	function compileClass(name, url, source) {
		var requirematch = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/,
		    strictmatch = /^use[ \t]+strict$/,
		    deps = [], args = [];

		for (var i = 0, off = -1, quote = -1, esc = false; i < source.length; i++) {
			var chr = source.charCodeAt(i);
			if (esc) esc = false;
			else if (chr == 92) esc = true;
			else if (chr == quote) {
				var s = source.substring(off, i), m = requirematch.exec(s);
				if (m) {
					deps.push(m[1]);
					args.push(m[2] || m[1].replace(/[^a-zA-Z0-9_]/g, '_'));
				}
				else if (!strictmatch.exec(s)) break;
				off = -1; quote = -1;
			}
			else if (quote == -1 && (chr == 34 || chr == 39)) { off = i + 1; quote = chr; }
		}

		stub.requires = stub.requires || {};
		stub.requires[name] = deps.slice();

		return Promise.all(deps.map(function(d) {
			if (classes[d] == null) throw new Error('view requires "' + d + '", which the LuCI stand-in does not provide');
			return classes[d];
		})).then(function(instances) {
			var factory = new Function([ 'window', 'document', 'L' ].concat(args).join(','),
				source + '\n//# sourceURL=' + url);
			var cls = factory.apply(factory, [ root, root.document, L ].concat(instances));
			if (typeof cls != 'function' || !(cls.prototype instanceof Class))
				throw new TypeError('"' + name + '" factory yields invalid constructor');
			var instance = new cls();
			classes[name] = instance;
			return instance;
		});
	}

	stub.L = L;
	stub.classes = classes;
	stub.install = function(opts) {
		stub.readSource = opts.readSource;
		stub.backend = opts.backend;
		root.L = L;
		root.E = E;
		root._ = _;
		root.N_ = N_;
		return stub;
	};
	stub.loadView = function(path) {
		return L.require('view.' + path.replace(/\//g, '.')).then(function() { return stub.viewPromise; });
	};

	root.LuCIStub = stub;
})(typeof window != 'undefined' ? window : globalThis);
