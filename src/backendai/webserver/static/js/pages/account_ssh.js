// "SSH keys" of My account: the public keys that may log in to my sessions through sshd.
//
// Where they live: sshd in a session reads `~/.ssh/authorized_keys` (agent/runner/sshd.py),
// and `.ssh/authorized_keys` is a path the dotfile API refuses (common/dotfiles.py RESERVED:
// the platform writes the per-session key there). What outlives a session is the owner's
// `.ssh` virtual folder: every session mounts the owner's dot-folders at /home/work/.ssh, and
// the agent makes it fit for sshd (0700, authorized_keys 0600) before it mounts it
// (agent/vfolder_mounts.py). So the keys are the file `authorized_keys` of my `.ssh` folder,
// read and written through the storage like any file (the folder is made on the first key).
// Lines that are not keys (comments, option-prefixed keys) are kept as they are.
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

function parseKeyLine(line) {
  const parts = line.trim().split(/\s+/);
  if (!KEY_TYPES.includes(parts[0]) || publicKeyProblem(line) !== null) return null;
  return { type: parts[0], blob: parts[1], comment: parts.slice(2).join(" ") };
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

export async function renderSshKeys(card) {
  const body = h("div", {});
  clear(card, h("h2", { id: "ssh-title", text: "SSH keys" }),
    h("p", { class: "muted", text: "Public keys that may log in to your sessions (sshd, app \"sshd\"). They are the file authorized_keys of your .ssh folder, mounted in every session you start; a change applies to sessions started afterwards." }),
    body);
  let folder = null;
  let lines = [];
  const load = async () => {
    clear(body, h("p", { class: "loading", role: "status", text: "Loading…" }));
    try {
      folder = await findFolder();
      lines = folder ? (await readFile(folder)).split("\n").filter((l) => l.trim()) : [];
    } catch (e) {
      clear(body, errorBox(e, load));
      return;
    }
    show();
  };
  const save = async (next) => {
    if (!folder) folder = await request("POST", "/folders", { json: { name: FOLDER } });
    const text = next.length ? `${next.join("\n")}\n` : "";
    await writeFile(folder, text);
    lines = next;
  };
  const show = () => {
    const keys = lines.map((line, i) => ({ line, i, key: parseKeyLine(line) })).filter((k) => k.key);
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
        await save([...lines, text.replace(/\s+/g, " ")]);
        toast("SSH key added.", "success");
        show();
      } catch (e) {
        toast(`The key was not added: ${messageOf(e)}`, "error");
        add.disabled = false;
      }
    } } }, input.el, h("div", { class: "row" }, add));
    const name = (k) => k.key.comment || `${k.key.type} key ${keys.indexOf(k) + 1}`;
    const list = table([
      { label: "Comment", cell: (k) => name(k) },
      { label: "Type", cell: (k) => k.key.type },
      { label: "Key", cell: (k) => h("code", { text: `${k.key.blob.slice(0, 12)}…${k.key.blob.slice(-12)}` }) },
      { label: "Actions", class: "actions", cell: (k) => h("button", { type: "button", class: "danger",
        text: "Remove", "aria-label": `Remove SSH key ${name(k)}`, on: { click: async () => {
          if (!(await confirmDialog("Remove SSH key", `Remove the key "${name(k)}"? It can no longer log in to sessions started from now on.`, "REMOVE", true))) return;
          try {
            await save(lines.filter((_, i) => i !== k.i));
            toast("SSH key removed.", "success");
            show();
          } catch (e) {
            toast(`The key was not removed: ${messageOf(e)}`, "error");
          }
        } } }) },
    ], keys, { caption: "Authorized SSH keys", empty: "No SSH keys yet.",
      rowAttrs: (k) => ({ dataset: { sshKey: name(k) } }) });
    clear(body, list, form);
  };
  await load();
}
