// Drives the official Microsoft Graph client (@microsoft/microsoft-graph-client)
// through the calls internal/idp/entra makes, against the fake at IDP_URL
// (https: the client attaches the bearer token to https hosts only;
// NODE_EXTRA_CA_CERTS trusts the fake's certificate). The Graph client has
// no credential flow of its own (it takes an authProvider), so the
// client-credentials token comes from a plain form POST to IDP_TOKEN_URL,
// as the Microsoft identity platform documents it.
//
// IDP_MODE=calls: token, read ($select=id,displayName,mail), update (PATCH
// mail and displayName), read again, delete, read after the delete,
// delete again.
// IDP_MODE=ratelimit: a burst of reads without retries until one is
// refused with 429, then one read with the client's default retries.
// IDP_MODE=invite: what FindUsersByEmail and InviteUser call: /users with
// $filter=mail eq '...' (a quote in the email doubled) and $select (none),
// POST /invitations with IDP_REDIRECT_URL, the filter again (one guest,
// PendingAcceptance), the invitation again (409).
import { Client, RetryHandlerOptions } from "@microsoft/microsoft-graph-client";
import { env, headers, print, run } from "./lib.mjs";

const base = new URL(env("IDP_URL"));
const id = env("IDP_USER_ID");
const out = {};

let accessToken = "";
await run(out, "token", async () => {
  const res = await fetch(env("IDP_TOKEN_URL"), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      client_id: env("IDP_CLIENT_ID"),
      client_secret: env("IDP_CLIENT_SECRET"),
      scope: "https://graph.microsoft.com/.default",
      grant_type: "client_credentials",
    }),
  });
  const body = await res.json();
  if (!res.ok) throw Object.assign(new Error(`token endpoint answered ${res.status}`), { statusCode: res.status, body, headers: res.headers });
  accessToken = body.access_token;
  return { status: res.status, tokenType: body.token_type, expiresIn: body.expires_in, tokenLength: accessToken.length };
});
// The identity platform documents a form body only.
await run(out, "tokenAsJSON", async () => {
  const res = await fetch(env("IDP_TOKEN_URL"), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_id: env("IDP_CLIENT_ID"),
      client_secret: env("IDP_CLIENT_SECRET"),
      scope: "https://graph.microsoft.com/.default",
      grant_type: "client_credentials",
    }),
  });
  return { status: res.status, body: await res.json() };
});
if (!out.token.ok) {
  print(out);
  process.exit(0);
}

const graph = Client.init({
  authProvider: (done) => done(null, accessToken),
  baseUrl: base.origin,
  defaultVersion: "v1.0",
  customHosts: new Set([base.hostname]),
});
const noRetry = [new RetryHandlerOptions(0, 0)];
const read = (options = noRetry) => async () => ({
  user: await graph.api(`/users/${id}`).select(["id", "displayName", "mail"]).middlewareOptions(options).get(),
});

if (env("IDP_MODE") === "calls") {
  await run(out, "read", read());
  await run(out, "update", async () => ({
    answer: (await graph.api(`/users/${id}`).middlewareOptions(noRetry).update({ mail: env("IDP_EMAIL"), displayName: env("IDP_NAME") })) ?? null,
  }));
  await run(out, "readUpdated", read());
  await run(out, "delete", async () => ({ answer: (await graph.api(`/users/${id}`).middlewareOptions(noRetry).delete()) ?? null }));
  await run(out, "readDeleted", read());
  await run(out, "deleteAgain", async () => ({ answer: (await graph.api(`/users/${id}`).middlewareOptions(noRetry).delete()) ?? null }));
} else if (env("IDP_MODE") === "invite") {
  const email = env("IDP_EMAIL");
  const find = async () => ({
    users: (await graph
      .api("/users")
      .filter(`mail eq '${email.replaceAll("'", "''")}'`)
      .select(["id", "mail", "displayName", "externalUserState"])
      .middlewareOptions(noRetry)
      .get()).value,
  });
  const invite = async () => ({
    invitation: await graph.api("/invitations").middlewareOptions(noRetry).post({
      invitedUserEmailAddress: email,
      invitedUserDisplayName: env("IDP_NAME"),
      inviteRedirectUrl: env("IDP_REDIRECT_URL"),
      sendInvitationMessage: true,
    }),
  });
  await run(out, "findNone", find);
  await run(out, "invite", invite);
  await run(out, "findOne", find);
  await run(out, "inviteAgain", invite);
} else {
  const burst = [];
  for (let i = 0; i < 10; i++) {
    const r = await run({}, "read", read());
    burst.push(r);
    if (!r.ok) break;
  }
  out.burst = burst.map((r) => (r.ok ? 200 : r.error.status ?? r.error.name));
  out.refused = burst.find((r) => !r.ok) ?? null;
  // The client's RetryHandler waits out Retry-After and tries again.
  await run(out, "retried", read([]));
}
print(out);
