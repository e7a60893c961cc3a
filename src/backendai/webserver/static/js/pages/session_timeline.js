// The dialog "Timeline of NAME": every status the session went through (GraphQL
// status_history), with its time, reason and how long the session stayed in it.
import { gql } from "../api.js";
import { errorBox, formatDuration, formatTime, h, openDialog } from "../dom.js";

const QUERY = `query($id: UUID!) {
  compute_session(id: $id) { status status_history { status reason changed_at } }
}`;
const ENDED = new Set(["TERMINATED", "CANCELLED", "ERROR"]);
const REFRESH_MS = 3000;

// Status changes often come within a second of each other: those get tenths of seconds.
function spentText(seconds) {
  return seconds < 60 ? `${Math.max(0, seconds).toFixed(1)} s` : formatDuration(seconds);
}

function entries(history, current) {
  const rows = [];
  const ended = ENDED.has(String(current || "").toUpperCase());
  history.forEach((item, i) => {
    const at = new Date(item.changed_at);
    const next = history[i + 1] ? new Date(history[i + 1].changed_at) : null;
    const last = !next;
    let spent = "";
    if (next) spent = spentText((next - at) / 1000);
    else if (!ended) spent = `${spentText((Date.now() - at) / 1000)} so far`;
    rows.push(h("li", { class: "timeline-entry", dataset: { status: item.status } },
      h("span", { class: `badge status-${item.status}`, text: item.status }),
      " ",
      h("time", { datetime: item.changed_at, text: formatTime(item.changed_at) }),
      spent ? h("span", { class: "spent muted", text: ` · ${last ? "" : "for "}${spent}` }) : null,
      item.reason ? h("div", { class: "reason", text: item.reason }) : null));
  });
  return rows;
}

export function openTimeline(session) {
  const list = h("ol", { class: "timeline" });
  const content = h("div", { class: "timeline-body" }, h("p", { class: "loading", text: "Loading…" }));
  let timer = null;
  let closed = false;
  const dlg = openDialog({
    title: `Timeline of ${session.name}`, body: content,
    actions: [{ label: "Close", value: null }],
    onClose: () => { closed = true; clearTimeout(timer); },
  });

  async function load() {
    if (closed) return;
    let status = null;
    try {
      const data = await gql(QUERY, { id: session.session_id || session.id });
      const node = data.compute_session;
      if (!node) {
        content.replaceChildren(h("p", { text: "The session is gone or not yours to see." }));
        return;
      }
      status = node.status;
      const history = node.status_history || [];
      list.replaceChildren(...entries(history, status));
      content.replaceChildren(history.length ? list : h("p", { class: "muted", text: "No status change recorded." }));
    } catch (e) {
      content.replaceChildren(errorBox(e, () => load()));
    }
    // A live session's timeline grows by itself; an ended one is complete.
    if (!closed && status && !ENDED.has(status)) timer = setTimeout(load, REFRESH_MS);
  }
  load();
  return dlg.done;
}
