// "Images": the session images the agents have (with aliases, resource limits, service ports),
// filtered and paged here (images are few), aliases added and removed, and a rescan of the
// agents' Docker Engines and registries.
import { gql } from "../api.js";
import {
  clear, confirmDialog, errorBox, field, formatBytes, formatSlot, h, messageOf, openDialog, pager,
  slotLabel, table, toast,
} from "../dom.js";
import { FieldError, formDialog, setFieldError } from "./admin_infra_common.js";

const PAGE_SIZE = 20;
const ALIAS_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/:-]{0,255}$/; // services/image_admin.py's rule
const LIST = `query {
  images(is_operation: null) { name humanized_name tag registry architecture digest size_bytes
    aliases installed installed_agents labels { key value } resource_limits { key min max }
    supported_accelerators is_private owner }
}`;

/** The name a session (and an alias) takes: registry/name:tag, without "local/". */
export function fullName(img) {
  const base = img.registry && img.registry !== "local" ? `${img.registry}/${img.name}` : img.name;
  return `${base}:${img.tag}`;
}

function label(img, key) {
  const found = (img.labels || []).find((l) => l.key === key);
  return found ? found.value : "";
}

/** "ttyd:http:7681,sshd:tcp:2200" -> ["ttyd (http 7681)", "sshd (tcp 2200)"]. */
function servicePorts(img) {
  return label(img, "ai.backend.service-ports").split(",").filter(Boolean).map((spec) => {
    const [name, proto, port] = spec.split(":");
    return `${name} (${[proto, port].filter(Boolean).join(" ")})`;
  });
}

function limits(img) {
  const parts = (img.resource_limits || []).map((l) => {
    const range = [l.min != null ? `min ${formatSlot(l.key, l.min)}` : null,
      l.max != null ? `max ${formatSlot(l.key, l.max)}` : null].filter(Boolean).join(", ");
    return `${slotLabel(l.key)}: ${range || "any"}`;
  });
  return parts.length ? parts.map((p) => h("div", { text: p })) : h("span", { class: "muted", text: "none" });
}

export async function render(root, ctx) {
  const state = { images: [], page: 0, filter: "", installedOnly: false };
  const body = h("div", { class: "infra-content" });
  const problem = h("div", { class: "infra-problem" });
  const filterInput = h("input", { type: "search", placeholder: "name, tag or alias", autocomplete: "off" });
  filterInput.addEventListener("input", () => { state.filter = filterInput.value.trim().toLowerCase(); state.page = 0; show(); });
  const installed = h("input", { type: "checkbox" });
  installed.addEventListener("change", () => { state.installedOnly = installed.checked; state.page = 0; show(); });
  const rescanButton = h("button", { type: "button", class: "primary", text: "Rescan", on: { click: rescan } });
  const progress = h("progress", { "aria-label": "Rescanning images", hidden: true });
  const rescanStatus = h("p", { class: "infra-status", role: "status" });
  clear(root,
    h("h1", { text: "Images" }),
    ctx.isSuperadmin ? null
      : h("p", { class: "notice", text: "Only superadmins manage images; the server may refuse changes." }),
    h("div", { class: "toolbar infra-toolbar" },
      field("Filter images", filterInput),
      h("label", { class: "check" }, installed, "Installed only"),
      h("span", { class: "spacer" }),
      h("button", { type: "button", text: "Refresh", on: { click: () => load() } }),
      rescanButton),
    progress, rescanStatus, problem, body);

  async function load() {
    try {
      const data = await gql(LIST);
      state.images = data.images || [];
    } catch (e) {
      // A failed refresh keeps the list shown and says why above it.
      if (body.querySelector("table")) clear(problem, errorBox(e, load));
      else clear(body, errorBox(e, load));
      return;
    }
    clear(problem);
    show();
  }

  function matches(img) {
    if (state.installedOnly && !img.installed) return false;
    if (!state.filter) return true;
    const text = [fullName(img), img.architecture, ...(img.aliases || [])].join(" ").toLowerCase();
    return text.includes(state.filter);
  }

  function show() {
    const shown = state.images.filter(matches);
    const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const rows = shown.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    const columns = [
      { label: "Name", cell: (img) => [h("strong", { text: img.humanized_name || img.name }),
        h("div", { class: "muted mono", text: img.registry && img.registry !== "local" ? `${img.registry}/${img.name}` : img.name }),
        img.is_private ? h("span", { class: "badge", text: `private${img.owner ? ` · ${img.owner}` : ""}` }) : null] },
      { label: "Tag", cell: (img) => h("span", { class: "mono", text: img.tag }) },
      { label: "Architecture", cell: (img) => img.architecture },
      { label: "Installed", cell: (img) => img.installed
        ? h("span", { class: "badge status-RUNNING", text: "installed", title: (img.installed_agents || []).join(", ") })
        : h("span", { class: "badge", text: "not installed" }) },
      { label: "Size", cell: (img) => formatBytes(img.size_bytes) },
      { label: "Aliases", cell: (img) => aliasCell(img) },
      { label: "Resource limits", cell: (img) => limits(img) },
      { label: "Service ports", cell: (img) => {
        const ports = servicePorts(img);
        return ports.length ? ports.join(", ") : h("span", { class: "muted", text: "none" });
      } },
      { label: "Actions", class: "actions", cell: (img) => [
        h("button", { type: "button", text: "Add alias", "aria-label": `Add alias to ${fullName(img)}`,
          on: { click: () => addAlias(img) } }),
        h("button", { type: "button", text: "Labels", "aria-label": `Labels of ${fullName(img)}`,
          on: { click: () => showLabels(img) } }),
      ] },
    ];
    clear(body,
      table(columns, rows, {
        caption: `${shown.length} of ${state.images.length} images`,
        empty: state.images.length ? "No image matches the filter." : "There are no registered images. Rescan to read the agents' images.",
        rowAttrs: (img) => ({ dataset: { image: fullName(img), architecture: img.architecture } }),
      }),
      shown.length > PAGE_SIZE ? pager({ page: state.page, pageSize: PAGE_SIZE, total: shown.length,
        label: "Image pages", onPage: (p) => { state.page = p; show(); } }) : null);
  }

  function aliasCell(img) {
    const aliases = img.aliases || [];
    if (!aliases.length) return h("span", { class: "muted", text: "none" });
    return h("ul", { class: "infra-aliases" }, aliases.map((alias) => h("li", { class: "infra-alias" },
      h("span", { class: "mono", text: alias }),
      h("button", { type: "button", class: "icon", text: "×", "aria-label": `Remove alias ${alias}`,
        on: { click: () => removeAlias(alias) } }))));
  }

  async function addAlias(img) {
    const target = fullName(img);
    const input = h("input", { type: "text", autocomplete: "off", maxlength: "256", spellcheck: "false" });
    const added = await formDialog({
      title: `Alias of ${target}`,
      body: h("div", {},
        h("p", { text: `Sessions may then name ${target} (${img.architecture}) by the alias.` }),
        field("Alias", input, "Letters, digits and . _ / : - ; it must not start with a sign.")),
      submitLabel: "ADD",
      async submit() {
        setFieldError(input, "");
        const alias = input.value.trim();
        if (!alias) throw new FieldError(input, "Enter an alias, e.g. my-python.");
        if (!ALIAS_PATTERN.test(alias)) {
          throw new FieldError(input, "Use only letters, digits and . _ / : - (at most 256), starting with a letter or digit.");
        }
        if (state.images.some((i) => fullName(i) === alias || i.name === alias)) {
          throw new FieldError(input, `${alias} is the name of an image: choose another alias.`);
        }
        const data = await gql(`mutation($alias: String!, $target: String!) {
          alias_image(alias: $alias, target: $target) { ok msg } }`, { alias, target });
        if (data.alias_image && data.alias_image.ok === false) throw new Error(data.alias_image.msg);
        return alias;
      },
    });
    if (added) {
      toast(`The alias ${added} now names ${target}.`, "success");
      await load();
    }
  }

  async function removeAlias(alias) {
    if (!(await confirmDialog("Remove alias", `Remove the alias "${alias}"? Sessions can no longer name the image by it.`, "Remove", true))) return;
    try {
      const data = await gql(`mutation($alias: String!) { dealias_image(alias: $alias) { ok msg } }`, { alias });
      if (data.dealias_image && data.dealias_image.ok === false) throw new Error(data.dealias_image.msg);
    } catch (e) {
      toast(`The alias ${alias} was not removed: ${messageOf(e)}`, "error", 12000);
      return;
    }
    toast(`The alias ${alias} is removed.`, "success");
    await load();
  }

  function showLabels(img) {
    const labels = img.labels || [];
    openDialog({
      title: `Labels of ${fullName(img)}`, className: "wide",
      body: [
        h("p", { class: "muted", text: `Digest ${img.digest || "-"}; accelerators: ${(img.supported_accelerators || []).join(", ") || "none"}; on agents: ${(img.installed_agents || []).join(", ") || "none"}.` }),
        table([{ label: "Label", cell: (l) => h("span", { class: "mono", text: l.key }) },
          { label: "Value", cell: (l) => h("span", { class: "mono", text: l.value }) }], labels,
        { empty: "No labels." })],
      actions: [{ label: "Close", value: true }],
    });
  }

  async function rescan() {
    rescanButton.disabled = true;
    progress.hidden = false;
    rescanStatus.textContent = "Rescanning the agents' images… this can take a while.";
    try {
      const data = await gql("mutation($registry: String) { rescan_images(registry: $registry) { ok msg task_id } }",
        { registry: null });
      const answer = data.rescan_images || {};
      rescanStatus.textContent = answer.msg || "Rescanned.";
      toast(answer.msg || "Rescanned.", answer.ok === false ? "error" : "success");
      await load();
    } catch (e) {
      rescanStatus.textContent = `The rescan failed: ${messageOf(e)}`;
      toast(`The rescan failed: ${messageOf(e)}`, "error", 12000);
    } finally {
      rescanButton.disabled = false;
      progress.hidden = true;
    }
  }

  clear(body, h("p", { class: "loading", role: "status", text: "Loading…" }));
  await load();
}
