// The worker side: answers each message with the trivial module's result.
import { parentPort } from "node:worker_threads";
import plugin from "./trivial.mjs";

parentPort.on("message", (input) => parentPort.postMessage(plugin(input)));
