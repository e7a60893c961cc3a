// Data & Storage: the user's virtual folders (own, shared with them, in the trash), their
// creation, renaming, deletion to the trash, restoring and purging; opening one shows the
// folder browser (data_browser.js); sharing and invitations are in data_share.js.

import { gql, request } from "../api.js";
import {
  clear, confirmDialog, errorBox, field, formatBytes, formatTime, h, messageOf, openDialog,
  pager, parseBytes, sendFromDialog, table, tabKeyTarget, toast,
} from "../dom.js";
import { renderBrowser } from "./data_browser.js";
import { invitationsSection, openShareDialog, permissionLabel, PERMISSIONS } from "./data_share.js";
import { Uploads } from "./data_upload.js";

const PAGE_SIZE = 50;
const INVITATION_POLL_MS = 20000;
// The server's rule (common/vfolders.py FOLDER_NAME): checked here before any request.
const FOLDER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function folderNameProblem(name) {
  if (!name) return "Enter a folder name.";
  if (name.length > 64) return `The name has ${name.length} characters; use at most 64.`;
  if (!FOLDER_NAME.test(name)) return "Use only letters, digits, '_', '-' and '.' (no spaces or slashes).";
  if (name === "." || name === "..") return "'.' and '..' are not folder names.";
  return null;
}

const TABS = [
  { id: "folders", label: "Folders", empty: "You have no folders yet. Make one with \"New folder\"." },
  { id: "shared", label: "Shared with me", empty: "Nobody shared a folder with you." },
  { id: "trash", label: "Trash", empty: "The trash is empty." },
];
const ref = (folder) => encodeURIComponent(folder.id);

export async function render(root, ctx) {
  // `loaded` stays false until the first list arrives: until then the panel says
  // "Loading…", not that the list is empty.
  const state = { tab: "folders", page: 0, folders: [], loaded: false };
  let browser = null;
  const uploads = new Uploads((folder, dir) => {
    if (browser && browser.folder.id === folder.id) browser.refresh(dir);
  });
  const invitations = invitationsSection(() => loadFolders());
  const tabButtons = TABS.map((t) => h("button", {
    type: "button", role: "tab", id: `data-tab-${t.id}`, "aria-controls": "data-tabpanel",
    text: t.label, on: { click: () => selectTab(t.id), keydown: tabKeys },
  }));
  const panel = h("div", { role: "tabpanel", id: "data-tabpanel", tabindex: "-1" });
  const listView = h("div", { class: "folder-list" },
    h("div", { class: "toolbar" },
      h("button", { type: "button", class: "primary", text: "New folder", on: { click: createFolder } }),
      h("button", { type: "button", text: "Refresh", "aria-label": "Refresh folders", on: { click: () => loadFolders() } }),
      h("span", { class: "spacer" }),
      h("span", { class: "muted usage-summary", "aria-live": "polite" })),
    invitations.section,
    h("div", { class: "tabs", role: "tablist", "aria-label": "Folder lists" }, tabButtons),
    panel);
  const browserView = h("div", { class: "folder-browser", hidden: true });
  root.append(h("h1", { text: "Data & Storage" }), listView, browserView, uploads.panel);

  function tabKeys(ev) {
    const next = tabKeyTarget(ev.key, TABS, TABS.find((t) => t.id === state.tab));
    if (!next) return;
    ev.preventDefault();
    selectTab(next.id);
    document.getElementById(`data-tab-${next.id}`).focus();
  }

  function selectTab(id) {
    const changedTrash = (id === "trash") !== (state.tab === "trash");
    state.tab = id;
    state.page = 0;
    for (const b of tabButtons) {
      const on = b.id === `data-tab-${id}`;
      b.setAttribute("aria-selected", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
    }
    panel.setAttribute("aria-labelledby", `data-tab-${id}`);
    // Trash and the other tabs are different lists: the old one is not shown while the new
    // one loads.
    if (changedTrash) { state.loaded = false; renderFolders(); loadFolders(); } else renderFolders();
  }

  let loading = 0;
  async function loadFolders() {
    loading += 1;
    const mine = loading;
    try {
      const found = await request("GET", "/folders", { query: { trash: state.tab === "trash" } });
      if (mine !== loading) return;
      state.folders = Array.isArray(found) ? found : [];
      state.loaded = true;
      renderFolders();
    } catch (e) {
      if (mine !== loading) return;
      clear(panel, errorBox(e, () => loadFolders()));
    }
  }

  function shown() {
    const all = state.folders;
    if (state.tab === "shared") return all.filter((f) => !f.is_owner);
    return all;
  }

  function ownerCell(f) {
    if (f.is_owner) return h("span", { text: "You" });
    const who = f.type === "group" ? `group ${f.group_name || f.group}` : f.user_email || "another user";
    return h("span", {}, h("span", { class: "badge shared", text: "Shared" }), " ", who);
  }

  function usageCell(f) {
    const parts = [];
    if (f.used_bytes !== undefined && f.used_bytes !== null) parts.push(formatBytes(f.used_bytes));
    if (f.num_files !== undefined && f.num_files !== null) parts.push(`${f.num_files} files`);
    if (f.quota) parts.push(`quota ${formatBytes(f.quota)}`);
    return parts.length ? parts.join(" · ") : "-";
  }

  function renderFolders() {
    if (!state.loaded) {
      clear(panel, h("p", { class: "muted", role: "status", text: "Loading…" }));
      return;
    }
    const rows = shown();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    if (state.page >= pages) state.page = pages - 1;
    const slice = rows.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    const trash = state.tab === "trash";
    const columns = [
      { label: "Name", cell: (f) => (trash
        ? h("span", { class: "folder-name", text: f.name })
        : h("button", { type: "button", class: "link folder-name", text: f.name, "aria-label": `Open ${f.name}`,
          on: { click: () => openFolder(f) } })) },
      { label: "Host", cell: (f) => f.host },
      { label: "Type", cell: (f) => (f.type === "group" ? `Group (${f.group_name || "-"})` : "User") },
      { label: "Permission", cell: (f) => permissionLabel(f.permission) },
      { label: "Owner", cell: ownerCell },
      { label: "Usage", cell: usageCell },
      { label: trash ? "Deleted" : "Status", cell: (f) => (trash ? formatTime(f.trashed_at)
        : h("span", { class: `badge folder-status-${f.status}`, text: f.status || "-" })) },
      { label: "Actions", class: "actions", cell: (f) => (trash ? trashActions(f) : folderActions(f)) },
    ];
    clear(panel,
      table(columns, slice, {
        caption: TABS.find((t) => t.id === state.tab).label,
        empty: TABS.find((t) => t.id === state.tab).empty,
        rowAttrs: (f) => ({ dataset: { folderName: f.name, folderId: f.id } }),
      }),
      rows.length > PAGE_SIZE
        ? pager({ page: state.page, pageSize: PAGE_SIZE, total: rows.length, label: "Folder pages",
          onPage: (p) => { state.page = p; renderFolders(); } })
        : null);
  }

  function folderActions(f) {
    const manage = f.is_owner || ctx.isAdmin;
    return [
      manage ? h("button", { type: "button", text: "Rename", "aria-label": `Rename ${f.name}`, on: { click: () => renameFolder(f) } }) : null,
      manage ? h("button", { type: "button", text: "Share", "aria-label": `Share ${f.name}`, on: { click: () => shareFolder(f) } }) : null,
      manage ? h("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${f.name}`, on: { click: () => deleteFolder(f) } })
        : h("button", { type: "button", text: "Leave", "aria-label": `Leave ${f.name}`, on: { click: () => leaveFolder(f) } }),
    ];
  }

  function trashActions(f) {
    return [
      h("button", { type: "button", text: "Restore", "aria-label": `Restore ${f.name}`, on: { click: () => restoreFolder(f) } }),
      h("button", { type: "button", class: "danger", text: "Delete forever", "aria-label": `Delete ${f.name} forever`,
        on: { click: () => purgeFolder(f) } }),
    ];
  }

  // --- actions ----------------------------------------------------------------------

  async function act(what, fn, success) {
    try {
      await fn();
      if (success) toast(success, "success");
      await loadFolders();
      return true;
    } catch (e) {
      toast(`${what} failed: ${messageOf(e)}`, "error");
      return false;
    }
  }

  /** A dialog whose OK validates first (message next to the field) and then sends. */
  function formDialog({ title, body, okLabel, validate, send, focus }) {
    const message = h("p", { class: "form-message", role: "alert" });
    let busy = false;
    const dlg = openDialog({
      title, body: h("div", {}, body, message), cancelValue: false,
      actions: [{ label: "Cancel", value: false }, { label: okLabel, value: true, class: "primary" }],
      onClose: async (ok) => {
        if (!ok) return true;
        if (busy) return false;
        message.textContent = "";
        if (!validate()) return false;
        busy = true;
        try {
          return await sendFromDialog(dlg.buttons, message, send);
        } finally {
          busy = false;
        }
      },
    });
    body.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.target.tagName === "INPUT") { e.preventDefault(); dlg.buttons[1].click(); }
    });
    if (focus) focus.focus();
    return dlg.done;
  }

  function checkedName(input, error) {
    const problem = folderNameProblem(input.value.trim());
    error.textContent = problem || "";
    input.setAttribute("aria-invalid", problem ? "true" : "false");
    if (problem) input.focus();
    return !problem;
  }

  async function createFolder() {
    const name = h("input", { type: "text", autocomplete: "off", maxlength: "64", "aria-invalid": "false" });
    const nameError = h("p", { class: "field-error", id: "new-folder-name-error" });
    name.setAttribute("aria-errormessage", nameError.id);
    const host = h("select", {}, h("option", { value: "", text: "Loading…" }));
    const type = h("select", {}, h("option", { value: "user", text: "User (only you, and whom you share it with)" }),
      ctx.isAdmin ? h("option", { value: "group", text: "Group (the members of a group)" }) : null);
    const group = h("select", {});
    const groupField = field("Group", group);
    groupField.hidden = true;
    const permission = h("select", {}, PERMISSIONS.map(([v, label]) => h("option", { value: v, text: `${label} (${v})` })));
    const quota = h("input", { type: "text", autocomplete: "off", placeholder: "e.g. 10g", "aria-invalid": "false" });
    const quotaError = h("p", { class: "field-error" });
    type.addEventListener("change", () => { groupField.hidden = type.value !== "group"; });
    const body = h("div", {},
      field("Folder name", name, "1 to 64 letters, digits, '_', '-' or '.'."), nameError,
      field("Host", host), field("Type", type), groupField,
      field("Permission", permission, "For a group folder: what its members may do."),
      field("Quota", quota, "Optional: the most the folder may hold, like 500m or 10g."), quotaError);
    loadHosts(host);
    if (ctx.isAdmin) loadGroups(group);
    const done = await formDialog({
      title: "Create a new folder", body, okLabel: "CREATE", focus: name,
      validate: () => {
        let ok = checkedName(name, nameError);
        const q = quota.value.trim();
        const bad = q && !(parseBytes(q) >= 0);
        quotaError.textContent = bad ? "Write a size like 500m, 10g or a number of bytes." : "";
        quota.setAttribute("aria-invalid", bad ? "true" : "false");
        if (bad) ok = false;
        if (type.value === "group" && !group.value) { ok = false; quotaError.textContent = "Choose the group the folder belongs to."; }
        return ok;
      },
      send: () => request("POST", "/folders", { json: {
        name: name.value.trim(), host: host.value || undefined, permission: permission.value,
        quota: quota.value.trim() || undefined, group: type.value === "group" ? group.value : undefined,
      } }),
    });
    if (done) {
      toast(`Folder ${name.value.trim()} created.`, "success");
      if (state.tab !== "folders") selectTab("folders"); else loadFolders();
    }
  }

  async function loadHosts(select) {
    try {
      const hosts = await request("GET", "/folders/_/hosts");
      const allowed = hosts.allowed || [];
      clear(select, allowed.map((name) => {
        const usage = hosts.volume_info?.[name]?.usage;
        const free = usage && usage.capacity_bytes ? ` (${formatBytes(usage.capacity_bytes - usage.used_bytes)} free)` : "";
        return h("option", { value: name, text: `${name}${free}`, selected: name === hosts.default });
      }));
      if (!allowed.length) clear(select, h("option", { value: "", text: "No host allows you to create folders" }));
    } catch (e) {
      clear(select, h("option", { value: "", text: `Default host (the list failed: ${messageOf(e)})` }));
    }
  }

  async function loadGroups(select) {
    try {
      const data = await gql("query { user { groups { id name } } }");
      const groups = data.user?.groups || [];
      clear(select, groups.map((g) => h("option", { value: g.id, text: g.name })));
    } catch (e) {
      clear(select, h("option", { value: "", text: `Groups could not be loaded: ${messageOf(e)}` }));
    }
  }

  async function renameFolder(f) {
    const name = h("input", { type: "text", autocomplete: "off", value: f.name, maxlength: "64", "aria-invalid": "false" });
    const nameError = h("p", { class: "field-error" });
    const ok = await formDialog({
      title: `Rename ${f.name}`, body: h("div", {}, field("New name", name, "1 to 64 letters, digits, '_', '-' or '.'."), nameError),
      okLabel: "RENAME", focus: name,
      validate: () => {
        if (!checkedName(name, nameError)) return false;
        if (name.value.trim() === f.name) { nameError.textContent = "That is its name already; type a new one."; return false; }
        return true;
      },
      send: () => request("POST", `/folders/${ref(f)}/rename`, { json: { new_name: name.value.trim() } }),
    });
    if (ok) { toast(`Renamed ${f.name} to ${name.value.trim()}.`, "success"); loadFolders(); }
  }

  async function shareFolder(f) {
    await openShareDialog(f);
  }

  async function deleteFolder(f) {
    const ok = await confirmDialog(`Delete ${f.name}`,
      `Move the folder "${f.name}" to the trash? You can restore it from the Trash tab until it is deleted forever.`, "DELETE", true);
    if (ok) await act(`Deleting ${f.name}`, () => request("DELETE", `/folders/${ref(f)}`), `${f.name} moved to the trash.`);
  }

  async function leaveFolder(f) {
    const ok = await confirmDialog(`Leave ${f.name}`, `Stop using the folder "${f.name}" that ${f.user_email || "another user"} shared with you?`, "LEAVE", true);
    if (ok) await act(`Leaving ${f.name}`, () => request("POST", `/folders/${ref(f)}/leave`), `You left ${f.name}.`);
  }

  async function restoreFolder(f) {
    await act(`Restoring ${f.name}`, () => request("POST", `/folders/${ref(f)}/restore`), `${f.name} restored.`);
  }

  async function purgeFolder(f) {
    const ok = await confirmDialog(`Delete ${f.name} forever`,
      `Delete the folder "${f.name}" and all its files forever? This cannot be undone.`, "DELETE FOREVER", true);
    if (ok) await act(`Deleting ${f.name} forever`, () => request("DELETE", `/folders/${ref(f)}/purge`), `${f.name} deleted forever.`);
  }

  function openFolder(f) {
    listView.hidden = true;
    browserView.hidden = false;
    browser = renderBrowser(browserView, f, { uploads, onBack: closeFolder });
    browser.focus();
  }

  function closeFolder() {
    const was = browser && browser.folder;
    browser = null;
    clear(browserView);
    browserView.hidden = true;
    listView.hidden = false;
    // The list shows the usage last measured; asking for the folder's info measures it anew,
    // so what the user just uploaded or deleted shows.
    const measured = was ? request("GET", `/folders/${ref(was)}`).catch(() => null) : Promise.resolve();
    measured.then(() => loadFolders()).then(() => {
      const again = was && panel.querySelector(`button[aria-label="${CSS.escape(`Open ${was.name}`)}"]`);
      if (again) again.focus();
    });
  }

  // Leaving the page with uploads running asks first when the tab closes; moving to another
  // page of the UI cancels them (their panel goes with the page).
  const beforeUnload = (ev) => { if (uploads.active) { ev.preventDefault(); ev.returnValue = ""; } };
  window.addEventListener("beforeunload", beforeUnload);
  const poll = setInterval(() => { if (!document.hidden) invitations.load(); }, INVITATION_POLL_MS);

  selectTab("folders");
  invitations.load();
  await loadFolders();
  if (ctx.params && ctx.params.get("folder")) {
    const wanted = state.folders.find((f) => f.name === ctx.params.get("folder"));
    if (wanted) openFolder(wanted);
  }

  return () => {
    clearInterval(poll);
    window.removeEventListener("beforeunload", beforeUnload);
    uploads.cancelAll();
  };
}
