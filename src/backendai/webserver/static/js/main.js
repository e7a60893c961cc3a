// The shell: the login check, the navigation, and a hash router that loads one page module
// at a time. A page module exports render(root, ctx) and may return a cleanup function
// (called when the user leaves the page: close event streams, stop timers).
import * as api from "./api.js";
import { clear, clearToasts, closeAllDialogs, errorBox, h, messageOf, toast } from "./dom.js";

export const ROUTES = [
  { path: "sessions", label: "Sessions", module: "./pages/sessions.js" },
  { path: "data", label: "Data & Storage", module: "./pages/data.js" },
  { path: "account", label: "My account", module: "./pages/account.js" },
  { path: "admin/users", label: "Users", module: "./pages/admin_users.js", admin: true },
  { path: "admin/keypairs", label: "Keypairs", module: "./pages/admin_keypairs.js", admin: true },
  { path: "admin/policies", label: "Resource policies", module: "./pages/admin_policies.js", admin: true },
  { path: "admin/resource-groups", label: "Resource groups", module: "./pages/admin_resource_groups.js", admin: true },
  { path: "admin/images", label: "Images", module: "./pages/admin_images.js", admin: true },
  { path: "admin/agents", label: "Agents", module: "./pages/admin_agents.js", admin: true },
  { path: "admin/announcements", label: "Announcements", module: "./pages/admin_announcements.js", admin: true },
];
const DEFAULT_ROUTE = "sessions";

const appRoot = document.getElementById("app");
let cleanup = null;
let user = null;
// The project (group) the user works in: sessions are started in it and the resource
// statistics count it. Chosen in the top bar when the user belongs to several.
let project = null;
let domain = "default";
const PROJECT_KEY = "bai.project";

function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { path: path || DEFAULT_ROUTE, params: new URLSearchParams(query) };
}

export function navigate(path, params) {
  const query = params ? `?${new URLSearchParams(params)}` : "";
  window.location.hash = `#/${path}${query}`;
}

async function start() {
  window.addEventListener("unhandledrejection", (ev) => {
    toast(`Error: ${messageOf(ev.reason)}`, "error");
  });
  window.addEventListener("bai:logged-out", () => {
    if (user) { user = null; showLogin("Your login expired. Please log in again."); }
  });
  let check;
  try {
    check = await api.loginCheck();
  } catch (e) {
    clear(appRoot, errorBox(e, () => window.location.reload()));
    return;
  }
  if (check && check.authenticated) {
    user = check.data;
    showShell();
  } else {
    showLogin();
  }
}

async function showLogin(notice) {
  // Whatever the last page started stops here: its loading render (generation), its polling
  // (cleanup), its dialogs (a secret key shown once) and its messages.
  generation += 1;
  window.onhashchange = null;
  if (cleanup) { try { cleanup(); } catch { /* the page is gone anyway */ } cleanup = null; }
  closeAllDialogs();
  clearToasts();
  const { renderLogin } = await import("./pages/login.js");
  renderLogin(appRoot, {
    notice,
    onLoggedIn(data) {
      user = data;
      showShell();
    },
  });
}

function isAdmin() {
  return user && (user.role === "admin" || user.role === "superadmin");
}

async function loadProjects() {
  try {
    const data = await api.gql(`query($email: String) {
      user(email: $email) { domain_name groups { id name } } }`, { email: user.email });
    const me = (data && data.user) || {};
    domain = me.domain_name || "default";
    const groups = (me.groups || []).slice().sort((a, b) => a.name.localeCompare(b.name));
    const remembered = window.localStorage.getItem(PROJECT_KEY);
    project = groups.find((g) => g.name === remembered)
      || groups.find((g) => g.name === "default") || groups[0] || null;
    return groups;
  } catch (e) {
    toast(`Your projects could not be read: ${messageOf(e)}`, "error");
    return [];
  }
}

function projectPicker(groups, onChange) {
  if (groups.length < 2) {
    return project ? h("span", { class: "project", text: `Project: ${project.name}` }) : null;
  }
  const select = h("select", { id: "project-select", "aria-label": "Project",
    on: { change: () => {
      project = groups.find((g) => g.id === select.value) || project;
      window.localStorage.setItem(PROJECT_KEY, project.name);
      onChange();
    } } },
  groups.map((g) => h("option", { value: g.id, text: g.name, selected: project && g.id === project.id })));
  return h("span", { class: "project" }, h("label", { for: "project-select", text: "Project" }), select);
}

async function showShell() {
  const groups = await loadProjects();
  const nav = h("nav", { class: "sidebar", "aria-label": "Main" });
  const main = h("main", { id: "main", tabindex: "-1" });
  const banner = h("div", { class: "announcement", role: "region", "aria-label": "Announcement", hidden: true });
  const header = h("header", { class: "topbar" },
    h("a", { class: "brand", href: "#/sessions", text: "Backend.AI" }),
    projectPicker(groups, () => route()),
    h("span", { class: "who" },
      h("span", { class: "email", text: user.email }),
      h("span", { class: "role badge", text: user.role })),
    h("button", { type: "button", class: "logout", text: "Log out", on: { click: doLogout } }));
  const links = [];
  const list = h("ul", {});
  let adminHeading = false;
  for (const route of ROUTES) {
    if (route.admin && !isAdmin()) continue;
    if (route.admin && !adminHeading) {
      list.append(h("li", { class: "nav-heading", text: "Administration" }));
      adminHeading = true;
    }
    const a = h("a", { href: `#/${route.path}`, text: route.label, dataset: { path: route.path } });
    links.push(a);
    list.append(h("li", {}, a));
  }
  nav.append(list);
  clear(appRoot,
    h("a", { class: "skip", href: "#main", text: "Skip to content",
      on: { click: (ev) => { ev.preventDefault(); main.focus(); } } }),
    header, banner, h("div", { class: "layout" }, nav, main));
  loadAnnouncement(banner);
  const route = () => {
    const { path, params } = parseHash();
    for (const a of links) {
      if (a.dataset.path === path) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    renderRoute(main, path, params);
  };
  window.onhashchange = route;
  route();
}

async function loadAnnouncement(banner) {
  try {
    const answer = await api.request("GET", "/manager/announcement");
    if (answer && answer.enabled && answer.message) {
      clear(banner, h("strong", { text: "Announcement: " }), h("span", { text: answer.message }));
      banner.hidden = false;
    }
  } catch {
    // An announcement that cannot be read is no reason to hide the page.
  }
}

let generation = 0;
async function renderRoute(main, path, params) {
  generation += 1;
  const mine = generation;
  if (cleanup) { try { cleanup(); } catch (e) { console.error(e); } cleanup = null; }
  closeAllDialogs();
  const route = ROUTES.find((r) => r.path === path && (!r.admin || isAdmin()));
  if (!route) {
    clear(main, h("h1", { text: "Not found" }),
      h("p", { text: `There is no page "${path}" here.` }),
      h("a", { href: "#/sessions", text: "Go to the sessions" }));
    return;
  }
  document.title = `${route.label} · Backend.AI`;
  clear(main, h("p", { class: "loading", role: "status", text: "Loading…" }));
  try {
    const module = await import(route.module);
    if (mine !== generation) return;
    clear(main);
    const ctx = {
      user, isAdmin: isAdmin(), isSuperadmin: user.role === "superadmin", params, navigate,
      project, domain,
    };
    const result = await module.render(main, ctx);
    if (mine !== generation) { if (typeof result === "function") result(); return; }
    cleanup = typeof result === "function" ? result : null;
  } catch (e) {
    if (mine !== generation) return;
    console.error(e);
    clear(main, h("h1", { text: route.label }), errorBox(e, () => renderRoute(main, path, params)));
  }
}

async function doLogout() {
  try {
    await api.logout();
  } catch (e) {
    toast(`Logging out failed: ${messageOf(e)}`, "error");
    return;
  }
  user = null;
  showLogin("You are logged out.");
}

start();
