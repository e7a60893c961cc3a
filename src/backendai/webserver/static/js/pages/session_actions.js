// The per-session controls of a Sessions row: the app launcher, the web terminal, Jupyter,
// the container log, the status timeline and termination. Each button names its session in
// its accessible name ("Logs of NAME") so that keyboard and screen-reader users (and tests)
// can tell the rows apart.
import { h } from "../dom.js";
import { openAppFromButton, openAppLauncher, serviceNames } from "./app_launcher.js";
import { openLogs } from "./session_logs.js";
import { openTerminate } from "./session_terminate.js";
import { openTimeline } from "./session_timeline.js";

// Statuses in which the session's container exists (or its log was kept at its end).
const NO_CONTAINER = new Set(["PENDING", "SCHEDULED", "PULLING", "CANCELLED"]);
// Ended sessions: nothing left to terminate (the server's DEAD_SESSION_STATUSES).
const ENDED = new Set(["TERMINATED", "CANCELLED", "ERROR"]);

/** The Jupyter app a session offers, preferring the classic notebook; null when none. */
export function jupyterApp(session) {
  const names = serviceNames(session);
  if (names.includes("jupyter")) return "jupyter";
  if (names.includes("jupyterlab")) return "jupyterlab";
  return null;
}

function iconButton(symbol, label, onClick, extraClass = "") {
  return h("button", {
    type: "button", class: `icon session-action ${extraClass}`.trim(), "aria-label": label,
    title: label, on: { click: onClick },
  }, h("span", { "aria-hidden": "true", text: symbol }));
}

/**
 * The control buttons of one session row: Apps, Terminal, Jupyter (when the image has it),
 * Logs, Timeline, Terminate. `session` is a compute_session_list item (name, session_id,
 * status, service_ports, ...); onChanged() is called after a change (e.g. terminated).
 */
export function sessionActionButtons(session, ctx, { onChanged } = {}) {
  const name = session.name;
  const status = String(session.status || "").toUpperCase();
  const buttons = [];
  // An admin's list shows others' sessions too: their apps are the owner's alone (the server
  // refuses), and logs and termination must name the owner to find the session.
  const mine = !session.access_key || !ctx || !ctx.user || !ctx.user.access_key
    || session.access_key === ctx.user.access_key;
  const owner = mine ? null : session.access_key;
  if (status === "RUNNING" && mine) {
    buttons.push(iconButton("▦", `Apps of ${name}`, () => openAppLauncher(session)));
    buttons.push(iconButton(">_", `Terminal of ${name}`, () => openAppFromButton(session, "ttyd")));
    const jupyter = jupyterApp(session);
    if (jupyter) {
      buttons.push(iconButton("J", `Jupyter of ${name}`, () => openAppFromButton(session, jupyter)));
    }
  }
  if (!NO_CONTAINER.has(status)) {
    buttons.push(iconButton("≡", `Logs of ${name}`, () => openLogs(session, owner)));
  }
  buttons.push(iconButton("◷", `Timeline of ${name}`, () => openTimeline(session)));
  if (!ENDED.has(status)) {
    buttons.push(iconButton("✕", `Terminate ${name}`, async () => {
      if (await openTerminate(session, owner) && onChanged) onChanged();
    }, "terminate"));
  }
  return buttons;
}
