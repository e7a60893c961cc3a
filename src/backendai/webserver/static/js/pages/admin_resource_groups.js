// "Resource groups" (scaling groups): the list with each group's agents and capacity, create,
// edit, delete, and which domains and groups (projects) may use each one. Superadmins only:
// the server refuses the others, and its refusal is what they see.
import { gql } from "../api.js";
import {
  clear, confirmDialog, errorBox, field, formatTime, h, messageOf, openDialog, pager, table, toast,
} from "../dom.js";
import { capacityBars, FieldError, formDialog, parseJson, setFieldError } from "./admin_infra_common.js";

const PAGE_SIZE = 20;
// What the server knows (services/scaling_groups.py); a group's current value is kept too.
const SCHEDULERS = ["fifo"];
const DRIVERS = ["static"];

const LIST = `query {
  scaling_groups { name description is_active created_at driver driver_opts scheduler
    scheduler_opts wsproxy_addr agent_count_by_status agent_total_resource_slots_by_status }
}`;
const DOMAINS = "query { domains { name scaling_groups } }";
const GROUPS = "query { groups { id name domain_name scaling_groups } }";

async function mutate(query, variables, field) {
  const data = await gql(query, variables);
  const answer = data && data[field];
  if (answer && answer.ok === false) throw new Error(answer.msg || "The server refused it.");
  return answer;
}

export async function render(root, ctx) {
  const state = { groups: [], domains: null, page: 0 };
  const body = h("div", { class: "infra-content" });
  const problem = h("div", { class: "infra-problem" });
  const addButton = h("button", { type: "button", class: "primary", text: "Add resource group",
    on: { click: () => editGroup(null) } });
  clear(root,
    h("h1", { text: "Resource groups" }),
    ctx.isSuperadmin ? null
      : h("p", { class: "notice", text: "Only superadmins manage resource groups; the server may refuse changes." }),
    h("div", { class: "toolbar" }, addButton, h("span", { class: "spacer" }),
      h("button", { type: "button", text: "Refresh", on: { click: () => load() } })),
    problem, body);

  async function load() {
    const [groups, domains] = await Promise.allSettled([gql(LIST), gql(DOMAINS)]);
    if (groups.status === "rejected") {
      // A failed refresh keeps the list shown and says why above it.
      if (body.querySelector("table")) clear(problem, errorBox(groups.reason, load));
      else clear(body, errorBox(groups.reason, load));
      return;
    }
    clear(problem);
    state.groups = groups.value.scaling_groups || [];
    // The domains are only a column: without them (a refusal) the list still shows.
    state.domains = domains.status === "fulfilled" ? domains.value.domains || [] : null;
    const pages = Math.max(1, Math.ceil(state.groups.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    show();
  }

  function domainsOf(name) {
    if (!state.domains) return null;
    return state.domains.filter((d) => (d.scaling_groups || []).includes(name)).map((d) => d.name);
  }

  function show() {
    const rows = state.groups.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    const columns = [
      { label: "Name", cell: (g) => [h("strong", { text: g.name }),
        h("div", { class: "muted", text: `created ${formatTime(g.created_at)}` })] },
      { label: "Description", cell: (g) => g.description || "" },
      { label: "Active", cell: (g) => h("span", { class: `badge ${g.is_active ? "status-RUNNING" : "status-TERMINATED"}`,
        text: g.is_active ? "active" : "inactive" }) },
      { label: "Scheduler", cell: (g) => schedulerCell(g) },
      { label: "Domains", class: "infra-domains", cell: (g) => {
        const names = domainsOf(g.name);
        if (names === null) return h("span", { class: "muted", text: "not readable" });
        return names.length ? names.join(", ") : h("span", { class: "muted", text: "none" });
      } },
      { label: "Agents", cell: (g) => String(g.agent_count_by_status ?? "-") },
      { label: "Capacity", cell: (g) => {
        const cap = parseJson(g.agent_total_resource_slots_by_status);
        return capacityBars(cap.available_slots || {}, cap.occupied_slots || {}, g.name);
      } },
      { label: "Actions", class: "actions", cell: (g) => [
        h("button", { type: "button", text: "Edit", "aria-label": `Edit ${g.name}`,
          on: { click: () => editGroup(g) } }),
        h("button", { type: "button", text: "Associations", "aria-label": `Associations of ${g.name}`,
          on: { click: () => associations(g) } }),
        h("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${g.name}`,
          on: { click: () => remove(g) } }),
      ] },
    ];
    clear(body,
      table(columns, rows, { caption: "Resource groups", empty: "There is no resource group.",
        rowAttrs: (g) => ({ dataset: { resourceGroup: g.name } }) }),
      state.groups.length > PAGE_SIZE ? pager({ page: state.page, pageSize: PAGE_SIZE,
        total: state.groups.length, label: "Resource group pages",
        onPage: (p) => { state.page = p; show(); } }) : null);
  }

  function schedulerCell(g) {
    const opts = parseJson(g.scheduler_opts);
    return [g.scheduler,
      Object.keys(opts).length ? h("div", {}, h("code", { class: "infra-opts", text: JSON.stringify(opts) })) : null,
      h("div", { class: "muted", text: `driver ${g.driver}` })];
  }

  async function editGroup(group) {
    const creating = group === null;
    const name = h("input", { type: "text", required: true, maxlength: "64", autocomplete: "off",
      value: creating ? "" : group.name, disabled: !creating });
    const description = h("input", { type: "text", maxlength: "512", value: creating ? "" : group.description || "" });
    const active = h("input", { type: "checkbox", checked: creating ? true : group.is_active });
    const choices = (known, current) => [...new Set([...known, ...(current ? [current] : [])])]
      .map((v) => h("option", { value: v, text: v, selected: v === current }));
    const scheduler = h("select", {}, choices(SCHEDULERS, creating ? "fifo" : group.scheduler));
    const driver = h("select", {}, choices(DRIVERS, creating ? "static" : group.driver));
    const opts = h("textarea", { rows: "3", class: "mono", spellcheck: "false" });
    opts.value = JSON.stringify(creating ? {} : parseJson(group.scheduler_opts), null, 1);
    const form = h("div", {},
      field("Name", name, creating ? "1 to 64 characters; it cannot be changed later." : null),
      field("Description", description),
      h("label", { class: "check" }, active, "Active"),
      field("Scheduler", scheduler),
      field("Scheduler options (JSON)", opts, "A JSON object, e.g. {} for none."),
      field("Driver", driver));
    const saved = await formDialog({
      title: creating ? "Add resource group" : `Edit resource group ${group.name}`,
      body: form,
      submitLabel: creating ? "CREATE" : "SAVE",
      async submit() {
        setFieldError(name, "");
        setFieldError(opts, "");
        const wanted = name.value.trim();
        if (creating) {
          if (!wanted) throw new FieldError(name, "Enter a name (1 to 64 characters).");
          if (wanted.length > 64) throw new FieldError(name, "The name is too long: use at most 64 characters.");
          if (state.groups.some((g) => g.name === wanted)) {
            throw new FieldError(name, `A resource group named "${wanted}" already exists: choose another name.`);
          }
        }
        let parsed;
        try {
          parsed = JSON.parse(opts.value.trim() || "{}");
        } catch (e) {
          throw new FieldError(opts, `Not valid JSON (${e.message}): write an object such as {}.`);
        }
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
          throw new FieldError(opts, "The scheduler options must be a JSON object, such as {}.");
        }
        const input = {
          description: description.value, is_active: active.checked, scheduler: scheduler.value,
          scheduler_opts: JSON.stringify(parsed), driver: driver.value,
        };
        if (creating) {
          await mutate(`mutation($name: String!, $input: CreateScalingGroupInput!) {
            create_scaling_group(name: $name, props: $input) { ok msg } }`,
          { name: wanted, input }, "create_scaling_group");
          return wanted;
        }
        await mutate(`mutation($name: String!, $input: ModifyScalingGroupInput!) {
          modify_scaling_group(name: $name, props: $input) { ok msg } }`,
        { name: group.name, input }, "modify_scaling_group");
        return group.name;
      },
    });
    if (saved) {
      toast(creating ? `The resource group ${saved} is created.` : `The resource group ${saved} is saved.`, "success");
      await load();
    }
  }

  async function remove(group) {
    const ok = await confirmDialog("Delete resource group",
      `Delete the resource group "${group.name}"? Sessions can no longer start in it.`, "DELETE", true);
    if (!ok) return;
    try {
      await mutate(`mutation($name: String!) { delete_scaling_group(name: $name) { ok msg } }`,
        { name: group.name }, "delete_scaling_group");
    } catch (e) {
      toast(`The resource group ${group.name} was not deleted: ${messageOf(e)}`, "error", 12000);
      return;
    }
    toast(`The resource group ${group.name} is deleted.`, "success");
    await load();
  }

  async function associations(group) {
    const content = h("div", {}, h("p", { class: "loading", role: "status", text: "Loading…" }));
    const { done } = openDialog({
      title: `Associations of ${group.name}`, body: content, className: "wide",
      actions: [{ label: "Close", value: true }],
    });
    done.then(() => load());
    const [domains, groups] = await Promise.allSettled([gql(DOMAINS), gql(GROUPS)]);
    clear(content,
      h("p", { class: "muted", text: "Users start sessions in the active resource groups associated with their domain, their group (project) or their keypair." }),
      h("h3", { text: "Domains" }),
      domains.status === "fulfilled" ? checklist(group, domains.value.domains || [], DOMAIN_KIND) : errorBox(domains.reason),
      h("h3", { text: "Groups (projects)" }),
      groups.status === "fulfilled" ? checklist(group, groups.value.groups || [], GROUP_KIND) : errorBox(groups.reason));
  }

  // One checkbox per domain or group, ticked where the association exists; a change is sent
  // at once and undone on the screen when the server refuses it.
  function checklist(group, items, kind) {
    if (!items.length) return h("p", { class: "muted", text: `No ${kind.noun} is visible to you.` });
    return h("ul", { class: "infra-checklist" }, items.map((item) => {
      const box = h("input", { type: "checkbox", checked: (item.scaling_groups || []).includes(group.name) });
      const label = kind.label(item);
      box.addEventListener("change", async () => {
        const on = box.checked;
        box.disabled = true;
        try {
          const op = `${on ? "associate" : "disassociate"}_scaling_group_with_${kind.op}`;
          await mutate(`mutation($scaling_group: String!, $target: ${kind.type(on)}) {
            ${op}(scaling_group: $scaling_group, ${kind.op}: $target) { ok msg } }`,
          { scaling_group: group.name, target: kind.key(item) }, op);
          toast(on ? `The ${label} may use ${group.name}.` : `The ${label} no longer uses ${group.name}.`, "success");
        } catch (e) {
          box.checked = !on;
          toast(`The ${label} was not changed: ${messageOf(e)}`, "error", 12000);
        } finally {
          box.disabled = false;
        }
      });
      return h("li", {}, h("label", { class: "check" }, box, label[0].toUpperCase() + label.slice(1)));
    }));
  }

  const DOMAIN_KIND = {
    noun: "domain", op: "domain", key: (d) => d.name, type: () => "String!",
    label: (d) => `domain ${d.name}`,
  };
  // The client's wire types: associate takes a UUID!, disassociate a String!.
  const GROUP_KIND = {
    noun: "group", op: "user_group", key: (g) => g.id, type: (on) => (on ? "UUID!" : "String!"),
    label: (g) => `group ${g.name} (${g.domain_name})`,
  };

  clear(body, h("p", { class: "loading", role: "status", text: "Loading…" }));
  await load();
}
