// Placeholder until the sessions page lands.
import { h } from "../dom.js";

export function render(root) {
  root.append(h("h1", { text: "Sessions" }));
}
