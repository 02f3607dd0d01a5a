// JavaScript source formatted by prettier's standalone build with its babel parser plugin.
import * as prettier from "prettier/standalone";
import * as babel from "prettier/plugins/babel";
import * as estree from "prettier/plugins/estree";

export const run = (input) => prettier.format(input.text, { parser: "babel", plugins: [babel, estree] });
