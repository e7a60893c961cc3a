// "Agents": every agent with its status, addresses, capacity and occupancy per slot, live
// use when reported, and containers; filtered by status, paged on the server, and refreshed
// every few seconds while the page is shown.
import { gql } from "../api.js";
import { clear, errorBox, formatBytes, formatNumber, formatTime, h, pager, table } from "../dom.js";
import { ago, capacityBars, parseJson } from "./admin_infra_common.js";

const PAGE_SIZE = 20;
const REFRESH_MS = 5000;
const STATUSES = ["ALIVE", "LOST", "TERMINATED"];
const LIST = `query($limit: Int!, $offset: Int!, $status: String) {
  agent_list(limit: $limit, offset: $offset, status: $status) {
    items { id status status_changed region scaling_group schedulable available_slots
      occupied_slots addr architecture first_contact lost_at last_heartbeat version
      live_stat cpu_cur_pct mem_cur_bytes compute_containers }
    total_count
  }
}`;

/** CPU and memory in use now, from cpu_cur_pct/mem_cur_bytes or live_stat's node figures. */
function liveUse(agent) {
  const parts = [];
  const node = parseJson(agent.live_stat).node || {};
  const cpu = agent.cpu_cur_pct ?? (node.cpu_util && (node.cpu_util.pct ?? node.cpu_util.current));
  const mem = agent.mem_cur_bytes ?? (node.mem && node.mem.current);
  if (cpu !== undefined && cpu !== null) parts.push(`CPU ${formatNumber(cpu, 1)} %`);
  if (mem !== undefined && mem !== null) parts.push(`RAM ${formatBytes(mem)}`);
  return parts.length ? parts.join(" · ") : h("span", { class: "muted", text: "not reported" });
}

export async function render(root, ctx) {
  const state = { status: "ALIVE", page: 0, total: 0, timer: null, busy: false, gone: false };
  const body = h("div", { class: "infra-content" });
  const problem = h("div", { class: "infra-problem" });
  const updated = h("span", { class: "muted", role: "status", "aria-live": "off" });
  const tabs = STATUSES.map((s) => h("button", {
    type: "button", role: "tab", id: `agents-tab-${s}`, text: s, "aria-controls": "agents-panel",
    "aria-selected": String(s === state.status), tabindex: s === state.status ? "0" : "-1",
    on: { click: () => choose(s), keydown: (ev) => moveTab(ev, s) },
  }));
  const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Agent status" }, tabs);
  const panel = h("div", { role: "tabpanel", id: "agents-panel", "aria-labelledby": `agents-tab-${state.status}` },
    problem, body);
  clear(root,
    h("h1", { text: "Agents" }),
    ctx.isSuperadmin ? null
      : h("p", { class: "notice", text: "Only superadmins see the agents; the server may refuse." }),
    h("div", { class: "toolbar" }, tablist, h("span", { class: "spacer" }), updated,
      h("button", { type: "button", text: "Refresh", on: { click: () => load(true) } })),
    panel);

  function choose(status) {
    state.status = status;
    state.page = 0;
    for (const t of tabs) {
      const on = t.textContent === status;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
    }
    panel.setAttribute("aria-labelledby", `agents-tab-${status}`);
    clear(body, h("p", { class: "loading", role: "status", text: "Loading…" }));
    load(true);
  }

  function moveTab(ev, status) {
    const i = STATUSES.indexOf(status);
    const next = ev.key === "ArrowRight" ? STATUSES[(i + 1) % STATUSES.length]
      : ev.key === "ArrowLeft" ? STATUSES[(i + STATUSES.length - 1) % STATUSES.length] : null;
    if (!next) return;
    ev.preventDefault();
    choose(next);
    tabs[STATUSES.indexOf(next)].focus();
  }

  async function load(shownByUser = false) {
    if (state.busy && !shownByUser) return;
    state.busy = true;
    const asked = { status: state.status, page: state.page };
    try {
      const data = await gql(LIST, { limit: PAGE_SIZE, offset: state.page * PAGE_SIZE, status: state.status });
      if (state.gone || asked.status !== state.status || asked.page !== state.page) return;
      const list = data.agent_list || { items: [], total_count: 0 };
      state.total = list.total_count || 0;
      if (!list.items.length && state.page > 0) { state.page = 0; state.busy = false; load(true); return; }
      clear(problem);
      show(list.items || []);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if (state.gone) return;
      // A failed refresh keeps the last list and says why above it.
      if (body.querySelector("table")) clear(problem, errorBox(e, () => load(true)));
      else clear(body, errorBox(e, () => load(true)));
    } finally {
      state.busy = false;
    }
  }

  function show(agents) {
    const now = Date.now();
    const columns = [
      { label: "ID", cell: (a) => [h("strong", { class: "mono infra-nowrap", text: a.id }),
        h("div", { class: "muted", text: `${a.architecture} · version ${a.version}` }),
        a.region ? h("div", { class: "muted", text: `region ${a.region}` }) : null] },
      { label: "Status", cell: (a) => [h("span", { class: `badge infra-agent-${a.status}`, text: a.status }),
        a.schedulable === false ? h("div", { class: "muted", text: "not schedulable" }) : null] },
      { label: "Address", cell: (a) => h("span", { class: "mono", text: a.addr }) },
      { label: "Resource group", cell: (a) => a.scaling_group },
      { label: "Contact", cell: (a) => [
        h("div", { text: `first ${formatTime(a.first_contact)}` }),
        h("div", { title: formatTime(a.last_heartbeat), text: `heartbeat ${ago(a.last_heartbeat, now)}` }),
        a.lost_at ? h("div", { class: "muted", text: `lost ${formatTime(a.lost_at)}` }) : null] },
      { label: "Occupied of capacity", class: "infra-capacity", cell: (a) =>
        capacityBars(parseJson(a.available_slots), parseJson(a.occupied_slots), a.id) },
      { label: "Live use", cell: (a) => liveUse(a) },
      { label: "Containers", cell: (a) => String(a.compute_containers ?? 0) },
    ];
    clear(body,
      table(columns, agents, {
        caption: `${state.total} ${state.status} agent${state.total === 1 ? "" : "s"}`,
        empty: `There are no ${state.status} agents.`,
        rowAttrs: (a) => ({ dataset: { agentId: a.id, status: a.status } }),
      }),
      state.total > PAGE_SIZE ? pager({ page: state.page, pageSize: PAGE_SIZE, total: state.total,
        label: "Agent pages", onPage: (p) => { state.page = p; load(true); } }) : null);
  }

  clear(body, h("p", { class: "loading", role: "status", text: "Loading…" }));
  await load(true);
  // Occupancy changes as sessions come and go: poll while the page is shown and visible.
  state.timer = setInterval(() => { if (!document.hidden) load(); }, REFRESH_MS);
  return () => {
    state.gone = true;
    clearInterval(state.timer);
  };
}
