// @ts-check
/// <reference path="../../../../types/aether.d.ts" />
// Fetches the price list the example's server serves (run.sh starts it on 127.0.0.1) and sums
// it. `fetch` is the standard one; aether checks the host and port against
// `permissions.network.domains` and the address against the policy's `allow_private`.

/** @typedef {{ currency: string, items: { name: string, price: number }[] }} PriceList */

/** @satisfies {aether.Plugin<{ url: string }, { currency: string, items: number, total: number, dearest: string }>} */
const priceCheck = async ({ url }) => {
  const response = await fetch(url, { timeoutMs: 5000 });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  /** @type {PriceList} */
  const list = await response.json();
  const total = list.items.reduce((sum, item) => sum + item.price, 0);
  const dearest = list.items.reduce((a, b) => (b.price > a.price ? b : a)).name;
  return { currency: list.currency, items: list.items.length, total: Math.round(total * 100) / 100, dearest };
};

export default priceCheck;
