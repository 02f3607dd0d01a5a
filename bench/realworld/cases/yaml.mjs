// YAML → data → JSON text (the `yaml` package's full document parser).
import { parse } from "yaml";

export const run = (input) => JSON.stringify(parse(input.text));
