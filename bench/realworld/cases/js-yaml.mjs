// YAML → data → JSON text.
import { load } from "js-yaml";

export const run = (input) => JSON.stringify(load(input.text));
