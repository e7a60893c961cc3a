// The API as the web UI speaks it: /func/... forwarded and signed by the webserver with the
// logged-in user's keypair, /server/... for the login itself, /storage/... for transfers.

export class ApiError extends Error {
  constructor(status, problem, fallback) {
    const code = problem && typeof problem.type === "string" ? problem.type.split("/").pop() : "";
    const text = (problem && (problem.msg || problem.title)) || fallback || `HTTP ${status}`;
    super(text);
    this.status = status;
    this.code = code;
    this.problem = problem;
  }
}

/** Calls the manager: request("GET", "/folders", {query: {all: true}}); JSON in, JSON out. */
export async function request(method, path, { json, query, body, headers = {}, signal, raw = false } = {}) {
  const url = new URL(`/func${path}`, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
  }
  const init = { method, headers: { ...headers }, signal, credentials: "same-origin" };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  return send(url, init, raw);
}

async function send(url, init, raw) {
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, null, `The server could not be reached (${e.message}). Check your connection and try again.`);
  }
  if (resp.status === 401 && !String(url).includes("/server/")) {
    window.dispatchEvent(new CustomEvent("bai:logged-out"));
  }
  if (raw && resp.ok) return resp;
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, typeof data === "object" ? data : null,
      typeof data === "string" && data ? data.slice(0, 300) : `${resp.status} ${resp.statusText}`);
  }
  return data;
}

/** GraphQL through /admin/gql; throws ApiError with the first error's message. */
export async function gql(query, variables = {}) {
  const answer = await request("POST", "/admin/gql", { json: { query, variables } });
  if (answer && answer.errors && answer.errors.length) {
    throw new ApiError(400, { msg: answer.errors.map((e) => e.message).join("; ") });
  }
  return answer.data;
}

// --- the login -------------------------------------------------------------------------

async function server(path, json) {
  const url = new URL(`/server/${path}`, window.location.origin);
  return send(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(json || {}),
  }, false);
}

export const loginCheck = () => server("login-check");
export const login = (username, password) => server("login", { username, password });
export const logout = () => server("logout");

// --- server-sent events ----------------------------------------------------------------

/**
 * Follows /func/events/session (every session the user may see by default) and calls
 * onEvent(name, data) for each lifecycle event; reconnects by itself (EventSource does).
 * Returns a function that stops it.
 */
export function sessionEvents(onEvent, query = { sessionName: "*" }) {
  const url = new URL("/func/events/session", window.location.origin);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
  const source = new EventSource(url, { withCredentials: true });
  const names = [
    "session_enqueued", "session_pending", "session_scheduled", "session_preparing",
    "session_started", "session_cancelled", "session_terminated", "session_success",
    "session_failure", "kernel_pulling", "kernel_creating", "kernel_started",
    "kernel_terminating", "kernel_terminated",
  ];
  for (const name of names) {
    source.addEventListener(name, (ev) => {
      let data = null;
      try { data = JSON.parse(ev.data); } catch { data = ev.data; }
      onEvent(name, data);
    });
  }
  return () => source.close();
}

// --- folder transfers (storage relayed by the webserver) -----------------------------------

/** The storage URL the manager handed out, reached through the webserver's /storage relay. */
export function storageUrl(ticket) {
  const given = new URL(ticket.url, window.location.origin);
  const url = new URL(`/storage${given.pathname}`, window.location.origin);
  given.searchParams.forEach((v, k) => url.searchParams.set(k, v));
  if (ticket.token && !url.searchParams.has("token")) url.searchParams.set("token", ticket.token);
  return url;
}
