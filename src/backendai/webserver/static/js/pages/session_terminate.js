// The dialog "Terminate session": the seed's warning, Cancel/OKAY, DELETE /session/{ref};
// a forced termination for a session stuck in TERMINATING.
import { request } from "../api.js";
import { errorBox, h, newId, openDialog, toast } from "../dom.js";
import { sessionRef } from "./app_launcher.js";

/** `owner`: the owner's access key when the session is not the caller's (admins).
 * Resolves true once the session was told to terminate, false when the user cancelled. */
export function openTerminate(session, owner = null) {
  const stuck = String(session.status || "").toUpperCase() === "TERMINATING";
  const force = h("input", { type: "checkbox", id: newId("force"), checked: stuck });
  const problem = h("div", {});
  const body = h("div", { class: "terminate-body" },
    h("p", {}, "Terminate the session ", h("strong", { class: "session-name", text: session.name }), "?"),
    h("p", { class: "warning", text: "Data that is not in a mounted folder is lost when the session ends: save your work to a folder under /home/work that you mounted (Data & Storage) first." }),
    h("div", { class: "check" }, force, h("label", { for: force.id, text: "Force termination" })),
    h("p", { class: "hint muted", text: "For a session stuck in TERMINATING: its containers are removed without waiting for them." }),
    problem);
  let sending = false;
  let dlg = null;
  dlg = openDialog({
    title: "Terminate session", body, cancelValue: false,
    actions: [
      { label: "Cancel", value: false },
      { label: "OKAY", value: true, class: "danger" },
    ],
    onClose: async (value) => {
      if (!value) return !sending;
      if (sending) return false;
      sending = true;
      const ok = dlg.buttons[1];
      ok.disabled = true;
      ok.setAttribute("aria-busy", "true");
      problem.replaceChildren();
      try {
        await request("DELETE", `/session/${sessionRef(session)}`, {
          query: { forced: force.checked ? "true" : undefined, owner_access_key: owner || undefined },
        });
        toast(`${session.name} is terminating.`, "success");
        return true;
      } catch (e) {
        problem.replaceChildren(errorBox(e));
        return false;
      } finally {
        sending = false;
        ok.disabled = false;
        ok.removeAttribute("aria-busy");
      }
    },
  });
  return dlg.done;
}
