// The Deno worker: the trivial plugin, answering one message.
const main = (i) => i;
self.onmessage = (e) => self.postMessage(main(e.data));
