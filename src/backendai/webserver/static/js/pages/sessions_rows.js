// The cells of one row of the Sessions page's table, built from a compute_session_list item.
// Every value a user or a server supplied (names, images, reasons) lands as text.
import { formatBytes, formatDuration, formatNumber, formatSlot, formatTime, h, slotLabel } from "../dom.js";

export function parseJson(value, fallback = {}) {
  if (value === null || value === undefined) return fallback;
  if (typeof value !== "string") return value;
  try { return JSON.parse(value) ?? fallback; } catch { return fallback; }
}

/** "registry/ns/python-jupyter:3.11-ubuntu" -> {name: "python-jupyter", tag: "3.11-ubuntu"}. */
export function readableImage(image) {
  const text = String(image || "");
  const slash = text.lastIndexOf("/");
  const last = text.slice(slash + 1);
  const colon = last.indexOf(":");
  const name = colon >= 0 ? last.slice(0, colon) : last;
  const tag = colon >= 0 ? last.slice(colon + 1) : "";
  return { name: name || text, tag, prefix: slash >= 0 ? text.slice(0, slash) : "" };
}

export function environmentCell(s) {
  const img = readableImage(s.image);
  return h("div", { class: "env", title: s.image },
    h("span", { class: "env-name", text: img.name }),
    img.tag ? h("span", { class: "badge env-tag", text: img.tag }) : null,
    img.prefix ? h("small", { class: "muted env-prefix", text: img.prefix }) : null);
}

function slotsOf(s) {
  const occupied = parseJson(s.occupied_slots);
  const hasAny = Object.values(occupied).some((v) => Number(v) > 0);
  // A session that holds nothing yet (PENDING) shows what it asked for.
  return hasAny ? occupied : parseJson(s.requested_slots);
}

const SLOT_ORDER = ["cpu", "mem", "cuda.device", "cuda.shares"];
export function allocatedCell(s) {
  const slots = slotsOf(s);
  const names = Object.keys(slots)
    .filter((k) => Number(slots[k]) > 0)
    .sort((a, b) => (SLOT_ORDER.indexOf(a) + 1 || 99) - (SLOT_ORDER.indexOf(b) + 1 || 99));
  if (!names.length) return h("span", { class: "muted", text: "-" });
  return h("ul", { class: "slots" },
    names.map((k) => h("li", { dataset: { slot: k }, text: `${formatSlot(k, slots[k])} ${slotLabel(k)}` })));
}

const ENDED = new Set(["TERMINATED", "CANCELLED", "ERROR"]);

function metric(stat, key) {
  const m = stat && stat[key];
  if (!m || typeof m !== "object") return null;
  const n = Number(m.current);
  if (m.current === null || m.current === undefined || !Number.isFinite(n)) return null;
  const capacity = Number(m.capacity);
  const peak = Number(m["stats.max"]);
  return {
    current: n,
    capacity: m.capacity != null && Number.isFinite(capacity) ? capacity : null,
    peak: m["stats.max"] != null && Number.isFinite(peak) ? peak : null,
  };
}

function cpuTimeText(msec) {
  const seconds = msec / 1000;
  return `CPU time ${seconds < 60 ? `${formatNumber(seconds, 2)} s` : formatDuration(seconds)}`;
}

/**
 * Used resources from the kernels' live_stat (the agent's last_stat shape, refreshed by each
 * heartbeat: cpu_used in msec of CPU time, cpu_util in percent of one core, mem in bytes).
 * A running session shows its CPU % and memory against its limit; an ended one its CPU time
 * and peak memory. Without cpu_util (an agent that does not send it) the % comes from two
 * readings of cpu_used: `previous` keeps the last one per kernel id across refreshes.
 */
export function usedCell(s, previous, now = Date.now()) {
  const ended = ENDED.has(s.status);
  let cpuMsec = null, cpuPct = null, mem = null, memCap = 0, peak = null;
  for (const c of s.containers || []) {
    const stat = parseJson(c.live_stat, null);
    if (!stat) continue;
    const cpu = metric(stat, "cpu_used");
    const util = metric(stat, "cpu_util");
    const m = metric(stat, "mem");
    if (util) cpuPct = (cpuPct ?? 0) + util.current;
    if (cpu) {
      cpuMsec = (cpuMsec ?? 0) + cpu.current;
      const before = previous.get(c.id);
      if (!util && before && now > before.at && cpu.current > before.msec) {
        cpuPct = (cpuPct ?? 0) + ((cpu.current - before.msec) / (now - before.at)) * 100;
      }
      if (!before || before.msec !== cpu.current) previous.set(c.id, { msec: cpu.current, at: now });
    }
    if (m) {
      mem = (mem ?? 0) + m.current;
      if (m.capacity) memCap += m.capacity;
      if (m.peak !== null) peak = (peak ?? 0) + m.peak;
    }
  }
  if (cpuMsec === null && cpuPct === null && mem === null) {
    return h("span", { class: "muted", text: "-", title: "No usage reported for this session yet." });
  }
  const lines = [];
  if (ended) {
    if (cpuMsec !== null) lines.push(h("li", { dataset: { metric: "cpu" }, text: cpuTimeText(cpuMsec) }));
    if (peak !== null || mem !== null) {
      lines.push(h("li", { dataset: { metric: "mem" },
        text: peak !== null ? `RAM peak ${formatBytes(peak)}` : `RAM ${formatBytes(mem)}` }));
    }
  } else {
    if (cpuPct !== null) lines.push(h("li", { dataset: { metric: "cpu" }, text: `CPU ${formatNumber(cpuPct, 1)} %` }));
    else if (cpuMsec !== null) lines.push(h("li", { dataset: { metric: "cpu" }, text: cpuTimeText(cpuMsec) }));
    if (mem !== null) {
      // The limit the kernels report, else what the session was allocated.
      const limit = memCap || Number(parseJson(s.occupied_slots).mem) || 0;
      lines.push(h("li", { dataset: { metric: "mem" },
        text: `RAM ${formatBytes(mem)}${limit > 0 ? ` of ${formatBytes(limit)}` : ""}` }));
    }
  }
  return h("ul", { class: "slots used" }, lines);
}

export function startCell(s, now = Date.now()) {
  const start = Date.parse(s.created_at);
  const end = s.terminated_at ? Date.parse(s.terminated_at) : (ENDED.has(s.status) ? Date.parse(s.status_changed) : now);
  const elapsed = Number.isFinite(start) && Number.isFinite(end) ? (end - start) / 1000 : null;
  return h("div", { class: "started" },
    h("time", { datetime: s.created_at || "", text: formatTime(s.created_at) }),
    elapsed === null ? null : h("small", { class: "muted elapsed", text: `${ENDED.has(s.status) ? "Ran" : s.status === "PENDING" ? "Waiting" : "Elapsed"} ${formatDuration(elapsed)}` }));
}

export function statusCell(s) {
  const parts = [h("span", { class: `badge status status-${s.status}`, text: s.status })];
  if (s.status === "PENDING") {
    // status_info folds the queue position and the estimated start into its line; the
    // scheduler's own record has the bare reason, and they are shown on lines of their own.
    const record = parseJson(s.status_data, {}).scheduler || {};
    const reason = typeof record.reason === "string" && record.reason ? record.reason : s.status_info;
    parts.push(h("div", { class: "pending-info" },
      reason ? h("div", { class: "reason", text: reason }) : null,
      s.queue_position ? h("div", { class: "queue", text: `Queue position ${s.queue_position}` }) : null,
      h("div", { class: "eta", text: s.estimated_start
        ? `Estimated start: ${formatTime(s.estimated_start)}`
        : "Estimated start: unknown" })));
  } else if (s.status_info) {
    parts.push(h("div", { class: "reason muted", text: s.status_info }));
  }
  if (s.result && s.result !== "UNDEFINED" && ENDED.has(s.status)) {
    parts.push(h("span", { class: `badge result status-${s.result}`, text: s.result }));
  }
  return h("div", { class: "status-cell" }, parts);
}

export function nameCell(s) {
  return h("div", { class: "session-name" },
    h("strong", { text: s.name }),
    s.type && s.type !== "INTERACTIVE" ? h("span", { class: "badge kind", text: s.type.toLowerCase() }) : null,
    s.scaling_group ? h("small", { class: "muted", text: s.scaling_group }) : null);
}

/** What decides whether a row must be rebuilt (the volatile cells are updated in place). */
export function signature(s) {
  return JSON.stringify([s.status, s.status_info, s.status_data, s.queue_position, s.estimated_start, s.result,
    s.occupied_slots, s.requested_slots, s.service_ports, s.terminated_at, s.image, s.user_email]);
}
