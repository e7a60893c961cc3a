// "Agents": every agent with its status, addresses, capacity and occupancy per slot, live
// use when reported, and containers; filtered by status, paged on the server, and refreshed
// every few seconds while the page is shown.
import { gql } from "../api.js";
import { clear, errorBox, formatBytes, formatNumber, formatTime, h, messageOf, pager, table, tabKeyTarget } from "../dom.js";
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

/**
 * CPU (percent of one core) and memory in use now: the sum over the agent's running kernels
 * of their last heartbeat's counters, as cpu_cur_pct/mem_cur_bytes, else read from live_stat
 * ({cpu_util, mem}, or Backend.AI's {node: {...}}).
 */
function liveUse(agent) {
  const parts = [];
  const stat = parseJson(agent.live_stat);
  const node = stat.node && typeof stat.node === "object" ? stat.node : stat;
  const current = (m) => (m && typeof m === "object" ? m.pct ?? m.current : null);
  const cpu = agent.cpu_cur_pct ?? current(node.cpu_util);
  const mem = agent.mem_cur_bytes ?? current(node.mem);
  if (cpu !== undefined && cpu !== null) parts.push(`CPU ${formatNumber(Number(cpu), 1)} %`);
  if (mem !== undefined && mem !== null) parts.push(`RAM ${formatBytes(mem)}`);
  return parts.length ? parts.join(" · ")
    : h("span", { class: "muted", text: "not reported", title: "No running session has reported its use yet." });
}

/**
 * Puts `error` in `container` as an error box with Retry; when one is already shown, only its
 * message changes, so that a keyboard user on Retry keeps the focus across failed polls.
 */
function showProblem(container, error, retry) {
  const box = container.firstElementChild;
  const message = box && box.classList.contains("error-box") ? box.querySelector("span") : null;
  if (message) message.textContent = messageOf(error);
  else clear(container, errorBox(error, retry));
}

export async function render(root, ctx) {
  const state = { status: "ALIVE", page: 0, total: 0, timer: null, busy: false, gone: false, pagerKey: "" };
  const body = h("div", { class: "infra-content" });
  const pagerArea = h("div", { class: "infra-pager" });
  const problem = h("div", { class: "infra-problem" });
  const updated = h("span", { class: "muted", role: "status", "aria-live": "off" });
  const tabs = STATUSES.map((s) => h("button", {
    type: "button", role: "tab", id: `agents-tab-${s}`, text: s, "aria-controls": "agents-panel",
    "aria-selected": String(s === state.status), tabindex: s === state.status ? "0" : "-1",
    on: { click: () => choose(s), keydown: (ev) => moveTab(ev, s) },
  }));
  const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Agent status" }, tabs);
  const panel = h("div", { role: "tabpanel", id: "agents-panel", "aria-labelledby": `agents-tab-${state.status}` },
    problem, body, pagerArea);
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
    clear(problem);
    clear(body, h("p", { class: "loading", role: "status", text: "Loading…" }));
    clear(pagerArea);
    state.pagerKey = "";
    load(true);
  }

  function moveTab(ev, status) {
    const next = tabKeyTarget(ev.key, STATUSES, status);
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
      if (!list.items.length && state.page > 0) { // the page emptied: the first one, once this load is done
        state.page = 0;
        queueMicrotask(() => load(true));
        return;
      }
      clear(problem);
      show(list.items || []);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if (state.gone) return;
      // A failed refresh keeps the last list and says why above it.
      if (body.querySelector("table")) showProblem(problem, e, () => load(true));
      else showProblem(body, e, () => load(true));
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
      { label: "Live use", class: "infra-live", cell: (a) => liveUse(a) },
      { label: "Containers", cell: (a) => String(a.compute_containers ?? 0) },
    ];
    const fresh = table(columns, agents, {
      caption: `${state.total} ${state.status} agent${state.total === 1 ? "" : "s"}`,
      empty: `There are no ${state.status} agents.`,
      rowAttrs: (a) => ({ dataset: { agentId: a.id, status: a.status } }),
    });
    // A poll refills the table that is shown rather than putting a new one in its place
    // (table() may wrap it in a scrolling box: that box, and its scroll position, stay too).
    const shown = body.querySelector("table");
    const freshTable = fresh.tagName === "TABLE" ? fresh : fresh.querySelector("table");
    if (shown && freshTable) shown.replaceChildren(...freshTable.childNodes);
    else clear(body, fresh);
    drawPager();
  }

  // Rebuilt only when the page or the total changes; the focus stays on the button it was on.
  function drawPager() {
    const key = state.total > PAGE_SIZE ? `${state.page}/${state.total}` : "";
    if (key === state.pagerKey) return;
    state.pagerKey = key;
    const active = document.activeElement;
    const focused = active && pagerArea.contains(active) ? active.getAttribute("aria-label") : null;
    clear(pagerArea, key ? pager({ page: state.page, pageSize: PAGE_SIZE, total: state.total,
      label: "Agent pages", onPage: (p) => { state.page = p; load(true); } }) : null);
    if (focused) {
      const buttons = [...pagerArea.querySelectorAll("button")].filter((b) => !b.disabled);
      const target = buttons.find((b) => b.getAttribute("aria-label") === focused) || buttons[0];
      if (target) target.focus();
    }
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
