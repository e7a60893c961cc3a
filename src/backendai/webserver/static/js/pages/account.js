// "My account": who I am, my password, my keypair, my SSH keys and my dotfiles.
//
// The secret key, "shown once": users may not create keypairs (the authorization table gives
// KEYPAIR/CREATE to admins only), but an owner may read its own keypair's secret. So the page
// never loads the secret with the rest: "Show secret key" asks the server for it on an
// explicit click, shows it with a copy button and the warning, and "Hide secret key" (or
// leaving the page) drops it from the page again. Admins create keypairs for others on the
// Keypairs page, where a new secret is shown once and never again.
import { gql, request } from "../api.js";
import { clear, errorBox, h, messageOf, newId, toast } from "../dom.js";
import { checkedField, copyableValue, validateAll } from "./admin_people_common.js";
import { renderDotfiles } from "./account_dotfiles.js";
import { renderSshKeys } from "./account_ssh.js";

const ME = `query {
  user { email username full_name role domain_name need_password_change groups { name } }
  keypair { access_key resource_policy is_active last_used }
}`;

export async function render(root, ctx) {
  const content = h("div", { class: "account-page" });
  root.append(h("h1", { text: "My account" }), content);
  const load = async () => {
    clear(content, h("p", { class: "loading", role: "status", text: "Loading…" }));
    let data;
    try {
      data = await gql(ME);
    } catch (e) {
      clear(content, errorBox(e, load));
      return;
    }
    const sshCard = h("section", { class: "card", "aria-labelledby": "ssh-title" });
    const dotCard = h("section", { class: "card", "aria-labelledby": "dot-title" });
    clear(content, profileCard(data.user), passwordCard(), keypairCard(data.keypair || ctx.user), sshCard, dotCard);
    renderSshKeys(sshCard);
    renderDotfiles(dotCard);
  };
  await load();
}

function dl(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
}

function profileCard(user) {
  const groups = (user.groups || []).map((g) => g.name).join(", ") || "none";
  return h("section", { class: "card", "aria-labelledby": "profile-title" },
    h("h2", { id: "profile-title", text: "Profile" }),
    dl([
      ["Email", user.email], ["Username", user.username || "-"], ["Full name", user.full_name || "-"],
      ["Role", h("span", { class: "badge", text: user.role })], ["Domain", user.domain_name],
      ["Groups", groups],
    ]),
    user.need_password_change
      ? h("p", { class: "notice", role: "status", text: "An administrator asks you to change your password." })
      : null);
}

function passwordCard() {
  const current = checkedField("Current password", h("input", { type: "password", autocomplete: "current-password" }));
  const next = checkedField("New password", h("input", { type: "password", autocomplete: "new-password" }));
  const confirm = checkedField("Confirm new password", h("input", { type: "password", autocomplete: "new-password" }));
  const message = h("div", { class: "form-message", role: "alert" });
  const done = h("p", { class: "muted", role: "status" });
  const submit = h("button", { type: "submit", class: "primary", text: "Change password" });
  const form = h("form", { class: "password-form", novalidate: true, on: { submit: async (ev) => {
    ev.preventDefault();
    message.textContent = "";
    done.textContent = "";
    const ok = validateAll([
      [current, (v) => (v ? null : "Enter your current password.")],
      [next, (v) => (!v ? "Enter a new password." : v.length > 256 ? "Use at most 256 characters." : null)],
      [confirm, (v) => (v === next.control.value ? null : "The confirmation differs from the new password: type it again.")],
    ]);
    if (!ok) return;
    submit.disabled = true;
    try {
      await request("POST", "/auth/update-password", { json: {
        old_password: current.control.value, new_password: next.control.value, new_password2: confirm.control.value,
      } });
      form.reset();
      done.textContent = "Your password is changed. Use the new one the next time you log in.";
      toast("Password changed.", "success");
    } catch (e) {
      message.textContent = `The password was not changed: ${messageOf(e)}`;
      if (e.status === 403) current.setError("This is not your current password.");
    } finally {
      submit.disabled = false;
    }
  } } }, current.el, next.el, confirm.el, message, h("div", { class: "row" }, submit), done);
  return h("section", { class: "card", "aria-labelledby": "password-title" },
    h("h2", { id: "password-title", text: "Change password" }), form);
}

function keypairCard(keypair) {
  const secretBox = h("div", { class: "secret-box", id: newId("secret") });
  const toggle = h("button", { type: "button", text: "Show secret key", "aria-expanded": "false",
    "aria-controls": secretBox.id });
  let shown = false;
  toggle.addEventListener("click", async () => {
    if (shown) {
      clear(secretBox);
      shown = false;
      toggle.textContent = "Show secret key";
      toggle.setAttribute("aria-expanded", "false");
      return;
    }
    toggle.disabled = true;
    try {
      const data = await gql("query { keypair { access_key secret_key } }");
      if (!data.keypair || !data.keypair.secret_key) throw new Error("The server does not show this secret key.");
      clear(secretBox,
        h("p", { class: "secret-warning", role: "status",
          text: "Your secret key signs API requests as you. Copy it into your client's configuration now and keep it private; it is hidden again when you leave this page." }),
        copyableValue("Secret key", data.keypair.secret_key));
      shown = true;
      toggle.textContent = "Hide secret key";
      toggle.setAttribute("aria-expanded", "true");
    } catch (e) {
      toast(`The secret key could not be read: ${messageOf(e)}`, "error");
    } finally {
      toggle.disabled = false;
    }
  });
  return h("section", { class: "card", "aria-labelledby": "keypair-title" },
    h("h2", { id: "keypair-title", text: "API keypair" }),
    copyableValue("Access key", keypair.access_key || ""),
    keypair.resource_policy ? dl([["Resource policy", keypair.resource_policy]]) : null,
    h("div", { class: "row" }, toggle), secretBox,
    h("p", { class: "muted", text: "Need another keypair? An administrator creates it for you on the Keypairs page." }));
}
