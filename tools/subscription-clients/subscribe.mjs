// Subscribes to identitySyncChanged on a started gateway with the npm
// clients a portal uses, graphql-ws (WebSocket, graphql-transport-ws) and
// graphql-sse (distinct connections mode), as a user and as another
// tenant's admin; then changes the user's email by POST and prints, as one
// JSON object, what each client received. The Go test
// (internal/httpserver, TestOfficialSubscriptionClients) starts the
// gateway's replicas and checks the result.
//
// GATEWAY_URL          http://host:port/graphql of the replica to subscribe at
// OWN_AUTHORIZATION    the user's Authorization value
// OTHER_AUTHORIZATION  another tenant's admin's Authorization value
// NEW_EMAIL            the email to change to
import { createClient as createWSClient } from 'graphql-ws';
import { createClient as createSSEClient } from 'graphql-sse';
import WebSocket from 'ws';

const url = process.env.GATEWAY_URL;
const own = process.env.OWN_AUTHORIZATION;
const other = process.env.OTHER_AUTHORIZATION;

const query = 'subscription { identitySyncChanged { changeId userId identitySync { status attempts } } }';

// describe is an error as text: an Error, a close event (code and reason),
// or GraphQL errors.
function describe(e) {
  if (e instanceof Error) return e.message;
  if (e && typeof e.code === 'number') return `closed ${e.code} ${e.reason || ''}`.trim();
  if (e && e.type) return `${e.type} ${e.message || (e.error && e.error.message) || ''}`.trim();
  return JSON.stringify(e);
}

// follow subscribes with subscribe(sink) and collects what arrives.
function follow(name, subscribe) {
  const got = { name, events: [], errors: [], completed: false };
  let first;
  got.first = new Promise(ok => (first = ok));
  got.stop = subscribe({
    next: v => {
      got.events.push(v);
      first();
    },
    error: e => {
      got.errors.push(describe(e));
      first();
    },
    complete: () => {
      got.completed = true;
    },
  });
  return got;
}

function ws(auth) {
  return createWSClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: auth },
    lazy: false,
    retryAttempts: 0,
  });
}

function sse(auth) {
  return createSSEClient({ url, headers: { Authorization: auth }, retryAttempts: 0 });
}

const clients = [ws(own), ws(other)];
const sseClients = [sse(own), sse(other)];
const followers = {
  wsOwn: follow('wsOwn', sink => clients[0].subscribe({ query }, sink)),
  wsOther: follow('wsOther', sink => clients[1].subscribe({ query }, sink)),
  sseOwn: follow('sseOwn', sink => sseClients[0].subscribe({ query }, sink)),
  sseOther: follow('sseOther', sink => sseClients[1].subscribe({ query }, sink)),
};

const sleep = ms => new Promise(ok => setTimeout(ok, ms));
await sleep(500); // every subscription is open

const res = await fetch(url, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', Authorization: own },
  body: JSON.stringify({
    query: 'mutation($i: UpdateMyProfileInput!) { updateMyProfile(input: $i) { identitySync { status } } }',
    variables: { i: { email: process.env.NEW_EMAIL } },
  }),
});
const mutation = await res.json();

const timeout = sleep(15000);
await Promise.race([Promise.all([followers.wsOwn.first, followers.sseOwn.first]), timeout]);
await sleep(500); // what the other tenant's admin would get has come

const out = { mutation };
for (const [k, f] of Object.entries(followers)) {
  f.stop();
  out[k] = { events: f.events, errors: f.errors };
}
for (const c of clients) await c.dispose();
for (const c of sseClients) c.dispose();
console.log(JSON.stringify(out));
process.exit(0);
