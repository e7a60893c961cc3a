// "Resource policies" (admins): keypair resource policies. The server answers the whole list
// (keypair_resource_policies has no limit/offset; there are few policies), so the page
// shows it in pages of its own. Create/edit/delete through GraphQL; a delete the server
// refuses (a keypair still uses the policy) is shown with the server's reason.
import { gql } from "../api.js";
import { clear, confirmDialog, errorBox, formatBytes, formatDuration, formatSlots, h, messageOf, pager, parseBytes, table, toast } from "../dom.js";
import { checked, checkedField, formDialog, select, validateAll } from "./admin_people_common.js";

const PAGE_SIZE = 20;
const FIELDS = `name default_for_unspecified total_resource_slots max_session_lifetime max_concurrent_sessions
  max_pending_session_count max_containers_per_session max_vfolder_count max_vfolder_size idle_timeout allowed_vfolder_hosts`;

function slotsOf(p) {
  try {
    return typeof p.total_resource_slots === "string" ? JSON.parse(p.total_resource_slots) : p.total_resource_slots || {};
  } catch {
    return {};
  }
}

export async function render(root) {
  const state = { page: 0 };
  const content = h("div", {});
  root.append(h("h1", { text: "Resource policies" }),
    h("div", { class: "toolbar" }, h("button", { type: "button", class: "primary", text: "New resource policy",
      on: { click: () => editPolicy(null, load) } })),
    content);
  async function load() {
    clear(content, h("p", { class: "loading", role: "status", text: "Loading…" }));
    let all;
    try {
      all = (await gql(`query { keypair_resource_policies { ${FIELDS} } }`)).keypair_resource_policies;
    } catch (e) {
      clear(content, errorBox(e, load));
      return;
    }
    state.page = Math.min(state.page, Math.max(0, Math.ceil(all.length / PAGE_SIZE) - 1));
    const rows = all.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    const limit = (n) => (Number(n) ? String(n) : "∞");
    clear(content,
      table([
        { label: "Name", cell: (p) => p.name },
        { label: "Total resources", cell: (p) => `${formatSlots(slotsOf(p))}${p.default_for_unspecified === "UNLIMITED" ? " (others unlimited)" : ""}` },
        { label: "Sessions", cell: (p) => `${limit(p.max_concurrent_sessions)} running, ${limit(p.max_pending_session_count)} pending` },
        { label: "Containers per session", cell: (p) => String(p.max_containers_per_session) },
        { label: "Idle timeout", cell: (p) => (Number(p.idle_timeout) ? formatDuration(p.idle_timeout) : "none") },
        { label: "Folders", cell: (p) => `${Number(p.max_vfolder_count) ? `at most ${p.max_vfolder_count}` : "any number"}, ${Number(p.max_vfolder_size) ? `${formatBytes(p.max_vfolder_size)} each` : "any size"}` },
        { label: "Folder hosts", cell: (p) => (p.allowed_vfolder_hosts || []).join(", ") || "none" },
        { label: "Actions", class: "actions", cell: (p) => [
          h("button", { type: "button", text: "Edit", "aria-label": `Edit ${p.name}`, on: { click: () => editPolicy(p, load) } }),
          h("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${p.name}`, on: { click: () => deletePolicy(p, load) } }),
        ] },
      ], rows, { caption: "Keypair resource policies", empty: "No resource policies.",
        rowAttrs: (p) => ({ dataset: { policyName: p.name } }) }),
      pager({ page: state.page, pageSize: PAGE_SIZE, total: all.length, label: "Policy pages",
        onPage: (n) => { state.page = n; load(); } }));
  }
  await load();
}

async function deletePolicy(p, reload) {
  if (!(await confirmDialog("Delete resource policy", `Delete the resource policy ${p.name}?`, "DELETE", true))) return;
  try {
    const data = await gql("mutation($name: String!) { delete_keypair_resource_policy(name: $name) { ok msg } }", { name: p.name });
    checked(data.delete_keypair_resource_policy, "Deleting the policy");
    toast(`Resource policy ${p.name} deleted.`, "success");
    reload();
  } catch (e) {
    toast(`The policy ${p.name} was not deleted: ${messageOf(e)}`, "error", 15000);
  }
}

/** Bytes as an exact size text for an input ("16g", "512m", else the byte count). */
function sizeText(bytes) {
  const n = Number(bytes);
  for (const [unit, power] of [["t", 4], ["g", 3], ["m", 2], ["k", 1]]) {
    if (n && n % 1024 ** power === 0) return `${n / 1024 ** power}${unit}`;
  }
  return String(n || 0);
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const wholeRule = (what, min = 0) => (v) => (/^\d+$/.test(v.trim()) && Number(v) >= min ? null : `Give ${what} as a whole number${min ? ` of at least ${min}` : ""} (0 means no limit).`);

/** "cuda.device=1, cuda.shares=0.5" -> {..}; throws a message for a bad entry. */
function parseOtherSlots(text) {
  const out = {};
  for (const part of text.split(",").map((x) => x.trim()).filter(Boolean)) {
    const m = /^([a-z][a-z0-9_.-]*)\s*=\s*([0-9]*\.?[0-9]+[kmgtp]?)$/i.exec(part);
    if (!m) throw new Error(`"${part}" is not NAME=AMOUNT (e.g. cuda.device=1).`);
    out[m[1]] = m[2];
  }
  return out;
}

function editPolicy(p, reload) {
  const slots = p ? { ...slotsOf(p) } : {};
  const cpu = slots.cpu; const mem = slots.mem;
  delete slots.cpu; delete slots.mem;
  const num = (v, d) => h("input", { type: "text", inputmode: "numeric", value: String(v ?? d) });
  const name = checkedField("Name", h("input", { type: "text", value: p ? p.name : "", readonly: !!p, spellcheck: "false" }));
  const cpuF = checkedField("CPU (cores)", h("input", { type: "text", inputmode: "decimal", value: cpu ?? "" }), "Empty: as the next setting says.");
  const memF = checkedField("RAM", h("input", { type: "text", value: mem ? sizeText(mem) : "" }), "e.g. 16g; empty: as the next setting says.");
  const other = checkedField("Other slots", h("input", { type: "text", spellcheck: "false",
    value: Object.entries(slots).map(([k, v]) => `${k}=${v}`).join(", ") }), "e.g. cuda.device=1, cuda.shares=0.5");
  const unspecified = checkedField("Slots not listed", select([["UNLIMITED", "unlimited"], ["LIMITED", "not allowed (0)"]], p ? p.default_for_unspecified : "UNLIMITED"));
  const maxSessions = checkedField("Max concurrent sessions", num(p && p.max_concurrent_sessions, 30));
  const maxPending = checkedField("Max pending sessions", num(p && p.max_pending_session_count, 0), "Sessions that may wait in the queue; 0: no limit.");
  const maxContainers = checkedField("Max containers per session", num(p && p.max_containers_per_session, 1));
  const idle = checkedField("Idle timeout (seconds)", num(p && p.idle_timeout, 0), "0: never terminated for idleness.");
  const lifetime = checkedField("Max session lifetime (seconds)", num(p && p.max_session_lifetime, 0), "0: no limit.");
  const vfCount = checkedField("Max folder count", num(p && p.max_vfolder_count, 10));
  const vfSize = checkedField("Max folder size", h("input", { type: "text",
    value: p ? sizeText(p.max_vfolder_size) : "0" }), "e.g. 10g; 0: no limit.");
  const hosts = checkedField("Allowed folder hosts", h("input", { type: "text", spellcheck: "false",
    value: p ? (p.allowed_vfolder_hosts || []).join(", ") : "" }), "Comma-separated: HOST (all permissions) or HOST:PERM+PERM.");
  const { done } = formDialog({
    title: p ? `Edit resource policy ${p.name}` : "New resource policy", className: "wide", submitLabel: p ? "SAVE" : "CREATE",
    body: [name.el, h("fieldset", {}, h("legend", { text: "Total resources of a keypair" }),
      h("div", { class: "grid2" }, cpuF.el, memF.el), other.el, unspecified.el),
    h("div", { class: "grid2" }, maxSessions.el, maxPending.el, maxContainers.el, idle.el, lifetime.el, vfCount.el, vfSize.el), hosts.el],
    async submit() {
      const ok = validateAll([
        [name, (v) => (NAME_RE.test(v.trim()) ? null : "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.")],
        [cpuF, (v) => (!v.trim() || (/^\d*\.?\d+$/.test(v.trim())) ? null : "Give a number of cores (e.g. 4 or 0.5), or leave it empty.")],
        [memF, (v) => (!v.trim() || Number.isFinite(parseBytes(v)) ? null : "Give a size like 16g or 512m, or leave it empty.")],
        [other, (v) => { try { parseOtherSlots(v); return null; } catch (e) { return e.message; } }],
        [maxSessions, wholeRule("the session count")], [maxPending, wholeRule("the pending count")],
        [maxContainers, wholeRule("the container count", 1)], [idle, wholeRule("the timeout")],
        [lifetime, wholeRule("the lifetime")], [vfCount, wholeRule("the folder count")],
        [vfSize, (v) => (Number.isFinite(parseBytes(v)) ? null : "Give a size like 10g, or 0 for no limit.")],
      ]);
      if (!ok) return false;
      const total = parseOtherSlots(other.control.value);
      if (cpuF.control.value.trim()) total.cpu = cpuF.control.value.trim();
      if (memF.control.value.trim()) total.mem = String(parseBytes(memF.control.value));
      const props = {
        default_for_unspecified: unspecified.control.value, total_resource_slots: JSON.stringify(total),
        max_concurrent_sessions: Number(maxSessions.control.value), max_pending_session_count: Number(maxPending.control.value),
        max_containers_per_session: Number(maxContainers.control.value), idle_timeout: Number(idle.control.value),
        max_session_lifetime: Number(lifetime.control.value), max_vfolder_count: Number(vfCount.control.value),
        max_vfolder_size: parseBytes(vfSize.control.value),
        allowed_vfolder_hosts: hosts.control.value.split(",").map((x) => x.trim()).filter(Boolean),
      };
      const op = p ? "modify_keypair_resource_policy" : "create_keypair_resource_policy";
      const input = p ? "ModifyKeyPairResourcePolicyInput" : "CreateKeyPairResourcePolicyInput";
      const data = await gql(`mutation($name: String!, $props: ${input}!) { ${op}(name: $name, props: $props) { ok msg } }`,
        { name: name.control.value.trim(), props });
      checked(data[op], p ? "Changing the policy" : "Creating the policy");
      return true;
    },
  });
  done.then((saved) => { if (saved) { toast(p ? `Resource policy ${p.name} saved.` : "Resource policy created.", "success"); reload(); } });
}
