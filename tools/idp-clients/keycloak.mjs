// Drives the official Keycloak admin client (@keycloak/keycloak-admin-client)
// through the calls internal/idp/keycloak makes, against the fake at
// IDP_URL, realm IDP_REALM.
//
// IDP_MODE=calls: client-credentials token, read, update as the adapter
// does it (read the whole UserRepresentation, change email, firstName and
// lastName, PUT it back), read again, delete, read after the delete,
// delete again.
// IDP_MODE=ratelimit: a burst of reads until one is refused with 429.
// IDP_MODE=invite: what InviteUser and FindUsersByEmail call: find by
// email exactly (none), create (the id from Location), execute-actions-email
// with UPDATE_PASSWORD and VERIFY_EMAIL, find again in another case (one,
// unverified), and the create again (409).
import KcAdminClient from "@keycloak/keycloak-admin-client";
import { env, print, run } from "./lib.mjs";

const kc = new KcAdminClient({ baseUrl: env("IDP_URL"), realmName: env("IDP_REALM") });
const id = env("IDP_USER_ID");
const out = {};

await run(out, "token", async () => {
  await kc.auth({ grantType: "client_credentials", clientId: env("IDP_CLIENT_ID"), clientSecret: env("IDP_CLIENT_SECRET") });
  return { tokenLength: kc.accessToken?.length ?? 0 };
});
if (!out.token.ok) {
  print(out);
  process.exit(0);
}
const read = async () => ({ user: await kc.users.findOne({ id }) });

if (env("IDP_MODE") === "calls") {
  await run(out, "read", read);
  await run(out, "update", async () => {
    const rep = await kc.users.findOne({ id });
    if (!rep) throw new Error("findOne found no user to update");
    const [firstName, ...rest] = env("IDP_NAME").split(" ");
    const sent = { ...rep, email: env("IDP_EMAIL"), firstName, lastName: rest.join(" ") };
    const answer = await kc.users.update({ id }, sent);
    return { sentKeys: Object.keys(sent).sort(), answer };
  });
  await run(out, "readUpdated", read);
  await run(out, "delete", async () => ({ answer: await kc.users.del({ id }) }));
  // findOne answers null for a 404 (catchNotFound).
  await run(out, "readDeleted", read);
  await run(out, "deleteAgain", async () => ({ answer: await kc.users.del({ id }) }));
} else if (env("IDP_MODE") === "invite") {
  const email = env("IDP_EMAIL");
  const [firstName, ...rest] = env("IDP_NAME").split(" ");
  const rep = { username: email, email, firstName, lastName: rest.join(" "), enabled: true, emailVerified: false };
  await run(out, "findNone", async () => ({ users: await kc.users.find({ email, exact: true }) }));
  await run(out, "create", async () => kc.users.create(rep));
  await run(out, "executeActionsEmail", async () => ({
    answer: (await kc.users.executeActionsEmail({ id: out.create.id, actions: ["UPDATE_PASSWORD", "VERIFY_EMAIL"] })) ?? null,
  }));
  await run(out, "findOne", async () => ({ users: await kc.users.find({ email: email.toUpperCase(), exact: true }) }));
  await run(out, "createAgain", async () => kc.users.create(rep));
} else {
  const burst = [];
  for (let i = 0; i < 10; i++) {
    const r = await run({}, "read", read);
    burst.push(r);
    if (!r.ok) break;
  }
  out.burst = burst.map((r) => (r.ok ? 200 : r.error.status ?? r.error.name));
  out.refused = burst.find((r) => !r.ok) ?? null;
}
print(out);
