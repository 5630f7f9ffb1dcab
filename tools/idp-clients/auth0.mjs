// Drives the official Auth0 Management API client (npm "auth0",
// ManagementClient) through the calls internal/idp/auth0 makes, against
// the fake at IDP_URL (https; NODE_EXTRA_CA_CERTS trusts its certificate).
//
// IDP_MODE=calls: client-credentials token, read, update (email, name),
// read again, update of another documented attribute, delete, read after the delete, delete again.
// IDP_MODE=ratelimit: a burst of reads without retries until one is
// refused with 429, then one read with the client's default retries.
// IDP_MODE=invite: what InviteUser and FindUsersByEmail call: users by
// email (none), create in IDP_CONNECTION, the Authentication API's change
// password (AuthenticationClient of auth0/legacy, the v4 API the package
// still ships: v7's main entrypoint has no Authentication API client),
// users by email again (one, unverified), and the create again (409).
import { ManagementClient } from "auth0";
import { AuthenticationClient } from "auth0/legacy";
import { TokenProvider } from "auth0/management";
import { env, headers, print, run } from "./lib.mjs";

const url = new URL(env("IDP_URL"));
if (url.protocol !== "https:") throw new Error("the Auth0 client only speaks https");
const domain = url.host; // the client builds https://{domain}/api/v2 and https://{domain}/oauth/token
const clientId = env("IDP_CLIENT_ID");
const clientSecret = env("IDP_CLIENT_SECRET");
const id = env("IDP_USER_ID");
const out = {};

// maxRetries 0 so a refusal reaches us as the client surfaces it.
const mgmt = new ManagementClient({ domain, clientId, clientSecret, maxRetries: 0 });
const read = async () => {
  const { data, rawResponse } = await mgmt.users
    .get(id, { fields: "user_id,email,name", include_fields: true })
    .withRawResponse();
  return { status: rawResponse.status, headers: headers(rawResponse.headers), user: data };
};

if (env("IDP_MODE") === "calls") {
  await run(out, "token", async () => {
    // The token provider ManagementClient uses, with its default audience.
    const tp = new TokenProvider({ domain, clientId, clientSecret, audience: `https://${domain}/api/v2/` });
    const tok = await tp.getAccessToken();
    return { tokenLength: tok.length, expiresInS: Math.round((tp.expiresAt - Date.now()) / 1000) };
  });
  await run(out, "read", read);
  await run(out, "update", async () => {
    const { data, rawResponse } = await mgmt.users
      .update(id, { email: env("IDP_EMAIL"), name: env("IDP_NAME") })
      .withRawResponse();
    return { status: rawResponse.status, headers: headers(rawResponse.headers), user: data };
  });
  await run(out, "readUpdated", read);
  // A root attribute the adapter does not change but the API documents.
  await run(out, "updateNickname", async () => {
    const { data, rawResponse } = await mgmt.users.update(id, { nickname: "jd" }).withRawResponse();
    return { status: rawResponse.status, nickname: data.nickname ?? null };
  });
  await run(out, "delete", async () => {
    const { rawResponse } = await mgmt.users.delete(id).withRawResponse();
    return { status: rawResponse.status };
  });
  await run(out, "readDeleted", read);
  await run(out, "deleteAgain", async () => {
    const { rawResponse } = await mgmt.users.delete(id).withRawResponse();
    return { status: rawResponse.status };
  });
} else if (env("IDP_MODE") === "invite") {
  const email = env("IDP_EMAIL");
  const connection = env("IDP_CONNECTION");
  const byEmail = async () => {
    const { data, rawResponse } = await mgmt.users
      .listUsersByEmail({ email, fields: "user_id,email,name,email_verified", include_fields: true })
      .withRawResponse();
    return { status: rawResponse.status, headers: headers(rawResponse.headers), users: data };
  };
  const create = async () => {
    const { data, rawResponse } = await mgmt.users
      .create({
        connection, email, name: env("IDP_NAME"), email_verified: false, verify_email: false,
        password: env("IDP_PASSWORD"),
      })
      .withRawResponse();
    return { status: rawResponse.status, user: data };
  };
  await run(out, "findNone", byEmail);
  await run(out, "create", create);
  await run(out, "changePassword", async () => {
    const auth = new AuthenticationClient({ domain, clientId });
    const { data, status } = await auth.database.changePassword({ email, connection });
    return { status, text: data };
  });
  await run(out, "findOne", byEmail);
  await run(out, "createAgain", create);
} else {
  const burst = [];
  for (let i = 0; i < 10; i++) {
    const r = await run({}, "read", read);
    burst.push(r);
    if (!r.ok) break;
  }
  out.burst = burst.map((r) => (r.ok ? r.status : r.error.status ?? r.error.name));
  out.refused = burst.find((r) => !r.ok) ?? null;
  // The client's own retries (2 by default) wait out the delay the 429 states.
  const retrying = new ManagementClient({ domain, clientId, clientSecret });
  await run(out, "retried", async () => {
    const { rawResponse } = await retrying.users.get(id, { fields: "user_id" }).withRawResponse();
    return { status: rawResponse.status };
  });
}
print(out);
