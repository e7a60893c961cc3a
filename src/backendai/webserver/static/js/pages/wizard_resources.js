// Step 3 of the launch wizard: resource group, preset or custom allocation, Sessions.
import { h, clear, field, errorBox, formatSlots, formatNumber } from "../dom.js";
import { loadScalingGroups, loadPresets, maxOf, minOf, sessionsMax, toNumber } from "./wizard_data.js";

const GIB = 2 ** 30;
const CUSTOM = "__custom__";

/** The resource state of a wizard: {scalingGroup, preset, custom: {cpu, mem, shmem, gpu}, count}. */
export function newResources() {
  return {
    scalingGroups: [], scalingGroup: "", info: null, preset: CUSTOM, loaded: false,
    custom: { cpu: 1, mem: 1, shmem: 0.0625, gpu: 0 }, count: 1, error: null,
  };
}

/** The accelerator the platform offers: fGPU (cuda.shares) first, else GPU (cuda.device). */
export function acceleratorOf(slots) {
  if (slots && slots["cuda.shares"] !== undefined) return { slot: "cuda.shares", label: "fGPU", step: 0.1 };
  if (slots && slots["cuda.device"] !== undefined) return { slot: "cuda.device", label: "GPU", step: 1 };
  return null;
}

/** Loads resource groups and presets (once per group); picks a first allocatable preset. */
export async function loadResources(state, basics, limits) {
  const res = state.res;
  if (!res.scalingGroups.length) {
    res.scalingGroups = await loadScalingGroups(basics.group);
    res.scalingGroup = res.scalingGroups[0] || "";
  }
  // Chrome fires "change" on each arrow key in a select: only the last group's answer counts.
  const seq = (res.seq = (res.seq || 0) + 1);
  const info = await loadPresets(basics.group, res.scalingGroup || null);
  if (seq !== res.seq) return;
  res.info = info;
  const fits = (p) => p.allocatable !== false && fitsImage(p, limits);
  if (!res.loaded) {
    const first = (res.info.presets || []).find(fits);
    res.preset = first ? first.name : CUSTOM;
    const mem = Math.max(minOf("mem", limits), GIB);
    res.custom.mem = Math.min(mem, maxOf("mem", res.info, limits, res.scalingGroup)) / GIB;
    res.custom.cpu = Math.max(1, minOf("cpu", limits));
    res.loaded = true;
  }
}

function fitsImage(preset, limits) {
  const slots = preset.resource_slots || {};
  return Object.entries(limits).every(([slot, { min }]) =>
    min === null || !min || toNumber(slot, slots[slot] ?? 0) >= min);
}

/** {resources, shmem} to send, from a preset or the custom values. */
export function chosenResources(state, basics) {
  const res = state.res;
  const acc = acceleratorOf(basics.slots);
  if (res.preset !== CUSTOM && res.info) {
    const preset = (res.info.presets || []).find((p) => p.name === res.preset);
    if (preset) {
      const resources = {};
      for (const [k, v] of Object.entries(preset.resource_slots || {})) {
        if (Number(v)) resources[k] = String(v);
      }
      return { resources, shmem: preset.shared_memory ? String(preset.shared_memory) : null };
    }
  }
  const c = res.custom;
  const resources = { cpu: String(c.cpu), mem: String(Math.round(c.mem * GIB)) };
  if (acc && Number(c.gpu) > 0) resources[acc.slot] = String(c.gpu);
  return { resources, shmem: String(Math.round(c.shmem * GIB)) };
}

/** Problems of the custom values: [{key, message}] (key = which input). */
export function resourceProblems(state, basics, limits) {
  const res = state.res;
  const out = [];
  const info = res.info;
  const count = Number(res.count);
  const maxCount = sessionsMax(basics);
  const countProblem = !Number.isInteger(count) || count < 1 || count > maxCount
    ? [{ key: "count", message: `Use a whole number from 1 to ${maxCount}.` }] : [];
  if (res.preset !== CUSTOM) return countProblem;
  const c = res.custom;
  const acc = acceleratorOf(basics.slots);
  const bounds = boundsOf(state, basics, limits);
  for (const [key, unit] of [["cpu", "cores"], ["mem", "GiB"], ["gpu", acc ? acc.label : ""]]) {
    if (key === "gpu" && !acc) continue;
    const v = Number(c[key]);
    const { min, max } = bounds[key];
    if (!Number.isFinite(v)) out.push({ key, message: "Enter a number." });
    else if (v < min) out.push({ key, message: `At least ${formatNumber(min)} ${unit} (the image needs it).` });
    else if (v > max) out.push({ key, message: `At most ${formatNumber(max)} ${unit}: your resource policy and the resource group allow no more.` });
  }
  const shmem = Number(c.shmem);
  if (!Number.isFinite(shmem) || shmem < 0) out.push({ key: "shmem", message: "Enter 0 or more GiB." });
  else if (shmem > Number(c.mem)) {
    out.push({ key: "shmem", message: `Shared memory is part of RAM: use at most ${formatNumber(Number(c.mem))} GiB (the RAM you set).` });
  }
  return out.concat(countProblem);
}

function boundsOf(state, basics, limits) {
  const info = state.res.info;
  const acc = acceleratorOf(basics.slots);
  const sg = state.res.scalingGroup;
  const cpuMax = maxOf("cpu", info, limits, sg);
  const memMax = maxOf("mem", info, limits, sg);
  const gpuMax = acc ? maxOf(acc.slot, info, limits, sg) : 0;
  return {
    cpu: { min: Math.max(1, minOf("cpu", limits)), max: Number.isFinite(cpuMax) ? Math.floor(cpuMax) : 64 },
    mem: { min: minOf("mem", limits) / GIB, max: Number.isFinite(memMax) ? floorTo(memMax / GIB, 0.25) : 64 },
    gpu: acc ? { min: minOf(acc.slot, limits), max: Number.isFinite(gpuMax) ? gpuMax : 8 } : { min: 0, max: 0 },
  };
}

function floorTo(v, step) {
  return Math.floor(v / step + 1e-9) * step;
}

/** Draws step 3 into `root`; `redraw()` draws it again (after the group changes). */
export function renderResources(root, state, basics, limits, redraw, errors = []) {
  const res = state.res;
  // Where the focus goes after a redraw: a new Retry while it still fails, else the group.
  const afterLoad = () => (res.error ? "retry" : res.scalingGroups.length > 1 ? "group" : "preset");
  if (res.error) {
    clear(root, errorBox(res.error, async () => {
      res.error = null;
      try { await loadResources(state, basics, limits); } catch (e) { res.error = e; }
      redraw(afterLoad());
    }));
    const retry = root.querySelector("button");
    if (retry) retry.dataset.focusKey = "retry";
    return;
  }
  const problem = (key) => (errors.find((e) => e.key === key) || {}).message || "";
  const info = res.info || {};
  const acc = acceleratorOf(basics.slots);
  const bounds = boundsOf(state, basics, limits);

  const group = h("select", {
    disabled: res.scalingGroups.length <= 1,
    on: { change: async (ev) => {
      const chosen = ev.target.value;
      res.scalingGroup = chosen;
      try { await loadResources(state, basics, limits); } catch (e) { if (res.scalingGroup === chosen) res.error = e; }
      if (res.scalingGroup === chosen) redraw(afterLoad());
    } },
  }, res.scalingGroups.map((g) => h("option", { value: g, text: g, selected: g === res.scalingGroup })));
  group.dataset.focusKey = "group";

  const presetSelect = h("select", {
    on: { change: (ev) => { res.preset = ev.target.value; redraw("preset"); } },
  },
  (info.presets || []).map((p) => h("option", {
    value: p.name, selected: p.name === res.preset,
    disabled: p.allocatable === false || !fitsImage(p, limits),
    text: `${p.name} (${formatSlots(p.resource_slots)})${p.allocatable === false ? ", not available now" : ""}`,
  })),
  h("option", { value: CUSTOM, text: "Custom allocation", selected: res.preset === CUSTOM }));
  presetSelect.dataset.focusKey = "preset";

  const parts = [
    field("Resource group", group, res.scalingGroups.length <= 1
      ? "The servers your sessions run on; you may use only this one."
      : "The servers your sessions run on: pick one of those you may use."),
    field("Resource preset", presetSelect, "A set of resources defined by the administrators, or Custom allocation to set each yourself."),
  ];
  if (res.preset === CUSTOM) {
    const c = res.custom;
    parts.push(h("fieldset", { class: "custom-alloc" }, h("legend", { text: "Custom allocation" }),
      slider("CPU", "cpu", c, bounds.cpu, 1, problem("cpu"),
        `CPU cores for the session, ${formatNumber(bounds.cpu.min)} to ${formatNumber(bounds.cpu.max)}. The most depends on your resource policy and the resource group's servers.`),
      slider("RAM (GiB)", "mem", c, bounds.mem, 0.25, problem("mem"),
        `Memory in GiB, ${formatNumber(bounds.mem.min)} to ${formatNumber(bounds.mem.max)}. The most depends on your resource policy and the resource group.`),
      slider("Shared memory (GiB)", "shmem", c, { min: 0, max: Math.max(Number(c.mem) || 0, 0) }, 0.0625, problem("shmem"),
        "From 0 GiB up to the RAM above: shared memory (/dev/shm) is taken out of the RAM, so it can never be more."),
      acc ? slider(acc.label, "gpu", c, bounds.gpu, acc.step, problem("gpu"),
        acc.label === "fGPU"
          ? `Fractions of a GPU in 0.1 steps, ${formatNumber(bounds.gpu.min)} to ${formatNumber(bounds.gpu.max)}. 1 fGPU is the share of a physical GPU the administrators set.`
          : `Whole GPUs, ${formatNumber(bounds.gpu.min)} to ${formatNumber(bounds.gpu.max)}.`) : null));
  } else {
    const preset = (info.presets || []).find((p) => p.name === res.preset);
    if (preset) parts.push(h("p", { class: "muted", text: `This preset gives ${formatSlots(preset.resource_slots)}.` }));
  }
  parts.push(slider("Sessions", "count", res, { min: 1, max: sessionsMax(basics) }, 1, problem("count"),
    `How many identical sessions to start at once, 1 to ${sessionsMax(basics)}; with more than one they are named NAME-1, NAME-2, ... and the ones that do not fit wait in the queue.`));
  parts.push(h("p", { class: "muted", text: `Free for you in this group now: ${formatSlots(info.scaling_group_remaining)}.` }));
  clear(root, parts);
  // Checked as the user types (shared memory against RAM above all), before any request.
  root.addEventListener("input", () => {
    // The shared-memory bounds follow the RAM as it is typed.
    const ram = String(Math.max(Number(res.custom.mem) || 0, 0));
    for (const el of root.querySelectorAll('[data-bound-key="shmem"]')) el.max = ram;
    const now = resourceProblems(state, basics, limits);
    for (const el of root.querySelectorAll("[data-error-key]")) {
      const message = (now.find((e) => e.key === el.dataset.errorKey) || {}).message || "";
      el.textContent = message;
      const input = root.querySelector(`[data-focus-key="${el.dataset.errorKey}"]`);
      if (input && message) input.setAttribute("aria-invalid", "true");
      else if (input) input.removeAttribute("aria-invalid");
    }
  });
}

/** A number input and a range slider kept in step, labelled `label` (the input). */
function slider(label, key, obj, { min, max }, step, problem, hint) {
  const upper = Math.max(min, max);
  const number = h("input", {
    type: "number", min: String(min), max: String(upper), step: String(step), value: String(obj[key]),
    "aria-invalid": problem ? "true" : false,
  });
  number.dataset.focusKey = key;
  number.dataset.boundKey = key;
  const range = h("input", {
    type: "range", min: String(min), max: String(upper), step: String(step), value: String(obj[key]),
    "aria-label": `${label} slider`, tabindex: "-1",
  });
  range.dataset.boundKey = key;
  const error = h("small", { class: "field-error", "aria-live": "polite", text: problem });
  error.dataset.errorKey = key;
  number.addEventListener("input", () => { obj[key] = number.value === "" ? NaN : Number(number.value); range.value = number.value; });
  range.addEventListener("input", () => { obj[key] = Number(range.value); number.value = range.value; });
  const box = field(label, number, hint);
  box.classList.add("slider-field");
  box.insertBefore(range, number.nextSibling);
  error.id = `${number.id}-error`;
  number.setAttribute("aria-describedby", `${number.getAttribute("aria-describedby")} ${error.id}`);
  box.append(error);
  return box;
}
