// CSV (quoted fields, embedded commas and newlines) → typed rows → JSON text.
import Papa from "papaparse";

export const run = (input) => JSON.stringify(Papa.parse(input.text, { header: true, dynamicTyping: true, skipEmptyLines: true }).data);
