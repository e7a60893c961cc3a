// DOM building without innerHTML: every text a user or a server supplied lands as text.

/**
 * h("button", {class: "primary", "aria-label": "Start", on: {click: fn}}, "START")
 * props: class, text, on {event: fn}, dataset {k: v}, style (object), any attribute;
 * a value of false/null/undefined leaves the attribute out, true sets it empty.
 * Properties of inputs (value, checked, disabled, selected) are set as properties.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value);
    else if (["value", "checked", "disabled", "selected", "indeterminate"].includes(key)) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A unique element id with a readable prefix. */
export function newId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form control: <div class="field"><label for=id>text</label>control hint</div>. */
export function field(labelText, control, hint) {
  if (!control.id) control.id = newId("field");
  const parts = [h("label", { for: control.id, text: labelText }), control];
  if (hint) {
    const hintEl = h("small", { class: "hint", id: newId("hint"), text: hint });
    control.setAttribute("aria-describedby", hintEl.id);
    parts.push(hintEl);
  }
  return h("div", { class: "field" }, parts);
}

// The dialogs open now, each with its forced close: leaving a page or the login closes them
// (their onClose/done run, so their polling stops) instead of leaving them over the next page.
const openDialogs = new Set();

/**
 * A modal <dialog> (focus stays inside, Escape cancels). `actions` are
 * [{label, value, class, disabled}], the value resolves the promise; Escape resolves
 * `cancelValue`. `onClose(value)` may return false to keep it open (e.g. unsaved changes).
 * Focus goes back to the control that opened it (found again by its accessible name when the
 * page redrew it meanwhile). Returns {dialog, done: Promise, close(value)}.
 */
export function openDialog({ title, body, actions = [], cancelValue = null, onClose, className }) {
  const titleId = newId("dlg-title");
  const dlg = h("dialog", { class: `dialog ${className || ""}`, "aria-labelledby": titleId });
  const opener = document.activeElement;
  const openerLabel = opener && opener.getAttribute ? opener.getAttribute("aria-label") : null;
  let resolve;
  let finished = false;
  const done = new Promise((r) => (resolve = r));
  function finish(value) {
    if (finished) return;
    finished = true;
    openDialogs.delete(forceClose);
    if (dlg.open) dlg.close();
    dlg.remove();
    resolve(value);
    setTimeout(() => restoreFocus(opener, openerLabel), 0);
  }
  async function close(value) {
    if (onClose && (await onClose(value)) === false) return;
    finish(value);
  }
  function forceClose() {
    if (onClose) { try { onClose(cancelValue); } catch { /* closing regardless */ } }
    finish(cancelValue);
  }
  const buttons = actions.map((a) =>
    h("button", {
      type: "button", class: a.class || "", text: a.label, disabled: a.disabled,
      "aria-label": a.ariaLabel || a.label, on: { click: () => close(a.value) },
    }));
  append(dlg, [
    h("header", {}, h("h2", { id: titleId, text: title }),
      h("button", { type: "button", class: "icon close", "aria-label": "Close", text: "×",
        on: { click: () => close(cancelValue) } })),
    h("div", { class: "dialog-body" }, body),
    buttons.length ? h("footer", {}, buttons) : null,
  ]);
  dlg.addEventListener("cancel", (ev) => {
    // Chrome lets a repeated Escape close a dialog without asking (cancel not cancelable):
    // then it is closed whatever onClose says, but through finish so nothing is left behind.
    if (ev.cancelable) { ev.preventDefault(); close(cancelValue); }
  });
  dlg.addEventListener("close", () => { if (!finished) forceClose(); });
  document.body.append(dlg);
  openDialogs.add(forceClose);
  dlg.showModal();
  return { dialog: dlg, done, close, buttons };
}

function restoreFocus(opener, label) {
  if (document.querySelector("dialog[open]")) return; // another dialog has it
  if (opener && opener.isConnected && typeof opener.focus === "function") {
    opener.focus();
    return;
  }
  if (label) {
    const again = [...document.querySelectorAll("[aria-label]")].find(
      (el) => el.getAttribute("aria-label") === label);
    if (again) again.focus();
  }
}

/** Closes every open dialog (a page is left, the login ended). */
export function closeAllDialogs() {
  for (const forceClose of [...openDialogs]) forceClose();
}

/**
 * Runs send() with the dialog's buttons disabled; a failure is said in `message` and keeps
 * the dialog open. Resolves true when it worked (an onClose's answer).
 */
export async function sendFromDialog(buttons, message, send) {
  buttons.forEach((b) => (b.disabled = true));
  try {
    await send();
    return true;
  } catch (e) {
    message.textContent = messageOf(e);
    return false;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

/** The tab a key moves to in a tablist (arrows wrap around, Home, End); null for others. */
export function tabKeyTarget(key, items, current) {
  const i = items.indexOf(current);
  const n = items.length;
  return { ArrowRight: items[(i + 1) % n], ArrowLeft: items[(i + n - 1) % n],
    Home: items[0], End: items[n - 1] }[key] || null;
}

/** OK/Cancel question; resolves true only for OK. */
export async function confirmDialog(title, message, okLabel = "OK", danger = false) {
  const { done } = openDialog({
    title,
    body: h("p", { text: message }),
    actions: [
      { label: "Cancel", value: false },
      { label: okLabel, value: true, class: danger ? "danger" : "primary" },
    ],
    cancelValue: false,
  });
  return done;
}

/** A short message in the corner; kind "error" is announced assertively. */
export function toast(message, kind = "info", ms = 6000) {
  // Over a modal dialog the page behind is inert: the message goes into the topmost dialog.
  const dialogs = document.querySelectorAll("dialog[open]");
  const box = dialogs.length ? toastBoxIn(dialogs[dialogs.length - 1]) : document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { text: message }),
    h("button", { type: "button", class: "icon", "aria-label": "Dismiss", text: "×",
      on: { click: () => el.remove() } }));
  box.append(el);
  if (ms) setTimeout(() => el.remove(), ms);
  return el;
}

function toastBoxIn(dlg) {
  let box = dlg.querySelector(":scope > .toasts");
  if (!box) {
    box = h("div", { class: "toasts in-dialog", role: "status", "aria-live": "polite" });
    dlg.append(box);
  }
  return box;
}

/** Removes every message (at logout: nothing of the last user stays on the screen). */
export function clearToasts() {
  for (const box of document.querySelectorAll(".toasts")) box.replaceChildren();
}

/** An inline error box (role=alert) to put where content failed to load. */
export function errorBox(error, retry) {
  return h("div", { class: "error-box", role: "alert" },
    h("strong", { text: "Something went wrong: " }), h("span", { text: messageOf(error) }),
    retry ? h("button", { type: "button", text: "Retry", on: { click: retry } }) : null);
}

export function messageOf(error) {
  if (!error) return "unknown error";
  return error.message || String(error);
}

// --- formatting -------------------------------------------------------------------------

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
export function formatBytes(value) {
  let n = Number(value);
  if (!Number.isFinite(n)) return "-";
  let i = 0;
  while (Math.abs(n) >= 1024 && i < UNITS.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(n < 10 ? 2 : 1) : n} ${UNITS[i]}`;
}

/** "2g", "512m", "1073741824" -> bytes (the slot syntax of the CLI). */
export function parseBytes(text) {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([kmgtp]?)i?b?\s*$/i.exec(String(text));
  if (!m) return NaN;
  const power = m[2] ? "kmgtp".indexOf(m[2].toLowerCase()) + 1 : 0; // a bare number is bytes
  return Math.round(parseFloat(m[1]) * 1024 ** power);
}

export function formatNumber(value, digits = 2) {
  const n = Number(value);
  if (!Number.isFinite(n)) return "-";
  return Number.isInteger(n) ? String(n) : n.toFixed(digits).replace(/0+$/, "").replace(/\.$/, "");
}

/** One slot's value for people: mem in bytes, the rest as numbers. */
export function formatSlot(name, value) {
  if (value === undefined || value === null) return "-";
  if (name === "mem" || name.endsWith(".mem") || name === "shmem") return formatBytes(value);
  return formatNumber(value);
}

export const SLOT_LABELS = {
  cpu: "CPU", mem: "RAM", "cuda.device": "GPU", "cuda.shares": "fGPU", shmem: "Shared memory",
};
export function slotLabel(name) {
  return SLOT_LABELS[name] || name;
}

/** {cpu: "1", mem: "1073741824"} -> "1 CPU · 1 GiB RAM". */
export function formatSlots(slots) {
  if (!slots || typeof slots !== "object") return "-";
  const parts = Object.entries(slots)
    .filter(([, v]) => Number(v) !== 0)
    .map(([k, v]) => `${formatSlot(k, v)} ${slotLabel(k)}`);
  return parts.length ? parts.join(" · ") : "-";
}

export function formatTime(value) {
  if (!value) return "-";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString();
}

export function formatDuration(seconds) {
  let s = Math.max(0, Math.round(Number(seconds) || 0));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const mm = Math.floor(s / 60); s -= mm * 60;
  const t = `${String(hh).padStart(2, "0")}:${String(mm).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return d ? `${d}d ${t}` : t;
}

/** A pager: "Page X of Y" with Previous/Next buttons; onPage(pageIndex). */
export function pager({ page, pageSize, total, onPage, label = "Pages" }) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return h("nav", { class: "pager", "aria-label": label },
    h("button", { type: "button", text: "‹ Previous", "aria-label": "Previous page",
      disabled: page <= 0, on: { click: () => onPage(page - 1) } }),
    h("span", { text: `Page ${page + 1} of ${pages} (${total} in all)` }),
    h("button", { type: "button", text: "Next ›", "aria-label": "Next page",
      disabled: page + 1 >= pages, on: { click: () => onPage(page + 1) } }));
}

/** A <table> from columns [{label, cell(row) -> node|text, class}] and rows. */
export function table(columns, rows, { caption, empty = "Nothing here yet.", rowAttrs } = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class || "", text: c.label }))));
  const body = h("tbody", {});
  if (!rows.length) {
    body.append(h("tr", {}, h("td", { colspan: columns.length, class: "empty", text: empty })));
  }
  for (const row of rows) {
    body.append(h("tr", rowAttrs ? rowAttrs(row) : {}, columns.map((c) => h("td", { class: c.class || "" }, c.cell(row)))));
  }
  return h("table", { class: "data" }, caption ? h("caption", { text: caption }) : null, head, body);
}
