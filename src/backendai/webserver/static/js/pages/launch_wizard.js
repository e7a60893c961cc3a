// The launch wizard (seed 003 "Start a new session"): a modal dialog of 4 steps, environment,
// folders, resources and a summary, with CONFIRM AND LAUNCH on every step (the rest keep
// their defaults). Nothing is requested before the rules the UI knows are met; a refusal of
// the server is shown inside the wizard, which stays open with what the user entered.
import { h, clear, field, openDialog, errorBox, toast, formatSlots, formatBytes } from "../dom.js";
import { request } from "../api.js";
import { loadBasics, nameProblem, imageRef, imageLimits, versionLabel, architecturesOf } from "./wizard_data.js";
import { editEnvironment, environSummary } from "./wizard_env.js";
import {
  newResources, loadResources, renderResources, chosenResources, resourceProblems,
} from "./wizard_resources.js";

const STEPS = ["Environment", "Folders to mount", "Resources", "Summary"];

/** Opens the wizard; calls onLaunched(names) once sessions were requested. */
export function openLaunchWizard(ctx, { onLaunched } = {}) {
  const state = {
    step: 0, envKey: "", imageIndex: 0, name: "", environ: [], mounts: new Set(),
    res: newResources(), basics: null, busy: false, launchError: null, nameTouched: false, resErrors: [],
  };
  const stepList = h("ol", { class: "wizard-steps" });
  const content = h("div", { class: "wizard-content" });
  const alertBox = h("div", { class: "wizard-alert" });
  const body = h("div", { class: "wizard" }, stepList, alertBox, content);

  const prev = h("button", { type: "button", text: "‹ Previous", "aria-label": "Previous", on: { click: () => go(state.step - 1) } });
  const next = h("button", { type: "button", text: "Next ›", "aria-label": "Next", on: { click: () => go(state.step + 1) } });
  const launchBtn = h("button", { type: "button", class: "primary", text: "CONFIRM AND LAUNCH", on: { click: launch } });

  const dlg = openDialog({ title: "Start a new session", body, className: "wide launch-wizard", cancelValue: null });
  dlg.dialog.append(h("footer", { class: "wizard-footer" }, prev, next, h("span", { class: "spacer" }), launchBtn));
  content.append(h("p", { class: "loading", text: "Loading…" }));
  load();

  async function load() {
    try {
      state.basics = await loadBasics(ctx);
      const envs = state.basics.environments;
      const python = envs.find((e) => e.short === "python");
      state.envKey = (python || envs[0] || {}).key || "";
      state.imageIndex = 0;
      draw();
      focusFirst();
    } catch (e) {
      clear(content, errorBox(e, () => { clear(content, h("p", { class: "loading", text: "Loading…" })); load(); }));
    }
  }

  const env = () => (state.basics ? state.basics.environments.find((e) => e.key === state.envKey) : null);
  const image = () => { const e = env(); return e ? e.versions[state.imageIndex] || e.versions[0] : null; };
  const limits = () => (image() ? imageLimits(image()) : {});

  function focusFirst() {
    const first = content.querySelector("select:not([disabled]), input:not([disabled]), button:not([disabled])");
    if (first) first.focus();
  }

  function draw(focusKey) {
    clear(stepList, STEPS.map((label, i) => h("li", {
      class: i === state.step ? "current" : i < state.step ? "done" : "",
      "aria-current": i === state.step ? "step" : false,
      text: `${i + 1}. ${label}`,
    })));
    prev.disabled = state.step === 0 || state.busy;
    next.disabled = state.step === STEPS.length - 1 || !state.basics || state.busy;
    launchBtn.disabled = !state.basics || !image() || state.busy;
    clear(alertBox, state.launchError ? errorBox(state.launchError) : null);
    if (!state.basics) return;
    const heading = h("h3", { id: "wizard-step-heading", tabindex: "-1", text: `Step ${state.step + 1} of 4: ${STEPS[state.step]}` });
    const section = h("section", { "aria-labelledby": "wizard-step-heading" }, heading);
    clear(content, section);
    [drawEnvironment, drawFolders, drawResources, drawSummary][state.step](section);
    if (focusKey) {
      const el = content.querySelector(`[data-focus-key="${focusKey}"]`);
      if (el) el.focus();
    }
  }

  async function go(step) {
    if (step < 0 || step >= STEPS.length || state.busy) return;
    if (step > state.step && state.step === 0 && nameProblem(state.name, state.res.count)) {
      state.nameTouched = true;
      draw("name");
      return;
    }
    state.step = step;
    state.resErrors = [];
    if (step >= 2 && !state.res.info && !state.res.error) {
      clear(content, h("p", { class: "loading", text: "Loading the resources…" }));
      try { await loadResources(state, state.basics, limits()); } catch (e) { state.res.error = e; }
    }
    draw();
    focusFirst();
  }

  // --- step 1 -------------------------------------------------------------------------
  function drawEnvironment(root) {
    const envs = state.basics.environments;
    if (!envs.length) {
      root.append(h("p", { class: "error-box", role: "alert", text: "No environment is installed on this platform yet: ask an administrator to install an image." }));
      return;
    }
    const envSelect = h("select", {
      on: { change: (ev) => { state.envKey = ev.target.value; state.imageIndex = 0; state.res.info = null; draw("env"); } },
    }, envs.map((e) => h("option", { value: e.key, text: e.label, selected: e.key === state.envKey })));
    envSelect.dataset.focusKey = "env";
    const versions = env().versions;
    const versionSelect = h("select", {
      on: { change: (ev) => { state.imageIndex = Number(ev.target.value); draw("version"); } },
    }, versions.map((img, i) => h("option", { value: String(i), text: versionLabel(img), selected: i === state.imageIndex })));
    versionSelect.dataset.focusKey = "version";
    const problem = state.nameTouched ? nameProblem(state.name, state.res.count) : "";
    const error = h("small", { class: "field-error", id: "wizard-name-error", "aria-live": "polite", text: problem });
    const name = h("input", {
      type: "text", value: state.name, maxlength: "80", autocomplete: "off", spellcheck: "false",
      placeholder: "optional: a random name is given", "aria-invalid": problem ? "true" : false,
      on: {
        input: (ev) => {
          state.name = ev.target.value.trim();
          const p = nameProblem(state.name, state.res.count);
          if (!p || state.nameTouched) { error.textContent = p; setInvalid(ev.target, p); }
        },
        blur: (ev) => {
          state.nameTouched = Boolean(state.name);
          const p = nameProblem(state.name, state.res.count);
          error.textContent = p; setInvalid(ev.target, p);
        },
      },
    });
    name.dataset.focusKey = "name";
    const nameField = field("Session name", name, "Optional. 4 to 64 characters: letters, digits, '_', '-' and '.', no spaces.");
    name.setAttribute("aria-describedby", `${name.getAttribute("aria-describedby")} ${error.id}`);
    nameField.append(error);
    const img = image();
    root.append(
      field("Environment", envSelect, "The base environment of the session: its languages and libraries."),
      field("Version", versionSelect, img ? versionHint(img) : ""),
      nameField,
      h("div", { class: "field env-config" },
        h("span", { class: "label", id: "wizard-env-label", text: "Environment variables" }),
        h("div", { class: "row" },
          h("button", { type: "button", text: "CONFIG", "aria-label": "CONFIG", "aria-describedby": "wizard-env-summary",
            on: { click: openEnv } }),
          h("span", { id: "wizard-env-summary", class: "muted", text: environSummary(state.environ) }))),
    );
  }

  async function openEnv() {
    const saved = await editEnvironment(state.environ);
    if (saved) state.environ = saved;
    draw();
    const btn = content.querySelector('button[aria-label="CONFIG"]');
    if (btn) btn.focus();
  }

  // --- step 2 -------------------------------------------------------------------------
  function drawFolders(root) {
    const folders = state.basics.folders;
    root.append(h("p", { class: "hint", text: "Data in mounted folders outlives the session; the rest of the session's files are deleted with it. Folders are mounted at /home/work/NAME." }));
    if (!folders.length) {
      root.append(h("p", { class: "muted", text: "You have no folder to mount yet: create one on the Data & Storage page." }));
      return;
    }
    root.append(h("fieldset", { class: "folder-list" }, h("legend", { text: "Folders to mount" }),
      folders.map((f) => {
        const box = h("input", {
          type: "checkbox", checked: state.mounts.has(f.name), id: `wizard-folder-${f.id}`,
          on: { change: (ev) => { if (ev.target.checked) state.mounts.add(f.name); else state.mounts.delete(f.name); } },
        });
        return h("div", { class: "check" }, box, h("label", { for: box.id, text: f.name }),
          h("small", { class: "muted", text: ` ${f.permission || ""}${f.ownership_type === "group" ? " · project folder" : ""}` }));
      })));
  }

  // --- step 3 -------------------------------------------------------------------------
  function drawResources(root) {
    const box = h("div");
    root.append(box);
    renderResources(box, state, state.basics, limits(), (key) => { state.resErrors = []; draw(key); }, state.resErrors);
  }

  // --- step 4 -------------------------------------------------------------------------
  function drawSummary(root) {
    const img = image();
    const { resources, shmem } = state.res.info ? chosenResources(state, state.basics) : { resources: {}, shmem: null };
    const vars = state.environ;
    const mounts = [...state.mounts];
    const rows = [
      ["Environment", env() ? env().label : "-"],
      ["Version", img ? `${img.tag} (${imageRef(img)})` : "-"],
      ["Architecture", img ? architecturesOf(img) : "-"],
      ["Session name", state.name || "a random name"],
      ["Resource group", state.res.scalingGroup || "-"],
      ["Resources", `${formatSlots(resources)}${shmem ? ` · ${formatBytes(shmem)} shared memory` : ""}`],
      ["Sessions", String(state.res.count)],
      ["Folders", mounts.length ? mounts.join(", ") : "No folder mounted"],
    ];
    root.append(h("dl", { class: "wizard-summary" }, rows.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]),
      h("dt", { text: "Environment variables" }),
      h("dd", {}, vars.length
        ? h("ul", { class: "env-list" }, vars.map((v) => h("li", { class: "mono", text: `${v.name}=${v.value}` })))
        : "None")));
  }

  // --- launch -------------------------------------------------------------------------
  async function launch() {
    if (state.busy || !image()) return;
    if (nameProblem(state.name, state.res.count)) {
      state.nameTouched = true;
      state.step = 0;
      draw("name");
      return;
    }
    if (!state.res.info) {
      try { await loadResources(state, state.basics, limits()); } catch (e) { state.res.error = e; }
    }
    if (state.res.error) { state.step = 2; draw(); return; }
    const problems = resourceProblems(state, state.basics, limits());
    if (problems.length) {
      state.step = 2;
      state.resErrors = problems;
      draw();
      const el = content.querySelector(`[data-focus-key="${problems[0].key}"]`);
      if (el) el.focus();
      return;
    }
    if (!state.mounts.size) {
      const { done } = openDialog({
        title: "No folder mounted",
        body: h("p", { text: "You have not mounted any folder: files you make in the session are deleted when it ends. Launch anyway?" }),
        actions: [{ label: "Cancel", value: false }, { label: "LAUNCH", value: true, class: "primary" }],
        cancelValue: false,
      });
      if (!(await done)) { launchBtn.focus(); return; }
    }
    state.busy = true;
    state.launchError = null;
    launchBtn.textContent = "Launching…";
    draw();
    try {
      const names = await send();
      dlg.close(names);
      toast(names.length > 1 ? `${names.length} sessions requested: ${names.join(", ")}` : `Session ${names[0]} requested.`, "success");
      if (onLaunched) onLaunched(names);
    } catch (e) {
      state.busy = false;
      state.launchError = e;
      launchBtn.textContent = "CONFIRM AND LAUNCH";
      draw();
      const alert = alertBox.querySelector(".error-box");
      if (alert) { alert.tabIndex = -1; alert.focus(); }
    }
  }

  async function send() {
    const { resources, shmem } = chosenResources(state, state.basics);
    const count = Number(state.res.count) || 1;
    const body = {
      image: imageRef(image()),
      config: {
        environ: Object.fromEntries(state.environ.map((v) => [v.name, v.value])),
        mounts: [...state.mounts],
        resources,
        resource_opts: shmem ? { shmem } : {},
        scaling_group: state.res.scalingGroup || undefined,
      },
      // Queued and answered at once: the Sessions page follows the session's progress.
      enqueueOnly: true,
      group: state.basics.group,
      domain: state.basics.domain,
      type: "interactive",
    };
    if (state.name) body.name = state.name;
    // One request for N sessions: the manager names them NAME-1..NAME-N, all or none.
    if (count > 1) body.count = count;
    const answer = await request("POST", "/session", { json: body });
    if (answer && Array.isArray(answer.sessions)) return answer.sessions.map((s) => s.sessionName);
    return [answer.sessionName];
  }
}

function setInvalid(input, problem) {
  if (problem) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function versionHint(img) {
  const several = (img.architectures || []).length > 1;
  // POST /session has no architecture: say so rather than offer a choice that is ignored.
  return `Image ${imageRef(img)}, built for ${architecturesOf(img)}${several ? " (the platform picks the build; a session cannot ask for one)" : ""}.`;
}
