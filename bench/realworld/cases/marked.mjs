// markdown → HTML.
import { marked } from "marked";

export const run = (input) => marked.parse(input.text);
