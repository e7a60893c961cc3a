// "Dotfiles" of My account: files the agent writes into /home/work of each session I start
// (/user-config/dotfiles: POST/PATCH with JSON {path, data, permission}, DELETE ?path=).
import { request } from "../api.js";
import { clear, confirmDialog, errorBox, h, messageOf, table, toast } from "../dom.js";
import { checkedField, formDialog, validateAll } from "./admin_people_common.js";

const API = "/user-config/dotfiles";
// Kept in step with common/dotfiles.py: the platform writes these itself.
const RESERVED = [".ssh/authorized_keys", "id_container", "id_container.pub"];
const MAX_DATA = 64 * 1024;

export function pathProblem(path) {
  const p = path.trim();
  if (!p) return "Give the file's path in your home, e.g. .bashrc or .config/app.toml.";
  if (p.startsWith("/") && !p.startsWith("/home/work/")) return "An absolute path must be under /home/work/; or give it relative to the home (e.g. .bashrc).";
  if (p.split("/").includes("..")) return "The path may not contain '..'.";
  if (p.endsWith("/")) return "The path names a folder; add the file's name.";
  const rel = p.replace(/^\/home\/work\//, "");
  if (RESERVED.includes(rel) || rel.startsWith(".ssh/authorized_keys")) {
    return `${rel} is written by the platform; SSH keys go in the "SSH keys" section above.`;
  }
  if (rel.length > 255) return "The path is longer than 255 characters.";
  return null;
}

function permissionProblem(value) {
  return /^0?[0-7]{3}$/.test(value.trim()) ? null : "Give three octal digits, e.g. 644 (rw-r--r--) or 600 (private).";
}

function dataProblem(value) {
  return new TextEncoder().encode(value).length > MAX_DATA ? "The content is larger than 64 KiB (the limit of all your dotfiles together)." : null;
}

function editDialog(existing, onSaved) {
  const path = checkedField("Path", h("input", { type: "text", value: existing ? existing.path : "", readonly: !!existing,
    spellcheck: "false", placeholder: ".bashrc" }), "Relative to /home/work.");
  const permission = checkedField("Permission", h("input", { type: "text", value: existing ? existing.permission : "644",
    inputmode: "numeric", spellcheck: "false" }), "Octal, e.g. 644.");
  const content = checkedField("Content", h("textarea", { rows: 10, class: "mono", spellcheck: "false", value: existing ? existing.data : "" }));
  const { done } = formDialog({
    title: existing ? `Edit dotfile ${existing.path}` : "New dotfile",
    className: "wide",
    body: [path.el, permission.el, content.el],
    submitLabel: existing ? "SAVE" : "CREATE",
    async submit() {
      const ok = validateAll([[path, pathProblem], [permission, permissionProblem], [content, dataProblem]]);
      if (!ok) return false;
      await request(existing ? "PATCH" : "POST", API, { json: {
        path: path.control.value.trim(), permission: permission.control.value.trim(), data: content.control.value,
      } });
      return true;
    },
  });
  done.then((saved) => { if (saved) { toast(existing ? "Dotfile saved." : "Dotfile created.", "success"); onSaved(); } });
}

export async function renderDotfiles(card) {
  const body = h("div", {});
  const load = async () => {
    clear(body, h("p", { class: "loading", role: "status", text: "Loading…" }));
    let files;
    try {
      files = await request("GET", API);
    } catch (e) {
      clear(body, errorBox(e, load));
      return;
    }
    clear(body, table([
      { label: "Path", cell: (f) => h("code", { text: f.path }) },
      { label: "Permission", cell: (f) => f.permission },
      { label: "Size", cell: (f) => `${new TextEncoder().encode(f.data || "").length} B` },
      { label: "Actions", class: "actions", cell: (f) => [
        h("button", { type: "button", text: "Edit", "aria-label": `Edit ${f.path}`, on: { click: () => editDialog(f, load) } }),
        h("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${f.path}`, on: { click: async () => {
          if (!(await confirmDialog("Delete dotfile", `Delete the dotfile ${f.path}? Sessions started from now on will not have it.`, "DELETE", true))) return;
          try {
            await request("DELETE", API, { query: { path: f.path } });
            toast("Dotfile deleted.", "success");
            load();
          } catch (e) {
            toast(`The dotfile was not deleted: ${messageOf(e)}`, "error");
          }
        } } }),
      ] },
    ], files || [], { caption: "Your dotfiles", empty: "No dotfiles yet.", rowAttrs: (f) => ({ dataset: { dotfilePath: f.path } }) }));
  };
  clear(card, h("h2", { id: "dot-title", text: "Dotfiles" }),
    h("p", { class: "muted", text: "Files written into /home/work of every session you start (e.g. .bashrc, .vimrc)." }),
    h("div", { class: "toolbar" }, h("button", { type: "button", class: "primary", text: "New dotfile", on: { click: () => editDialog(null, load) } })),
    body);
  await load();
}
