// The login page at the webserver's root: email and password, errors said plainly.
import * as api from "../api.js";
import { clear, field, h } from "../dom.js";

export function renderLogin(root, { notice, onLoggedIn }) {
  document.title = "Log in · Backend.AI";
  const email = h("input", { type: "email", name: "username", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const message = h("div", { class: "form-message", role: "alert", "aria-live": "assertive" });
  const submit = h("button", { type: "submit", class: "primary", text: "Log in" });
  const form = h("form", { class: "login-form", "aria-label": "Log in", novalidate: true },
    h("h1", { text: "Log in to Backend.AI" }),
    notice ? h("p", { class: "notice", role: "status", text: notice }) : null,
    field("Email", email), field("Password", password), message, submit);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    message.textContent = "";
    if (!email.value.trim() || !password.value) {
      message.textContent = "Enter your email and your password.";
      (email.value.trim() ? password : email).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Logging in…";
    try {
      const answer = await api.login(email.value.trim(), password.value);
      onLoggedIn(answer.data);
    } catch (e) {
      message.textContent = loginError(e);
      password.value = "";
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = "Log in";
    }
  });
  clear(root, h("div", { class: "login-page" }, form));
  email.focus();
}

function loginError(e) {
  if (e.code === "login-locked") {
    return `${e.message} The account was locked after too many failed attempts, to stop password guessing; wait, or ask an administrator.`;
  }
  if (e.status === 401 || e.status === 403) return "The email or password is incorrect.";
  if (e.status === 429) return `Too many login attempts: ${e.message}`;
  return `Logging in failed: ${e.message}`;
}
