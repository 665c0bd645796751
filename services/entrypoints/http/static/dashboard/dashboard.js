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
  let state = {
    tension: { cells: [] }, signals: [], escalations: { open: [], convenings: {} }, networks: [],
    pulses: [], questions: [], mobilisations: [], at: null,
  };
  // The map's time slider: hours before now (0: live) and the map as of then (valid time).
  let mapHoursBack = 0;
  let pastTension = null;
  let pastRequest = 0;
  let pulseFilter = ''; // '' all, 'e:<escalation id>' or 'a:<area code>'
  const frameworks = {}; // pulse id -> the framework's Markdown, once asked for
  const editing = {}; // question id -> 'answer' | 'relay': the open inline form
  const drafts = {}; // `${question id}/${form}` -> what was typed (survives live re-renders)

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

  async function api(method, path, body, key) {
    const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (key) headers['Idempotency-Key'] = key;
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
        el('section', { id: 'pulses', class: 'panel', 'aria-labelledby': 'pulses-h' },
          el('h2', { id: 'pulses-h', text: U.pulses_title }),
          el('label', { for: 'pulse-filter', class: 'inline', text: U.pulses_filter }),
          el('select', { id: 'pulse-filter', onchange: (e) => { pulseFilter = e.target.value; renderPulses(); } }),
          el('div', { id: 'pulses-body' }), may('pulse.start') ? pulseForm() : null),
        el('section', { id: 'questions', class: 'panel', 'aria-labelledby': 'questions-h' },
          el('h2', { id: 'questions-h', text: U.questions_title }), el('div', { id: 'questions-body' })),
        el('section', { id: 'mobilisations', class: 'panel', 'aria-labelledby': 'mob-h' },
          el('h2', { id: 'mob-h', text: U.mob_title }), el('div', { id: 'mob-body' }),
          may('mobilisation.request') ? mobilisationForm() : null),
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
    renderPulses();
    renderQuestions();
    renderMobilisations();
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

  function age(iso) {
    const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (d >= 2) return fmt(U.age_days, { d });
    if (h) return fmt(U.age_hours, { h, m: m % 60 });
    return m ? fmt(U.age_minutes, { m }) : fmt(U.seconds, { s });
  }

  setInterval(() => {
    for (const node of document.querySelectorAll('[data-due]')) node.textContent = countdown(node.getAttribute('data-due'));
    for (const node of document.querySelectorAll('[data-since]')) node.textContent = fmt(U.question_age, { age: age(node.getAttribute('data-since')) });
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

  function seatState(n, role) {
    const flag = (n.flags || []).find((f) => f.params && f.params.role === role && (f.code === 'seat_vacant' || f.code === 'handover_pending'));
    if (flag) return flag.code === 'seat_vacant' ? 'vacant' : 'handover';
    return n.duty_contacts[role] ? 'held' : 'vacant';
  }

  function renderNetworks() {
    const networks = state.networks || [];
    fill('net-body', networks.length
      ? el('div', { class: 'cards' }, networks.map((n) => {
        const flags = n.flags || [];
        const seats = ['police', 'municipality'].map((r) => {
          const st = seatState(n, r);
          return el('span', { class: `seat seat-${st}`, 'data-seat': r, 'data-state': st }, `${label('duty', r)}: ${U[`seat_${st}`]}`);
        });
        return el('article', { class: `network ${flags.length ? 'flagged' : ''}`, 'data-network': n.network_id },
          el('h3', { text: `${n.name} · ${areaName(n.area)}` }),
          el('dl', {},
            row(U.members, `${n.members} / ${n.size_cap}`),
            row(U.consented, String(n.consented)),
            row(U.covered, n.communities_covered.map((c) => label('community', c)).join(', ') || U.none),
            row(U.meetings, fmt(U.meetings_value, { held: n.meetings_last_12_months, target: n.meetings_per_year })),
            row(U.next_meeting, n.next_meeting_at ? when(n.next_meeting_at) : U.not_planned),
            row(U.last_evaluation, n.last_evaluated_at ? when(n.last_evaluated_at) : U.never),
            row(U.seats, el('span', { class: 'seats' }, seats.flatMap((x, i) => (i ? [', ', x] : [x])))),
            row(U.last_reached, n.days_since_last_reached === null ? U.never : fmt(U.days_ago, { days: n.days_since_last_reached }))),
          flags.length
            ? el('ul', { class: 'flags', 'aria-label': U.flags }, flags.map((f) => el('li', { 'data-flag': f.code, text: f.reason })))
            : el('p', { class: 'ok', text: U.no_flags }));
      }))
      : el('p', { class: 'empty', text: U.health_none }));
  }

  // ------------------------------------------------------------------ forms (pulse, mobilisation)

  const newId = (prefix) => {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  };
  // <input type=datetime-local> wants local wall time without a zone.
  const localInput = (ms) => {
    const d = new Date(Date.now() + ms);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  };
  const field = (id, text, control) => el('div', { class: 'field' }, el('label', { for: id, text }), control);
  const areaOptions = () => areaFeatures().map((f) => {
    const code = f.id || f.properties.code;
    return el('option', { value: code, text: areaName(code) });
  });
  const escalationLabel = (e) => fmt(U.pulses_for_escalation, { theme: label('theme', e.theme), area: areaName(e.area) });

  function communityBoxes(prefix) {
    return el('div', { class: 'checks' }, Object.keys(T.community).sort((a, b) => label('community', a).localeCompare(label('community', b)))
      .map((c) => el('label', { class: 'check' }, el('input', { type: 'checkbox', name: `${prefix}-community`, value: c }), ` ${label('community', c)}`)));
  }

  function checked(form, name) {
    return Array.from(form.querySelectorAll(`input[name="${name}"]:checked`), (x) => x.value);
  }

  // The escalation choice follows the open escalations; what was chosen stays chosen.
  function refreshEscalationChoices() {
    for (const select of document.querySelectorAll('select.escalation-choice')) {
      const keep = select.value;
      select.replaceChildren(el('option', { value: '', text: U.pulse_form_no_escalation }),
        (state.escalations.open || []).map((e) => el('option', { value: e.escalation_id, text: escalationLabel(e) })));
      select.value = keep;
    }
  }

  function pulseForm() {
    const themes = Object.keys(T.theme).sort((a, b) => label('theme', a).localeCompare(label('theme', b)));
    const form = el('form', { id: 'pulse-form', class: 'panel-form', onsubmit: (e) => { e.preventDefault(); startPulse(form); } },
      el('h3', { text: U.pulse_start }),
      field('pulse-question', U.pulse_form_question, el('textarea', { id: 'pulse-question', name: 'question', rows: 2, required: true, maxlength: 500 })),
      el('div', { class: 'row' },
        field('pulse-area', U.pulse_form_area, el('select', { id: 'pulse-area', name: 'area' }, areaOptions())),
        field('pulse-theme', U.pulse_form_theme, el('select', { id: 'pulse-theme', name: 'theme' }, themes.map((t) => el('option', { value: t, text: label('theme', t) })))),
        field('pulse-deadline', U.pulse_form_deadline, el('input', { id: 'pulse-deadline', name: 'deadline', type: 'datetime-local', required: true, value: localInput(3600e3) })),
        field('pulse-escalation', U.pulse_form_escalation, el('select', { id: 'pulse-escalation', name: 'escalation', class: 'escalation-choice' }))),
      el('fieldset', {}, el('legend', { text: U.pulse_form_communities }), communityBoxes('pulse'),
        el('p', { class: 'note', text: U.pulse_form_communities_help }),
        el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'theme-only' }), ` ${U.pulse_form_theme_only}`)),
      el('button', { type: 'submit', class: 'primary', text: U.pulse_start }));
    return form;
  }

  async function startPulse(form) {
    const v = (name) => form.elements[name].value;
    const area = v('area'), theme = v('theme');
    const communities = checked(form, 'pulse-community');
    const themeOnly = form.elements['theme-only'].checked;
    const pulseId = newId('pls');
    const body = {
      pulse_id: pulseId, area, theme, question: v('question').trim(),
      deadline: new Date(v('deadline')).toISOString(), communities,
      themes: themeOnly ? [theme] : [], areas: communities.length || themeOnly ? [] : [area],
    };
    if (v('escalation')) body.escalation_id = v('escalation');
    try {
      await api('POST', '/api/v1/pulses', body, pulseId);
      announce(U.pulse_started);
      form.elements.question.value = '';
    } catch (e) {
      announce(fmt(U.act_failed, { reason: e.message }));
    }
  }

  function mobilisationForm() {
    const form = el('form', { id: 'mob-form', class: 'panel-form', onsubmit: (e) => { e.preventDefault(); requestMobilisation(form); } },
      el('h3', { text: U.mob_request }),
      el('div', { class: 'row' },
        field('mob-task', U.mob_form_task, el('select', { id: 'mob-task', name: 'task' }, Object.keys(T.task).map((t) => el('option', { value: t, text: label('task', t) })))),
        field('mob-area', U.mob_form_area, el('select', { id: 'mob-area', name: 'area' }, areaOptions())),
        field('mob-respond-by', U.mob_form_respond_by, el('input', { id: 'mob-respond-by', name: 'respond_by', type: 'datetime-local', required: true, value: localInput(1800e3) })),
        field('mob-escalation', U.pulse_form_escalation, el('select', { id: 'mob-escalation', name: 'escalation', class: 'escalation-choice' }))),
      field('mob-message', U.mob_form_message, el('textarea', { id: 'mob-message', name: 'message', rows: 2, required: true, maxlength: 1000 })),
      el('fieldset', {}, el('legend', { text: U.mob_form_communities }), communityBoxes('mob'),
        el('p', { class: 'note', text: U.mob_form_communities_help })),
      el('button', { type: 'submit', class: 'primary', text: U.mob_request }));
    return form;
  }

  async function requestMobilisation(form) {
    const v = (name) => form.elements[name].value;
    const requestId = newId('mob');
    const body = {
      request_id: requestId, area: v('area'), task: v('task'), message: v('message').trim(),
      respond_by: new Date(v('respond_by')).toISOString(), communities: checked(form, 'mob-community'),
    };
    if (v('escalation')) body.escalation_id = v('escalation');
    try {
      await api('POST', '/api/v1/mobilisations', body, requestId);
      announce(U.mob_requested);
      form.elements.message.value = '';
    } catch (e) {
      announce(fmt(U.act_failed, { reason: e.message }));
    }
  }

  // ------------------------------------------------------------------ pulse checks

  function renderPulseFilter() {
    const select = document.getElementById('pulse-filter');
    if (!select) return;
    const open = state.escalations.open || [];
    const areas = [...new Set((state.pulses || []).map((p) => p.area))];
    select.replaceChildren(el('option', { value: '', text: U.pulses_all }),
      open.map((e) => el('option', { value: `e:${e.escalation_id}`, text: escalationLabel(e) })),
      areas.map((a) => el('option', { value: `a:${a}`, text: fmt(U.pulses_for_area, { area: areaName(a) }) })));
    select.value = pulseFilter;
    if (select.value !== pulseFilter) { pulseFilter = ''; select.value = ''; }
  }

  function shownPulses() {
    const pulses = state.pulses || [];
    if (pulseFilter.startsWith('e:')) {
      const id = pulseFilter.slice(2);
      const e = (state.escalations.open || []).find((x) => x.escalation_id === id);
      return pulses.filter((p) => p.escalation_id === id || (e && p.area === e.area && !p.escalation_id));
    }
    if (pulseFilter.startsWith('a:')) return pulses.filter((p) => p.area === pulseFilter.slice(2));
    return pulses;
  }

  async function frameworkText(pulseId, format) {
    const res = await fetch(`/api/v1/pulses/${encodeURIComponent(pulseId)}/framework?format=${format}`, {
      headers: { Authorization: `Bearer ${token}` }, cache: 'no-store',
    });
    if (!res.ok) throw new ApiError(String(res.status));
    return res.text();
  }

  async function showFramework(p) {
    try {
      frameworks[p.pulse_id] = await frameworkText(p.pulse_id, 'markdown');
      renderPulses();
    } catch (e) {
      announce(fmt(U.act_failed, { reason: e.message }));
    }
  }

  async function saveFramework(p, format) {
    try {
      const text = await frameworkText(p.pulse_id, format);
      const type = format === 'html' ? 'text/html' : 'text/markdown';
      const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
      if (format === 'html') window.open(url, '_blank', 'noopener');
      else el('a', { href: url, download: `handelingskader-${p.pulse_id}.md` }).click();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (e) {
      announce(fmt(U.act_failed, { reason: e.message }));
    }
  }

  function pulseCard(p) {
    const invited = p.invited.length;
    const most = Math.max(1, ...Object.values(p.levels));
    const bar = (count) => {
      const node = el('span', { class: 'bar', 'aria-hidden': 'true' });
      node.style.width = `${(4 * count) / most}rem`; // CSSOM, which the page's CSP allows
      return node;
    };
    const levels = el('ul', { class: 'levels', 'aria-label': U.pulse_levels }, Object.entries(p.levels).map(([level, count]) =>
      el('li', { class: `level level-${level}`, 'data-level': level, title: label('pulse_level', level) },
        bar(count), ` ${fmt(U.pulse_level_n, { level, count })}`)));
    const advice = p.advice.length
      ? el('ul', { class: 'plain advice' }, p.advice.map((a) => el('li', {}, el('strong', { text: `${a.ally_id}: ` }), a.erased ? U.pulse_erased : a.advice)))
      : U.pulse_no_advice;
    const fw = p.framework
      ? el('div', { class: 'framework' },
        el('strong', { text: p.framework.title }), ' ',
        el('button', { type: 'button', 'data-key': `${p.pulse_id}/fw-show`, onclick: () => showFramework(p), text: U.framework_show }),
        el('button', { type: 'button', 'data-key': `${p.pulse_id}/fw-md`, onclick: () => saveFramework(p, 'markdown'), text: U.framework_download }),
        el('button', { type: 'button', 'data-key': `${p.pulse_id}/fw-html`, onclick: () => saveFramework(p, 'html'), text: U.framework_html }),
        frameworks[p.pulse_id] ? el('pre', { class: 'framework-text', text: frameworks[p.pulse_id] }) : null)
      : U.framework_none;
    const late = p.late.length ? ` · ${U.pulse_late}: ${p.late.join(', ')}` : '';
    return el('article', { class: 'pulse', 'data-pulse': p.pulse_id },
      el('h3', {}, `${label('theme', p.theme)} · ${areaName(p.area)} `,
        el('span', { class: `pill ${p.deadline_passed ? 'closed' : ''}`, text: p.deadline_passed ? U.pulse_deadline_passed : `${U.pulse_deadline} ${when(p.deadline)}` })),
      el('p', { class: 'question', text: p.question }),
      el('dl', {},
        row(U.pulse_asked_by, label('duty', p.asked_by)),
        row(U.pulse_answered, el('span', { 'data-field': 'answered', text: fmt(U.pulse_answered_value, { answered: p.answered.length, invited }) }), late),
        row(U.pulse_levels, levels),
        row(U.pulse_mean, p.mean_level === null ? '–' : String(p.mean_level).replace('.', ',')),
        row(U.pulse_advice, advice),
        row(U.framework, fw)));
  }

  function renderPulses() {
    renderPulseFilter();
    refreshEscalationChoices();
    const pulses = shownPulses();
    fill('pulses-body', pulses.length ? pulses.map(pulseCard) : el('p', { class: 'empty', text: U.pulses_none }));
  }

  // ------------------------------------------------------------------ constituency questions

  async function questionAction(q, form) {
    const value = (drafts[`${q.question_id}/${form}`] || '').trim();
    if (!value) return;
    const id = encodeURIComponent(q.question_id);
    try {
      if (form === 'answer') await api('POST', `/api/v1/questions/${id}/answer`, { answer: value });
      else await api('POST', `/api/v1/questions/${id}/relayed`, { to: value });
      delete editing[q.question_id];
      delete drafts[`${q.question_id}/${form}`];
      announce(fmt(U.act_done, { action: form === 'answer' ? U.question_answer : U.question_relay }));
      renderQuestions();
    } catch (e) {
      announce(fmt(U.act_failed, { reason: e.message }));
    }
  }

  function questionForm(q, form) {
    const key = `${q.question_id}/${form}`;
    const id = `q-${q.question_id}-${form}`;
    const control = form === 'answer'
      ? el('textarea', { id, rows: 2, maxlength: 2000, 'data-key': `${key}/input`, oninput: (e) => { drafts[key] = e.target.value; } })
      : el('input', { id, type: 'text', maxlength: 200, 'data-key': `${key}/input`, oninput: (e) => { drafts[key] = e.target.value; } });
    control.value = drafts[key] || '';
    return el('form', { class: 'inline-form', onsubmit: (e) => { e.preventDefault(); questionAction(q, form); } },
      el('label', { for: id, text: form === 'answer' ? U.question_answer_label : U.question_relay_label }), control,
      el('button', { type: 'submit', 'data-key': `${key}/send`, text: U.question_send }),
      el('button', { type: 'button', 'data-key': `${key}/cancel`, onclick: () => { delete editing[q.question_id]; renderQuestions(); }, text: U.cancel }));
  }

  // The form replaces its button, so keyboard focus moves into the form's field.
  function openQuestionForm(q, form) {
    editing[q.question_id] = form;
    renderQuestions();
    const input = document.getElementById(`q-${q.question_id}-${form}`);
    if (input) input.focus();
  }

  function questionItem(q) {
    const buttons = [];
    if (q.stage === 'open' && may('question.answer')) {
      buttons.push(el('button', { type: 'button', class: 'q-answer', 'data-key': `${q.question_id}/answer`, onclick: () => openQuestionForm(q, 'answer'), text: U.question_answer }));
    }
    if (q.stage === 'answered' && may('question.relay-answer')) {
      buttons.push(el('button', { type: 'button', class: 'q-relay', 'data-key': `${q.question_id}/relay`, onclick: () => openQuestionForm(q, 'relay'), text: U.question_relay }));
    }
    const text = q.erased ? U.question_erased : (q.text || U.question_hidden);
    const form = editing[q.question_id];
    return el('li', { class: `question-item stage-${q.stage}`, 'data-question': q.question_id, 'data-stage': q.stage },
      el('p', { class: 'q-text', text }),
      el('p', { class: 'q-meta' },
        el('span', { class: `pill stage-${q.stage}`, text: label('stage', q.stage) }), ' ',
        q.stage === 'open' ? el('strong', { class: 'q-age', 'data-since': q.raised_at, text: fmt(U.question_age, { age: age(q.raised_at) }) }) : null,
        ` · ${fmt(U.question_routed, { to: label('routed', q.routed_to) })} · ${fmt(U.question_by, { ally: q.ally })} · ${when(q.raised_at)}`,
        q.escalated_at ? el('span', { class: 'q-escalated', text: ` · ${fmt(U.question_escalated, { level: q.escalated_level_name || '' })}` }) : null),
      q.answer ? el('p', { class: 'q-answer-text' }, el('strong', { text: `${U.question_answer_label}: ` }), q.answer, ` (${fmt(U.question_answered_at, { time: when(q.answered_at) })})`) : null,
      q.relayed_to.length ? el('p', { class: 'note', text: fmt(U.question_relayed_at, { to: q.relayed_to.join(', '), time: when(q.relayed_at) }) }) : null,
      form ? questionForm(q, form) : (buttons.length ? el('div', { class: 'actions', role: 'group', 'aria-label': U.actions }, buttons) : null));
  }

  function renderQuestions() {
    const questions = state.questions || [];
    if (!questions.length) { fill('questions-body', el('p', { class: 'empty', text: U.questions_none })); return; }
    const networks = Object.fromEntries((state.networks || []).map((n) => [n.network_id, n.name]));
    const escalations = Object.fromEntries((state.escalations.open || []).map((e) => [e.escalation_id, e]));
    const groups = new Map();
    const order = { open: 0, answered: 1, relayed: 2 };
    for (const q of [...questions].sort((a, b) => order[a.stage] - order[b.stage] || a.raised_at.localeCompare(b.raised_at))) {
      const key = q.escalation_id ? `e:${q.escalation_id}` : `n:${q.network_id}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(q);
    }
    fill('questions-body', [...groups.entries()].map(([key, items]) => {
      const e = escalations[key.slice(2)];
      const title = key.startsWith('e:')
        ? fmt(U.questions_for_escalation, { theme: e ? label('theme', e.theme) : key.slice(2), area: e ? areaName(e.area) : '' })
        : fmt(U.questions_for_network, { network: networks[key.slice(2)] || key.slice(2) });
      const open = items.filter((q) => q.stage === 'open').length;
      return el('section', { class: 'q-group', 'data-group': key },
        el('h3', {}, `${title} `, el('span', { class: 'pill', text: fmt(U.question_open_count, { count: open }) })),
        el('ul', { class: 'plain questions' }, items.map(questionItem)));
    }));
  }

  // ------------------------------------------------------------------ mobilisation requests

  function renderMobilisations() {
    const requests = state.mobilisations || [];
    fill('mob-body', requests.length ? requests.map((m) => el('article', { class: 'mobilisation', 'data-mobilisation': m.request_id },
      el('h3', {}, `${label('task', m.task)} · ${areaName(m.area)}`),
      el('p', { class: 'question', text: m.message }),
      el('dl', {},
        row(U.mob_respond_by, when(m.respond_by)),
        row(U.mob_invited, String(m.invited)),
        row(U.mob_accepted, el('span', { 'data-field': 'accepted', text: m.accepted.length ? `${m.accepted.length}: ${m.accepted.join(', ')}` : '0' })),
        row(U.mob_declined, m.declined.length ? `${m.declined.length}: ${m.declined.join(', ')}` : '0'),
        row(U.mob_not_answered, String(m.not_answered)),
        row(U.mob_reports, m.reports.length
          ? el('ul', { class: 'plain reports' }, m.reports.map((r) => el('li', {}, el('strong', { text: `${r.ally} (${when(r.reported_at)}): ` }), r.erased ? U.question_erased : (r.report || U.pulse_hidden))))
          : U.mob_no_reports))))
      : el('p', { class: 'empty', text: U.mob_none }));
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
