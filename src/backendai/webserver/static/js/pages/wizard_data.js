// What the launch wizard loads from the manager, and the rules it checks before any request.
import { request, gql } from "../api.js";
import { parseBytes } from "../dom.js";

// The manager's rule (common/session_request.py NAME_RE): Python's \w is Unicode, letters and
// numbers of any script and "_", and lengths count code points, as the "u" flag does here.
const NAME_RE = /^(?=.{4,64}$)[\p{L}\p{N}_][\p{L}\p{N}_.-]*[\p{L}\p{N}_]$/u;
// What a POSIX shell accepts as a variable name (the manager's ENV_NAME_RE).
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const MAX_SESSIONS = 100; // the manager's MAX_BATCH

/** A message saying what is wrong with a session name, or "" when it is fine. */
export function nameProblem(name, count = 1) {
  if (!name) return "";
  const suffix = count > 1 ? `-${count}` : "";
  const length = [...name].length; // code points, as the server counts
  if (length + suffix.length > 64) {
    return count > 1
      ? `Too long: with ${count} sessions the names end in "-1".."${suffix}", so use at most ${64 - suffix.length} characters.`
      : `Too long (${length} characters): use at most 64.`;
  }
  if (length < 4) return `Too short (${length} characters): use at least 4.`;
  if (/\s/.test(name)) return "Spaces are not allowed: use letters, digits, '_', '-' or '.'.";
  if (!NAME_RE.test(name)) {
    return "Use only letters, digits, '_', '-' and '.', starting and ending with a letter, a digit or '_'.";
  }
  return "";
}

/** The manager's image rows grouped as environments: [{key, registry, name, label, versions}],
 * one version per tag. POST /session takes no architecture (the manager uses the first image
 * of that name), so the builds of a tag are one choice; `architectures` lists them. */
export function environmentsOf(images) {
  const byKey = new Map();
  for (const img of images) {
    if (!img.installed) continue;
    const registry = img.registry || "local";
    const key = `${registry}/${img.name}`;
    if (!byKey.has(key)) {
      byKey.set(key, { key, registry, name: img.name, short: img.humanized_name, byTag: new Map() });
    }
    const tags = byKey.get(key).byTag;
    const same = tags.get(img.tag);
    if (same) {
      if (!same.architectures.includes(img.architecture)) same.architectures.push(img.architecture);
    } else {
      tags.set(img.tag, { ...img, architectures: [img.architecture] });
    }
  }
  const envs = [...byKey.values()].map(({ byTag, ...e }) => ({ ...e, versions: [...byTag.values()] }));
  const shortCount = {};
  for (const e of envs) shortCount[e.short] = (shortCount[e.short] || 0) + 1;
  for (const e of envs) {
    // Two registries (or namespaces) may both have "python": the full repository tells them
    // apart, with its registry host unless the image is local.
    const where = e.registry === "local" && e.name === e.short ? "local" : repositoryOf(e);
    e.label = shortCount[e.short] > 1 ? `${e.short} (${where})` : e.short;
    e.versions.sort((a, b) => versionKey(b).localeCompare(versionKey(a), undefined, { numeric: true }));
  }
  envs.sort((a, b) => a.label.localeCompare(b.label));
  return envs;
}

function repositoryOf(img) {
  return img.registry && img.registry !== "local" ? `${img.registry}/${img.name}` : img.name;
}

function versionKey(img) {
  // "latest" first, then the highest version.
  return img.tag === "latest" ? "~" : img.tag;
}

/** The tag, with the aliases an admin gave the image ("3.11-debian12 (python, py3)"). */
export function versionLabel(img) {
  const aliases = (img.aliases || []).filter((a) => a && a !== img.tag);
  return aliases.length ? `${img.tag} (${aliases.join(", ")})` : img.tag;
}

/** "x86_64" or "x86_64, aarch64": the builds of a version (information only: not chosen). */
export function architecturesOf(img) {
  return (img.architectures || [img.architecture]).filter(Boolean).join(", ");
}

/** The reference POST /session takes: the image's canonical name, registry/name:tag, where a
 * local image (registry "local", services/images.py split_name) has no registry part. */
export function imageRef(img) {
  return `${repositoryOf(img)}:${img.tag}`;
}

/** {slot: {min, max}} of an image, numbers (bytes for memory); null where not set. */
export function imageLimits(img) {
  const out = {};
  for (const l of img.resource_limits || []) {
    out[l.key] = { min: toNumber(l.key, l.min), max: toNumber(l.key, l.max) };
  }
  return out;
}

export function toNumber(slot, value) {
  if (value === null || value === undefined || value === "") return null;
  if (value === "Infinity" || value === Infinity) return Infinity;
  const n = slot === "mem" || slot === "shmem" ? parseBytes(value) : Number(value);
  return Number.isFinite(n) ? n : null;
}

const IMAGES_QUERY = `query {
  images(is_installed: true) {
    name humanized_name tag registry architecture installed aliases
    labels { key value } resource_limits { key min max }
  }
}`;

/** Everything the first steps need: images, the user's group and domain, folders, slots. */
export async function loadBasics(ctx) {
  const [imageData, userData, folders, slots] = await Promise.all([
    gql(IMAGES_QUERY),
    gql(`query($email: String) {
      user(email: $email) { domain_name groups { id name } }
      keypair { concurrency_limit concurrency_used }
    }`, { email: ctx.user.email }),
    request("GET", "/folders"),
    request("GET", "/config/resource-slots"),
  ]);
  const user = (userData && userData.user) || {};
  const groups = user.groups || [];
  // The project chosen in the top bar (main.js), else the user's "default" or first group.
  const chosen = ctx.project && groups.find((g) => g.id === ctx.project.id);
  const group = chosen || groups.find((g) => g.name === "default") || groups[0] || { name: "default" };
  return {
    environments: environmentsOf((imageData && imageData.images) || []),
    domain: user.domain_name || "default",
    group: group.name,
    folders: (Array.isArray(folders) ? folders : [])
      .filter((f) => (f.status || "ready") === "ready" && !f.trashed_at && !f.name.startsWith("."))
      .sort((a, b) => a.name.localeCompare(b.name)),
    slots: slots || {},
    keypair: (userData && userData.keypair) || {},
  };
}

/** The resource groups the user may start sessions in for `group`. */
export async function loadScalingGroups(group) {
  const data = await request("GET", "/scaling-groups", { query: { group } });
  return ((data && data.scaling_groups) || []).map((s) => s.name);
}

/** Presets and the room left for the keypair and in the resource group. */
export async function loadPresets(group, scalingGroup) {
  return request("POST", "/resource/check-presets", { json: { group, scaling_group: scalingGroup } });
}

/** The most of `slot` one session may ask for: what the keypair's policy still allows, what
 * the resource group has in all (used or free: a session that does not fit now waits in the
 * queue), and the image's own maximum. */
export function maxOf(slot, presetsInfo, limits, scalingGroup) {
  let max = Infinity;
  const info = presetsInfo || {};
  const take = (value) => {
    const n = toNumber(slot, value);
    if (n !== null) max = Math.min(max, n);
  };
  if (info.keypair_remaining && info.keypair_remaining[slot] !== undefined) take(info.keypair_remaining[slot]);
  const group = info.scaling_groups && info.scaling_groups[scalingGroup];
  if (group && group.remaining) {
    const free = toNumber(slot, group.remaining[slot] ?? 0) || 0;
    const used = toNumber(slot, (group.using || {})[slot] ?? 0) || 0;
    max = Math.min(max, free + used);
  } else if (info.scaling_group_remaining && info.scaling_group_remaining[slot] !== undefined) {
    take(info.scaling_group_remaining[slot]);
  }
  const img = limits[slot];
  if (img && img.max !== null && img.max !== undefined) max = Math.min(max, img.max);
  return max;
}

export function minOf(slot, limits) {
  const img = limits[slot];
  return img && img.min !== null && img.min !== undefined ? img.min : 0;
}

/** The Sessions slider's end: the sessions the keypair's policy still allows (a batch is all
 * or none), at most MAX_SESSIONS. */
export function sessionsMax(basics) {
  const kp = (basics && basics.keypair) || {};
  const limit = Number(kp.concurrency_limit);
  if (!Number.isFinite(limit) || limit <= 0) return MAX_SESSIONS;
  const used = Number(kp.concurrency_used) || 0;
  return Math.max(1, Math.min(MAX_SESSIONS, limit - used));
}
