// The Sessions page (seed 003 "Start a new session" ... "Delete a compute session"): the
// resource statistics, the START button, the RUNNING / FINISHED / OTHERS tabs and one page of
// the caller's sessions (everyone's for a superadmin: the server scopes the query), kept live
// by the session event stream and a 5 s poll.
import * as api from "../api.js";
import { clear, errorBox, h, messageOf, newId, pager, tabKeyTarget } from "../dom.js";
import { openLaunchWizard } from "./launch_wizard.js";
import { createResourceStats } from "./resource_stats.js";
import { sessionActionButtons } from "./session_actions.js";
import {
  allocatedCell, environmentCell, nameCell, signature, startCell, statusCell, usedCell,
} from "./sessions_rows.js";

// RUNNING: every status that has not ended (common/statuses.py), TERMINATING included since
// the session still holds its resources. FINISHED: the sessions that ended without an error:
// TERMINATED, and CANCELLED (withdrawn before it started, by its owner or because a session
// it depended on failed: nothing went wrong in the session itself). OTHERS: ERROR.
export const TABS = [
  { id: "running", label: "RUNNING", statuses: "PENDING,SCHEDULED,PREPARING,PULLING,RUNNING,RESTARTING,TERMINATING" },
  { id: "finished", label: "FINISHED", statuses: "TERMINATED,CANCELLED" },
  { id: "others", label: "OTHERS", statuses: "ERROR" },
];
const PAGE_SIZES = [20, 50, 100];
const POLL_MS = 5000;
const EVENT_DEBOUNCE_MS = 400;

const LIST = `query($limit: Int!, $offset: Int!, $status: String) {
  compute_session_list(limit: $limit, offset: $offset, status: $status) {
    total_count
    items {
      id session_id name type image status status_info status_data status_changed queue_position
      estimated_start result created_at terminated_at occupied_slots requested_slots
      user_email access_key scaling_group service_ports mounts
      containers { id agent status live_stat }
    }
  }
}`;

export async function render(root, ctx) {
  const params = ctx.params || new URLSearchParams();
  const state = {
    tab: TABS.find((t) => t.id === params.get("tab")) || TABS[0],
    page: Math.max(0, (parseInt(params.get("page"), 10) || 1) - 1),
    pageSize: PAGE_SIZES.includes(Number(params.get("size"))) ? Number(params.get("size")) : PAGE_SIZES[0],
    total: 0,
    loaded: false,
  };
  let alive = true;
  let seq = 0;
  let debounce = null;
  let running = null; // the list refresh in flight
  let again = false; // something asked for a refresh while one ran: one more follows it
  let listError = null;
  let statsError = null;
  let pagerKey = "";
  const previousStats = new Map(); // kernel id -> its last CPU reading (sessions on the page only)
  const rows = new Map(); // session id -> {tr, sig, session}

  const stats = createResourceStats(ctx);
  const errorLine = h("p", { class: "refresh-error", role: "alert", hidden: true });
  const panelId = newId("sessions-panel");
  const tabButtons = TABS.map((t) => h("button", {
    type: "button", role: "tab", id: `${panelId}-${t.id}`, "aria-controls": panelId, text: t.label,
    on: { click: () => selectTab(t), keydown: tabKeys },
  }));
  const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Session status" }, tabButtons);
  const sizeSelect = h("select", { id: newId("page-size"), on: { change: () => {
    state.pageSize = Number(sizeSelect.value);
    state.page = 0;
    remember();
    refresh({ supersede: true, withStats: false });
  } } }, PAGE_SIZES.map((n) => h("option", { value: String(n), text: String(n), selected: n === state.pageSize })));
  const listArea = h("div", { class: "session-list" });
  const pagerArea = h("div", { class: "pager-area" });
  const panel = h("div", { role: "tabpanel", id: panelId, class: "sessions-panel" }, errorLine, listArea, pagerArea);
  const startButton = h("button", { type: "button", class: "primary start", text: "START",
    on: { click: () => openLaunchWizard(ctx, { onLaunched: () => {
      if (state.tab !== TABS[0]) selectTab(TABS[0]); else refreshSoon(0);
    } }) } });

  clear(root,
    h("h1", { text: "Sessions" }),
    stats.el,
    h("div", { class: "toolbar" }, startButton, h("span", { class: "spacer" }),
      h("label", { for: sizeSelect.id, text: "Sessions per page" }), sizeSelect),
    tablist, panel);

  const columns = [
    { label: "Session", class: "col-name", cell: nameCell },
    { label: "Environment", class: "col-env", cell: environmentCell },
    ctx.isAdmin ? { label: "Owner", class: "col-owner", cell: (s) => h("span", { text: s.user_email || s.access_key || "-" }) } : null,
    { label: "Allocated", class: "col-alloc", cell: allocatedCell },
    { label: "Used", class: "col-used", volatile: true, cell: (s) => usedCell(s, previousStats) },
    { label: "Started", class: "col-start", volatile: true, cell: (s) => startCell(s) },
    { label: "Status", class: "col-status", cell: statusCell },
    { label: "Controls", class: "actions", cell: controls },
  ].filter(Boolean);
  const tbody = h("tbody", {});
  const tableEl = h("table", { class: "data sessions" },
    h("caption", { class: "visually-hidden", text: "Compute sessions" }),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class, text: c.label })))),
    tbody);

  function controls(s) {
    try {
      const made = sessionActionButtons(s, ctx, { onChanged: () => refreshSoon(0) });
      return h("div", { class: "controls" }, made);
    } catch (e) {
      console.error(e);
      return h("span", { class: "muted", text: "-" });
    }
  }

  function markTabs() {
    for (const [i, t] of TABS.entries()) {
      const selected = t === state.tab;
      tabButtons[i].setAttribute("aria-selected", String(selected));
      tabButtons[i].tabIndex = selected ? 0 : -1;
    }
    panel.setAttribute("aria-labelledby", `${panelId}-${state.tab.id}`);
  }

  function tabKeys(ev) {
    const next = tabKeyTarget(ev.key, TABS, state.tab);
    if (!next) return;
    ev.preventDefault();
    selectTab(next);
    tabButtons[TABS.indexOf(next)].focus();
  }

  function selectTab(tab) {
    if (tab === state.tab && state.loaded) return;
    state.tab = tab;
    state.page = 0;
    state.loaded = false;
    markTabs();
    remember();
    rows.clear();
    clear(tbody, h("tr", {}, h("td", { colspan: columns.length, class: "empty", text: "Loading…" })));
    refresh({ supersede: true, withStats: false });
  }

  // The tab, page and page size live in the address too (a reload keeps them); replaceState
  // changes it without a hashchange, so the router does not render the page again.
  function remember() {
    const q = new URLSearchParams({ tab: state.tab.id, page: String(state.page + 1) });
    if (state.pageSize !== PAGE_SIZES[0]) q.set("size", String(state.pageSize));
    history.replaceState(history.state, "", `#/sessions?${q}`);
  }

  // One line above the list for a refresh that failed after the list was shown (the list
  // stays); the statistics' failure is said there too.
  function updateErrorLine() {
    const e = state.loaded ? listError || statsError : null;
    if (!e) { errorLine.hidden = true; errorLine.textContent = ""; return; }
    const what = listError ? "Refreshing failed" : "Refreshing the resource statistics failed";
    errorLine.textContent = `${what}: ${messageOf(e)}. The list below may be out of date; it is retried every ${POLL_MS / 1000} s.`;
    errorLine.hidden = false;
  }

  // The first load failed: an error box with Retry in place of the list. A later failure only
  // rewrites its message, so that a keyboard user on Retry keeps the focus.
  function showLoadError(e) {
    const box = listArea.firstElementChild;
    const message = box && box.classList.contains("error-box") ? box.querySelector("span") : null;
    if (message) message.textContent = messageOf(e);
    else clear(listArea, errorBox(e, () => refresh({ supersede: true })));
    clear(pagerArea);
    pagerKey = "";
    errorLine.hidden = true;
  }

  function refreshStats() {
    stats.refresh().then((e) => {
      if (!alive) return;
      statsError = e;
      updateErrorLine();
    });
  }

  /**
   * Reloads the page of sessions. The 5 s poll and the event stream never start a second one
   * while one runs (they ask for one more after it); a change of tab, page or page size does
   * (`supersede`), and the older answer is then dropped. The statistics load beside it: the
   * list never waits for them. A change of tab, page or page size does not change them, so it
   * does not reload them either (`withStats`: their two requests would compete with the
   * list's on the manager); a poll, an event or a Retry does.
   */
  function refresh({ supersede = false, withStats = true } = {}) {
    if (running && !supersede) { again = true; return running; }
    seq += 1;
    const mine = seq;
    if (withStats) refreshStats();
    const job = loadList(mine).catch((e) => {
      console.error(e);
      if (alive && mine === seq) { if (state.loaded) { listError = e; updateErrorLine(); } else showLoadError(e); }
    }).finally(() => {
      if (running !== job) return;
      running = null;
      if (again && alive) { again = false; refresh(); }
    });
    running = job;
    return job;
  }

  async function loadList(mine) {
    const tab = state.tab;
    let data;
    try {
      data = await api.gql(LIST, { limit: state.pageSize, offset: state.page * state.pageSize, status: tab.statuses });
    } catch (e) {
      if (!alive || mine !== seq) return;
      listError = e;
      if (state.loaded) updateErrorLine(); else showLoadError(e);
      return;
    }
    if (!alive || mine !== seq) return;
    const { items, total_count: total } = data.compute_session_list;
    const pages = Math.max(1, Math.ceil(total / state.pageSize));
    if (state.page >= pages && total > 0) { // the page emptied under us (sessions moved on)
      state.page = pages - 1;
      remember();
      again = true;
      return;
    }
    state.total = total;
    state.loaded = true;
    listError = null;
    updateErrorLine();
    if (tableEl.parentNode !== listArea) clear(listArea, tableEl);
    drawRows(items);
    drawPager(total);
  }

  // The pager is rebuilt only when what it says changes, and the focus stays on the button
  // it was on (or its sibling, when that one is now disabled).
  function drawPager(total) {
    const key = `${state.page}/${state.pageSize}/${total}`;
    if (key === pagerKey && pagerArea.firstChild) return;
    pagerKey = key;
    const active = document.activeElement;
    const focused = active && pagerArea.contains(active) ? active.getAttribute("aria-label") : null;
    clear(pagerArea, pager({
      page: state.page, pageSize: state.pageSize, total, label: "Session pages",
      onPage: (p) => { state.page = p; remember(); refresh({ supersede: true, withStats: false }); },
    }));
    if (focused) {
      const buttons = [...pagerArea.querySelectorAll("button")].filter((b) => !b.disabled);
      const target = buttons.find((b) => b.getAttribute("aria-label") === focused) || buttons[0];
      if (target) target.focus();
    }
  }

  function buildRow(s) {
    const tr = h("tr", { dataset: { sessionName: s.name, status: s.status, sessionId: s.session_id } },
      columns.map((c) => h("td", { class: c.class }, c.cell(s))));
    return { tr, sig: signature(s), session: s };
  }

  function drawRows(items) {
    // CPU readings are kept for the kernels on the page only.
    const kernels = new Set(items.flatMap((s) => (s.containers || []).map((c) => c.id)));
    for (const id of [...previousStats.keys()]) if (!kernels.has(id)) previousStats.delete(id);
    if (!items.length) {
      rows.clear();
      clear(tbody, h("tr", {}, h("td", { colspan: columns.length, class: "empty",
        text: `No ${state.tab.label.toLowerCase()} sessions.` })));
      return;
    }
    const focused = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement : null;
    const focusRow = focused ? focused.closest("tr") : null;
    const focusLabel = focused ? focused.getAttribute("aria-label") || focused.textContent : null;
    const next = [];
    const seen = new Set();
    for (const s of items) {
      const key = s.session_id || s.id;
      seen.add(key);
      const old = rows.get(key);
      if (old && old.sig === signature(s)) {
        columns.forEach((c, i) => { if (c.volatile) clear(old.tr.cells[i], c.cell(s)); });
        old.session = s;
        next.push(old);
      } else {
        const made = buildRow(s);
        rows.set(key, made);
        next.push(made);
      }
    }
    for (const key of [...rows.keys()]) if (!seen.has(key)) rows.delete(key);
    const current = [...tbody.children];
    const sameOrder = current.length === next.length && current.every((tr, i) => tr === next[i].tr);
    if (!sameOrder) {
      // Rows that stay are kept as nodes; only those that changed are made anew.
      const unchanged = current.length === next.length
        && current.every((tr, i) => tr.dataset.sessionId === next[i].tr.dataset.sessionId);
      if (unchanged) current.forEach((tr, i) => { if (tr !== next[i].tr) tr.replaceWith(next[i].tr); });
      else clear(tbody, next.map((r) => r.tr));
    }
    if (focusRow && !focusRow.isConnected && focusLabel) {
      const match = [...tbody.querySelectorAll("button, a, [tabindex]")]
        .find((el) => (el.getAttribute("aria-label") || el.textContent) === focusLabel);
      if (match) match.focus();
    }
  }

  function refreshSoon(ms = EVENT_DEBOUNCE_MS) {
    if (!alive) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => { debounce = null; if (alive) refresh(); }, ms);
  }

  markTabs();
  remember();
  clear(listArea, tableEl);
  clear(tbody, h("tr", {}, h("td", { colspan: columns.length, class: "empty", text: "Loading…" })));
  let stopEvents = () => {};
  try {
    stopEvents = api.sessionEvents(() => refreshSoon());
  } catch (e) {
    console.error(e); // the poll below keeps the page live without the stream
  }
  const poll = setInterval(() => { if (!document.hidden && !running) refresh(); }, POLL_MS);
  const cleanup = () => {
    alive = false;
    clearInterval(poll);
    clearTimeout(debounce);
    try { stopEvents(); } catch (e) { console.error(e); }
  };
  // Whatever the first load does, the router gets the cleanup (no poll or stream outlives it).
  try {
    await refresh();
  } catch (e) {
    console.error(e);
  }
  return cleanup;
}
