// Runs the portal's typed operations against a started `gateway dev` that
// serves only the persisted-operation allow-list (build/persisted-operations.json,
// from `npm run allowlist`), and checks the answers: every list walked forward
// and backward gives the same items with the pageInfo the Relay spec asks
// for, a building with its contacts, a refetch by id, the profile update and
// its status over the identitySyncChanged subscription (GraphQL over SSE),
// and relay-compiler's pagination and refetch queries as Relay sends them;
// then that an operation outside the list is refused with
// OPERATION_NOT_ALLOWED. Each check runs twice: sending only the hash, and
// sending the listed text. Exits 1 when any check fails.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client, hashOf, type Send } from './client.js';
import { startGateway } from './gateway.js';
import {
  BuildingsDocument,
  BuildingWithContactsDocument,
  IdentitySyncChangedDocument,
  InvoicesDocument,
  MeDocument,
  RefetchDocument,
  UpdateMyProfileDocument,
  UsersDocument,
  type IdentitySyncChangedSubscription,
  type PageInfoPartsFragment,
} from './gql/graphql.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const allowListFile = resolve(here, '../build/persisted-operations.json');
const relayFile = resolve(here, '../build/relay-persisted.json');

/** The page variables of every list: one direction at a time. */
type PageArgs = { first: number; after?: string } | { last: number; before?: string };

/** What every connection answers, whatever its node. */
interface Page<N extends { id: string }> {
  totalCount: number;
  edges: Array<{ cursor: string; node: N }>;
  pageInfo: PageInfoPartsFragment;
}

let failures = 0;
async function check(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
    console.log(`ok    ${name}`);
  } catch (err) {
    failures++;
    console.log(`FAIL  ${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * cursorsMatch: startCursor and endCursor are set exactly when there are
 * edges. (Cursors are sealed afresh each time, so the first edge's cursor
 * and startCursor differ as strings; the walks check that they lead to the
 * same pages.)
 */
function cursorsMatch<N extends { id: string }>(p: Page<N>): void {
  assert.equal(p.pageInfo.startCursor !== null, p.edges.length > 0, 'startCursor is set when there are edges');
  assert.equal(p.pageInfo.endCursor !== null, p.edges.length > 0, 'endCursor is set when there are edges');
}

/**
 * walkBothWays reads a list forward page by page and backward from its end,
 * checks pageInfo on every page, that both walks give the same ids in the
 * same order (totalCount of them, more than one page), and that the page
 * before the second page is the first.
 */
async function walkBothWays<N extends { id: string }>(list: (args: PageArgs) => Promise<Page<N>>, size: number): Promise<void> {
  const forward: string[] = [];
  const pages: Page<N>[] = [];
  let after: string | undefined;
  for (;;) {
    const p = await list(after === undefined ? { first: size } : { first: size, after });
    cursorsMatch(p);
    assert.equal(p.pageInfo.hasPreviousPage, after !== undefined, 'forward: hasPreviousPage is whether after was given');
    forward.push(...p.edges.map(e => e.node.id));
    pages.push(p);
    if (!p.pageInfo.hasNextPage) break;
    assert.equal(p.edges.length, size, 'forward: a page with a next page is full');
    after = p.pageInfo.endCursor ?? assert.fail('forward: hasNextPage without endCursor');
  }
  const total = pages[0]?.totalCount ?? 0;
  assert.ok(pages.length > 1, `the list spans more than one page of ${size} (it has ${total})`);
  assert.equal(forward.length, total, 'forward: totalCount items');
  assert.equal(new Set(forward).size, forward.length, 'forward: no item twice');

  const backward: string[] = [];
  let before: string | undefined;
  for (;;) {
    const p = await list(before === undefined ? { last: size } : { last: size, before });
    cursorsMatch(p);
    assert.equal(p.pageInfo.hasNextPage, before !== undefined, 'backward: hasNextPage is whether before was given');
    backward.unshift(...p.edges.map(e => e.node.id));
    if (!p.pageInfo.hasPreviousPage) break;
    assert.equal(p.edges.length, size, 'backward: a page with a previous page is full');
    before = p.pageInfo.startCursor ?? assert.fail('backward: hasPreviousPage without startCursor');
  }
  assert.deepEqual(backward, forward, 'the backward walk gives the forward walk');

  const second = pages[1] ?? assert.fail('no second page');
  const back = await list({ last: size, before: second.pageInfo.startCursor ?? assert.fail('no startCursor') });
  assert.deepEqual(back.edges.map(e => e.node.id), pages[0]?.edges.map(e => e.node.id), 'the page before the second page is the first');
  assert.equal(back.pageInfo.hasPreviousPage, false, 'nothing precedes the first page');

  const lastEdge = pages[0]?.edges.at(-1) ?? assert.fail('an empty first page');
  const next = await list({ first: size, after: lastEdge.cursor });
  assert.deepEqual(next.edges.map(e => e.node.id), second.edges.map(e => e.node.id), "after the first page's last edge cursor comes the second page");
}

/** relayOperation is the hash of the operation relay-compiler made under this name. */
function relayOperation(relay: Record<string, string>, name: string): string {
  const found = Object.entries(relay).find(([, text]) => text.startsWith(`query ${name}(`));
  return found?.[0] ?? assert.fail(`relay-compiler made no ${name}`);
}

/** A page of a Relay pagination query's connection, with the ids of its nodes. */
interface RelayPage {
  edges: Array<{ cursor: string; node: { id: string } }>;
  pageInfo: PageInfoPartsFragment;
  totalCount?: number;
}

/**
 * relayChecks runs the operations relay-compiler made, with the variables
 * Relay sends: usePaginationFragment's loadNext sets first/after and nulls
 * last/before, loadPrevious the other way round; useRefetchableFragment on a
 * Node type refetches through node(id:).
 */
async function relayChecks(tag: string, admin: Client, relay: Record<string, string>, buildings: Array<{ id: string; name: string }>): Promise<void> {
  await check(`${tag} relay: BuildingListPaginationQuery pages both ways as loadNext and loadPrevious send it`, () =>
    walkBothWays(async args => {
      const vars = 'first' in args
        ? { first: args.first, after: args.after ?? null, last: null, before: null }
        : { last: args.last, before: args.before ?? null, first: null, after: null };
      const data = await admin.byHash<{ buildings: RelayPage & { totalCount: number } }>(relayOperation(relay, 'BuildingListPaginationQuery'), vars);
      return data.buildings;
    }, 3));

  await check(`${tag} relay: BuildingCardRefetchQuery refetches through node(id:)`, async () => {
    assert.match(relay[relayOperation(relay, 'BuildingCardRefetchQuery')] ?? '', /node\(id: \$id\)/);
    for (const b of buildings.slice(0, 3)) {
      const data = await admin.byHash<{ node: { __typename: string; id: string; name?: string } | null }>(
        relayOperation(relay, 'BuildingCardRefetchQuery'), { id: b.id });
      assert.equal(data.node?.__typename, 'Building');
      assert.equal(data.node?.name, b.name);
    }
  });

  await check(`${tag} relay: UserInvoicesPaginationQuery pages a user's invoices both ways through node(id:)`, async () => {
    const users = (await admin.data(UsersDocument, { first: 20 })).users.edges.map(e => e.node);
    const hash = relayOperation(relay, 'UserInvoicesPaginationQuery');
    let walked = 0;
    for (const u of users) {
      const page = async (vars: Record<string, unknown>) => {
        const data = await admin.byHash<{ node: { __typename: string; invoices?: RelayPage } | null }>(hash, { id: u.id, ...vars });
        assert.equal(data.node?.__typename, 'User');
        return data.node?.invoices ?? assert.fail('no invoices on the User');
      };
      const all = await page({ first: 100, after: null, last: null, before: null });
      if (all.edges.length < 3) continue;
      const head = await page({ first: 2, after: null, last: null, before: null });
      const tail = await page({ last: 2, before: null, first: null, after: null });
      assert.deepEqual(head.edges.map(e => e.node.id), all.edges.slice(0, 2).map(e => e.node.id), 'loadNext from the start');
      assert.deepEqual(tail.edges.map(e => e.node.id), all.edges.slice(-2).map(e => e.node.id), 'loadPrevious from the end');
      assert.equal(tail.pageInfo.hasPreviousPage, true);
      const before = await page({ last: 1, before: tail.pageInfo.startCursor, first: null, after: null });
      assert.deepEqual(before.edges.map(e => e.node.id), all.edges.slice(-3, -2).map(e => e.node.id), 'loadPrevious before the last page');
      walked++;
    }
    assert.ok(walked > 0, 'some user has 3 invoices or more');
  });
}

async function suite(send: Send, admin: Client, otherAdmin: Client, provider: Client, relay: Record<string, string>): Promise<void> {
  admin = admin.with(send);
  otherAdmin = otherAdmin.with(send);
  provider = provider.with(send);
  const tag = `[${send}]`;

  await check(`${tag} users: forward and backward walks agree`, () =>
    walkBothWays(async args => (await admin.data(UsersDocument, args)).users, 4));
  await check(`${tag} buildings: forward and backward walks agree`, () =>
    walkBothWays(async args => (await admin.data(BuildingsDocument, args)).buildings, 3));
  await check(`${tag} invoices: forward and backward walks agree`, () =>
    walkBothWays(async args => (await admin.data(InvoicesDocument, args)).invoices, 10));

  const buildings = (await admin.data(BuildingsDocument, { first: 20 })).buildings.edges.map(e => e.node);
  const theirs = (await otherAdmin.data(BuildingsDocument, { first: 20 })).buildings.edges.map(e => e.node);

  await check(`${tag} a building with its contacts, the primary first`, async () => {
    const withContacts = [];
    for (const b of buildings) {
      const one = (await admin.data(BuildingWithContactsDocument, { id: b.id })).building ?? assert.fail(`building ${b.name} is null`);
      assert.equal(one.id, b.id);
      assert.equal(one.name, b.name);
      if (one.contacts.length > 0) withContacts.push(one);
      const primaries = one.contacts.filter(c => c.isPrimary);
      assert.ok(primaries.length <= 1, `${b.name}: at most one primary contact`);
      if (one.primaryContact) {
        assert.equal(one.contacts[0]?.isPrimary, true, `${b.name}: the primary contact comes first`);
        assert.equal(one.contacts[0]?.contact.id, one.primaryContact.id, `${b.name}: primaryContact is the primary link`);
      } else {
        assert.equal(primaries.length, 0, `${b.name}: no primaryContact, no primary link`);
      }
      for (const c of one.contacts) assert.ok(c.role.length > 0, `${b.name}: every link has a role`);
    }
    assert.ok(withContacts.length > 0, 'some building has contacts');
  });

  await check(`${tag} refetch by id (node) answers each type, null for unknown and other-tenant ids`, async () => {
    const b = buildings[0] ?? assert.fail('no building');
    const got = (await admin.data(RefetchDocument, { id: b.id })).node;
    assert.ok(got?.__typename === 'Building', `node(building id) is a Building, got ${got?.__typename}`);
    assert.equal(got.id, b.id);
    assert.equal(got.name, b.name);

    const inv = (await admin.data(InvoicesDocument, { first: 1 })).invoices.edges[0]?.node ?? assert.fail('no invoice');
    const gotInv = (await admin.data(RefetchDocument, { id: inv.id })).node;
    assert.ok(gotInv?.__typename === 'Invoice', `node(invoice id) is an Invoice, got ${gotInv?.__typename}`);
    assert.equal(gotInv.number, inv.number);

    const user = (await admin.data(UsersDocument, { first: 1 })).users.edges[0]?.node ?? assert.fail('no user');
    const gotUser = (await admin.data(RefetchDocument, { id: user.id })).node;
    assert.ok(gotUser?.__typename === 'User', `node(user id) is a User, got ${gotUser?.__typename}`);
    assert.equal(gotUser.fullName, user.fullName);

    assert.equal((await admin.data(RefetchDocument, { id: randomUUID() })).node, null, 'an unknown id is null');
    const other = theirs[0] ?? assert.fail('the other tenant has no building');
    assert.ok(!buildings.some(x => x.id === other.id), 'the tenants share no building');
    assert.equal((await admin.data(RefetchDocument, { id: other.id })).node, null, "another tenant's building is null");
  });

  await relayChecks(tag, admin, relay, buildings);

  await check(`${tag} updateMyProfile: the change applies and me answers it`, async () => {
    const fullName = `Portal Client ${send} ${Date.now()}`;
    const res = (await provider.data(UpdateMyProfileDocument, { input: { fullName } })).updateMyProfile;
    assert.ok(res.identitySync.status === 'APPLIED' || res.identitySync.status === 'PENDING',
      `status is APPLIED or PENDING, got ${res.identitySync.status} (${res.identitySync.reason})`);
    assert.ok(res.identitySync.attempts >= 0);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const me = (await provider.data(MeDocument, {})).me ?? assert.fail('me is null for a provider');
      assert.equal(me.id, res.user.id);
      if (me.fullName === fullName) break;
      if (Date.now() > deadline) assert.fail(`me.fullName is still ${me.fullName} after 10s`);
      await new Promise(r => setTimeout(r, 200));
    }
  });
}

/**
 * followProfileChange subscribes the provider, its tenant's admin and
 * another tenant's admin to identitySyncChanged, changes the provider's
 * profile, and checks that the provider and its admin get the change's
 * final status for the provider's user and the other admin nothing of it.
 */
async function followProfileChange(tag: string, provider: Client, admin: Client, otherAdmin: Client): Promise<void> {
  type Event = IdentitySyncChangedSubscription['identitySyncChanged'];
  const got: Record<'provider' | 'admin' | 'other', Event[]> = { provider: [], admin: [], other: [] };
  const errors: string[] = [];
  const follow = (who: keyof typeof got, c: Client) =>
    c.subscribe(IdentitySyncChangedDocument, {}, r => {
      if (r.errors?.length) errors.push(`${who}: ${JSON.stringify(r.errors)}`);
      if (r.data) got[who].push(r.data.identitySyncChanged);
    });
  const stops = [await follow('provider', provider), await follow('admin', admin), await follow('other', otherAdmin)];
  try {
    const me = (await provider.data(MeDocument, {})).me ?? assert.fail('me is null for a provider');
    const done = (e: Event) => e.userId === me.id && e.identitySync.status !== 'PENDING';
    // The stream is open once connected fires; should the gateway still be
    // setting up its listener, the change is made again (each is a new one).
    let final: Event | undefined;
    for (let attempt = 0; attempt < 3 && !final; attempt++) {
      await provider.data(UpdateMyProfileDocument, { input: { fullName: `Portal Client ${tag} live ${Date.now()}` } });
      const deadline = Date.now() + 5_000;
      while (!final && Date.now() < deadline) {
        await new Promise(r => setTimeout(r, 100));
        final = got.provider.find(done);
      }
    }
    assert.deepEqual(errors, [], 'no errors on the streams');
    assert.ok(final, `the provider got its change's final status (got ${JSON.stringify(got.provider)})`);
    assert.equal(final.identitySync.status, 'APPLIED', `the change applied (${final.identitySync.reason})`);
    assert.ok(final.changeId.length > 0);
    const adminDeadline = Date.now() + 5_000;
    while (!got.admin.some(e => e.changeId === final.changeId) && Date.now() < adminDeadline) {
      await new Promise(r => setTimeout(r, 100));
    }
    assert.ok(got.admin.some(e => e.changeId === final.changeId), "the tenant's admin got the change");
    await new Promise(r => setTimeout(r, 500));
    assert.ok(!got.other.some(e => e.userId === me.id), "another tenant's admin got nothing of it");
  } finally {
    for (const stop of stops) stop();
  }
}

async function main(): Promise<void> {
  const listed = JSON.parse(readFileSync(allowListFile, 'utf8')) as Record<string, string>;
  const relay = JSON.parse(readFileSync(relayFile, 'utf8')) as Record<string, string>;
  const gw = await startGateway(repo, { PERSISTED_OPERATIONS_FILE: allowListFile });
  try {
    const admin = new Client(gw.url, gw.token('admin, Northwind Estates'), 'hash', listed);
    const otherAdmin = new Client(gw.url, gw.token('admin, Harbour Homes'), 'hash', listed);
    const provider = new Client(gw.url, gw.token('provider, Northwind Estates'), 'hash', listed);

    await suite('hash', admin, otherAdmin, provider, relay);
    await suite('listed', admin, otherAdmin, provider, relay);

    for (const send of ['hash', 'listed'] as const) {
      await check(`[${send}] identitySyncChanged over SSE follows a profile change; another tenant sees nothing`, () =>
        followProfileChange(send, provider.with(send), admin.with(send), otherAdmin.with(send)));
    }

    const refused = async (body: Record<string, unknown>) => {
      const res = await admin.raw(body);
      assert.equal(res.data, undefined, 'no data');
      assert.equal(res.errors?.[0]?.extensions?.code, 'OPERATION_NOT_ALLOWED', JSON.stringify(res.errors));
    };
    await check('an operation outside the allow-list is OPERATION_NOT_ALLOWED', () =>
      refused({ query: 'query NotListed { buildings(first: 1) { totalCount } }' }));
    await check('a subscription outside the allow-list is OPERATION_NOT_ALLOWED over SSE', async () => {
      const res = await fetch(gw.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: 'Bearer ' + gw.token('provider, Northwind Estates') },
        body: JSON.stringify({ query: 'subscription NotListed { identitySyncChanged { changeId } }' }),
      });
      const body = await res.text();
      assert.match(body, /OPERATION_NOT_ALLOWED/, `HTTP ${res.status}: ${body.slice(0, 300)}`);
      assert.doesNotMatch(body, /"changeId"/, 'no event');
    });
    await check('an unknown hash is OPERATION_NOT_ALLOWED', () =>
      refused({ extensions: { persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } } }));
    await check('a listed operation in other whitespace is OPERATION_NOT_ALLOWED (the hash is of the exact text)', async () => {
      assert.ok(listed[hashOf(BuildingsDocument)], 'Buildings is listed');
      assert.notEqual(BuildingsDocument.toString(), listed[hashOf(BuildingsDocument)]);
      await refused({ query: BuildingsDocument.toString(), variables: { first: 1 } });
    });
  } finally {
    await gw.stop();
  }
  console.log(failures === 0 ? 'portal client: all checks passed' : `portal client: ${failures} checks failed`);
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch(err => {
  console.error(err);
  process.exitCode = 1;
});
