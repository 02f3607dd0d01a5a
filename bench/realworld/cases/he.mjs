// HTML text with named, decimal and hexadecimal character references: decode, then encode again.
import { decode, encode } from "he";

export const run = (input) => encode(decode(input.text), { useNamedReferences: true });
