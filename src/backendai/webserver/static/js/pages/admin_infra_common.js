// What the infrastructure admin pages (resource groups, images, agents, announcements) share:
// JSONString fields read safely, capacity bars, and a form dialog that stays open on failure.
import { formatSlot, h, messageOf, openDialog, slotLabel } from "../dom.js";

/** A GraphQL JSONString (JSON text, or already an object) as an object; {} when unreadable. */
export function parseJson(value) {
  if (value && typeof value === "object") return value;
  if (typeof value !== "string" || !value.trim()) return {};
  try {
    const parsed = JSON.parse(value);
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    return {};
  }
}

/** The slots people care about first, then the rest in name order. */
const SLOT_ORDER = ["cpu", "mem", "cuda.device", "cuda.shares"];
export function slotNames(...maps) {
  const names = new Set();
  for (const m of maps) for (const k of Object.keys(m || {})) names.add(k);
  return [...names].sort((a, b) => {
    const ia = SLOT_ORDER.indexOf(a), ib = SLOT_ORDER.indexOf(b);
    if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
    return a.localeCompare(b);
  });
}

/**
 * One bar per slot, "x of y": what is occupied out of what is available. `owner` names the
 * thing measured in the meter's accessible name ("CPU of agent-1").
 */
export function capacityBars(available, occupied, owner) {
  const names = slotNames(available).filter((n) => Number(available[n]) > 0 || Number(occupied[n]) > 0);
  if (!names.length) return h("span", { class: "muted", text: "No capacity reported" });
  return h("div", { class: "infra-bars" }, names.map((name) => {
    const total = Number(available[name]) || 0;
    const used = Number(occupied[name]) || 0;
    const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
    const text = `${formatSlot(name, used)} of ${formatSlot(name, total)}`;
    const fill = h("span", {});
    fill.style.width = `${pct.toFixed(1)}%`;
    return h("div", { class: "infra-bar", dataset: { slot: name } },
      h("span", { class: "infra-bar-name", text: slotLabel(name) }),
      h("div", {
        class: `bar${pct >= 90 ? " full" : ""}`, role: "meter",
        "aria-label": owner ? `${slotLabel(name)} of ${owner}` : slotLabel(name),
        "aria-valuemin": "0", "aria-valuemax": String(total), "aria-valuenow": String(used),
        "aria-valuetext": text, dataset: { available: String(available[name] ?? 0), occupied: String(occupied[name] ?? 0) },
      }, fill),
      h("span", { class: "infra-bar-text", text }));
  }));
}

/**
 * A dialog with a form: `submit()` runs on the primary action; when it throws, its message
 * shows in the dialog (role=alert) and the dialog stays open with what was typed.
 * Returns the dialog's promise: the submit's result, or null when cancelled.
 */
export function formDialog({ title, body, submitLabel, submit, className, danger = false }) {
  const message = h("p", { class: "form-message", role: "alert" });
  let result = null;
  const dlg = openDialog({
    title, className,
    body: [body, message],
    actions: [
      { label: "Cancel", value: false },
      { label: submitLabel, value: true, class: danger ? "danger" : "primary" },
    ],
    cancelValue: false,
    async onClose(ok) {
      if (!ok) return true;
      message.textContent = "";
      for (const b of dlg.buttons) b.disabled = true;
      try {
        result = await submit();
        return true;
      } catch (e) {
        if (e instanceof FieldError) {
          setFieldError(e.input, e.message);
          e.input.focus();
        } else {
          message.textContent = messageOf(e);
        }
        return false;
      } finally {
        for (const b of dlg.buttons) b.disabled = false;
      }
    },
  });
  const form = dlg.dialog.querySelector(".dialog-body");
  // Enter in a one-line field sends the form, as in any form.
  form.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && ev.target instanceof HTMLInputElement && ev.target.type !== "checkbox") {
      ev.preventDefault();
      dlg.buttons[1].click();
    }
  });
  return dlg.done.then((ok) => (ok ? result : null));
}

/** An error that belongs to a field: shown next to it, the field marked invalid. */
export class FieldError extends Error {
  constructor(input, message) {
    super(message);
    this.input = input;
  }
}

/** Marks `input` invalid with `message` under it (or clears it with an empty message). */
export function setFieldError(input, message) {
  const id = `${input.id}-error`;
  let box = document.getElementById(id);
  if (!box) {
    box = h("small", { class: "field-error", id, role: "alert" });
    input.after(box);
  }
  box.textContent = message || "";
  if (message) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-errormessage", id);
  } else {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-errormessage");
  }
  return !message;
}

/** "2026-11-30T16:18:21+00:00" -> "12 s ago" (for heartbeats); "-" when absent. */
export function ago(value, now = Date.now()) {
  if (!value) return "-";
  const t = new Date(value).getTime();
  if (Number.isNaN(t)) return String(value);
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
