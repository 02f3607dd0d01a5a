// SHA-256 and SHA-512 (hex) of the UTF-8 bytes of a text.
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

export function run(input) {
  const bytes = utf8ToBytes(input.text);
  return `${bytesToHex(sha256(bytes))} ${bytesToHex(sha512(bytes))}`;
}
