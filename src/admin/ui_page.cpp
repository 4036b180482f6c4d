#include "admin/ui_page.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace prism::admin {

namespace {

// The page is written out here in full, readable as it is served: plain
// HTML, CSS and JavaScript, no framework, nothing fetched but the admin
// listener's JSON. Names in that JSON come from peers and config, so the
// script puts them into the page as text nodes, never as markup. The text is
// ASCII (other characters are \u escapes in the script, entities in the
// markup), so its hashes in the Content-Security-Policy do not depend on
// how a browser decodes it.

const char* const page_head = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Prism console</title>
)html";

const char* const page_style = R"css(
:root {
  --bg: #f4f5f8; --panel: #fff; --ink: #1c2230; --dim: #687086;
  --line: #e2e5ec; --head: #1c2230; --accent: #2b62c4;
  --ok: #1c7f3c; --warn: #a85f00; --bad: #c21f1b; --fresh: #fff1b8;
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
  color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; }
button, select, input { font: inherit; }
button {
  border: 1px solid #b9c0cf; background: #fff; color: var(--ink);
  border-radius: 4px; padding: 1px 8px; cursor: pointer;
}
button:hover { border-color: var(--accent); }
button:disabled { cursor: default; opacity: .5; }
.num, td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.dim { color: var(--dim); }

header {
  position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap;
  align-items: center; gap: 6px 16px; padding: 8px 16px;
  background: var(--head); color: #fff;
}
header h1 { margin: 0; font-size: 16px; font-weight: 600; }
header h1 span { font-weight: 400; color: #aeb6c8; }
header .dim { color: #aeb6c8; }
header .spacer { flex: 1; }
header button { background: #2c3446; color: #fff; border-color: #4a5470; }
header input {
  width: 14em; padding: 1px 6px; border-radius: 4px;
  border: 1px solid #4a5470; background: #2c3446; color: #fff;
}
#live-dot {
  display: inline-block; width: 9px; height: 9px; border-radius: 50%;
  background: var(--ok); margin-right: 6px; vertical-align: baseline;
}
#live-dot.paused { background: #aeb6c8; }
#live-dot.down { background: var(--bad); }

#banner {
  padding: 8px 16px; background: var(--bad); color: #fff; font-weight: 600;
}
#notes { padding: 0 16px; }
#notes p {
  margin: 8px 0 0; padding: 6px 10px; border-radius: 4px;
  background: #e7effc; border: 1px solid #bcd0f2;
}
#notes p.error { background: #fde8e7; border-color: #f2bcb9; }
#notes p.done { background: #e5f4ea; border-color: #b5dcc2; }

main {
  display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 6fr);
  gap: 12px; padding: 12px 16px 24px;
}
main.stale .panel { opacity: .55; }
.panel {
  min-width: 0; background: var(--panel); border: 1px solid var(--line);
  border-radius: 6px; padding: 8px 12px 10px;
}
.panel.wide { grid-column: 1 / -1; }
.panel h2 {
  display: flex; align-items: baseline; gap: 10px; margin: 0 0 6px;
  font-size: 14px; font-weight: 600;
}
.panel h2 .count { font-weight: 400; color: var(--dim); }
.panel h2 .tools { margin-left: auto; display: flex; gap: 6px; font-weight: 400; }
.panel .note { margin: 4px 0; color: var(--dim); font-style: italic; }
.panel .note.error { color: var(--bad); font-style: normal; }
.scroll { overflow: auto; max-height: 560px; }
.panel.wide .scroll { max-height: 420px; }

table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { padding: 2px 5px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td .label { display: inline-block; max-width: 15.5em; overflow: hidden; text-overflow: ellipsis; vertical-align: bottom; }
th {
  position: sticky; top: 0; background: #f8f9fb; text-align: left;
  font-weight: 600; color: #3b4356; z-index: 1;
}
th.sortable { cursor: pointer; user-select: none; }
th.sortable:hover { color: var(--accent); }
th .arrow { color: var(--accent); }
tr.fresh td, .row.fresh { background: var(--fresh); }
.row.flash { outline: 2px solid var(--accent); }
a.id { text-decoration: none; }
#top-body tr { cursor: pointer; }
a.id:hover { text-decoration: underline; color: var(--accent); }

.state { padding: 0 6px; border-radius: 8px; font-size: 12px; background: #e9ecf2; }
.s-running { background: #dcf1e3; color: var(--ok); }
.s-starting, .s-restarting { background: #fdf0d5; color: var(--warn); }
.s-draining, .s-stopping { background: #e9ecf2; color: var(--dim); }
.s-failed { background: #fbdcda; color: var(--bad); }
.label .kind { color: var(--dim); }
.label .name { font-weight: 600; }
.id { color: var(--dim); font-variant-numeric: tabular-nums; }
.badge {
  font-size: 11px; padding: 0 5px; border-radius: 8px;
  background: #f6c744; color: #3a2c00;
}
button.kill { padding: 0 6px; font-size: 12px; color: var(--bad); border-color: #e6b4b2; }
button.kill:hover { background: #fde8e7; border-color: var(--bad); }

.tree, .tree ul { list-style: none; margin: 0; padding: 0; }
.tree ul { margin-left: 16px; border-left: 1px dotted #c9ceda; }
.tree-head, .row {
  display: grid; align-items: center; gap: 8px;
  grid-template-columns: minmax(0, 1fr) 72px 116px 28px 40px;
}
.tree-head { color: var(--dim); font-size: 12px; padding: 0 2px 2px 22px; border-bottom: 1px solid var(--line); white-space: nowrap; }
.row { padding: 1px 2px; border-radius: 3px; }
.row:hover { background: #f3f6fc; }
.row .who { display: flex; align-items: baseline; gap: 6px; min-width: 0; }
.row .who .label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.row .toggle {
  flex: none; width: 16px; padding: 0; border: 0; background: none;
  color: var(--dim); text-align: center;
}
.row .hidden-count { color: var(--dim); font-size: 12px; white-space: nowrap; }
.row .failure {
  grid-column: 1 / -1; margin-left: 22px; color: var(--bad); font-size: 12px;
  overflow-wrap: anywhere;
}
.row .mbox { font-variant-numeric: tabular-nums; text-align: right; }
.row .restarts { text-align: right; font-variant-numeric: tabular-nums; }
.row .restarts.some { color: var(--warn); font-weight: 600; }

ul.warnings { list-style: none; margin: 0; padding: 0; }
ul.warnings li { padding: 3px 0; border-bottom: 1px solid var(--line); }
.sev { font-size: 12px; padding: 0 6px; border-radius: 8px; margin-right: 6px; }
.sev-warning { background: #fdf0d5; color: var(--warn); }
.sev-error { background: #fbdcda; color: var(--bad); }
.circuit-closed { color: var(--ok); }
.circuit-open { color: var(--bad); font-weight: 600; }
.circuit-half_open { color: var(--warn); font-weight: 600; }
.code-bad { color: var(--bad); }

.legend { display: flex; flex-wrap: wrap; gap: 4px 12px; margin: 2px 0 6px; font-size: 12px; color: var(--dim); }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
.hops { display: flex; height: 12px; min-width: 6px; border-radius: 2px; overflow: hidden; background: #eef0f4; }
.hops span { display: block; height: 100%; min-width: 1px; }
td.bar { width: 40%; min-width: 160px; }
.h-session { background: #8e9ab3; }
.h-stage { background: #9b7fd1; }
.h-router { background: #4fa3c7; }
.h-wait { background: #e3a33b; }
.h-backend { background: #2b62c4; }
.h-reply { background: #57b27a; }
.h-other { background: #c9ceda; }

@media (max-width: 1299px) {
  /* Tree and top each need about 600 px: one above the other. */
  main { grid-template-columns: minmax(0, 1fr); }
  td .label { max-width: 24em; }
}
@media (max-width: 900px) {
  main { grid-template-columns: minmax(0, 1fr); padding: 8px; }
  header { padding: 8px; }
  header input { width: 10em; }
  .tree-head, .row { grid-template-columns: minmax(0, 1fr) 64px 100px 24px 40px; }
  .scroll { max-height: none; }
}
@media (max-width: 600px) {
  /* The actor on a line of its own, its figures under it. */
  .tree-head { display: none; }
  .row { grid-template-columns: 64px minmax(0, 1fr) 24px 40px; row-gap: 0; }
  .row .who { grid-column: 1 / -1; }
  .row > :nth-child(2) { margin-left: 22px; }
  .panel h2 { flex-wrap: wrap; }
}
)css";

const char* const page_body = R"html(</head>
<body>
<header>
  <h1>Prism <span>console</span></h1>
  <span id="origin" class="dim"></span>
  <span><span id="live-dot"></span><span id="generated">waiting for the gateway&hellip;</span></span>
  <button id="pause" type="button">pause</button>
  <span class="spacer"></span>
  <label title="Needed only when the gateway runs with auth on: the token of a principal in auth.admins. Kept in this tab only (sessionStorage).">admin token
    <input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="only with auth on"></label>
  <button id="forget" type="button" title="Forget the token in this tab">forget</button>
</header>
<div id="banner" role="alert" hidden></div>
<div id="notes" aria-live="polite"></div>
<main id="panels">
  <section id="warnings" class="panel wide" data-status="loading">
    <h2>Warnings <span class="count"></span></h2>
    <p class="note">loading&hellip;</p>
    <div class="content" hidden><ul class="warnings" id="warning-list"></ul></div>
  </section>
  <section id="tree" class="panel" data-status="loading">
    <h2>Supervision tree <span class="count" id="tree-count"></span>
      <span class="tools"><button id="expand-all" type="button">expand all</button><button id="collapse-all" type="button">collapse all</button></span></h2>
    <p class="note">loading&hellip;</p>
    <div class="content scroll" hidden>
      <div class="tree-head"><span>actor &middot; id</span><span>state</span><span class="num" title="messages waiting &middot; the deepest the mailbox has been (high-water) / its admission limit">mailbox</span><span class="num" title="restarts">&#8635;</span><span></span></div>
      <ul class="tree" id="tree-root"></ul>
    </div>
  </section>
  <section id="top" class="panel" data-status="loading">
    <h2>Top <span class="count" id="top-count"></span>
      <span class="tools"><label>rows <select id="top-rows"><option>25</option><option selected>50</option><option>100</option><option value="0">all</option></select></label></span></h2>
    <p class="note">loading&hellip;</p>
    <div class="content scroll" hidden>
      <table><thead><tr id="top-head"></tr></thead><tbody id="top-body"></tbody></table>
    </div>
  </section>
  <section id="pools" class="panel wide" data-status="loading">
    <h2>Pools <span class="count"></span></h2>
    <p class="note">loading&hellip;</p>
    <div class="content scroll" hidden>
      <table><thead><tr><th>backend</th><th>actor</th><th class="num" title="connections">size</th><th class="num">active</th><th class="num">idle</th><th class="num">down</th><th class="num" title="calls waiting for a connection / max_pending">waiting</th><th class="num" title="age of the oldest call waiting now">max wait</th><th class="num">served/s</th><th class="num">errors</th><th class="num">reconnects</th><th>circuit</th></tr></thead>
      <tbody id="pool-body"></tbody></table>
    </div>
  </section>
  <section id="namespaces" class="panel wide" data-status="loading">
    <h2>Namespaces <span class="count"></span></h2>
    <p class="note">loading&hellip;</p>
    <div class="content scroll" hidden>
      <table><thead><tr><th>namespace</th><th>backend</th><th class="num">req/s</th><th class="num">requests</th><th class="num" title="answered with another code than OK">errors</th><th>rejections</th><th class="num">p50</th><th class="num">p99</th></tr></thead>
      <tbody id="namespace-body"></tbody></table>
    </div>
  </section>
  <section id="slowlog" class="panel wide" data-status="loading">
    <h2>Slow log <span class="count"></span></h2>
    <p class="note">loading&hellip;</p>
    <div class="content" hidden>
      <div class="legend" id="hop-legend"></div>
      <div class="scroll">
        <table><thead><tr><th>when</th><th>namespace</th><th>operation</th><th>code</th><th class="num">total</th><th>time per hop</th><th>principal &middot; peer</th><th>request id</th></tr></thead>
        <tbody id="slowlog-body"></tbody></table>
      </div>
    </div>
  </section>
</main>
)html";

const char* const page_script = R"js(
'use strict';
(() => {
  // How often the page reads the gateway, and how long one read may take.
  const refresh_ms = 1000;
  const fetch_timeout_ms = 3000;
  // How long a new incarnation of an actor stays highlighted.
  const highlight_ms = 5000;
  // How long a kill waits for its actor's replacement before saying so.
  const replacement_wait_ms = 15000;
  // The slow log entries shown, newest first.
  const slowlog_rows_max = 40;
  const token_key = 'prism.admin_token';
  const collapsed_key = 'prism.collapsed';

  // --- DOM helpers: server text only ever goes in as text nodes ------------

  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') el.className = value;
      else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? '' : String(value));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  function set_text(el, text) {
    text = String(text);
    if (el.textContent !== text) el.textContent = text;
  }

  function set_attr(el, name, value) {
    value = String(value);
    if (el.getAttribute(name) !== value) el.setAttribute(name, value);
  }

  // Makes `parent`'s children exactly `wanted`, in order, moving only the
  // ones out of place (a button being clicked stays where it is).
  function sync_children(parent, wanted) {
    wanted.forEach((el, i) => {
      const at = parent.children[i];
      if (at !== el) parent.insertBefore(el, at || null);
    });
    while (parent.children.length > wanted.length) parent.lastElementChild.remove();
  }

  // A CSS class made of a value from the server: letters, digits, '_' only.
  const class_of = (prefix, value) => prefix + String(value).replace(/[^A-Za-z0-9_]/g, '');

  // --- formatting ----------------------------------------------------------

  const dash = '\u2013';
  const number = (n) => (n === null || n === undefined ? dash : Number(n).toLocaleString('en-US'));
  const pad = (n, w = 2) => String(n).padStart(w, '0');

  function clock(ms) {
    const d = new Date(ms);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return dash;
    if (ms < 1000) return Math.max(0, Math.round(ms)) + ' ms';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + Math.floor(s % 60) + ' s';
    const hours = Math.floor(m / 60);
    if (hours < 48) return hours + ' h ' + (m % 60) + ' min';
    return Math.floor(hours / 24) + ' d';
  }

  function micros(us) {
    if (us === null || us === undefined) return dash;
    if (us < 1000) return us + ' \u00b5s';
    if (us < 1e6) return (us / 1000).toFixed(us < 1e4 ? 2 : 1) + ' ms';
    return (us / 1e6).toFixed(2) + ' s';
  }

  function millis(ms) {
    if (ms === null || ms === undefined) return dash;
    if (ms === 0) return '0 ms';
    return ms < 10 ? Number(ms).toFixed(2) + ' ms' : Math.round(ms) + ' ms';
  }

  function rate(r) {
    if (r === null || r === undefined) return dash;
    return r < 10 ? r.toFixed(1) : Math.round(r).toLocaleString('en-US');
  }

  const label_of = (a) => a.kind + ':' + a.name;

  // --- reading the gateway -------------------------------------------------

  // GET `path` as JSON: {status, body}; status 0 with `error` when no answer
  // came at all.
  async function get_json(path) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), fetch_timeout_ms);
    try {
      const r = await fetch(path, { cache: 'no-store', signal: abort.signal,
                                    headers: { Accept: 'application/json' } });
      let body = null;
      try { body = await r.json(); } catch (e) { body = null; }
      return { status: r.status, body };
    } catch (e) {
      const error = e.name === 'AbortError'
        ? 'no answer within ' + fetch_timeout_ms / 1000 + ' s'
        : String(e.message || e);
      return { status: 0, body: null, error };
    } finally {
      clearTimeout(timer);
    }
  }

  const sources = {
    tree: '/debug/tree', pools: '/debug/pools', namespaces: '/debug/namespaces',
    warnings: '/debug/warnings', slowlog: '/debug/slowlog',
  };

  const view = {
    paused: false,
    timer: null,
    last_answer_ms: 0,      // browser time of the last answer
    last_generated_ms: 0,   // the gateway's generated_at_ms of that answer
    down_since_ms: 0,
    down_error: '',
    actors: null,           // {at, list, by_id, roots}
    previous: null,
    collapsed: new Set(read_session(collapsed_key, [])),
    sort: { key: 'mailbox', descending: true },
    top_rows: 50,
    fresh: new Map(),       // actor id -> browser time its highlight ends
    kills: [],              // kills waiting for their actor's replacement
    pools: null,            // previous answers, for rates
    namespaces: null,
  };

  function read_session(key, fallback) {
    try {
      const text = sessionStorage.getItem(key);
      return text === null ? fallback : JSON.parse(text);
    } catch (e) {
      return fallback;
    }
  }

  function write_session(key, value) {
    try {
      if (value === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* storage off: the page still works, it only forgets */ }
  }

  async function refresh() {
    view.timer = null;
    if (view.paused) return;
    const started = Date.now();
    const names = Object.keys(sources);
    const answers = await Promise.all(names.map((n) => get_json(sources[n])));
    if (view.paused) return;
    const got = {};
    names.forEach((n, i) => { got[n] = answers[i]; });
    note_reachability(got);
    show_actors(got.tree);
    show_pools(got.pools);
    show_namespaces(got.namespaces);
    show_warnings(got.warnings);
    show_slowlog(got.slowlog);
    show_header();
    schedule(Math.max(0, refresh_ms - (Date.now() - started)));
  }

  function schedule(delay_ms) {
    if (view.timer !== null) clearTimeout(view.timer);
    view.timer = view.paused ? null : setTimeout(refresh, delay_ms);
  }

  function note_reachability(got) {
    const answered = Object.values(got).filter((a) => a.status !== 0);
    const now = Date.now();
    if (answered.length > 0) {
      view.down_since_ms = 0;
      view.last_answer_ms = now;
      const stamped = answered.find((a) => a.body && a.body.generated_at_ms);
      if (stamped) view.last_generated_ms = stamped.body.generated_at_ms;
    } else {
      if (!view.down_since_ms) view.down_since_ms = now;
      view.down_error = got.tree.error || 'no answer';
    }
  }

  // Shows what kept `panel` from showing `answer`, if anything; true when it
  // has data. No answer at all leaves the last data up (the banner says it).
  function usable(panel, path, answer) {
    const note = panel.querySelector('.note');
    const content = panel.querySelector('.content');
    if (answer.status === 200 && answer.body && typeof answer.body === 'object') {
      panel.dataset.status = 'ok';
      note.hidden = true;
      content.hidden = false;
      return true;
    }
    if (answer.status === 0) return false;
    const quiet = answer.status === 404 || answer.status === 503;
    panel.dataset.status = quiet ? 'unavailable' : 'error';
    note.hidden = false;
    note.className = quiet ? 'note' : 'note error';
    const why = answer.body && answer.body.message ? ': ' + answer.body.message : '';
    set_text(note, quiet
      ? 'not available on this gateway (GET ' + path + ' answers ' + answer.status + ')'
      : 'GET ' + path + ' answered ' + answer.status + why);
    content.hidden = true;
    set_text(panel.querySelector('h2 .count'), '');
    return false;
  }

  // --- header, banner, notes -------------------------------------------------

  function show_header() {
    const now = Date.now();
    const dot = $('live-dot');
    const banner = $('banner');
    const down = view.down_since_ms !== 0;
    dot.className = view.paused ? 'paused' : down ? 'down' : '';
    let text;
    if (!view.last_generated_ms) text = 'waiting for the gateway\u2026';
    else text = 'data of ' + clock(view.last_generated_ms) + ' (' + duration(now - view.last_answer_ms) + ' ago)';
    if (view.paused) text += ' \u00b7 paused';
    set_text($('generated'), text);
    banner.hidden = !down;
    $('panels').classList.toggle('stale', down);
    if (down) {
      const since = view.last_answer_ms || view.down_since_ms;
      set_text(banner, 'The gateway at ' + location.host + ' is not answering: no answer for '
        + duration(now - since) + ' (since ' + clock(since) + '; ' + view.down_error + '). '
        + (view.last_generated_ms ? 'The panels show its data of ' + clock(view.last_generated_ms) + '; ' : '')
        + 'the page keeps trying every second.');
    }
    set_text($('pause'), view.paused ? 'resume' : 'pause');
  }

  // A line under the header; `kind` is '', 'error' or 'done'.
  function note(text, kind) {
    const p = h('p', { class: kind || '' }, text, ' ',
      h('button', { type: 'button', onclick: () => p.remove() }, 'dismiss'));
    const notes = $('notes');
    notes.prepend(p);
    while (notes.children.length > 4) notes.lastElementChild.remove();
    return p;
  }

  // --- actors: the tree and top --------------------------------------------

  function flatten(nodes, out) {
    for (const n of nodes || []) {
      out.push(n);
      flatten(n.children, out);
    }
    return out;
  }

  function show_actors(answer) {
    const ok_tree = usable($('tree'), sources.tree, answer);
    const ok_top = usable($('top'), sources.tree, answer);
    if (!ok_tree || !ok_top) return;
    const list = flatten(answer.body.actors, []);
    view.previous = view.actors;
    view.actors = {
      at: answer.body.generated_at_ms, list, roots: answer.body.actors || [],
      by_id: new Map(list.map((a) => [a.id, a])),
    };
    compute_rates();
    find_incarnations();
    render_tree();
    render_top();
  }

  // Messages handled per second and busy % from the previous read.
  function compute_rates() {
    const prev = view.previous;
    for (const a of view.actors.list) {
      a.rate = null;
      a.busy = null;
      const before = prev && prev.by_id.get(a.id);
      const dt_ms = prev ? view.actors.at - prev.at : 0;
      if (!before || dt_ms <= 0) continue;
      a.rate = Math.max(0, a.handled - before.handled) * 1000 / dt_ms;
      if (typeof a.busy_us === 'number' && typeof before.busy_us === 'number')
        a.busy = Math.min(100, Math.max(0, (a.busy_us - before.busy_us) / (dt_ms * 10)));
    }
  }

  // An actor that appeared under the label of one that was there before
  // (a restart, a kill's replacement) is highlighted for a while.
  function find_incarnations() {
    const now = Date.now();
    const prev = view.previous;
    if (prev) {
      const before = new Map(prev.list.map((a) => [label_of(a), a.id]));
      for (const a of view.actors.list)
        if (!prev.by_id.has(a.id) && before.has(label_of(a)))
          view.fresh.set(a.id, now + highlight_ms);
    }
    for (const [id, until] of view.fresh)
      if (until < now || !view.actors.by_id.has(id)) view.fresh.delete(id);
    view.kills = view.kills.filter((k) => !settle_kill(k, now));
  }

  // Reports a kill's outcome once it is known; true when it is.
  function settle_kill(k, now) {
    const by_id = view.actors.by_id;
    if (by_id.has(k.id)) {
      if (now - k.at < replacement_wait_ms) return false;
      set_note(k.note, k.label + ' #' + k.id + ' is still listed '
        + duration(now - k.at) + ' after the kill.', 'error');
      return true;
    }
    const next = view.actors.list.find((a) => label_of(a) === k.label && a.id > k.id);
    if (next) {
      view.fresh.set(next.id, now + highlight_ms);
      const took = k.failed_at_ms && next.started_at_ms ? ' in ' + duration(next.started_at_ms - k.failed_at_ms) : '';
      set_note(k.note, k.label + ' #' + k.id + ' was killed and restarted as #' + next.id
        + took + ' (restarts: ' + next.restarts + ').', 'done');
      return true;
    }
    if (now - k.at < replacement_wait_ms) return false;
    set_note(k.note, k.label + ' #' + k.id + ' ended; nothing has started in its place after '
      + duration(now - k.at) + '.', 'error');
    return true;
  }

  function set_note(p, text, kind) {
    p.className = kind;
    set_text(p.firstChild, text);
  }

  // The parts of one tree row, made once per actor id and updated in place.
  const tree_nodes = new Map();

  function tree_node(id) {
    let t = tree_nodes.get(id);
    if (t) return t;
    t = {
      toggle: h('button', { class: 'toggle', type: 'button' }),
      kind: h('span', { class: 'kind' }),
      name: h('span', { class: 'name' }),
      id: h('span', { class: 'id' }),
      badge: h('span', { class: 'badge' }, 'new'),
      hidden_count: h('span', { class: 'hidden-count' }),
      state: h('span'),
      mbox: h('span', { class: 'mbox' }),
      restarts: h('span', { class: 'restarts' }),
      kill: kill_button(id),
      failure: h('div', { class: 'failure' }),
      kids: h('ul'),
      key: '',
    };
    t.label = h('span', { class: 'label' }, t.kind, t.name);
    t.row = h('div', { class: 'row' },
      h('span', { class: 'who' }, t.toggle, t.label, t.id, t.badge, t.hidden_count),
      h('span', {}, t.state), t.mbox, t.restarts, h('span', {}, t.kill), t.failure);
    t.li = h('li', {}, t.row, t.kids);
    t.toggle.addEventListener('click', () => {
      if (view.collapsed.has(t.key)) view.collapsed.delete(t.key);
      else view.collapsed.add(t.key);
      write_session(collapsed_key, [...view.collapsed]);
      render_tree();
    });
    tree_nodes.set(id, t);
    return t;
  }

  function count_below(n) {
    return (n.children || []).reduce((sum, c) => sum + 1 + count_below(c), 0);
  }

  function render_tree() {
    if (!view.actors) return;
    const now = Date.now();
    const place = (n, parent_key) => {
      const t = tree_node(n.id);
      // Collapsing follows the labels from the root, so it survives restarts.
      t.key = parent_key + '/' + label_of(n);
      const kids = n.children || [];
      const collapsed = kids.length > 0 && view.collapsed.has(t.key);
      set_text(t.toggle, kids.length === 0 ? '' : collapsed ? '\u25b8' : '\u25be');
      t.toggle.disabled = kids.length === 0;
      set_attr(t.toggle, 'aria-label', collapsed ? 'expand' : 'collapse');
      set_text(t.hidden_count, collapsed ? '+' + count_below(n) + ' below' : '');
      fill_tree_row(t, n, now);
      sync_children(t.kids, collapsed ? [] : kids.map((c) => place(c, t.key)));
      return t.li;
    };
    sync_children($('tree-root'), view.actors.roots.map((n) => place(n, '')));
    for (const id of [...tree_nodes.keys()])
      if (!view.actors.by_id.has(id)) tree_nodes.delete(id);
    set_text($('tree-count'), view.actors.list.length + ' actors');
  }

  function fill_tree_row(t, a, now) {
    set_attr(t.row, 'data-id', a.id);
    set_attr(t.row, 'data-kind', a.kind);
    set_attr(t.row, 'data-name', a.name);
    set_attr(t.row, 'data-state', a.state);
    set_attr(t.row, 'data-restarts', a.restarts);
    set_text(t.kind, a.kind + ':');
    set_text(t.name, a.name);
    set_text(t.id, '#' + a.id);
    set_attr(t.label, 'title', label_of(a) + ' \u00b7 up ' + duration(a.uptime_ms)
      + ' \u00b7 handled ' + number(a.handled) + ' \u00b7 rejected ' + number(a.rejected));
    set_text(t.state, a.state);
    t.state.className = class_of('state s-', a.state);
    set_text(t.mbox, number(a.mailbox_depth) + ' \u00b7 ' + number(a.mailbox_high_water)
      + ' / ' + (a.mailbox_limit ? number(a.mailbox_limit) : '\u221e'));
    set_text(t.restarts, number(a.restarts));
    t.restarts.classList.toggle('some', a.restarts > 0);
    const fresh = view.fresh.has(a.id) && view.fresh.get(a.id) > now;
    t.row.classList.toggle('fresh', fresh);
    t.badge.hidden = !fresh;
    const f = a.last_failure;
    t.failure.hidden = !f;
    if (f) set_text(t.failure, 'last failure: ' + f.reason + ' (' + duration(f.ago_ms) + ' ago, at '
      + clock(f.at_ms) + ')');
  }

  // '#id' that shows the actor's row in the tree when clicked (expanding
  // what hides it).
  function actor_link(id) {
    return h('a', { href: '#', class: 'id', title: 'show it in the tree',
                    onclick: (e) => { e.preventDefault(); reveal(id); } }, '#' + id);
  }

  function reveal(id) {
    const t = tree_nodes.get(id);
    if (!t) return;
    if (!t.row.isConnected) {
      for (const key of [...view.collapsed])
        if (t.key.startsWith(key + '/')) view.collapsed.delete(key);
      write_session(collapsed_key, [...view.collapsed]);
      render_tree();
    }
    t.row.scrollIntoView({ block: 'center' });
    t.row.classList.add('flash');
    setTimeout(() => t.row.classList.remove('flash'), 1500);
  }

  function kill_button(id) {
    return h('button', { class: 'kill', type: 'button', title: 'kill this actor (asks first)',
                         onclick: () => kill(id) }, 'kill');
  }

  // The columns of top; `value` sorts, `show` renders.
  const top_columns = [
    { key: 'id', title: 'id', num: true, value: (a) => a.id, show: (a) => '#' + a.id },
    { key: 'actor', title: 'actor', value: label_of, show: null },
    { key: 'state', title: 'state', value: (a) => a.state, show: null },
    { key: 'mailbox', title: 'mailbox', num: true, value: (a) => a.mailbox_depth,
      help: 'messages waiting now (the limit is in the tree)' },
    { key: 'hwm', title: 'hwm', num: true, value: (a) => a.mailbox_high_water,
      help: 'high-water: the deepest the mailbox has been' },
    { key: 'rate', title: 'msg/s', num: true, value: (a) => (a.rate === null ? -1 : a.rate),
      show: (a) => rate(a.rate), help: 'messages handled per second since the previous read' },
    { key: 'busy', title: 'busy %', num: true, value: (a) => (a.busy === null ? -1 : a.busy),
      show: (a) => (a.busy === null ? dash : a.busy.toFixed(1)),
      help: 'share of the time its handlers ran since the previous read (estimated from one message in 8)' },
    { key: 'p99', title: 'p99', num: true, value: (a) => (a.handler_us ? a.handler_us.p99 : -1),
      show: (a) => (a.handler_us ? micros(a.handler_us.p99) : dash), help: 'handler time, 99th percentile' },
    { key: 'restarts', title: 'restarts', num: true, value: (a) => a.restarts },
    { key: 'rejected', title: 'rej.', num: true, value: (a) => a.rejected,
      help: 'messages refused because the mailbox was full' },
  ];

  function render_top_head() {
    const cells = top_columns.map((c) => {
      const sorted = view.sort.key === c.key;
      const sort = () => {
        if (view.sort.key === c.key) view.sort.descending = !view.sort.descending;
        else view.sort = { key: c.key, descending: !!c.num };
        render_top_head();
        render_top();
      };
      return h('th', {
        class: 'sortable' + (c.num ? ' num' : ''), title: c.help || 'sort by ' + c.title,
        tabindex: 0, 'aria-sort': sorted ? (view.sort.descending ? 'descending' : 'ascending') : null,
        onclick: sort,
        onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); } },
      }, c.title, sorted ? h('span', { class: 'arrow' }, view.sort.descending ? ' \u25be' : ' \u25b4') : null);
    });
    sync_children($('top-head'), cells);
  }

  const top_rows = new Map();

  function top_row(id) {
    let r = top_rows.get(id);
    if (r) return r;
    r = { cells: top_columns.map((c) => h('td', { class: c.num ? 'num' : '' })) };
    r.tr = h('tr', { title: 'show it in the tree', onclick: () => reveal(id) }, r.cells);
    top_rows.set(id, r);
    return r;
  }

  function compare(a, b) {
    const column = top_columns.find((c) => c.key === view.sort.key) || top_columns[3];
    const x = column.value(a);
    const y = column.value(b);
    let order = typeof x === 'string' ? x.localeCompare(y) : x - y;
    if (view.sort.descending) order = -order;
    // Ties go to the busiest, then by id, so the order holds still.
    return order || (b.rate || 0) - (a.rate || 0) || a.id - b.id;
  }

  function render_top() {
    if (!view.actors) return;
    const now = Date.now();
    const list = [...view.actors.list].sort(compare);
    const shown = view.top_rows > 0 ? list.slice(0, view.top_rows) : list;
    const rows = shown.map((a) => {
      const r = top_row(a.id);
      set_attr(r.tr, 'data-id', a.id);
      r.tr.classList.toggle('fresh', (view.fresh.get(a.id) || 0) > now);
      top_columns.forEach((c, i) => {
        const cell = r.cells[i];
        if (c.key === 'actor') {
          if (!cell.firstChild) cell.append(h('span', { class: 'label' }, h('span', { class: 'kind' }), h('span', { class: 'name' })));
          set_text(cell.firstChild.firstChild, a.kind + ':');
          set_text(cell.firstChild.lastChild, a.name);
          set_attr(cell.firstChild, 'title', label_of(a));
        } else if (c.key === 'state') {
          if (!cell.firstChild) cell.append(h('span'));
          set_text(cell.firstChild, a.state);
          cell.firstChild.className = class_of('state s-', a.state);
        } else {
          set_text(cell, c.show ? c.show(a) : number(c.value(a)));
        }
      });
      return r.tr;
    });
    sync_children($('top-body'), rows);
    for (const id of [...top_rows.keys()])
      if (!view.actors.by_id.has(id)) top_rows.delete(id);
    set_text($('top-count'), shown.length < list.length
      ? shown.length + ' of ' + list.length + ' actors' : list.length + ' actors');
  }

  // --- kill ----------------------------------------------------------------

  function token() {
    return $('token').value.trim();
  }

  async function kill(id) {
    const a = view.actors && view.actors.by_id.get(id);
    const what = a ? label_of(a) + ' #' + id : 'actor #' + id;
    if (!confirm('Kill ' + what + '?\n\nIts supervisor, if it has one, starts a new actor in its place; '
      + 'calls it holds now may fail.')) return;
    await send_kill(id, what, true);
  }

  async function send_kill(id, what, may_ask_token) {
    const headers = {};
    if (token()) headers.Authorization = 'Bearer ' + token();
    let r;
    let body = null;
    try {
      r = await fetch('/debug/actors/' + encodeURIComponent(id) + '/kill',
                      { method: 'POST', headers, cache: 'no-store' });
      try { body = await r.json(); } catch (e) { body = null; }
    } catch (e) {
      note('Kill of ' + what + ' got no answer: ' + (e.message || e), 'error');
      return;
    }
    if (r.status === 202) {
      const actor = body && body.actor;
      const failure = actor && actor.last_failure;
      const p = note('Killed ' + what + (failure ? ' (' + failure.reason + ')' : '')
        + '; waiting for its replacement\u2026', '');
      view.kills.push({ id, label: actor ? label_of(actor) : what, at: Date.now(),
                        failed_at_ms: failure ? failure.at_ms : 0, note: p });
      schedule(0);
      return;
    }
    if (r.status === 403 && may_ask_token) {
      // Auth is on: ask for the token once, keep it in this tab, try again.
      const given = prompt((token() ? 'The admin token was refused. ' : 'This gateway has auth on. ')
        + 'Admin token (a principal in auth.admins; kept in this tab only):', '');
      if (given && given.trim()) {
        save_token(given.trim());
        await send_kill(id, what, false);
        return;
      }
      $('token').focus();
    }
    note('Kill of ' + what + ' answered ' + r.status
      + (body && body.message ? ': ' + body.message : '')
      + (r.status === 403 ? ' (enter an admin token in the header field)' : ''), 'error');
  }

  function save_token(value) {
    $('token').value = value;
    try {
      if (value) sessionStorage.setItem(token_key, value);
      else sessionStorage.removeItem(token_key);
    } catch (e) { /* storage off: the field still holds it */ }
  }

  // --- pools, namespaces, warnings, slow log -------------------------------

  // The change of `field` per second between two answers' entries, or null.
  function per_second(now_answer, before_answer, list_name, key, entry, field) {
    if (!before_answer) return null;
    const dt_ms = now_answer.generated_at_ms - before_answer.generated_at_ms;
    const before = (before_answer[list_name] || []).find((e) => e[key] === entry[key]);
    if (!before || dt_ms <= 0 || typeof entry[field] !== 'number') return null;
    return Math.max(0, entry[field] - before[field]) * 1000 / dt_ms;
  }

  const td = (text, cls) => h('td', { class: cls || '' }, text);
  const num_td = (text) => td(text, 'num');

  function show_pools(answer) {
    const panel = $('pools');
    if (!usable(panel, sources.pools, answer)) return;
    const body = answer.body;
    const pools = body.pools || [];
    const rows = pools.map((p) => h('tr', { 'data-backend': p.backend },
      td(h('span', {}, h('b', {}, p.backend), ' ', h('span', { class: 'dim' }, p.driver || ''))),
      td(p.actor ? actor_link(p.actor) : dash),
      num_td(number(p.size)), num_td(number(p.active)), num_td(number(p.idle)),
      num_td(number(p.down)),
      num_td(number(p.waiting) + (p.max_pending ? ' / ' + number(p.max_pending) : '')),
      num_td(millis(p.max_wait_ms)),
      num_td(rate(per_second(body, view.pools, 'pools', 'backend', p, 'served'))),
      num_td(number(p.errors)), num_td(number(p.reconnects)),
      td(h('span', { class: class_of('circuit-', p.circuit) }, p.circuit || dash,
        p.circuit_since_ms !== null && p.circuit_since_ms !== undefined
          ? h('span', { class: 'dim' }, ' ' + duration(p.circuit_since_ms)) : null))));
    $('pool-body').replaceChildren(...rows);
    set_text(panel.querySelector('h2 .count'), pools.length + ' backends');
    view.pools = body;
  }

  function show_namespaces(answer) {
    const panel = $('namespaces');
    if (!usable(panel, sources.namespaces, answer)) return;
    const body = answer.body;
    const list = body.namespaces || [];
    const rows = list.map((n) => {
      const codes = Object.entries(n.by_code || {});
      const errors = codes.filter(([code]) => code !== 'OK').reduce((s, [, c]) => s + c, 0);
      const rejections = Object.entries(n.rejections || {}).filter(([, c]) => c > 0);
      return h('tr', { 'data-namespace': n.name },
        td(h('b', {}, n.name)),
        td(h('span', {}, n.backend || '', ' ', h('span', { class: 'dim' }, n.api || ''))),
        num_td(rate(per_second(body, view.namespaces, 'namespaces', 'name', n, 'requests'))),
        num_td(number(n.requests)),
        h('td', { class: 'num' + (errors ? ' code-bad' : ''),
                  title: codes.map(([c, k]) => c + ' ' + k).join(', ') || 'none yet' }, number(errors)),
        td(rejections.length ? rejections.map(([r, c]) => r + ' ' + number(c)).join(', ') : dash),
        num_td(millis(n.p50_ms)), num_td(millis(n.p99_ms)));
    });
    $('namespace-body').replaceChildren(...rows);
    set_text(panel.querySelector('h2 .count'), list.length + ' namespaces');
    view.namespaces = body;
  }

  function show_warnings(answer) {
    const panel = $('warnings');
    if (!usable(panel, sources.warnings, answer)) return;
    const list = answer.body.warnings || [];
    const items = list.map((w) => h('li', { 'data-kind': w.kind },
      h('span', { class: class_of('sev sev-', w.severity) }, w.severity),
      h('b', {}, w.kind), ' ',
      h('span', { class: 'dim' }, w.subject || ''), w.actor ? [' ', actor_link(w.actor)] : null, ' ',
      w.message,
      w.since_ms !== null && w.since_ms !== undefined
        ? h('span', { class: 'dim' }, ' (for ' + duration(w.since_ms) + ')') : null));
    if (items.length === 0)
      items.push(h('li', { class: 'dim' }, 'none: nothing the gateway flags right now'));
    $('warning-list').replaceChildren(...items);
    set_text(panel.querySelector('h2 .count'), list.length ? String(list.length) : '');
  }

  const hop_kinds = [
    ['h-session', 'session', (n) => n === 'session'],
    ['h-stage', 'stage', (n) => n.startsWith('stage:')],
    ['h-router', 'router', (n) => n === 'router'],
    ['h-wait', 'pool wait', (n) => n.startsWith('pool wait')],
    ['h-backend', 'backend', (n) => n.startsWith('backend')],
    ['h-reply', 'reply', (n) => n === 'reply'],
  ];

  const hop_class = (name) => (hop_kinds.find(([, , test]) => test(String(name))) || ['h-other'])[0];

  function hop_bar(e, widest_us) {
    const total = Math.max(1, e.total_us);
    const bar = h('div', { class: 'hops',
      title: (e.hops || []).map((x) => x.name + ': ' + micros(x.us)).join('\n') });
    for (const x of e.hops || []) {
      const seg = h('span', { class: hop_class(x.name), title: x.name + ': ' + micros(x.us) });
      seg.style.width = (100 * x.us / total).toFixed(2) + '%';
      bar.append(seg);
    }
    bar.style.width = Math.max(4, 100 * e.total_us / Math.max(1, widest_us)).toFixed(1) + '%';
    return bar;
  }

  function show_slowlog(answer) {
    const panel = $('slowlog');
    if (!usable(panel, sources.slowlog, answer)) return;
    const body = answer.body;
    const entries = (body.entries || []).slice(0, slowlog_rows_max);
    const widest = entries.reduce((m, e) => Math.max(m, e.total_us), 0);
    const rows = entries.map((e) => h('tr', { 'data-entry': e.id },
      td(duration(e.ago_ms) + ' ago', 'dim'),
      td(e.namespace), td(e.operation),
      td(e.code, e.code === 'OK' ? '' : 'code-bad'),
      num_td(micros(e.total_us)),
      h('td', { class: 'bar' }, hop_bar(e, widest)),
      td((e.principal || dash) + ' \u00b7 ' + (e.peer || dash), 'dim'),
      td(e.request_id || dash, 'dim')));
    if (rows.length === 0)
      rows.push(h('tr', {}, h('td', { colspan: 8, class: 'dim' },
        'no call has taken ' + body.threshold_ms + ' ms or more since the last reset')));
    $('slowlog-body').replaceChildren(...rows);
    set_text(panel.querySelector('h2 .count'), 'threshold ' + body.threshold_ms + ' ms \u00b7 '
      + number(body.count) + ' kept of ' + number(body.recorded) + ' recorded'
      + (entries.length < (body.entries || []).length ? ' \u00b7 newest ' + entries.length + ' shown' : ''));
  }

  // --- start ---------------------------------------------------------------

  function start() {
    set_text($('origin'), location.host);
    $('hop-legend').replaceChildren(...hop_kinds.map(([cls, name]) =>
      h('span', {}, h('i', { class: cls }), name)));
    $('token').value = (() => {
      try { return sessionStorage.getItem(token_key) || ''; } catch (e) { return ''; }
    })();
    $('token').addEventListener('change', () => save_token(token()));
    $('forget').addEventListener('click', () => save_token(''));
    $('pause').addEventListener('click', () => {
      view.paused = !view.paused;
      show_header();
      schedule(0);
    });
    $('top-rows').addEventListener('change', (e) => {
      view.top_rows = Number(e.target.value);
      render_top();
    });
    $('expand-all').addEventListener('click', () => {
      view.collapsed.clear();
      write_session(collapsed_key, []);
      render_tree();
    });
    $('collapse-all').addEventListener('click', () => {
      for (const t of tree_nodes.values()) if (t.kids.children.length) view.collapsed.add(t.key);
      write_session(collapsed_key, [...view.collapsed]);
      render_tree();
    });
    render_top_head();
    setInterval(show_header, 1000);
    refresh();
  }

  start();
})();
)js";

const char* const page_tail = "</body>\n</html>\n";

/// 'sha256-BASE64' of `text`, as a Content-Security-Policy source names an
/// inline script or style.
std::string csp_hash(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         digest);
  // Base64 of 32 bytes: 44 characters and the NUL EVP_EncodeBlock writes.
  unsigned char encoded[4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1];
  int length = EVP_EncodeBlock(encoded, digest, SHA256_DIGEST_LENGTH);
  return "'sha256-"
    + std::string(reinterpret_cast<const char*>(encoded),
                  static_cast<size_t>(length))
    + "'";
}

} // namespace

const std::string& ui_page_html() {
  static const std::string page = std::string(page_head) + "<style>"
    + page_style + "</style>\n" + page_body + "<script>" + page_script
    + "</script>\n" + page_tail;
  return page;
}

const std::vector<std::pair<std::string, std::string>>& ui_page_headers() {
  // Nothing but the page's own style and script runs, and it may connect to
  // its own origin only: no other host is ever contacted, and a name from a
  // peer that slipped into markup could not run as script.
  static const std::vector<std::pair<std::string, std::string>> headers = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src " + csp_hash(page_script) + "; style-src "
       + csp_hash(page_style)
       + "; connect-src 'self'; img-src data:; base-uri 'none'; "
         "form-action 'none'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
  };
  return headers;
}

} // namespace prism::admin
