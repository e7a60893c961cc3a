// Uploads into a folder: a ticket from the manager (request-upload), then tus 1.0 PATCH
// requests in chunks through the webserver's /storage relay. A chunk that fails is resumed
// from the offset the storage reports (HEAD), a few times, before the upload is given up.
// Files are sliced (Blob.slice): nothing bigger than one chunk is read into memory.

import { ApiError, request, storageUrl } from "../api.js";
import { formatBytes, h, messageOf, toast } from "../dom.js";

export const CHUNK_SIZE = 8 * 1024 * 1024;
const MAX_RETRIES = 5;
const PARALLEL = 2;
const TUS = "1.0.0";

class Cancelled extends Error {
  constructor() { super("Cancelled"); this.name = "Cancelled"; }
}

/** A tus reply that a retry cannot fix (an expired ticket, a full quota...). */
class Fatal extends Error {}

export function joinPath(dir, name) {
  return !dir || dir === "." ? name : `${dir}/${name}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function problemText(xhr) {
  try {
    const p = JSON.parse(xhr.responseText);
    if (p && (p.msg || p.title)) return p.msg || p.title;
  } catch { /* not JSON: the status says enough */ }
  return `HTTP ${xhr.status} ${xhr.statusText || ""}`.trim();
}

/** One PATCH of `blob` at `offset`; resolves the new offset, reports bytes sent so far. */
function patch(item, url, blob, offset, onSent) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open("PATCH", url);
    xhr.setRequestHeader("Tus-Resumable", TUS);
    xhr.setRequestHeader("Upload-Offset", String(offset));
    xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
    xhr.upload.onprogress = (ev) => onSent(ev.loaded);
    xhr.onabort = () => reject(new Cancelled());
    xhr.onerror = () => reject(new Error("the connection broke"));
    xhr.ontimeout = () => reject(new Error("the storage did not answer in time"));
    xhr.onload = () => {
      const header = xhr.getResponseHeader("Upload-Offset");
      // Number(null) is 0: a missing header must not read as "start again from 0".
      const reported = header === null || header.trim() === "" ? NaN : Number(header);
      if (xhr.status === 204 || xhr.status === 200) {
        // A success that does not move the offset past this chunk's start would re-send the
        // same chunk forever: a retry (HEAD, then resume) is the way out, a few times.
        if (!Number.isSafeInteger(reported)) reject(new Error("the storage did not say how much it received"));
        else if (reported <= offset || reported > offset + blob.size) {
          reject(new Error(`the storage reported offset ${reported} after a chunk at ${offset}`));
        } else resolve(reported);
      } else if (xhr.status === 409 && Number.isSafeInteger(reported) && reported >= 0 && reported !== offset) {
        resolve(reported);
      } else if (xhr.status >= 500 || xhr.status === 423) reject(new Error(problemText(xhr)));
      else reject(new Fatal(problemText(xhr)));
    };
    xhr.send(blob);
  });
}

async function headOffset(url) {
  const resp = await fetch(url, { method: "HEAD", headers: { "Tus-Resumable": TUS }, credentials: "same-origin" });
  if (resp.status >= 400 && resp.status < 500) {
    throw new Fatal(`the upload cannot be resumed (HTTP ${resp.status}); upload the file again`);
  }
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  const header = resp.headers.get("Upload-Offset");
  const offset = header === null || header.trim() === "" ? NaN : Number(header);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new Error("the storage did not say where the upload stands");
  return offset;
}

/**
 * The upload queue with its panel: add(folder, dir, files) starts uploads (two at a time),
 * each with a <progress> labelled by the file name and a Cancel button.
 * onDone(folder, dir) runs when an upload into that place finished.
 */
export class Uploads {
  constructor(onDone) {
    this.onDone = onDone;
    this.queue = [];
    this.items = new Set();
    this.running = 0;
    this.list = h("ul", { class: "upload-list" });
    this.announcer = h("p", { class: "visually-hidden", "aria-live": "polite" });
    this.panel = h("section", { class: "uploads card", "aria-label": "Uploads", hidden: true },
      h("div", { class: "row" }, h("h2", { text: "Uploads" }),
        h("button", { type: "button", class: "link", text: "Clear finished",
          on: { click: () => this.clearFinished() } })),
      this.list,
      this.announcer);
  }

  get active() {
    return [...this.items].filter((i) => !i.finished).length;
  }

  /** `files`: {file, path} with the path relative to `dir` ("a.txt", "photos/2024/b.jpg"). */
  add(folder, dir, files) {
    for (const { file, path } of files) {
      const progressId = `upload-${Math.random().toString(36).slice(2)}`;
      const item = { folder, dir, file, path, cancelled: false, finished: false, xhr: null };
      item.progress = h("progress", { id: progressId, max: 100, value: 0 });
      // The percentage is not live (it would be read at every progress event): the
      // panel's announcer says when an upload ends.
      item.status = h("span", { class: "upload-status", text: "Waiting" });
      item.cancel = h("button", { type: "button", class: "icon", text: "Cancel",
        "aria-label": `Cancel upload of ${path}`, on: { click: () => this.cancelOne(item) } });
      item.row = h("li", { class: "upload", dataset: { uploadName: path } },
        h("label", { for: progressId, class: "upload-name", text: path }),
        h("span", { class: "muted", text: `${formatBytes(file.size)} → ${folder.name}/${joinPath(dir, "")}` }),
        item.progress, item.status, item.cancel);
      this.items.add(item);
      this.queue.push(item);
      this.list.append(item.row);
    }
    this.panel.hidden = false;
    this.pump();
  }

  pump() {
    while (this.running < PARALLEL && this.queue.length) {
      const item = this.queue.shift();
      if (item.cancelled) continue;
      this.running += 1;
      this.run(item).finally(() => { this.running -= 1; this.pump(); });
    }
  }

  show(item, sent) {
    const size = item.file.size;
    // 100% is said only once the storage confirmed the last byte.
    const pct = size ? Math.min(99, Math.floor((sent / size) * 100)) : 99;
    item.progress.value = pct;
    item.status.textContent = `${pct}%`;
  }

  async run(item) {
    const { folder, dir, file, path } = item;
    const target = joinPath(dir, path);
    try {
      item.status.textContent = "Starting";
      const ticket = await request("POST", `/folders/${encodeURIComponent(folder.id)}/request-upload`,
        { json: { path: target, size: file.size } });
      if (item.cancelled) throw new Cancelled();
      const url = storageUrl(ticket);
      let offset = 0;
      let failures = 0;
      this.show(item, 0);
      while (offset < file.size) {
        if (item.cancelled) throw new Cancelled();
        const end = Math.min(file.size, offset + CHUNK_SIZE);
        const base = offset;
        try {
          offset = await patch(item, url, file.slice(base, end), base, (n) => this.show(item, base + n));
          failures = 0;
        } catch (e) {
          if (e instanceof Cancelled || e instanceof Fatal || item.cancelled) throw e;
          failures += 1;
          if (failures > MAX_RETRIES) throw e;
          item.status.textContent = `Retrying (${messageOf(e)})`;
          await sleep(500 * 2 ** (failures - 1));
          try { offset = await headOffset(url); } catch (he) { if (he instanceof Fatal) throw he; }
        }
        this.show(item, offset);
      }
      item.progress.value = 100;
      item.status.textContent = "Done (100%)";
      this.announce(`${path}: uploaded.`);
      item.row.classList.add("done");
      this.onDone(folder, dir);
    } catch (e) {
      item.row.classList.add("failed");
      if (e instanceof Cancelled || item.cancelled) {
        item.status.textContent = "Cancelled";
      } else {
        // The error toast (role=alert) is the announcement of a failure.
        const why = e instanceof ApiError || e instanceof Fatal ? e.message : messageOf(e);
        item.status.textContent = `Failed: ${why}`;
        toast(`Uploading ${path} failed: ${why}`, "error");
      }
    } finally {
      item.finished = true;
      item.xhr = null;
      item.cancel.disabled = true;
    }
  }

  announce(text) {
    // A new text node in a live region is read even when the same words came before.
    this.announcer.replaceChildren(document.createTextNode(text));
  }

  cancelOne(item) {
    if (item.finished) return;
    item.cancelled = true;
    if (item.xhr) item.xhr.abort();
    if (!this.queue.includes(item)) return;
    this.queue = this.queue.filter((i) => i !== item);
    item.finished = true;
    item.cancel.disabled = true;
    item.status.textContent = "Cancelled";
    item.row.classList.add("failed");
  }

  cancelAll() {
    for (const item of this.items) this.cancelOne(item);
  }

  clearFinished() {
    for (const item of [...this.items]) {
      if (item.finished) { item.row.remove(); this.items.delete(item); }
    }
    if (!this.items.size) this.panel.hidden = true;
  }
}
