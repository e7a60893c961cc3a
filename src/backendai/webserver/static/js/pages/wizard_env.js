// The "Environment variables" dialog of the launch wizard (seed 003, "How to add environment
// variable before creating a session"): rows of name/value, SAVE applies them, closing with
// changes not saved asks first.
import { h, clear, openDialog } from "../dom.js";
import { ENV_NAME_RE } from "./wizard_data.js";

const MAX_VARS = 256; // the manager's MAX_ENV_VARS

/** Opens the dialog on `saved` ([{name, value}]); resolves the new list, or null if unchanged. */
export async function editEnvironment(saved) {
  let rows = saved.length ? saved.map((r) => ({ ...r })) : [{ name: "", value: "" }];
  const list = h("div", { class: "env-rows" });
  const message = h("p", { class: "form-message", role: "alert" });
  const inputs = []; // [{name: input, value: input, error: el}]

  const filled = () => rows.filter((r) => r.name.trim() || r.value);
  const same = (a, b) => a.length === b.length
    && a.every((r, i) => r.name.trim() === b[i].name && r.value === b[i].value);
  const dirty = () => !same(filled(), saved);

  function draw(focusIndex, focusWhat = "name") {
    inputs.length = 0;
    clear(list, rows.map((row, i) => {
      const n = i + 1;
      const name = h("input", {
        type: "text", value: row.name, "aria-label": `Variable name ${n}`, placeholder: "NAME",
        autocomplete: "off", spellcheck: "false",
        on: { input: (ev) => { row.name = ev.target.value; check(i); } },
      });
      const value = h("input", {
        type: "text", value: row.value, "aria-label": `Value ${n}`, placeholder: "value",
        autocomplete: "off", spellcheck: "false",
        on: { input: (ev) => { row.value = ev.target.value; } },
      });
      const error = h("small", { class: "field-error", id: `env-err-${n}`, "aria-live": "polite" });
      name.setAttribute("aria-describedby", error.id);
      inputs.push({ name, value, error });
      return h("div", { class: "env-row" },
        name, value,
        h("button", { type: "button", class: "icon", text: "−", "aria-label": `Remove variable ${n}`,
          on: { click: () => remove(i) } }),
        error);
    }));
    if (focusIndex !== undefined && inputs[focusIndex]) inputs[focusIndex][focusWhat].focus();
  }

  function problemOf(i) {
    const row = rows[i];
    const name = row.name.trim();
    if (!name && !row.value) return "";
    if (!name) return "Give this value a variable name, or remove the row.";
    if (!ENV_NAME_RE.test(name)) {
      return "Use letters, digits and '_', not starting with a digit (e.g. MY_VAR).";
    }
    if (rows.some((r, j) => j < i && r.name.trim() === name)) return `${name} is already set above.`;
    return "";
  }

  function check(i) {
    const problem = problemOf(i);
    const { name, error } = inputs[i];
    error.textContent = problem;
    if (problem) name.setAttribute("aria-invalid", "true");
    else name.removeAttribute("aria-invalid");
    return problem;
  }

  function add() {
    if (rows.length >= MAX_VARS) {
      message.textContent = `At most ${MAX_VARS} variables.`;
      return;
    }
    rows.push({ name: "", value: "" });
    draw(rows.length - 1);
  }

  function remove(i) {
    rows.splice(i, 1);
    if (!rows.length) rows.push({ name: "", value: "" });
    draw(Math.min(i, rows.length - 1));
    if (!inputs.length) addButton.focus();
  }

  const addButton = h("button", { type: "button", text: "+ Add variable", "aria-label": "Add variable",
    on: { click: add } });
  const body = h("div", { class: "env-dialog" },
    h("p", { class: "hint", id: "env-info",
      text: "Each variable with a name is set in the session's processes once you click SAVE. "
        + "Names use letters, digits and '_' and do not start with a digit. "
        + "Rows left empty are ignored." }),
    h("div", { class: "env-head", "aria-hidden": "true" }, h("span", { text: "Variable" }), h("span", { text: "Value" })),
    list,
    h("div", { class: "row" }, addButton),
    message);

  let result = null;
  const dlg = openDialog({
    title: "Environment variables",
    body,
    className: "wizard-env",
    actions: [
      { label: "DELETE ALL", value: "delete-all", class: "danger" },
      { label: "SAVE", value: "save", class: "primary" },
    ],
    cancelValue: "cancel",
    onClose: async (value) => {
      if (value === "delete-all") {
        rows = [{ name: "", value: "" }];
        draw(0);
        message.textContent = "All variables removed: click SAVE to apply.";
        return false;
      }
      if (value === "save") {
        const bad = rows.map((_, i) => check(i)).findIndex((p) => p);
        if (bad >= 0) {
          message.textContent = "Fix the highlighted names first.";
          inputs[bad].name.focus();
          return false;
        }
        result = filled().map((r) => ({ name: r.name.trim(), value: r.value }));
        return true;
      }
      if (!dirty()) return true;
      const was = document.activeElement;
      const discard = await askDiscard();
      if (!discard && was && was.isConnected) was.focus();
      return discard;
    },
  });
  dlg.dialog.setAttribute("aria-describedby", "env-info");
  draw(0);
  await dlg.done;
  return result;
}

async function askDiscard() {
  const { done } = openDialog({
    title: "Discard unsaved changes?",
    body: h("p", { text: "The variables you changed were not saved and will not be set in the session." }),
    actions: [
      { label: "Keep editing", value: false },
      { label: "Discard", value: true, class: "danger" },
    ],
    cancelValue: false,
  });
  return done;
}

/** "GREETING, PATH" for next to the CONFIG button. */
export function environSummary(vars) {
  if (!vars.length) return "No environment variables set.";
  const names = vars.map((v) => v.name);
  const shown = names.length > 4 ? `${names.slice(0, 4).join(", ")} and ${names.length - 4} more` : names.join(", ");
  return `${vars.length} variable${vars.length > 1 ? "s" : ""}: ${shown}`;
}
