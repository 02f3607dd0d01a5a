// The token is a placeholder here: printing or returning it reveals nothing.
export default async function (input) {
  const token = aether.secret("API_TOKEN");
  const res = await fetch(input.url, { headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json(), placeholder: token };
}
