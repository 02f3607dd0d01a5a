// Cold start: one Node process, one worker, one message, terminate. Timed from outside.
import { createCallTerminate } from "./common.mjs";

const output = await createCallTerminate({ n: 1 });
if (output.n !== 1) throw new Error("wrong answer");
