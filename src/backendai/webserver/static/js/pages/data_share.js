// Sharing: the owner's "Share NAME" dialog (invite users by email at a permission, see who
// has it and the pending invitations, remove a share, cancel an invitation), and the
// invitations the logged-in user received (accept or reject).

import { request } from "../api.js";
import { clear, errorBox, field, formatTime, h, messageOf, openDialog, table, toast } from "../dom.js";

export const PERMISSIONS = [
  ["rw", "Read & write"],
  ["ro", "Read only"],
  ["wd", "Read, write & delete"],
];
export const permissionLabel = (p) => (PERMISSIONS.find(([v]) => v === p) || [p, p])[1];

const EMAIL = /^[^\s@]+@[^\s@]+$/;

/** "a@x, b@y\nc@z" -> {emails, problem}. */
export function parseEmails(text) {
  const emails = [...new Set(String(text).split(/[\s,;]+/).map((e) => e.trim()).filter(Boolean))];
  if (!emails.length) return { emails, problem: "Enter at least one email address." };
  const bad = emails.filter((e) => !EMAIL.test(e) || e.length > 128);
  if (bad.length) return { emails, problem: `Not an email address: ${bad.join(", ")}. Write addresses like user@example.com, separated by commas.` };
  if (emails.length > 100) return { emails, problem: "Invite at most 100 people at once." };
  return { emails, problem: null };
}

const ref = (folder) => encodeURIComponent(folder.id);

/** The "Share NAME" dialog; resolves when it is closed. */
export async function openShareDialog(folder) {
  const emails = h("textarea", { rows: 2, autocomplete: "off", "aria-invalid": "false" });
  const perm = h("select", {}, PERMISSIONS.map(([v, label]) => h("option", { value: v, text: `${label} (${v})` })));
  const message = h("p", { class: "field-error", role: "alert" });
  const invite = h("button", { type: "button", class: "primary", text: "INVITE", on: { click: send } });
  const listing = h("div", { class: "share-list" }, h("p", { class: "loading", text: "Loading…" }));
  const body = h("div", {},
    h("p", { class: "muted", text: "Invited users see the folder once they accept the invitation on their Data & Storage page." }),
    field("Emails to invite", emails, "One or more addresses, separated by commas or spaces."),
    field("Permission", perm),
    h("div", { class: "row" }, invite),
    message,
    h("h3", { text: "Shared with" }),
    listing);
  const dlg = openDialog({ title: `Share ${folder.name}`, body, className: "wide",
    actions: [{ label: "Close", value: null }] });
  emails.focus();

  async function send() {
    const { emails: list, problem } = parseEmails(emails.value);
    if (problem) {
      message.textContent = problem;
      emails.setAttribute("aria-invalid", "true");
      emails.focus();
      return;
    }
    emails.setAttribute("aria-invalid", "false");
    message.textContent = "";
    invite.disabled = true;
    try {
      const answer = await request("POST", `/folders/${ref(folder)}/invite`, { json: { perm: perm.value, user_ids: list } });
      const invited = answer.invited_ids || [];
      const missed = list.filter((e) => !invited.includes(e));
      if (invited.length) toast(`Invited ${invited.join(", ")}.`, "success");
      if (missed.length) {
        message.textContent = `Not invited: ${missed.join(", ")} (no such user, yourself, already invited or already shared).`;
      } else {
        emails.value = "";
      }
      load();
    } catch (e) {
      message.textContent = messageOf(e);
    } finally {
      invite.disabled = false;
    }
  }

  async function unshare(email) {
    try {
      await request("DELETE", `/folders/${ref(folder)}/unshare`, { json: { emails: [email] } });
      toast(`${folder.name} is no longer shared with ${email}.`, "success");
      load();
    } catch (e) {
      toast(`Removing the share failed: ${messageOf(e)}`, "error");
    }
  }

  async function cancelInvitation(inv) {
    try {
      await request("DELETE", "/folders/invitations/delete", { json: { inv_id: inv.id } });
      toast(`The invitation to ${inv.invitee} is cancelled.`, "success");
      load();
    } catch (e) {
      toast(`Cancelling the invitation failed: ${messageOf(e)}`, "error");
    }
  }

  async function load() {
    try {
      const [info, sent] = await Promise.all([
        request("GET", `/folders/${ref(folder)}`),
        request("GET", "/folders/invitations/list-sent").catch(() => ({ invitations: [] })),
      ]);
      const rows = (info.shared_with || []).map((s) => ({ email: s.email, permission: s.permission, state: "shared" }));
      for (const inv of sent.invitations || []) {
        if (inv.vfolder_id === folder.id) rows.push({ email: inv.invitee, permission: inv.perm, state: "invited", inv });
      }
      clear(listing, table([
        { label: "User", cell: (r) => r.email },
        { label: "Permission", cell: (r) => permissionLabel(r.permission) },
        { label: "State", cell: (r) => h("span", { class: `badge share-${r.state}`, text: r.state === "shared" ? "Shared" : "Invitation pending" }) },
        { label: "Actions", class: "actions", cell: (r) => (r.state === "shared"
          ? h("button", { type: "button", class: "danger", text: "Remove", "aria-label": `Remove share with ${r.email}`, on: { click: () => unshare(r.email) } })
          : h("button", { type: "button", text: "Cancel invitation", "aria-label": `Cancel invitation to ${r.email}`, on: { click: () => cancelInvitation(r.inv) } })) },
      ], rows, { empty: "Not shared with anyone yet.", rowAttrs: (r) => ({ dataset: { shareEmail: r.email } }) }));
    } catch (e) {
      clear(listing, errorBox(e, load));
    }
  }

  load();
  return dlg.done;
}

/**
 * The invitations section: pending invitations to the logged-in user with Accept/Reject.
 * Returns {section, load}; onAccepted() runs after an acceptance (the folder list changes).
 */
export function invitationsSection(onAccepted) {
  const section = h("section", { class: "invitations card", "aria-label": "Invitations", hidden: true });

  async function answer(inv, accept) {
    try {
      if (accept) await request("POST", "/folders/invitations/accept", { json: { inv_id: inv.id } });
      else await request("DELETE", "/folders/invitations/delete", { json: { inv_id: inv.id } });
      toast(accept ? `You now have ${inv.vfolder_name}.` : `Invitation to ${inv.vfolder_name} rejected.`, "success");
      await load();
      if (accept) onAccepted();
    } catch (e) {
      toast(`Answering the invitation failed: ${messageOf(e)}`, "error");
    }
  }

  let shownKey = null;
  async function load() {
    let found;
    try {
      found = (await request("GET", "/folders/invitations/list")).invitations || [];
    } catch (e) {
      shownKey = null;
      section.hidden = false;
      clear(section, h("h2", { text: "Invitations" }), errorBox(e, load));
      return;
    }
    // A poll that finds what is shown leaves it alone (and the focus on its buttons).
    const key = found.map((inv) => inv.id).join(",");
    if (key === shownKey) return;
    shownKey = key;
    section.hidden = !found.length;
    clear(section, h("h2", { text: `Invitations (${found.length})` }),
      h("ul", { class: "invitation-list" }, found.map((inv) => h("li", { dataset: { invitationFolder: inv.vfolder_name } },
        h("span", {}, h("strong", { text: inv.inviter }), " invites you to the folder ",
          h("strong", { text: inv.vfolder_name }), ` (${permissionLabel(inv.perm)}), ${formatTime(inv.created_at)}. `),
        h("button", { type: "button", class: "primary", text: "Accept",
          "aria-label": `Accept invitation from ${inv.inviter} to ${inv.vfolder_name}`, on: { click: () => answer(inv, true) } }),
        h("button", { type: "button", text: "Reject",
          "aria-label": `Reject invitation from ${inv.inviter} to ${inv.vfolder_name}`, on: { click: () => answer(inv, false) } })))));
  }

  return { section, load };
}
