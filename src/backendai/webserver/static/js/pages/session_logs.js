// The dialog "Logs of NAME": the container's log (GET /session/{ref}/logs, its tail), followed
// live while the dialog is open; for batch sessions, the task's log as a second choice, asked
// from the byte the last answer ended at.
import { request } from "../api.js";
import { errorBox, field, formatBytes, h, newId, openDialog } from "../dom.js";
import { sessionRef } from "./app_launcher.js";

const REFRESH_MS = 2000;
const MAX_CHARS = 1024 * 1024; // what the <pre> keeps: beyond ~1 MiB the page would crawl

const ENDED = new Set(["TERMINATED", "CANCELLED", "ERROR"]);

function isBatch(session) {
  return String(session.type || session.session_type || "").toUpperCase() === "BATCH";
}

/** A task log read from the byte its last answer ended at: a running task's log is never
 * sent twice, however long the viewer stays open. Keeps at most 2 × MAX_CHARS of text. */
export class TaskLog {
  constructor() { this.offset = 0; this.text = ""; this.decoder = new TextDecoder(); }

  /** Adds the bytes of one answer; returns the text so far. */
  add(bytes) {
    this.offset += bytes.length;
    this.text += this.decoder.decode(bytes, { stream: true });
    if (this.text.length > 2 * MAX_CHARS) this.text = this.text.slice(this.text.length - MAX_CHARS);
    return this.text;
  }
}

async function fetchTaskLog(session, task, signal) {
  const resp = await request("GET", "/session/_/logs", {
    query: { taskId: session.session_id, follow: 0, offset: task.offset }, signal, raw: true,
  });
  return task.add(new Uint8Array(await resp.arrayBuffer()));
}

async function fetchLog(session, owner, signal) {
  const answer = await request("GET", `/session/${sessionRef(session)}/logs`, {
    query: owner ? { owner_access_key: owner } : undefined, signal,
  });
  const logs = answer && answer.result ? answer.result.logs : "";
  return typeof logs === "string" ? logs : "";
}

/** `owner`: the owner's access key when the session is not the caller's (admins). */
export function openLogs(session, owner = null) {
  const pre = h("pre", { class: "session-log", tabindex: "0", "aria-label": `Log of ${session.name}` });
  const note = h("p", { class: "log-note muted", role: "status" });
  const problem = h("div", {});
  // An ended session's log no longer grows: no need to ask again every 2 s.
  const ended = ENDED.has(String(session.status || "").toUpperCase());
  const live = h("input", { type: "checkbox", checked: !ended, id: newId("live") });
  // A batch session's task output is what its owner looks for first.
  const kindSelect = isBatch(session)
    ? h("select", {}, h("option", { value: "task", text: "Task log" }),
      h("option", { value: "container", text: "Container log" }))
    : null;
  const refresh = h("button", { type: "button", text: "Refresh", on: { click: () => load() } });
  const body = h("div", { class: "session-logs" },
    h("div", { class: "toolbar" },
      kindSelect ? field("Log", kindSelect) : null,
      h("div", { class: "check" }, live, h("label", { for: live.id, text: "Follow live" })),
      h("span", { class: "spacer" }),
      refresh),
    problem, pre, note);

  let timer = null;
  let controller = null;
  let closed = false;
  let shown = null;
  let task = new TaskLog();

  const dlg = openDialog({
    title: `Logs of ${session.name}`, body, className: "wide logs-dialog",
    actions: [{ label: "Close", value: null }],
    onClose: () => { closed = true; stop(); },
  });

  function stop() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (controller) controller.abort();
  }

  function schedule() {
    if (timer) clearTimeout(timer);
    timer = closed || !live.checked ? null : setTimeout(load, REFRESH_MS);
  }

  async function load() {
    if (closed) return;
    if (controller) controller.abort();
    controller = new AbortController();
    const kind = kindSelect ? kindSelect.value : "container";
    refresh.setAttribute("aria-busy", "true");
    try {
      const text = kind === "task"
        ? await fetchTaskLog(session, task, controller.signal)
        : await fetchLog(session, owner, controller.signal);
      problem.replaceChildren();
      show(text, kind === "task" ? task.offset : text.length);
    } catch (e) {
      if (e.name === "AbortError") return;
      // What was shown stays; the failure is said above it.
      problem.replaceChildren(errorBox(e, () => load()));
    } finally {
      refresh.removeAttribute("aria-busy");
    }
    schedule();
  }

  /** `total`: the log's size when more than `text` was read (a task log kept bounded). */
  function show(text, total = text.length) {
    if (text === shown) return;
    shown = text;
    // Follow the tail only if the reader is at the bottom: scrolling up to read stops it.
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    let visible = text;
    if (total > MAX_CHARS) {
      visible = text.length > MAX_CHARS ? text.slice(text.length - MAX_CHARS) : text;
      visible = visible.slice(visible.indexOf("\n") + 1);
      note.textContent = `The log has ${formatBytes(total)}; the last ${formatBytes(visible.length)} are shown.`;
    } else {
      note.textContent = text ? "" : "The log is empty so far.";
    }
    pre.textContent = visible;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  live.addEventListener("change", () => (live.checked ? load() : stop()));
  if (kindSelect) {
    kindSelect.addEventListener("change", () => { shown = null; task = new TaskLog(); pre.textContent = ""; load(); });
  }
  load();
  return dlg.done;
}
