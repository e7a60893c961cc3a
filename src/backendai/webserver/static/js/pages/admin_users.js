// "Users" (admins): the users the server lets the caller see, paged on the server
// (user_list(limit, offset, status, filter)), found by part of an email or name; add, edit,
// deactivate and delete through GraphQL.
// A domain admin sees and manages its own domain's users (the server's rule, not ours).
import { gql } from "../api.js";
import { clear, confirmDialog, errorBox, h, messageOf, pager, table, toast } from "../dom.js";
import { EMAIL_RE, checked, checkedField, formDialog, select, validateAll } from "./admin_people_common.js";

const PAGE_SIZE = 20;
const FIELDS = "email username full_name role status domain_name need_password_change groups { id name }";
const STATUSES = ["active", "inactive", "deleted", "before-verification"];

// The server's filter expression for a search box: the text in the email, username or full
// name, any case, never a wildcard (icontains); JSON.stringify quotes it as the filter wants.
export function searchFilter(text) {
  const quoted = JSON.stringify(text);
  return ["email", "username", "full_name"].map((f) => `${f} icontains ${quoted}`).join(" | ");
}

export async function render(root, ctx) {
  const state = { page: 0, status: ctx.params.get("status") || "", search: "" };
  const statusSel = select([["", "All"], ...STATUSES.map((s) => [s, s])], state.status);
  statusSel.id = "users-status";
  const find = h("input", { type: "search", id: "users-find", placeholder: "part of an email or a name", spellcheck: "false" });
  const content = h("div", {});
  root.append(
    h("h1", { text: "Users" }),
    h("div", { class: "toolbar" },
      h("button", { type: "button", class: "primary", text: "Add user", on: { click: () => addUser(ctx, load) } }),
      h("span", { class: "spacer" }),
      h("label", { for: "users-status", text: "Status" }), statusSel,
      h("form", { class: "row", on: { submit: (ev) => { ev.preventDefault(); state.search = find.value.trim(); state.page = 0; load(); } } },
        h("label", { for: "users-find", text: "Find users" }), find,
        h("button", { type: "submit", text: "Find" }))),
    content);
  statusSel.addEventListener("change", () => { state.status = statusSel.value; state.page = 0; load(); });
  find.addEventListener("search", () => { if (!find.value) { state.search = ""; state.page = 0; load(); } });

  async function load() {
    clear(content, h("p", { class: "loading", role: "status", text: "Loading…" }));
    let items;
    let total;
    try {
      const data = await gql(`query($limit: Int!, $offset: Int!, $status: String, $filter: String) {
        user_list(limit: $limit, offset: $offset, status: $status, filter: $filter, order: "email") {
          total_count items { ${FIELDS} } } }`,
      { limit: PAGE_SIZE, offset: state.page * PAGE_SIZE, status: state.status || null,
        filter: state.search ? searchFilter(state.search) : null });
      items = data.user_list.items;
      total = data.user_list.total_count;
    } catch (e) {
      clear(content, errorBox(e, load));
      return;
    }
    clear(content,
      table([
        { label: "Email", cell: (u) => u.email },
        { label: "Username", cell: (u) => u.username || "-" },
        { label: "Role", cell: (u) => u.role },
        { label: "Status", cell: (u) => h("span", { class: `badge user-${u.status}`, text: u.status }) },
        { label: "Domain", cell: (u) => u.domain_name },
        { label: "Groups", cell: (u) => (u.groups || []).map((g) => g.name).join(", ") || "-" },
        { label: "Actions", class: "actions", cell: (u) => actions(ctx, u, load) },
      ], items, { caption: state.search ? `Users matching "${state.search}"` : "Users", empty: "No users match.",
        rowAttrs: (u) => ({ dataset: { userEmail: u.email, status: u.status } }) }),
      pager({ page: state.page, pageSize: PAGE_SIZE, total, label: "User pages",
        onPage: (p) => { state.page = p; load(); } }));
  }
  await load();
}

function actions(ctx, u, reload) {
  const self = u.email === ctx.user.email;
  const mutate = async (title, question, ok, query, what) => {
    if (!(await confirmDialog(title, question, ok, true))) return;
    try {
      const data = await gql(query, { email: u.email });
      checked(Object.values(data)[0], what);
      toast(`${what}: ${u.email}.`, "success");
      reload();
    } catch (e) {
      toast(`${what} failed: ${messageOf(e)}`, "error");
    }
  };
  return [
    h("button", { type: "button", text: "Edit", "aria-label": `Edit ${u.email}`, on: { click: () => editUser(ctx, u, reload) } }),
    u.status === "active" ? h("button", { type: "button", text: "Deactivate", "aria-label": `Deactivate ${u.email}`, disabled: self,
      on: { click: () => mutate("Deactivate user", `Deactivate ${u.email}? The user can no longer log in or use the API until an administrator sets the status back to active.`,
        "DEACTIVATE", `mutation($email: String!) { modify_user(email: $email, props: {status: "inactive"}) { ok msg } }`, "User deactivated") } }) : null,
    u.status !== "deleted" ? h("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${u.email}`, disabled: self,
      on: { click: () => mutate("Delete user", `Delete ${u.email}? The account is marked deleted and its keypairs are deactivated; its folders stay.`,
        "DELETE", `mutation($email: String!) { delete_user(email: $email) { ok msg } }`, "User deleted") } }) : null,
  ];
}

async function groupsOf(domain) {
  try {
    const data = await gql("query($d: String) { groups(domain_name: $d, is_active: true) { id name } }", { d: domain });
    return data.groups || [];
  } catch {
    return [];
  }
}

function roleOptions(ctx) {
  const roles = [["user", "user"], ["admin", "admin (domain admin)"], ["monitor", "monitor"]];
  return ctx.isSuperadmin ? [...roles, ["superadmin", "superadmin"]] : roles;
}

function groupPicker(groups, chosen) {
  if (!groups.length) return h("p", { class: "muted", text: "No groups to choose in this domain." });
  return h("fieldset", { class: "group-picker" }, h("legend", { text: "Groups" }),
    groups.map((g) => h("label", { class: "check" },
      h("input", { type: "checkbox", value: g.id, checked: chosen.includes(g.id) }), ` ${g.name}`)));
}

const pickedGroups = (box) => [...box.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);

async function addUser(ctx, reload) {
  let domain = "default";
  try {
    domain = (await gql("query { user { domain_name } }")).user.domain_name || domain;
  } catch {
    // The field stays editable for a superadmin; the server refuses a domain it may not use.
  }
  const groups = await groupsOf(domain);
  const email = checkedField("Email", h("input", { type: "email", autocomplete: "off", spellcheck: "false" }));
  const password = checkedField("Password", h("input", { type: "password", autocomplete: "new-password" }), "The user can change it in My account.");
  const username = checkedField("Username", h("input", { type: "text", autocomplete: "off", spellcheck: "false" }), "Optional; the email when left empty.");
  const fullName = checkedField("Full name", h("input", { type: "text", autocomplete: "off" }));
  const role = checkedField("Role", select(roleOptions(ctx), "user"));
  const status = checkedField("Status", select(STATUSES.map((s) => [s, s]), "active"));
  const npc = h("input", { type: "checkbox", id: "add-user-npc" });
  const domainInput = checkedField("Domain", h("input", { type: "text", value: domain, readonly: !ctx.isSuperadmin, spellcheck: "false" }));
  const groupBox = h("div", {}, groupPicker(groups, groups.filter((g) => g.name === "default").map((g) => g.id)));
  const { done } = formDialog({
    title: "Add user", submitLabel: "CREATE",
    body: [email.el, password.el, username.el, fullName.el, h("div", { class: "grid2" }, role.el, status.el),
      h("label", { class: "check", for: "add-user-npc" }, npc, " Ask to change the password at first login"),
      domainInput.el, groupBox],
    async submit() {
      const ok = validateAll([
        [email, (v) => (EMAIL_RE.test(v.trim()) ? null : "Give an email address like someone@example.com.")],
        [password, (v) => (!v ? "Give the user a password." : v.length > 256 ? "Use at most 256 characters." : null)],
        [username, (v) => (v.length > 64 ? "Use at most 64 characters." : null)],
        [fullName, (v) => (v.length > 64 ? "Use at most 64 characters." : null)],
        [domainInput, (v) => (v.trim() ? null : "Give the user's domain.")],
      ]);
      if (!ok) return false;
      const props = {
        password: password.control.value, username: username.control.value.trim() || null,
        full_name: fullName.control.value.trim() || null, role: role.control.value, status: status.control.value,
        need_password_change: npc.checked, domain_name: domainInput.control.value.trim(), group_ids: pickedGroups(groupBox),
      };
      const data = await gql(`mutation($email: String!, $props: UserInput!) {
        create_user(email: $email, props: $props) { ok msg user { email } } }`, { email: email.control.value.trim(), props });
      checked(data.create_user, "Creating the user");
      return data.create_user.user.email;
    },
  });
  const made = await done;
  if (made) { toast(`User ${made} created.`, "success"); reload(); }
}

async function editUser(ctx, u, reload) {
  const groups = await groupsOf(u.domain_name);
  const role = checkedField("Role", select(roleOptions(ctx), u.role));
  const status = checkedField("Status", select(STATUSES.map((s) => [s, s]), u.status));
  const fullName = checkedField("Full name", h("input", { type: "text", value: u.full_name || "" }));
  const password = checkedField("New password", h("input", { type: "password", autocomplete: "new-password" }), "Leave empty to keep the password.");
  const npc = h("input", { type: "checkbox", id: "edit-user-npc", checked: !!u.need_password_change });
  const groupBox = h("div", {}, groupPicker(groups, (u.groups || []).map((g) => g.id)));
  const { done } = formDialog({
    title: `Edit ${u.email}`, submitLabel: "SAVE",
    body: [h("div", { class: "grid2" }, role.el, status.el), fullName.el, password.el,
      h("label", { class: "check", for: "edit-user-npc" }, npc, " Ask to change the password at next login"), groupBox],
    async submit() {
      if (!validateAll([[fullName, (v) => (v.length > 64 ? "Use at most 64 characters." : null)],
        [password, (v) => (v.length > 256 ? "Use at most 256 characters." : null)]])) return false;
      const props = { role: role.control.value, status: status.control.value, full_name: fullName.control.value.trim(),
        need_password_change: npc.checked };
      if (password.control.value) props.password = password.control.value;
      if (groups.length) props.group_ids = pickedGroups(groupBox);
      const data = await gql(`mutation($email: String!, $props: ModifyUserInput!) {
        modify_user(email: $email, props: $props) { ok msg } }`, { email: u.email, props });
      checked(data.modify_user, "Changing the user");
      return true;
    },
  });
  if (await done) { toast(`User ${u.email} changed.`, "success"); reload(); }
}
