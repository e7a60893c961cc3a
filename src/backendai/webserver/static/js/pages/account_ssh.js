// "SSH keys" of My account: the public keys that may log in to my sessions through sshd.
//
// Where they live: sshd in a session reads `~/.ssh/authorized_keys` (agent/runner/sshd.py),
// and `.ssh/authorized_keys` is a path the dotfile API refuses (common/dotfiles.py RESERVED:
// the platform writes the per-session key there). What outlives a session is the owner's
// `.ssh` virtual folder: every session mounts the owner's dot-folders at /home/work/.ssh, and
// the agent makes it fit for sshd (0700, authorized_keys 0600) before it mounts it
// (agent/vfolder_mounts.py). So the keys are the file `authorized_keys` of my `.ssh` folder,
// read and written through the storage like any file (the folder is made on the first key).
// Comment lines are kept as they are; every other line (option-prefixed keys, lines this page
// cannot read) is listed and can be removed.
import { request, storageUrl } from "../api.js";
import { clear, confirmDialog, errorBox, h, messageOf, table, toast } from "../dom.js";
import { checkedField } from "./admin_people_common.js";

const FOLDER = ".ssh";
const FILE = "authorized_keys";
const KEY_TYPES = [
  "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
];

/** Why `text` is not one OpenSSH public key line, or null when it is. */
export function publicKeyProblem(text) {
  const line = text.trim();
  const example = "ssh-ed25519 AAAAC3Nza... you@laptop";
  if (!line) return `Paste a public key (the contents of ~/.ssh/id_ed25519.pub), e.g. ${example}.`;
  if (/[\r\n]/.test(line)) return "Paste one key on one line; add further keys one at a time.";
  if (/PRIVATE KEY/.test(line)) return "This is a private key: never share it. Paste the .pub file's line instead.";
  const [type, blob] = line.split(/\s+/);
  if (!KEY_TYPES.includes(type)) return `The key must start with its type (${KEY_TYPES.slice(0, 3).join(", ")}, ...), e.g. ${example}.`;
  if (!blob || !/^[A-Za-z0-9+/]+={0,3}$/.test(blob)) return "After the type comes the key in base64 (AAAA...); it is missing or has characters that do not belong.";
  let raw;
  try { raw = atob(blob); } catch { return "The key's base64 part is damaged; copy the whole line again."; }
  const len = raw.length >= 4 ? ((raw.charCodeAt(0) << 24) | (raw.charCodeAt(1) << 16) | (raw.charCodeAt(2) << 8) | raw.charCodeAt(3)) : -1;
  if (len <= 0 || raw.slice(4, 4 + len) !== type) return `The key's data does not belong to a ${type} key; copy the whole line again.`;
  return null;
}

/** `line` split where its options (`from="a b",no-pty`: quotes may hold spaces) end. */
function splitOptions(line) {
  let quoted = false;
  let i = 0;
  for (; i < line.length; i += 1) {
    const c = line[i];
    if (c === "\\" && quoted) i += 1;
    else if (c === "\"") quoted = !quoted;
    else if (!quoted && /\s/.test(c)) break;
  }
  return [line.slice(0, i), line.slice(i).trim()];
}

/**
 * What sshd could read in one authorized_keys line: {options, type, blob, comment, valid},
 * or null for a blank or comment line. Every other line is an entry, even one that is not
 * a key we know: what code in a session wrote there must be visible and removable.
 */
export function parseKeyLine(line) {
  const text = line.trim();
  if (!text || text.startsWith("#")) return null;
  let options = "";
  let rest = text;
  if (!KEY_TYPES.includes(text.split(/\s+/)[0])) [options, rest] = splitOptions(text);
  const parts = rest ? rest.split(/\s+/) : [];
  const type = parts[0] || "";
  const blob = parts[1] || "";
  const valid = KEY_TYPES.includes(type) && publicKeyProblem(`${type} ${blob}`) === null;
  return { options, type, blob, comment: parts.slice(2).join(" "), valid };
}

async function findFolder() {
  const folders = await request("GET", "/folders");
  return (folders || []).find((f) => f.name === FOLDER && f.is_owner && f.ownership_type === "user") || null;
}

async function readFile(folder) {
  let ticket;
  try {
    ticket = await request("POST", `/folders/${folder.id}/request-download`, { json: { path: FILE } });
  } catch (e) {
    if (e.status === 404) return "";
    throw e;
  }
  const resp = await fetch(storageUrl(ticket), { credentials: "same-origin" });
  if (resp.status === 404) return "";
  if (!resp.ok) throw new Error(`The storage answered ${resp.status} reading ${FOLDER}/${FILE}.`);
  return resp.text();
}

async function writeFile(folder, text) {
  const bytes = new TextEncoder().encode(text);
  const ticket = await request("POST", `/folders/${folder.id}/request-upload`, { json: { path: FILE, size: bytes.length } });
  if (!bytes.length) return;
  const resp = await fetch(storageUrl(ticket), {
    method: "PATCH", credentials: "same-origin", body: bytes,
    headers: { "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
  });
  if (!resp.ok) throw new Error(`The storage refused the write of ${FOLDER}/${FILE} (${resp.status}).`);
}

/** The lines of authorized_keys, as they are now in the .ssh folder (none if it is not there). */
async function currentLines(folder) {
  if (!folder) return [];
  return (await readFile(folder)).split("\n").filter((l) => l.trim());
}

export async function renderSshKeys(card) {
  const body = h("div", {});
  clear(card, h("h2", { id: "ssh-title", text: "SSH keys" }),
    h("p", { class: "muted", text: "Public keys that may log in to your sessions (sshd, app \"sshd\"). They are the file authorized_keys of your .ssh folder, mounted in every session you start; a change applies to sessions started afterwards. Programs in your sessions can change this file too: every line of it is listed here." }),
    body);
  let folder = null;
  let lines = [];
  const load = async () => {
    clear(body, h("p", { class: "loading", role: "status", text: "Loading…" }));
    try {
      folder = await findFolder();
      lines = await currentLines(folder);
    } catch (e) {
      clear(body, errorBox(e, load));
      return;
    }
    show();
  };
  // The file is read again just before it is written and only this one change is applied:
  // the list on screen may be old (another tab, a program in a session changed the file),
  // and writing it back would bring removed keys back or drop added ones.
  const save = async (change) => {
    folder = await findFolder();
    const fresh = await currentLines(folder);
    const next = change(fresh);
    if (next === null) { lines = fresh; return false; }
    if (!folder) folder = await request("POST", "/folders", { json: { name: FOLDER } });
    await writeFile(folder, next.length ? `${next.join("\n")}\n` : "");
    lines = next;
    return true;
  };
  const show = () => {
    const keys = lines.map((line, i) => ({ line, i, key: parseKeyLine(line) })).filter((k) => k.key);
    // Each row gets a distinct name (Remove buttons say which); a comment used twice, e.g.
    // by a line written to look like a known key, gets its line number.
    const seen = new Map();
    for (const k of keys) {
      const base = k.key.comment || (k.key.valid ? `${k.key.type} key` : "Unrecognised line");
      seen.set(base, (seen.get(base) || 0) + 1);
      k.base = base;
    }
    for (const k of keys) k.name = seen.get(k.base) > 1 || !k.key.comment ? `${k.base} (line ${k.i + 1})` : k.base;
    const input = checkedField("Public key", h("textarea", { rows: 3, class: "mono", spellcheck: "false",
      placeholder: "ssh-ed25519 AAAAC3Nza... you@laptop" }), "One line as in ~/.ssh/id_ed25519.pub: type, key, comment.");
    const add = h("button", { type: "submit", class: "primary", text: "Add SSH key" });
    const form = h("form", { class: "ssh-form", novalidate: true, on: { submit: async (ev) => {
      ev.preventDefault();
      const text = input.control.value.trim();
      if (!input.setError(publicKeyProblem(text))) { input.control.focus(); return; }
      const blob = text.split(/\s+/)[1];
      if (keys.some((k) => k.key.blob === blob)) { input.setError("This key is in the list already."); return; }
      add.disabled = true;
      try {
        const added = await save((fresh) => (fresh.some((l) => parseKeyLine(l)?.blob === blob)
          ? null : [...fresh, text.replace(/\s+/g, " ")]));
        if (added) {
          toast("SSH key added.", "success");
          show();
        } else {
          show();
          toast("This key is in the list already.", "error");
        }
      } catch (e) {
        toast(`The key was not added: ${messageOf(e)}`, "error");
        add.disabled = false;
      }
    } } }, input.el, h("div", { class: "row" }, add));
    const list = table([
      { label: "Comment", cell: (k) => k.name },
      { label: "Type", cell: (k) => (k.key.valid ? k.key.type : "not a key this page knows") },
      { label: "Options", cell: (k) => (k.key.options
        ? h("code", { class: "ssh-options", text: k.key.options }) : "-") },
      { label: "Key", cell: (k) => (k.key.valid
        ? h("code", { text: `${k.key.blob.slice(0, 12)}…${k.key.blob.slice(-12)}` })
        : h("code", { class: "ssh-line", text: k.line.trim() })) },
      { label: "Actions", class: "actions", cell: (k) => h("button", { type: "button", class: "danger",
        text: "Remove", "aria-label": `Remove SSH key ${k.name}`, on: { click: async () => {
          if (!(await confirmDialog("Remove SSH key", `Remove the key "${k.name}"? It can no longer log in to sessions started from now on.`, "REMOVE", true))) return;
          const gone = k.line.trim();
          try {
            const removed = await save((fresh) => (fresh.some((l) => l.trim() === gone)
              ? fresh.filter((l) => l.trim() !== gone) : null));
            toast(removed ? "SSH key removed." : "That key was removed already.", removed ? "success" : "info");
            show();
          } catch (e) {
            toast(`The key was not removed: ${messageOf(e)}`, "error");
          }
        } } }) },
    ], keys, { caption: "Authorized SSH keys", empty: "No SSH keys yet.",
      rowAttrs: (k) => ({ dataset: { sshKey: k.name }, class: k.key.options || !k.key.valid ? "ssh-unusual" : false }) });
    clear(body, list, form);
  };
  await load();
}
