// "Announcements": the message every user sees in the banner after logging in (and every CLI
// command prints once). Posting and clearing it is for superadmins; the server refuses others.
import { request } from "../api.js";
import { clear, errorBox, field, h, messageOf, toast } from "../dom.js";
import { setFieldError } from "./admin_infra_common.js";

const MAX_LENGTH = 65536; // the manager's limit (api/manager_status.py)

/** The shell's banner shows the new announcement at once for the admin who posted it. */
function updateBanner(enabled, message) {
  const banner = document.querySelector('.announcement[role="region"]');
  if (!banner) return;
  if (enabled && message) {
    clear(banner, h("strong", { text: "Announcement: " }), h("span", { text: message }));
    banner.hidden = false;
  } else {
    clear(banner);
    banner.hidden = true;
  }
}

export async function render(root, ctx) {
  const current = h("div", { class: "card infra-current", role: "region", "aria-label": "Current announcement" });
  const message = h("textarea", { rows: "5", maxlength: String(MAX_LENGTH), class: "infra-message" });
  const enabled = h("input", { type: "checkbox", checked: true });
  const formError = h("p", { class: "form-message", role: "alert" });
  const save = h("button", { type: "button", class: "primary", text: "SAVE", on: { click: () => post(enabled.checked) } });
  const clearButton = h("button", { type: "button", class: "danger", text: "Clear announcement",
    on: { click: () => post(false, true) } });
  const counter = h("small", { class: "hint", "aria-live": "polite" });
  const form = h("section", { class: "card", "aria-label": "Edit the announcement" },
    field("Message", message, "Shown to every user at the top of the page after logging in, and by the CLI."),
    counter,
    h("label", { class: "check" }, enabled, "Enabled"),
    formError,
    h("div", { class: "row" }, save, clearButton));
  message.addEventListener("input", () => {
    counter.textContent = `${message.value.length} of ${MAX_LENGTH} characters`;
    setFieldError(message, "");
  });
  clear(root,
    h("h1", { text: "Announcements" }),
    ctx.isSuperadmin ? null
      : h("p", { class: "notice", text: "Only superadmins post announcements; the server may refuse." }),
    h("h2", { text: "Current announcement" }), current,
    h("h2", { text: "New announcement" }), form);

  function showCurrent(answer) {
    if (answer && answer.enabled && answer.message) {
      clear(current, h("p", { class: "infra-announcement-text", text: answer.message }),
        h("span", { class: "badge status-RUNNING", text: "enabled" }));
    } else {
      clear(current, h("p", { class: "muted", text: "No announcement is shown." }));
    }
  }

  async function load(fillForm) {
    let answer;
    try {
      answer = await request("GET", "/manager/announcement");
    } catch (e) {
      clear(current, errorBox(e, () => load(fillForm)));
      return;
    }
    showCurrent(answer);
    if (fillForm) {
      message.value = (answer && answer.message) || "";
      enabled.checked = answer ? Boolean(answer.enabled) || !answer.message : true;
      counter.textContent = `${message.value.length} of ${MAX_LENGTH} characters`;
    }
  }

  async function post(on, wipe = false) {
    formError.textContent = "";
    setFieldError(message, "");
    const text = message.value.trim();
    if (on && !text) {
      setFieldError(message, "Write the message to announce, or clear the announcement instead.");
      message.focus();
      return;
    }
    if (text.length > MAX_LENGTH) {
      setFieldError(message, `The message is too long: at most ${MAX_LENGTH} characters.`);
      message.focus();
      return;
    }
    save.disabled = true;
    clearButton.disabled = true;
    try {
      await request("POST", "/manager/announcement", { json: { enabled: on, message: on ? text : null } });
    } catch (e) {
      formError.textContent = `The announcement was not ${on ? "saved" : "cleared"}: ${messageOf(e)}`;
      return;
    } finally {
      save.disabled = false;
      clearButton.disabled = false;
    }
    if (wipe) {
      message.value = "";
      counter.textContent = "";
    }
    updateBanner(on, text);
    toast(on ? "The announcement is saved." : "The announcement is cleared.", "success");
    await load(false);
  }

  clear(current, h("p", { class: "loading", role: "status", text: "Loading…" }));
  await load(true);
}
