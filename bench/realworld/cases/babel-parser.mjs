// JavaScript source → Babel AST; the output is a census of its node types (a walk over every node).
import { parse } from "@babel/parser";
import { census } from "./census.mjs";

export const run = (input) => census(parse(input.text, { sourceType: "module" }));
