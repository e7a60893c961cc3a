// "Keypairs" (admins): keypair_list paged on the server; create one for a user (its secret
// key shown once, in the answer of create_keypair, and never asked for again by this page),
// activate/deactivate and delete.
import { gql } from "../api.js";
import { clear, confirmDialog, errorBox, formatTime, h, messageOf, openDialog, pager, table, toast } from "../dom.js";
import { EMAIL_RE, checked, checkedField, copyableValue, formDialog, select, validateAll } from "./admin_people_common.js";

const PAGE_SIZE = 20;
const FIELDS = `access_key user_id is_active is_admin resource_policy rate_limit concurrency_used
  concurrency_limit created_at last_used user_info { email }`;

export async function render(root, ctx) {
  const state = { page: 0, active: "", email: ctx.params.get("email") || "" };
  const activeSel = select([["", "All"], ["true", "Active"], ["false", "Inactive"]], "");
  activeSel.id = "kp-active";
  const find = h("input", { type: "search", id: "kp-email", value: state.email, placeholder: "someone@example.com", spellcheck: "false" });
  const content = h("div", {});
  root.append(
    h("h1", { text: "Keypairs" }),
    h("div", { class: "toolbar" },
      h("button", { type: "button", class: "primary", text: "Create keypair", on: { click: () => createKeypair(load) } }),
      h("span", { class: "spacer" }),
      h("label", { for: "kp-active", text: "Show" }), activeSel,
      h("form", { class: "row", on: { submit: (ev) => { ev.preventDefault(); state.email = find.value.trim(); state.page = 0; load(); } } },
        h("label", { for: "kp-email", text: "User email" }), find, h("button", { type: "submit", text: "Filter" }))),
    content);
  activeSel.addEventListener("change", () => { state.active = activeSel.value; state.page = 0; load(); });

  async function load() {
    clear(content, h("p", { class: "loading", role: "status", text: "Loading…" }));
    let list;
    try {
      const data = await gql(`query($limit: Int!, $offset: Int!, $email: String, $active: Boolean) {
        keypair_list(limit: $limit, offset: $offset, email: $email, is_active: $active) { total_count items { ${FIELDS} } } }`,
      { limit: PAGE_SIZE, offset: state.page * PAGE_SIZE, email: state.email || null,
        active: state.active === "" ? null : state.active === "true" });
      list = data.keypair_list;
    } catch (e) {
      clear(content, errorBox(e, load));
      return;
    }
    clear(content,
      table([
        { label: "Access key", cell: (k) => h("code", { class: "nowrap", text: k.access_key }) },
        { label: "User", cell: (k) => (k.user_info && k.user_info.email) || k.user_id },
        { label: "Active", cell: (k) => h("span", { class: `badge ${k.is_active ? "user-active" : "user-inactive"}`, text: k.is_active ? "active" : "inactive" }) },
        { label: "Admin", cell: (k) => (k.is_admin ? "yes" : "no") },
        { label: "Resource policy", cell: (k) => k.resource_policy },
        { label: "Rate limit", cell: (k) => `${k.rate_limit} / 15 min` },
        { label: "Sessions", cell: (k) => `${k.concurrency_used} / ${k.concurrency_limit || "∞"}` },
        { label: "Created", cell: (k) => formatTime(k.created_at) },
        { label: "Actions", class: "actions", cell: (k) => actions(ctx, k, load) },
      ], list.items, { caption: "Keypairs", empty: "No keypairs match.",
        rowAttrs: (k) => ({ dataset: { accessKey: k.access_key } }) }),
      pager({ page: state.page, pageSize: PAGE_SIZE, total: list.total_count, label: "Keypair pages",
        onPage: (p) => { state.page = p; load(); } }));
  }
  await load();
}

function actions(ctx, k, reload) {
  const mine = k.access_key === ctx.user.access_key;
  const run = async (query, what) => {
    try {
      const data = await gql(query, { ak: k.access_key });
      checked(Object.values(data)[0], what);
      toast(`${what}: ${k.access_key}.`, "success");
      reload();
    } catch (e) {
      toast(`${what} failed: ${messageOf(e)}`, "error");
    }
  };
  const toggle = k.is_active
    ? h("button", { type: "button", text: "Deactivate", "aria-label": `Deactivate ${k.access_key}`, disabled: mine,
      on: { click: async () => {
        if (!(await confirmDialog("Deactivate keypair", `Deactivate ${k.access_key}? Requests signed with it are refused until it is activated again.`, "DEACTIVATE", true))) return;
        run(`mutation($ak: String!) { modify_keypair(access_key: $ak, props: {is_active: false}) { ok msg } }`, "Keypair deactivated");
      } } })
    : h("button", { type: "button", text: "Activate", "aria-label": `Activate ${k.access_key}`,
      on: { click: () => run(`mutation($ak: String!) { modify_keypair(access_key: $ak, props: {is_active: true}) { ok msg } }`, "Keypair activated") } });
  return [toggle,
    h("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${k.access_key}`, disabled: mine,
      on: { click: async () => {
        if (!(await confirmDialog("Delete keypair", `Delete ${k.access_key} of ${(k.user_info && k.user_info.email) || k.user_id}? This cannot be undone.`, "DELETE", true))) return;
        run(`mutation($ak: String!) { delete_keypair(access_key: $ak) { ok msg } }`, "Keypair deleted");
      } } })];
}

async function createKeypair(reload) {
  let policies = [];
  try {
    policies = (await gql("query { keypair_resource_policies { name } }")).keypair_resource_policies.map((p) => p.name);
  } catch (e) {
    toast(`The resource policies could not be read: ${messageOf(e)}`, "error");
  }
  const email = checkedField("User email", h("input", { type: "email", spellcheck: "false", autocomplete: "off" }));
  const policy = checkedField("Resource policy", select(policies.map((p) => [p, p]), policies.includes("default") ? "default" : policies[0]));
  const rate = checkedField("Rate limit", h("input", { type: "number", min: "1", step: "1", value: "5000" }), "Requests per 15 minutes.");
  const admin = h("input", { type: "checkbox", id: "kp-new-admin" });
  const active = h("input", { type: "checkbox", id: "kp-new-active", checked: true });
  const { done } = formDialog({
    title: "Create keypair", submitLabel: "CREATE",
    body: [email.el, policy.el, rate.el,
      h("label", { class: "check", for: "kp-new-active" }, active, " Active"),
      h("label", { class: "check", for: "kp-new-admin" }, admin, " Admin keypair (acts with the user's admin rights)")],
    async submit() {
      const ok = validateAll([
        [email, (v) => (EMAIL_RE.test(v.trim()) ? null : "Give the email of the user who gets the keypair.")],
        [policy, (v) => (v ? null : "Choose a resource policy (create one on the Resource policies page).")],
        [rate, (v) => (/^\d+$/.test(v) && Number(v) >= 1 ? null : "Give a whole number of requests, at least 1.")],
      ]);
      if (!ok) return false;
      const data = await gql(`mutation($user: String!, $props: KeyPairInput!) {
        create_keypair(user_id: $user, props: $props) { ok msg keypair { access_key secret_key user_id } } }`,
      { user: email.control.value.trim(), props: { is_active: active.checked, is_admin: admin.checked,
        resource_policy: policy.control.value, rate_limit: Number(rate.control.value) } });
      checked(data.create_keypair, "Creating the keypair");
      return data.create_keypair.keypair;
    },
  });
  const made = await done;
  if (!made) return;
  reload();
  await showSecretOnce(made);
}

/** The new secret, in a dialog of its own; nothing keeps it once the dialog is closed. */
async function showSecretOnce(kp) {
  const { done } = openDialog({
    title: "New keypair",
    className: "people-dialog",
    body: [
      h("p", { text: `A keypair for ${kp.user_id}.` }),
      copyableValue("Access key", kp.access_key),
      kp.secret_key ? copyableValue("Secret key", kp.secret_key) : h("p", { text: "The server did not show the secret key." }),
      h("p", { class: "secret-warning", role: "alert",
        text: "Copy the secret key now: it will not be shown again. Hand it to its user over a safe channel." }),
    ],
    actions: [{ label: "I have saved it", value: true, class: "primary" }],
    cancelValue: true,
  });
  await done;
}
