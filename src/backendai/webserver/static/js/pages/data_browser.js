// The folder browser: one folder's files and directories, with a breadcrumb path, new
// directories, renames, deletions, uploads (data_upload.js) and downloads (a hidden
// <a download> pointed at the relayed storage URL: the browser streams it to disk).

import { request, storageUrl } from "../api.js";
import {
  clear, confirmDialog, errorBox, field, formatBytes, formatTime, h, messageOf, openDialog,
  pager, sendFromDialog, table, toast,
} from "../dom.js";
import { joinPath } from "./data_upload.js";

const PAGE_SIZE = 100;

/** Why `name` cannot be one file's or directory's name, or null. */
export function entryNameProblem(name) {
  if (!name) return "Enter a name.";
  if (name.includes("/") || name.includes("\\")) return "A name cannot contain '/' or '\\': it names one entry of this directory.";
  if (name === "." || name === "..") return "'.' and '..' are not names; choose another.";
  if (name.length > 255) return "A name has at most 255 characters.";
  return null;
}

const ref = (folder) => encodeURIComponent(folder.id);

// Bounds on a dropped tree: the browser reads it all before the first byte is sent.
export const MAX_TREE_FILES = 10000;
const MAX_TREE_DEPTH = 32;

/** Files as uploads: {file, path}, the path relative to where they go ("dir/sub/a.txt"). */
export function picked(files) {
  return [...files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

/** The files under dropped FileSystemEntry objects, with their paths; bounded. */
export async function walkEntries(entries) {
  const out = [];
  const stack = entries.map((entry) => ({ entry, depth: 0 }));
  while (stack.length) {
    const { entry, depth } = stack.pop();
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, path: entry.fullPath.replace(/^\/+/, "") });
      if (out.length > MAX_TREE_FILES) throw new Error(`more than ${MAX_TREE_FILES} files; upload fewer at a time`);
    } else if (entry.isDirectory) {
      if (depth >= MAX_TREE_DEPTH) throw new Error(`directories nested deeper than ${MAX_TREE_DEPTH} levels`);
      const reader = entry.createReader();
      // readEntries answers in batches until an empty one.
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) stack.push({ entry: child, depth: depth + 1 });
      }
    }
  }
  return out;
}

/**
 * Renders the browser of `folder` into `root`; `uploads` is the page's Uploads queue,
 * `onBack()` returns to the folder list. Returns {folder, refresh(dir), focus()}.
 */
export function renderBrowser(root, folder, { uploads, onBack }) {
  let dir = ".";
  let page = 0;
  let items = [];
  const writable = folder.permission !== "ro";
  const crumbs = h("nav", { class: "breadcrumb", "aria-label": "Path" });
  const content = h("div", { class: "browser-content" },
    h("p", { class: "muted", role: "status", text: "Loading…" }));
  const fileInput = h("input", { type: "file", multiple: true, disabled: !writable,
    on: { change: () => { startUploads(picked(fileInput.files)); fileInput.value = ""; } } });
  // A directory with everything under it: each File carries its path (webkitRelativePath).
  const dirInput = h("input", { type: "file", webkitdirectory: true, disabled: !writable,
    on: { change: () => { startUploads(picked(dirInput.files)); dirInput.value = ""; } } });
  const drop = h("div", { class: "dropzone" },
    field("Upload files", fileInput, writable ? "Or drop files or directories on this area." : "This folder is read-only for you."),
    field("Upload a directory", dirInput, null));

  // Focus lands here when the folder opens (the "Open X" button that had it is hidden).
  const title = h("h2", { class: "browser-title", tabindex: "-1", text: `Folder ${folder.name}` });
  clear(root,
    h("div", { class: "toolbar" },
      h("button", { type: "button", text: "← Back to folders", on: { click: onBack } }),
      title,
      h("span", { class: "spacer" }),
      h("button", { type: "button", text: "New directory", disabled: !writable, on: { click: newDirectory } }),
      h("button", { type: "button", text: "Refresh", "aria-label": "Refresh files", on: { click: () => load() } })),
    crumbs, drop, content);

  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (!writable) { toast("This folder is read-only for you.", "error"); return; }
    // The entries must be taken before the first await: the drop's data is gone after it.
    const entries = [...(e.dataTransfer?.items || [])].map((it) => it.webkitGetAsEntry?.()).filter(Boolean);
    const plain = picked(e.dataTransfer?.files || []);
    try {
      const files = entries.length ? await walkEntries(entries) : plain;
      if (files.length) startUploads(files);
    } catch (err) {
      toast(`Nothing was uploaded: ${messageOf(err)}`, "error", 12000);
    }
  });

  // A file of the same name would be replaced: the user says so first. Known from the
  // listing shown (the first entries of a very large directory only); a directory that
  // exists already is uploaded into, which may replace files in it.
  let listedDir = null;
  async function startUploads(files) {
    if (!files.length) return;
    const at = dir;
    const existing = new Set(listedDir === at ? items.map((e) => e.name) : []);
    const clashes = [...new Set(files.map((f) => f.path.split("/")[0]))].filter((n) => existing.has(n));
    if (clashes.length) {
      const shown = clashes.length > 5 ? `${clashes.slice(0, 5).join(", ")} and ${clashes.length - 5} more` : clashes.join(", ");
      const ok = await confirmDialog("Replace files?",
        `${shown} already ${clashes.length === 1 ? "exists" : "exist"} here. Uploading replaces ${clashes.length === 1 ? "it" : "them"}.`,
        "REPLACE", true);
      if (!ok) {
        toast("Nothing was uploaded.", "info");
        return;
      }
    }
    uploads.add(folder, at, files);
  }

  function renderCrumbs() {
    const parts = dir === "." ? [] : dir.split("/");
    const nodes = [h("button", { type: "button", class: "link", text: folder.name,
      "aria-label": `Go to the top of ${folder.name}`, "aria-current": parts.length ? false : "location",
      on: { click: () => load(".") } })];
    parts.forEach((part, i) => {
      const to = parts.slice(0, i + 1).join("/");
      nodes.push(h("span", { class: "sep", "aria-hidden": "true", text: "/" }));
      nodes.push(h("button", { type: "button", class: "link", text: part, "aria-label": `Go to ${to}`,
        "aria-current": i === parts.length - 1 ? "location" : false, on: { click: () => load(to) } }));
    });
    clear(crumbs, nodes);
  }

  // Only the newest listing is shown: a slow answer for a directory the user already left
  // would otherwise list its entries under the new path (and Rename/Delete would act there).
  let loading = 0;
  async function load(to = dir, keepPage = false) {
    const previous = dir;
    dir = to;
    if (!keepPage || to !== previous) page = 0;
    loading += 1;
    const mine = loading;
    renderCrumbs();
    if (to !== previous) clear(content, h("p", { class: "muted", role: "status", text: "Loading…" }));
    try {
      const answer = await request("GET", `/folders/${ref(folder)}/files`, { query: { path: to } });
      if (mine !== loading) return;
      items = [...(answer.items || [])].sort((a, b) =>
        (a.type === "DIRECTORY" ? 0 : 1) - (b.type === "DIRECTORY" ? 0 : 1) || a.name.localeCompare(b.name));
      listedDir = to;
      renderItems(answer.truncated, to);
    } catch (e) {
      if (mine !== loading) return;
      clear(content, errorBox(e, () => load(to, true)));
    }
  }

  // `listed` is the directory these items came from: the actions act there, whatever `dir`
  // says by the time they are clicked.
  function renderItems(truncated, listed) {
    const shown = items.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    const columns = [
      { label: "Name", cell: (e) => (e.type === "DIRECTORY"
        ? h("button", { type: "button", class: "link", text: `${e.name}/`, "aria-label": `Open directory ${e.name}`,
          on: { click: () => load(joinPath(listed, e.name)) } })
        : h("span", { class: "file-name", text: e.name })) },
      { label: "Size", cell: (e) => (e.type === "DIRECTORY" ? "-" : formatBytes(e.size)) },
      { label: "Modified", cell: (e) => formatTime(e.modified) },
      { label: "Actions", class: "actions", cell: (e) => [
        e.type === "FILE" ? h("button", { type: "button", text: "Download", "aria-label": `Download ${e.name}`,
          on: { click: () => download(e, listed) } }) : null,
        writable ? h("button", { type: "button", text: "Rename", "aria-label": `Rename ${e.name}`,
          on: { click: () => renameEntry(e, listed) } }) : null,
        writable ? h("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${e.name}`,
          on: { click: () => deleteEntry(e, listed) } }) : null,
      ] },
    ];
    clear(content,
      truncated ? h("p", { class: "notice", text: "This directory holds more entries than one listing shows; only the first ones are here." }) : null,
      table(columns, shown, {
        caption: `Files in ${listed === "." ? folder.name : `${folder.name}/${listed}`}`,
        empty: "This directory is empty. Upload files or make a directory.",
        rowAttrs: (e) => ({ dataset: { fileName: e.name, fileType: e.type } }),
      }),
      items.length > PAGE_SIZE
        ? pager({ page, pageSize: PAGE_SIZE, total: items.length, label: "File pages",
          onPage: (p) => { page = p; renderItems(truncated, listed); } })
        : null);
  }

  async function download(entry, at) {
    try {
      const ticket = await request("POST", `/folders/${ref(folder)}/request-download`,
        { json: { path: joinPath(at, entry.name) } });
      const a = h("a", { href: storageUrl(ticket).toString(), download: entry.name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) {
      toast(`Downloading ${entry.name} failed: ${messageOf(e)}`, "error");
    }
  }

  function nameDialog({ title, label, initial, okLabel, act }) {
    const input = h("input", { type: "text", value: initial || "", autocomplete: "off", "aria-invalid": "false" });
    const message = h("p", { class: "field-error", role: "alert" });
    const body = h("div", {}, field(label, input), message);
    let busy = false;
    const dlg = openDialog({
      title, body, cancelValue: false,
      actions: [{ label: "Cancel", value: false }, { label: okLabel, value: true, class: "primary" }],
      onClose: async (ok) => {
        if (!ok) return true;
        if (busy) return false;
        const name = input.value.trim();
        const problem = entryNameProblem(name);
        if (problem) {
          message.textContent = problem;
          input.setAttribute("aria-invalid", "true");
          input.focus();
          return false;
        }
        busy = true;
        try {
          return await sendFromDialog(dlg.buttons, message, () => act(name));
        } finally {
          busy = false;
        }
      },
    });
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); dlg.buttons[1].click(); } });
    input.focus();
    input.select();
    return dlg.done;
  }

  /** Shows a change made in `at` unless the user went elsewhere meanwhile. */
  function reloadIfAt(at) {
    if (at === dir) load(dir, true);
  }

  async function newDirectory() {
    const at = dir;
    const ok = await nameDialog({
      title: "New directory", label: "Directory name", okLabel: "CREATE",
      act: (name) => request("POST", `/folders/${ref(folder)}/mkdir`,
        { json: { path: joinPath(at, name), parents: true, exist_ok: false } }),
    });
    if (ok) { toast("Directory created.", "success"); reloadIfAt(at); }
  }

  async function renameEntry(entry, at) {
    const ok = await nameDialog({
      title: `Rename ${entry.name}`, label: "New name", initial: entry.name, okLabel: "RENAME",
      act: (name) => request("POST", `/folders/${ref(folder)}/rename_file`,
        { json: { target_path: joinPath(at, entry.name), new_name: name } }),
    });
    if (ok) { toast("Renamed.", "success"); reloadIfAt(at); }
  }

  async function deleteEntry(entry, at) {
    const isDir = entry.type === "DIRECTORY";
    const ok = await confirmDialog(`Delete ${entry.name}`,
      isDir ? `Delete the directory "${entry.name}" and everything in it? This cannot be undone.`
        : `Delete the file "${entry.name}"? This cannot be undone.`, "DELETE", true);
    if (!ok) return;
    try {
      await request("DELETE", `/folders/${ref(folder)}/delete_files`,
        { json: { files: [joinPath(at, entry.name)], recursive: isDir } });
      toast(`${entry.name} deleted.`, "success");
      reloadIfAt(at);
    } catch (e) {
      toast(`Deleting ${entry.name} failed: ${messageOf(e)}`, "error");
    }
  }

  load(".");
  return {
    folder,
    refresh: reloadIfAt,
    focus() { title.focus(); },
  };
}
