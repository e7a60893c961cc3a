// What the account page and the admin pages for people (users, keypairs, policies) share:
// fields that show their own error, a secret shown with a copy button, GraphQL mutation
// answers checked, and a dialog whose main button validates and sends before it closes.
import { field, h, messageOf, newId, openDialog } from "../dom.js";

/** A labelled control with a slot for its error: {el, control, setError(msg|null)}. */
export function checkedField(label, control, hint) {
  const el = field(label, control, hint);
  const error = h("small", { class: "field-error", id: newId("err"), role: "alert", hidden: true });
  el.append(error);
  function setError(message) {
    const described = (control.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== error.id);
    if (message) {
      error.textContent = message;
      error.hidden = false;
      control.setAttribute("aria-invalid", "true");
      described.push(error.id);
    } else {
      error.textContent = "";
      error.hidden = true;
      control.removeAttribute("aria-invalid");
    }
    if (described.length) control.setAttribute("aria-describedby", described.join(" "));
    else control.removeAttribute("aria-describedby");
    return !message;
  }
  control.addEventListener("input", () => setError(null));
  return { el, control, setError };
}

/** Runs each [checkedField, rule(value) -> message|null]; focuses the first bad one. */
export function validateAll(checks) {
  let first = null;
  for (const [f, rule] of checks) {
    const message = rule(f.control.type === "checkbox" ? f.control.checked : f.control.value);
    f.setError(message || null);
    if (message && !first) first = f.control;
  }
  if (first) first.focus();
  return !first;
}

export const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function select(options, value) {
  return h("select", {}, options.map(([v, text]) => h("option", { value: v, text, selected: v === value })));
}

/** A GraphQL mutation's {ok, msg} answer; a refusal that is not a GraphQL error throws. */
export function checked(answer, what) {
  if (!answer || answer.ok === false) {
    throw new Error(`${what} was refused: ${(answer && answer.msg) || "no answer"}`);
  }
  return answer;
}

async function copyText(input) {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    // An insecure origin has no clipboard API: the old way still works from a click.
    input.select();
    return document.execCommand("copy");
  }
}

/** A read-only secret (or key) with a "Copy LABEL" button. */
export function copyableValue(label, value) {
  const input = h("input", { type: "text", readonly: true, value, class: "mono secret-value", spellcheck: "false" });
  const status = h("span", { class: "muted copy-status", role: "status" });
  const button = h("button", { type: "button", text: "Copy", "aria-label": `Copy ${label.toLowerCase()}`,
    on: { click: async () => { status.textContent = (await copyText(input)) ? "Copied." : "Select it and copy it by hand."; } } });
  const el = field(label, input);
  el.classList.add("copyable");
  el.append(h("div", { class: "row" }, button, status));
  return el;
}

/**
 * A form dialog whose `submitLabel` button runs `submit()` (which validates and sends, and
 * returns false to stay open); a failure is shown in the dialog, the fields keep what was
 * typed. Resolves to submit's result, or null when cancelled.
 */
export function formDialog({ title, body, submitLabel, submit, className }) {
  const message = h("div", { class: "form-message", role: "alert" });
  let result = null;
  let busy = false;
  const dlg = openDialog({
    title, className: `people-dialog ${className || ""}`,
    body: [body, message].flat(),
    actions: [
      { label: "Cancel", value: "cancel" },
      { label: submitLabel, value: "submit", class: "primary" },
    ],
    cancelValue: "cancel",
    async onClose(value) {
      if (value !== "submit") return !busy;
      if (busy) return false;
      busy = true;
      message.textContent = "";
      const button = dlg.buttons[1];
      button.disabled = true;
      try {
        const r = await submit();
        if (r === false) return false;
        result = r === undefined ? true : r;
        return true;
      } catch (e) {
        message.textContent = messageOf(e);
        return false;
      } finally {
        busy = false;
        button.disabled = false;
      }
    },
  });
  return { dialog: dlg.dialog, done: dlg.done.then(() => result) };
}
