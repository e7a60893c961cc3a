// The app launcher of a session ("Apps of NAME") and the opening of one app in a new window
// through the app proxy (POST /session/{ref}/apps/{app} answers the route's URL with its
// one-time ?app_token=).
import { request } from "../api.js";
import { errorBox, field, h, messageOf, newId, openDialog, toast } from "../dom.js";

const LABELS = {
  jupyter: "Jupyter Notebook",
  jupyterlab: "JupyterLab",
  ttyd: "Web terminal (ttyd)",
  sshd: "SSH / SFTP (sshd)",
  tensorboard: "TensorBoard",
  vscode: "Visual Studio Code (vscode)",
  "vscode-desktop": "Visual Studio Code Desktop (vscode-desktop)",
  mlflow: "MLflow (mlflow)",
  "nni-board": "NNI Board (nni-board)",
  h2o: "H2O (h2o)",
  digits: "DIGITS (digits)",
  spectravis: "SpectraVis (spectravis)",
};
const INTRINSIC = ["ttyd", "sshd"];
// Apps that speak no HTTP: a browser window cannot use them, so the launcher explains.
const NOT_IN_BROWSER = new Set(["sshd"]);

export function appLabel(app) {
  if (LABELS[app]) return LABELS[app];
  const preopen = /^preopen-(\d+)$/.exec(app);
  if (preopen) return `Port ${preopen[1]} (${app})`;
  return app;
}

/** A session's reference in URLs: its id where known (names of ended sessions repeat). */
export function sessionRef(session) {
  return encodeURIComponent(session.session_id || session.name);
}

/** The names of the apps in a session's service_ports (a JSON string or a list). */
export function serviceNames(session) {
  let ports = session.service_ports;
  if (typeof ports === "string") {
    try { ports = JSON.parse(ports); } catch { ports = []; }
  }
  if (!Array.isArray(ports)) return [];
  return ports.map((p) => (p && typeof p === "object" ? p.name : p)).filter((n) => typeof n === "string");
}

function safeAppUrl(raw) {
  const url = new URL(String(raw), window.location.href);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`The app proxy answered an unusable address (${url.protocol}).`);
  }
  return url.href;
}

// The new window is opened at once, in the click, where popup blockers allow it; the app's
// URL comes seconds later, once the app runs.
function blankWindow(text) {
  const win = window.open("", "_blank");
  if (!win) return null;
  try {
    win.document.title = text;
    const p = win.document.createElement("p");
    p.textContent = text;
    win.document.body.append(p);
  } catch { /* a window we cannot write to still takes the URL */ }
  return win;
}

/**
 * Opens `app` of `session` in a new window. Must be called synchronously from a click (the
 * window opens before the first await). Resolves to the server's AppOpened; throws ApiError
 * (e.g. 502 app-start-failed with the app's log) after closing the window.
 */
export async function openApp(session, app, { openToPublic = false, preferredPort = null } = {}) {
  const label = appLabel(app);
  const win = blankWindow(`Starting ${label} of ${session.name}…`);
  const json = { open_to_public: openToPublic };
  if (preferredPort) json.preferred_port = preferredPort;
  try {
    const opened = await request("POST", `/session/${sessionRef(session)}/apps/${encodeURIComponent(app)}`, { json });
    const url = safeAppUrl(opened.url);
    if (win && !win.closed) {
      win.opener = null; // the app must not reach back into this page
      win.location.replace(url);
    } else {
      popupBlocked(label, url);
    }
    return opened;
  } catch (e) {
    if (win && !win.closed) win.close();
    throw e;
  }
}

function popupBlocked(label, url) {
  const link = h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: `Open ${label}` });
  const el = toast(`The browser blocked the new window. `, "info", 0);
  el.insertBefore(link, el.lastChild);
}

/** The Terminal/Jupyter buttons: open directly, progress and failures as toasts. */
export function openAppFromButton(session, app) {
  const label = appLabel(app);
  const note = toast(`Starting ${label} of ${session.name}…`, "info", 0);
  openApp(session, app)
    .catch((e) => toast(`${label} of ${session.name} did not open: ${messageOf(e)}`, "error", 15000))
    .finally(() => note.remove());
}

function sshHelp(session) {
  const name = session.name;
  const lines = [
    `backend.ai app ${name} sshd -b 127.0.0.1:9922`,
    `backend.ai download ${name} id_container`,
    "ssh -i id_container -p 9922 work@127.0.0.1",
    "sftp -i id_container -P 9922 work@127.0.0.1",
  ];
  return h("div", { class: "ssh-help", id: newId("ssh") },
    h("p", { text: "SSH and SFTP do not open in a browser window. Connect with the backend.ai client: it forwards a local port to the session's sshd, with the session's key:" }),
    h("pre", { class: "ssh-commands", text: lines.join("\n") }),
    h("p", { class: "muted", text: `Or in one step: backend.ai ssh ${name}` }));
}

/** The dialog "Apps of NAME": one button per app, and how to open it. */
export function openAppLauncher(session) {
  const publicBox = h("input", { type: "checkbox", id: newId("pub") });
  const preferBox = h("input", { type: "checkbox", id: newId("pref") });
  const portInput = h("input", { type: "number", min: "1", max: "65535", step: "1", disabled: true,
    inputmode: "numeric" });
  const portError = h("p", { class: "field-error", role: "alert", hidden: true, id: newId("porterr") });
  preferBox.addEventListener("change", () => {
    portInput.disabled = !preferBox.checked;
    if (preferBox.checked) portInput.focus();
    checkPort();
  });
  portInput.addEventListener("input", checkPort);

  function checkPort() {
    let message = "";
    if (preferBox.checked) {
      const text = portInput.value.trim();
      const n = Number(text);
      if (!text) message = "Enter a port number, or clear “Try preferred port”.";
      else if (!Number.isInteger(n) || n < 1 || n > 65535) message = "A port is a whole number from 1 to 65535.";
    }
    portError.textContent = message;
    portError.hidden = !message;
    portInput.setAttribute("aria-invalid", message ? "true" : "false");
    return !message;
  }

  const status = h("p", { class: "app-status", role: "status", "aria-live": "polite" });
  const failure = h("div", { class: "app-failure" });
  const list = h("div", { class: "app-list", role: "group", "aria-label": "Apps" },
    h("p", { class: "loading", text: "Loading the apps…" }));
  // Always in the page (empty while closed) so that "How to connect" can point at it.
  const sshArea = h("div", { id: newId("sshhelp") });
  const body = h("div", { class: "app-launcher" },
    list,
    status,
    failure,
    sshArea,
    h("fieldset", { class: "app-options" },
      h("legend", { text: "Options" }),
      h("div", { class: "check" }, publicBox, h("label", { for: publicBox.id, text: "Open app to public" })),
      h("p", { class: "hint muted", text: "Anyone who can reach the app proxy reaches a public app, without a token." }),
      h("div", { class: "check" }, preferBox, h("label", { for: preferBox.id, text: "Try preferred port" })),
      field("Preferred port", portInput, "Used when the app proxy has it free; else it picks one."),
      portError));
  portInput.setAttribute("aria-describedby", `${portInput.getAttribute("aria-describedby")} ${portError.id}`);
  const dlg = openDialog({
    title: `Apps of ${session.name}`, body, className: "app-launcher-dialog",
    actions: [{ label: "Close", value: null }],
  });

  let busy = false;
  function launch(app, button) {
    if (busy) return;
    failure.replaceChildren();
    if (!checkPort()) { portInput.focus(); return; }
    busy = true;
    const label = appLabel(app);
    button.setAttribute("aria-busy", "true");
    list.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    status.textContent = `Starting ${label}… (this can take a few seconds)`;
    openApp(session, app, {
      openToPublic: publicBox.checked,
      preferredPort: preferBox.checked ? Number(portInput.value) : null,
    }).then((opened) => {
      status.textContent = `${label} opened in a new window${opened.public ? " (public)" : ""}.`;
    }).catch((e) => {
      status.textContent = "";
      failure.replaceChildren(errorBox(e));
    }).finally(() => {
      busy = false;
      button.removeAttribute("aria-busy");
      list.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    });
  }

  function show(names) {
    const buttons = [];
    for (const app of names) {
      if (NOT_IN_BROWSER.has(app)) {
        buttons.push(h("button", { type: "button", class: "app-button", title: "How to connect",
          "aria-expanded": "false", "aria-controls": sshArea.id, on: { click: (ev) => {
            const open = !sshArea.firstChild;
            sshArea.replaceChildren(...(open ? [sshHelp(session)] : []));
            ev.currentTarget.setAttribute("aria-expanded", String(open));
          } } }, appLabel(app)));
        continue;
      }
      const button = h("button", { type: "button", class: "app-button", title: `Open ${appLabel(app)} in a new window`,
        on: { click: () => launch(app, button) } }, appLabel(app));
      buttons.push(button);
    }
    list.replaceChildren(...buttons);
  }

  // What the agent lists now (what `backend.ai apps` shows); else what the session stored.
  request("GET", `/stream/session/${sessionRef(session)}/apps`).then((apps) => {
    const names = (Array.isArray(apps) ? apps : []).map((a) => a && a.name).filter((n) => typeof n === "string");
    show(order(names.length ? names : serviceNames(session)));
  }).catch((e) => {
    const stored = serviceNames(session);
    if (stored.length) show(order(stored));
    else list.replaceChildren(errorBox(e));
  });
  return dlg.done;
}

function order(names) {
  const all = [...new Set([...names, ...INTRINSIC])];
  const rank = (n) => (n === "jupyter" ? 0 : n === "jupyterlab" ? 1 : n === "ttyd" ? 2 : n === "sshd" ? 4 : 3);
  return all.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
