// The Sessions page's resource statistics (seed 003): per slot two bars, for the resource group
// chosen above them, plus the keypair's concurrent sessions.
//
// Seed 003 defines them as:
//   upper = (allocated by the user in the current resource group)
//           / (total allocatable by the user in the current resource group)
//   lower = (allocated by the user) / (allocated by the user + total allocatable by the user
//           in the current resource group)
// "Allocatable" is read as what the user could still get in the group: the smaller of the
// keypair's remaining quota and the group's free capacity (check-presets' keypair_remaining
// and scaling_groups[name].remaining). For the upper bar the "total" is then what the user
// holds there plus that remainder, so the bar is full exactly when nothing more can be
// allocated; the lower bar puts everything the user holds (all groups) against the same
// remainder.
import * as api from "../api.js";
import { clear, formatNumber, formatSlot, h, messageOf, newId, slotLabel } from "../dom.js";

// The statuses whose sessions hold resources (manager/lifecycle.py's OCCUPYING_STATUSES).
const OCCUPYING = "SCHEDULED,PREPARING,PULLING,RUNNING,RESTARTING,TERMINATING";
const ALWAYS_SHOWN = ["cpu", "mem"];
// GPUs are shown only where some agent of the group has them (resource-slots lists every
// slot the platform knows, whether an agent reports it or not).
const OPTIONAL = ["cuda.device", "cuda.shares"];

const MINE = `query($ak: String, $limit: Int!) {
  keypair { concurrency_limit concurrency_used }
  compute_session_list(limit: $limit, offset: 0, status: "${OCCUPYING}", access_key: $ak) {
    total_count items { scaling_group occupied_slots }
  }
}`;

function num(value) {
  if (value === "Infinity" || value === Infinity) return Infinity;
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

function parseJson(value) {
  if (typeof value !== "string") return value || {};
  try { return JSON.parse(value) || {}; } catch { return {}; }
}

function pct(part, whole) {
  if (!(whole > 0) || !Number.isFinite(whole)) return 0;
  return Math.max(0, Math.min(100, (part / whole) * 100));
}

function amount(slot, value) {
  return value === Infinity ? "∞" : formatSlot(slot, value);
}

/**
 * The region and its refresh(); `onError(err|null)` hears whether the last refresh worked
 * (the page shows one error line for the list and the statistics).
 */
export function createResourceStats(ctx) {
  // The project chosen in the top bar (main.js); "default" only when none could be read.
  const PROJECT = (ctx.project && ctx.project.name) || "default";
  const selectId = newId("rg");
  const select = h("select", { id: selectId, on: { change: () => refresh() } });
  const picker = h("div", { class: "rg-picker", hidden: true },
    h("label", { for: selectId, text: "Resource group" }), select);
  const grid = h("div", { class: "stats" }, h("p", { class: "muted", text: "Loading resource statistics…" }));
  const note = h("p", { class: "muted stats-note", role: "status" });
  const el = h("section", { class: "resource-stats", role: "region", "aria-label": "Resource statistics" },
    h("h2", { class: "visually-hidden", text: "Resource statistics" }), picker, grid, note);
  let slots = null;
  let groups = null;
  let busy = null;

  async function loadOnce() {
    if (!slots) {
      const known = await api.request("GET", "/config/resource-slots");
      slots = Object.keys(known || {});
    }
    if (!groups) {
      try {
        const answer = await api.request("GET", "/scaling-groups", { query: { group: PROJECT } });
        groups = (answer.scaling_groups || []).map((g) => g.name);
      } catch {
        groups = []; // check-presets names the allowed groups too
      }
    }
  }

  function fillPicker(names) {
    const current = select.value;
    if (select.options.length !== names.length || names.some((n, i) => select.options[i].value !== n)) {
      clear(select, names.map((n) => h("option", { value: n, text: n })));
      if (names.includes(current)) select.value = current;
    }
    picker.hidden = names.length < 2;
  }

  async function load() {
    await loadOnce();
    const [presets, mine] = await Promise.all([
      api.request("POST", "/resource/check-presets", { json: { group: PROJECT } }),
      api.gql(MINE, { ak: ctx.user.access_key || null, limit: 1000 }),
    ]);
    const names = groups.length ? groups : Object.keys(presets.scaling_groups || {});
    fillPicker(names);
    const group = select.value || names[0] || "";
    draw(presets, mine, group);
  }

  function draw(presets, mine, group) {
    const perGroup = (presets.scaling_groups || {})[group] || { using: {}, remaining: {} };
    const groupRemaining = perGroup.remaining || {};
    const groupCapacity = (slot) => num((perGroup.using || {})[slot]) + num(groupRemaining[slot]);
    const allocatedHere = {};
    for (const s of mine.compute_session_list.items) {
      if (s.scaling_group !== group) continue;
      for (const [k, v] of Object.entries(parseJson(s.occupied_slots))) {
        allocatedHere[k] = (allocatedHere[k] || 0) + num(v);
      }
    }
    const shown = slots.filter((s) => ALWAYS_SHOWN.includes(s)
      || (OPTIONAL.includes(s) && groupCapacity(s) > 0));
    const cards = shown.map((slot) => {
      const held = allocatedHere[slot] || 0;
      const heldAll = num((presets.keypair_using || {})[slot]);
      const remaining = Math.min(num((presets.keypair_remaining || {})[slot]), num(groupRemaining[slot]));
      const upperTotal = held + remaining;
      const lowerTotal = heldAll + remaining;
      return statCard(slotLabel(slot), [
        { cls: "upper", part: held, whole: upperTotal,
          text: `${amount(slot, held)} of ${amount(slot, upperTotal)} in ${group || "this group"}` },
        { cls: "lower", part: heldAll, whole: lowerTotal,
          text: `${amount(slot, heldAll)} of ${amount(slot, lowerTotal)} in all` },
      ], `${amount(slot, held)} / ${amount(slot, upperTotal)}`);
    });
    const kp = mine.keypair;
    if (kp) {
      const limit = num(kp.concurrency_limit);
      const used = num(kp.concurrency_used);
      cards.push(statCard("Sessions", [
        { cls: "upper", part: used, whole: limit,
          text: limit > 0 ? `${used} of ${limit} concurrent sessions` : `${used} running, no limit` },
      ], limit > 0 ? `${used} / ${limit}` : formatNumber(used)));
    }
    clear(grid, cards);
    note.textContent = `Upper bar: what you hold in ${group || "the resource group"} against what you could hold there; `
      + "lower bar: what you hold everywhere against that plus what is still free to you in the group.";
  }

  function statCard(label, bars, summary) {
    return h("div", { class: "stat", dataset: { slot: label } },
      h("div", { class: "name" }, h("span", { text: label }), h("span", { class: "amount", text: summary })),
      bars.map((b) => {
        const fill = h("span", {});
        fill.style.width = `${pct(b.part, b.whole).toFixed(1)}%`;
        return [
          h("div", { class: `bar ${b.cls}`, role: "img", "aria-label": `${label}: ${b.text}` }, fill),
          h("small", { text: b.text }),
        ];
      }));
  }

  /** Reloads the numbers; resolves to null or the error (the old numbers stay shown). */
  async function refresh() {
    if (busy) return busy;
    busy = load().then(() => null, (e) => {
      if (!grid.querySelector(".stat")) clear(grid, h("p", { class: "muted", text: `Resource statistics unavailable: ${messageOf(e)}` }));
      return e;
    }).finally(() => { busy = null; });
    return busy;
  }

  return { el, refresh };
}
