// JavaScript source → ESTree AST; the output is a census of its node types (a walk over every node).
import { parse } from "acorn";
import { census } from "./census.mjs";

export const run = (input) => census(parse(input.text, { ecmaVersion: "latest", sourceType: "module", locations: true }));
