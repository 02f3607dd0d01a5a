// @ts-check
/// <reference path="../../../../types/aether.d.ts" />
// The token is a placeholder here: printing or returning it reveals nothing.

/** @satisfies {aether.Plugin<{ url: string }, { status: number, body: unknown, placeholder: string }>} */
const client = async (input) => {
  const token = aether.secret("API_TOKEN");
  const res = await fetch(input.url, { headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json(), placeholder: token };
};

export default client;
