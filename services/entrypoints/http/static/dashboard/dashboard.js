// The crisis dashboard (vanilla JS, no external asset). Every word shown comes from the Dutch
// texts the server rendered into the page (#texts); this file carries codes and layout only.
// The bearer token lives in sessionStorage and travels only in the Authorization header: the
// live stream is read with fetch, never with an EventSource URL carrying a token.
(() => {
  'use strict';

  const T = JSON.parse(document.getElementById('texts').textContent);
  const U = T.ui;
  const TOKEN_KEY = 'bondgenoten.token';
  const BANDS = ['normal', 'elevated', 'high', 'critical'];
  const OUTCOMES = ['reached', 'no_answer', 'call_back_later'];
  const ACTIONS = [
    // [action in the matrix, path suffix, text key, statuses it applies to]
    ['escalation.acknowledge', 'acknowledge', 'act_acknowledge', ['alerted']],
    ['escalation.de-escalate', 'de-escalate', 'act_de_escalate', ['alerted', 'acknowledged']],
    ['escalation.resolve', 'resolve', 'act_resolve', ['alerted', 'acknowledged', 'de_escalated']],
    ['escalation.close', 'close', 'act_close', ['alerted', 'acknowledged', 'de_escalated', 'resolved']],
    ['escalation.call-convening', 'convenings', 'act_call_convening', ['alerted', 'acknowledged', 'de_escalated']],
  ];

  const app = document.getElementById('app');
  let token = sessionStorage.getItem(TOKEN_KEY);
  let me = null;
  let layers = null;
  let theme = '';
  let selected = null; // the escalation whose call list is shown
  let callList = null;
  let lastEventId = null;
  let stream = null;
  let state = { tension: { cells: [] }, signals: [], escalations: { open: [], convenings: {} }, networks: [], at: null };
  // The map's time slider: hours before now (0: live) and the map as of then (valid time).
  let mapHoursBack = 0;
  let pastTension = null;
  let pastRequest = 0;

  // ------------------------------------------------------------------ helpers

  const fmt = (template, values) =>
    String(template).replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
  const label = (group, code) => (T[group] && T[group][code]) || code;
  const timeFmt = new Intl.DateTimeFormat('nl-NL', {
    timeZone: 'Europe/Amsterdam', day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit',
  });
  const when = (iso) => (iso ? `${timeFmt.format(new Date(iso))} ${U.tz}` : '');
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'text') node.textContent = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const svg = (tag, attrs, ...children) => {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) if (child) node.append(child);
    return node;
  };

  const may = (action) => !!me && me.actions.includes(action);

  class ApiError extends Error {}

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) {
      logout();
      throw new ApiError('401');
    }
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      const problem = data && data.errors && data.errors[0];
      throw new ApiError(problem ? `${problem.field}: ${problem.message}` : String(res.status));
    }
    return data;
  }

  function announce(text) {
    const region = document.getElementById('announce');
    if (region) region.textContent = text;
  }

  // ------------------------------------------------------------------ login

  async function showLogin(reason) {
    app.replaceChildren();
    const main = el('main', { id: 'login', class: 'login' },
      el('h1', { text: U.title }),
      el('h2', { text: U.login_title }),
      el('p', { text: U.login_intro }),
      reason ? el('p', { class: 'error', role: 'alert', text: fmt(U.login_failed, { reason }) }) : null);
    app.append(main);
    let options = { demo_roles: [] };
    try {
      const res = await fetch('/api/v1/login/options', { cache: 'no-store' });
      if (res.ok) options = await res.json();
    } catch (e) { /* offline: the token form still works */ }
    if (options.demo_roles.length) {
      main.append(el('section', { class: 'demo-login', 'aria-labelledby': 'demo-h' },
        el('h3', { id: 'demo-h', text: U.login_demo }),
        el('p', { class: 'note', text: U.login_demo_note }),
        el('div', { class: 'buttons' }, options.demo_roles.map((role) =>
          el('button', { type: 'button', 'data-role': role, onclick: () => demoLogin(role) },
            label('role', role))))));
    }
    const area = el('textarea', { id: 'token', rows: 4, autocomplete: 'off', spellcheck: 'false' });
    main.append(el('form', { class: 'token-login', onsubmit: (e) => { e.preventDefault(); login(area.value.trim()); } },
      el('h3', { text: U.login_token }),
      el('p', { class: 'note', text: U.login_token_help }),
      el('label', { for: 'token', text: U.login_token_label }), area,
      el('button', { type: 'submit', text: U.login_submit })));
  }

  async function demoLogin(role) {
    const res = await fetch('/api/v1/login/demo', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ role }),
    });
    if (!res.ok) return showLogin(String(res.status));
    const body = await res.json();
    return login(body.token);
  }

  async function login(value) {
    if (!value) return;
    token = value;
    sessionStorage.setItem(TOKEN_KEY, token);
    try {
      await start();
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      token = null;
      showLogin(e.message);
    }
  }

  function logout() {
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    me = null;
    if (stream) stream.abort();
    stream = null;
    lastEventId = null;
    showLogin();
  }

  // ------------------------------------------------------------------ shell

  async function start() {
    me = await api('GET', '/api/v1/me');
    layers = await api('GET', '/api/v1/map');
    app.replaceChildren(shell());
    render();
    live();
  }

  function shell() {
    const themes = Object.keys(T.theme).sort((a, b) => label('theme', a).localeCompare(label('theme', b)));
    return el('div', { class: 'shell' },
      el('a', { class: 'skip', href: '#escalations', text: U.skip }),
      el('header', { class: 'top' },
        el('h1', { text: U.title }),
        el('span', { id: 'status', class: 'status', role: 'status', text: U.connecting }),
        el('span', { id: 'asof', class: 'asof' }),
        el('label', { for: 'theme', class: 'theme-label', text: U.map_theme }),
        el('select', { id: 'theme', onchange: (e) => { theme = e.target.value; renderMap(); } },
          el('option', { value: '', text: U.map_all_themes }),
          themes.map((t) => el('option', { value: t, text: label('theme', t) }))),
        el('span', { class: 'who', text: fmt(U.signed_in_as, { role: me.role_name, id: me.id }) }),
        el('button', { type: 'button', class: 'no-print', onclick: () => window.print(), text: U.print }),
        el('button', { type: 'button', class: 'no-print', id: 'logout', onclick: logout, text: U.logout })),
      el('p', { id: 'announce', class: 'announce', 'aria-live': 'polite' }),
      el('main', { class: 'grid' },
        el('section', { id: 'map', class: 'panel map-panel', 'aria-labelledby': 'map-h' },
          el('h2', { id: 'map-h', text: U.map_title }), el('div', { id: 'map-body' })),
        el('section', { id: 'escalations', class: 'panel', 'aria-labelledby': 'esc-h', tabindex: '-1' },
          el('h2', { id: 'esc-h', text: U.escalations_title }), el('div', { id: 'esc-body' })),
        el('section', { id: 'calls', class: 'panel', 'aria-labelledby': 'calls-h' },
          el('h2', { id: 'calls-h', text: U.call_list_title }), el('div', { id: 'calls-body' })),
        el('section', { id: 'convenings', class: 'panel', 'aria-labelledby': 'conv-h' },
          el('h2', { id: 'conv-h', text: U.convening_title }), el('div', { id: 'conv-body' })),
        el('section', { id: 'feed', class: 'panel', 'aria-labelledby': 'feed-h' },
          el('h2', { id: 'feed-h', text: U.feed_title }), el('div', { id: 'feed-body' })),
        el('section', { id: 'networks', class: 'panel', 'aria-labelledby': 'net-h' },
          el('h2', { id: 'net-h', text: U.health_title }), el('div', { id: 'net-body' }))));
  }

  // Re-rendering a panel keeps keyboard focus on the same control (same data-key).
  function fill(id, ...children) {
    const host = document.getElementById(id);
    if (!host) return;
    const focused = document.activeElement && host.contains(document.activeElement)
      ? document.activeElement.getAttribute('data-key') : null;
    host.replaceChildren(...children.flat().filter(Boolean));
    if (focused) {
      const again = host.querySelector(`[data-key="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  function render() {
    const asof = document.getElementById('asof');
    if (asof && state.at) asof.textContent = fmt(U.as_of, { time: when(state.at) });
    renderMap();
    renderEscalations();
    renderCallList();
    renderConvenings();
    renderFeed();
    renderNetworks();
  }

  // ------------------------------------------------------------------ map

  const areaFeatures = () => (layers ? layers.areas.features || [] : []);
  const areaName = (code) => {
    const f = areaFeatures().find((x) => (x.id || x.properties.code) === code);
    if (f) return f.properties.name || code;
    const o = layers && (layers.outlines.features || []).find((x) => x.id === code);
    return o ? o.properties.name : code;
  };

  // The map shows the live tension, or the tension as of the slider's moment.
  const mapTension = () => (mapHoursBack && pastTension ? pastTension : state.tension);

  // The strongest cell of an area for the chosen theme (or all themes).
  function cellOf(code) {
    const cells = (mapTension().cells || []).filter((c) => c.area === code && (!theme || c.theme === theme));
    return cells.reduce((best, c) => (!best || c.score > best.score ? c : best), null);
  }

  const watchOf = (code) => (mapTension().cells || []).some((c) => c.area === code && c.watch && (!theme || c.theme === theme));

  // as_of: the situation then according to everything known now (README "Two kinds of time").
  async function loadPast() {
    const request = ++pastRequest;
    if (!mapHoursBack) { pastTension = null; renderMap(); return; }
    const moment = new Date(Date.now() - mapHoursBack * 3600 * 1000).toISOString();
    try {
      const past = await api('GET', `/api/v1/tension-map?as_of=${encodeURIComponent(moment)}`);
      if (request === pastRequest) { pastTension = past; renderMap(); }
    } catch (err) {
      announce(String(err.message || err));
    }
  }

  function timeSlider() {
    const shown = mapHoursBack && pastTension ? fmt(U.map_time_past, { time: when(pastTension.at) }) : U.map_time_live;
    return el('div', { class: 'time-slider' },
      el('label', { for: 'map-time', text: U.map_time }),
      el('input', {
        id: 'map-time', 'data-key': 'map-time', type: 'range', min: '-168', max: '0', step: '1',
        value: String(-mapHoursBack), 'aria-valuetext': shown,
        onchange: (e) => { mapHoursBack = -Number(e.target.value); loadPast(); },
      }),
      el('output', { for: 'map-time', 'data-map-time': mapHoursBack ? 'past' : 'live', text: shown }));
  }

  function rings(geometry) {
    if (!geometry) return [];
    if (geometry.type === 'Polygon') return geometry.coordinates;
    if (geometry.type === 'MultiPolygon') return geometry.coordinates.flat();
    return [];
  }

  function projection() {
    const focus = areaFeatures().length ? areaFeatures() : layers.outlines.features || [];
    const points = focus.flatMap((f) => rings(f.geometry).flat());
    let [x0, y0, x1, y1] = [180, 90, -180, -90];
    for (const [x, y] of points) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    const kx = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
    const mx = (x1 - x0) * 0.15, my = (y1 - y0) * 0.15;
    x0 -= mx; x1 += mx; y0 -= my; y1 += my;
    const width = 800, scale = width / ((x1 - x0) * kx);
    const height = Math.round((y1 - y0) * scale);
    return { width, height, at: ([x, y]) => [((x - x0) * kx * scale).toFixed(1), ((y1 - y) * scale).toFixed(1)] };
  }

  const pathOf = (geometry, p) => rings(geometry).map((ring) => `M${ring.map((pt) => p.at(pt).join(',')).join('L')}Z`).join('');
  const trendMark = { rising: '▲', falling: '▼', steady: '' };

  function renderMap() {
    if (!layers) return;
    const p = projection();
    const outlines = (layers.outlines.features || []).map((f) => {
      const cell = cellOf(f.id);
      const band = cell ? cell.band : 'none';
      return svg('path', { d: pathOf(f.geometry, p), class: `outline ${f.properties.kind || ''} band-${band}`, 'data-outline': f.id });
    });
    const areas = areaFeatures().map((f) => {
      const code = f.id || f.properties.code;
      const cell = cellOf(code);
      const band = cell ? cell.band : 'normal';
      const summary = cell
        ? fmt(U.map_area_summary, { name: areaName(code), band: label('band', cell.band), trend: label('trend', cell.trend), score: cell.score.toFixed(1) })
        : `${areaName(code)}: ${U.map_no_area}`;
      const pts = rings(f.geometry)[0] || [];
      const c = pts.reduce((a, pt) => [a[0] + pt[0] / pts.length, a[1] + pt[1] / pts.length], [0, 0]);
      const [cx, cy] = p.at(c);
      const mark = `${cell ? trendMark[cell.trend] || '' : ''}${watchOf(code) ? ' ⚑' : ''}`;
      return svg('g', { class: 'area' },
        svg('path', {
          d: pathOf(f.geometry, p), class: `area-shape band-${band}`, 'data-area': code, 'data-band': band,
          'data-trend': cell ? cell.trend : 'steady', tabindex: '0', role: 'img', 'aria-label': summary,
          onclick: () => announce(summary),
          onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') announce(summary); },
        }, svg('title', {}, document.createTextNode(summary))),
        svg('text', { x: cx, y: cy, class: 'area-label', 'aria-hidden': 'true' },
          document.createTextNode(`${areaName(code).replace(/^Almere /, '')} ${mark}`)));
    });
    const legend = el('ul', { class: 'legend', 'aria-label': U.map_legend },
      BANDS.map((b) => el('li', {}, el('span', { class: `swatch band-${b}` }), label('band', b))),
      el('li', {}, `▲ ${label('trend', 'rising')}`), el('li', {}, `▼ ${label('trend', 'falling')}`),
      el('li', {}, `⚑ ${U.map_watch}`));
    const cells = (mapTension().cells || []).filter((c) => !theme || c.theme === theme)
      .sort((a, b) => b.score - a.score);
    const table = cells.length
      ? el('table', { class: 'cells' },
        el('caption', { text: U.map_table }),
        el('thead', {}, el('tr', {}, [U.area, U.theme, U.band, U.trend, U.score, U.reporters].map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, cells.map((c) => el('tr', { 'data-cell': `${c.area}/${c.theme}` },
          el('td', { text: areaName(c.area) }), el('td', { text: label('theme', c.theme) }),
          el('td', {}, el('span', { class: `pill band-${c.band}`, text: label('band', c.band) })),
          el('td', { text: `${trendMark[c.trend] || ''} ${label('trend', c.trend)}${c.watch ? ` ⚑ ${U.watch}` : ''}`, 'data-watch': c.watch ? 'yes' : 'no' }),
          el('td', { text: c.score.toFixed(1) }), el('td', { text: c.distinct_reporters })))))
      : el('p', { class: 'empty', text: U.map_no_area });
    fill('map-body', timeSlider(),
      svg('svg', { viewBox: `0 0 ${p.width} ${p.height}`, class: 'map', role: 'group', 'aria-labelledby': 'map-h' }, outlines, areas),
      legend, el('p', { class: 'note', text: U.map_note }), table);
  }

  // ------------------------------------------------------------------ escalations

  function countdown(iso) {
    const left = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
    if (left <= 0) return U.ack_overdue;
    const m = Math.floor(left / 60), s = left % 60;
    return m ? `${m}:${String(s).padStart(2, '0')}` : fmt(U.seconds, { s });
  }

  setInterval(() => {
    for (const node of document.querySelectorAll('[data-due]')) node.textContent = countdown(node.getAttribute('data-due'));
  }, 1000);

  async function act(escalation, path, textKey) {
    if (path === 'close' && !window.confirm(U.confirm_close)) return;
    try {
      await api('POST', `/api/v1/escalations/${encodeURIComponent(escalation.escalation_id)}/${path}`, {});
      announce(fmt(U.act_done, { action: U[textKey] }));
    } catch (e) {
      announce(fmt(U.act_failed, { reason: e.message }));
    }
  }

  function row(term, ...value) {
    return [el('dt', { text: term }), el('dd', {}, ...value)];
  }

  function escalationCard(e) {
    const cell = (state.tension.cells || []).find((c) => c.area === e.area && c.theme === e.theme);
    const alerts = e.alerts.length
      ? el('ul', { class: 'plain' }, e.alerts.map((a) => el('li', { text: fmt(U.alerted_at, { level: (e.level_names || {})[a.level] || a.level, round: a.round, time: when(a.at) }) })))
      : U.not_alerted;
    const ack = e.acknowledged_at
      ? fmt(U.ack_by, { actor: e.acknowledged_by || '', time: when(e.acknowledged_at) })
      : e.ack_due_at ? el('span', {}, `${U.ack_due} `, el('strong', { class: 'countdown', 'data-due': e.ack_due_at, text: countdown(e.ack_due_at) })) : (e.exhausted ? U.exhausted : '–');
    const signals = cell && cell.signals.length
      ? el('ul', { class: 'plain' }, cell.signals.map((s) => el('li', { text: `${label('reporter', s.role)}: ${U.signal_level} ${s.level}, ${label('evidence', s.evidence)} (${when(s.occurred_at)})` })))
      : String(e.signal_ids.length);
    const buttons = ACTIONS.filter(([action, , , statuses]) => may(action) && statuses.includes(e.status))
      .map(([action, path, key]) => el('button', {
        type: 'button', class: `act act-${path}`, 'data-action': action, 'data-key': `${e.escalation_id}/${path}`,
        onclick: () => act(e, path, key), text: U[key],
      }));
    if (may('read.call-list')) {
      buttons.push(el('button', {
        type: 'button', class: 'act act-calls', 'data-key': `${e.escalation_id}/calls`,
        onclick: () => { selected = e.escalation_id; loadCallList(); document.getElementById('calls').scrollIntoView(); },
        text: U.act_call_list,
      }));
    }
    return el('article', { class: `escalation band-${e.band}`, 'data-escalation': e.escalation_id, 'data-status': e.status },
      el('h3', {}, `${label('theme', e.theme)} · ${areaName(e.area)} `, el('span', { class: `pill status-${e.status}`, 'data-field': 'status', text: label('status', e.status) })),
      el('dl', {},
        row(U.level, e.level ? fmt(U.level_value, { level: e.level, round: e.round }) : U.not_alerted),
        row(U.alerted, alerts),
        row(U.ack, ack),
        row(U.band, el('span', { class: `pill band-${e.band}`, text: label('band', e.band) }), cell ? ` ${trendMark[cell.trend] || ''} ${label('trend', cell.trend)}` : ''),
        row(U.grip, e.suggested_grip ? fmt(U.grip_value, { grip: e.suggested_grip }) : U.grip_none),
        row(U.trigger, label('trigger', e.trigger), e.reason ? ` – ${e.reason}` : ''),
        row(U.communities, e.communities.length ? e.communities.map((c) => label('community', c)).join(', ') : U.none),
        row(U.signals, signals),
        row(U.opened, when(e.opened_at))),
      buttons.length ? el('div', { class: 'actions', role: 'group', 'aria-label': U.actions }, buttons) : null,
      el('details', {}, el('summary', { text: U.timeline }),
        el('ol', { class: 'timeline' }, e.timeline.map((t) => el('li', {}, `${when(t.at)} `, timelineText(t))))));
  }

  function timelineText(entry) {
    const key = entry.summary_key.replace(/^escalation\./, '');
    const template = T.timeline[key];
    if (!template) return key;
    const params = Object.assign({}, entry.params);
    if (params.trigger) params.trigger = label('trigger', params.trigger);
    return fmt(template, params);
  }

  function renderEscalations() {
    const open = state.escalations.open || [];
    fill('esc-body', open.length ? open.map(escalationCard) : el('p', { class: 'empty', text: U.escalations_none }));
  }

  // ------------------------------------------------------------------ call list

  async function loadCallList() {
    const e = (state.escalations.open || []).find((x) => x.escalation_id === selected);
    if (!e) { callList = null; renderCallList(); return; }
    const q = new URLSearchParams({ area: e.area, themes: e.theme, communities: e.communities.join(',') });
    try {
      callList = await api('GET', `/api/v1/call-lists?${q}`);
    } catch (err) {
      announce(fmt(U.act_failed, { reason: err.message }));
      callList = null;
    }
    renderCallList();
  }

  async function recordOutcome(entry, outcome) {
    try {
      await api('POST', `/api/v1/networks/${encodeURIComponent(entry.network_ids[0])}/call-outcomes`, {
        ally_id: entry.ally_id, outcome, caller: me.id, escalation_id: selected,
      });
      announce(fmt(U.act_done, { action: label('outcome', outcome) }));
    } catch (e) {
      announce(fmt(U.act_failed, { reason: e.message }));
    }
  }

  function renderCallList() {
    if (!callList) { fill('calls-body', el('p', { class: 'empty', text: U.call_list_none })); return; }
    const e = (state.escalations.open || []).find((x) => x.escalation_id === selected);
    const canRecord = may('network.record-call-outcome');
    const heading = el('p', { class: 'sub', text: fmt(U.call_list_for, { area: areaName(callList.area), theme: (callList.themes || []).map((t) => label('theme', t)).join(', ') }) });
    const gaps = callList.coverage_gaps.length
      ? el('p', { class: 'gaps', role: 'note' }, el('strong', { text: `${U.coverage_gaps}: ` }), callList.coverage_gaps.map((c) => label('community', c)).join(', '))
      : el('p', { class: 'ok', text: U.coverage_ok });
    const rows = callList.entries.map((a) => el('tr', { 'data-ally': a.ally_id },
      el('td', { text: a.rank }), el('td', { text: a.name }), el('td', { text: a.phone || '–' }),
      el('td', { text: (a.communities || []).map((c) => label('community', c)).join(', ') }),
      el('td', { text: label('availability', a.availability) }),
      el('td', { text: a.last_call ? `${label('outcome', a.last_call.outcome)}, ${when(a.last_call.at)}` : '–' }),
      el('td', {}, canRecord ? el('div', { class: 'outcomes', role: 'group', 'aria-label': U.outcome },
        OUTCOMES.map((o) => el('button', { type: 'button', 'data-outcome': o, 'data-key': `${a.ally_id}/${o}`, onclick: () => recordOutcome(a, o), text: label('outcome', o) }))) : '')));
    fill('calls-body', heading,
      me.sees_contact_details ? null : el('p', { class: 'note', text: U.pseudonym_note }),
      gaps,
      rows.length ? el('table', { class: 'calls' },
        el('thead', {}, el('tr', {}, ['#', U.name, U.phone, U.communities, U.availability, U.last_call, U.outcome].map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, rows)) : el('p', { class: 'empty', text: U.call_list_empty }),
      callList.duty_contacts.length ? [el('h3', { text: U.duty_contacts }), el('ul', { class: 'plain' },
        callList.duty_contacts.map((d) => el('li', { text: `${label('reporter', d.role)}: ${d.function} ${d.name} ${d.phone}` })))] : null,
      callList.unreachable.length ? [el('h3', { text: U.unreachable }), el('ul', { class: 'plain' },
        callList.unreachable.map((u) => el('li', { text: `${u.ally_id}: ${label('unreachable', u.reason)}` })))] : null,
      e ? null : el('p', { class: 'note', text: U.escalations_none }));
  }

  // ------------------------------------------------------------------ convenings

  function renderConvenings() {
    const all = Object.values(state.escalations.convenings || {});
    if (!all.length) { fill('conv-body', el('p', { class: 'empty', text: U.convening_none })); return; }
    fill('conv-body', all.map((c) => {
      const answered = Object.keys(c.answers).length;
      const state_ = c.cancelled_at ? U.cancelled : c.convened_at ? fmt(U.convened, { time: when(c.convened_at) }) : (c.quorate ? U.quorate : U.not_quorate);
      return el('article', { class: `convening ${c.quorate ? 'quorate' : ''}`, 'data-convening': c.convening_id },
        el('h3', {}, `${label('mode', c.mode)} · ${c.place || ''} `, el('span', { class: 'pill', text: state_ })),
        el('dl', {},
          row(U.starts_at, when(c.starts_at)),
          row(U.deadline, when(c.rsvp_deadline)),
          row(U.invited, String(c.invited.length)),
          row(U.answered, String(answered)),
          row(U.attending, String(c.attending.length)),
          row(U.not_answered, String(c.not_answered.length)),
          row(U.quorum, fmt(U.quorum_value, { attending: c.attending.length, quorum: c.quorum })),
          row(U.missing_communities, c.missing_communities.length ? c.missing_communities.map((m) => label('community', m)).join(', ') : U.none)));
    }));
  }

  // ------------------------------------------------------------------ feed and networks

  function renderFeed() {
    const signals = state.signals || [];
    fill('feed-body', signals.length
      ? el('ol', { class: 'feed' }, signals.map((s) => el('li', { 'data-signal': s.signal_id },
        el('time', { datetime: s.occurred_at, text: when(s.occurred_at) }), ' ',
        fmt(U.feed_item, { theme: label('theme', s.theme), area: areaName(s.area), level: s.level, evidence: label('evidence', s.evidence) }),
        el('span', { class: 'reporter', text: ` · ${label('reporter', s.role)}: ${s.reporter}` }))))
      : el('p', { class: 'empty', text: U.feed_none }));
  }

  function renderNetworks() {
    const networks = state.networks || [];
    fill('net-body', networks.length
      ? el('table', { class: 'networks' },
        el('thead', {}, el('tr', {}, [U.name, U.area, U.members, U.consented, U.covered, U.duty, U.last_reached].map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, networks.map((n) => el('tr', { 'data-network': n.network_id },
          el('td', { text: n.name }), el('td', { text: areaName(n.area) }),
          el('td', { text: `${n.members} / ${n.size_cap}` }), el('td', { text: n.consented }),
          el('td', { text: n.communities_covered.map((c) => label('community', c)).join(', ') || U.none }),
          el('td', { text: Object.entries(n.duty_contacts).map(([r, ok]) => `${label('reporter', r)}: ${ok ? U.yes : U.no}`).join(', ') }),
          el('td', { text: n.days_since_last_reached === null ? U.never : fmt(U.days_ago, { days: n.days_since_last_reached }) })))))
      : el('p', { class: 'empty', text: U.health_none }));
  }

  // ------------------------------------------------------------------ live updates

  function setStatus(key) {
    const node = document.getElementById('status');
    if (node) { node.textContent = U[key]; node.className = `status status-${key}`; }
  }

  function onEvent(block) {
    let type = 'message', id = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
    if (type !== 'update' || !data.length) return;
    const body = JSON.parse(data.join('\n'));
    Object.assign(state, body.parts);
    state.at = body.at;
    if (id) lastEventId = id;
    render();
    if (selected && ('networks' in body.parts || 'escalations' in body.parts)) loadCallList();
  }

  // Server-Sent Events over fetch: the token goes in a header, and on a dropped connection
  // the stream resumes from the last position seen (Last-Event-ID).
  async function live() {
    const controller = new AbortController();
    stream = controller;
    let delay = 500;
    while (!controller.signal.aborted) {
      try {
        setStatus('connecting');
        const headers = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' };
        if (lastEventId) headers['Last-Event-ID'] = lastEventId;
        const res = await fetch('/api/v1/live', { headers, cache: 'no-store', signal: controller.signal });
        if (res.status === 401) { logout(); return; }
        if (!res.ok || !res.body) throw new Error(String(res.status));
        setStatus('live');
        delay = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        let carry = ''; // a trailing CR may be the first half of a CRLF split across chunks
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const text = carry + value;
          const cut = text.endsWith('\r') ? text.length - 1 : text.length;
          buffer += text.slice(0, cut).replace(/\r\n?/g, '\n');
          carry = text.slice(cut);
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            onEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (e) {
        if (controller.signal.aborted) return;
        console.warn('live', e);
      }
      setStatus('offline');
      await sleep(delay);
      delay = Math.min(delay * 2, 10000);
    }
  }

  if (token) login(token); else showLogin();
})();
