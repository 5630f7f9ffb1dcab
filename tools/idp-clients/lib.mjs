// Shared by the scripts: read the fake's coordinates from the environment,
// run each call of an official client as a step, and print what every step
// returned or threw as one JSON object on stdout. The Go test that started
// the fake asserts on it (internal/idp/*/...test/official_test.go).

export function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === "") fail(`${name} is not set`);
  return v;
}

export function fail(message) {
  process.stderr.write(message + "\n");
  process.exit(2);
}

const HEADERS = ["content-type", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"];

// headers keeps the answer headers the checks look at, by lower-case name.
export function headers(h) {
  const out = {};
  if (!h) return out;
  for (const name of HEADERS) {
    const v = typeof h.get === "function" ? h.get(name) : h[name];
    if (v !== null && v !== undefined) out[name] = String(v);
  }
  return out;
}

// describe turns what a client threw into data: the status and headers
// of the answer when the client kept them (Auth0: rawResponse, Keycloak:
// response, Graph: headers), its error class and its parsed body.
export function describe(e) {
  const d = { name: e?.constructor?.name ?? typeof e, message: String(e?.message ?? e).split("\n")[0] };
  const status = e?.statusCode ?? e?.response?.status ?? e?.rawResponse?.status;
  if (status !== undefined) d.status = status;
  const h = e?.rawResponse?.headers ?? e?.response?.headers ?? e?.headers;
  if (h) d.headers = headers(h);
  const body = e?.body ?? e?.responseData;
  if (body !== undefined) d.body = typeof body === "string" ? tryJSON(body) : body;
  if (e?.code !== undefined) d.code = e.code;
  return d;
}

function tryJSON(s) {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

// run records fn's result under name: {ok: true, ...result} or
// {ok: false, error: describe(thrown)}.
export async function run(out, name, fn) {
  const started = Date.now();
  try {
    out[name] = { ok: true, ...((await fn()) ?? {}) };
  } catch (e) {
    out[name] = { ok: false, error: describe(e) };
  }
  out[name].ms = Date.now() - started;
  return out[name];
}

export function print(out) {
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
}
