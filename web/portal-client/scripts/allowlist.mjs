// Writes the persisted-operation allow-list the gateway's
// PERSISTED_OPERATIONS_FILE takes, {"<sha256 hex of the text>": "<text>"},
// from every operation the portal sends: the persisted documents GraphQL
// Code Generator made of operations/*.graphql
// (src/gql/persisted-documents.json; keys "sha256:<hex>") and the operations
// relay-compiler made of relay/ (build/relay-persisted.json; keys "<hex>").
// Every key is checked as the gateway checks it: the hex SHA-256 of the
// text's UTF-8 bytes. `npm run allowlist` makes both inputs first.
//
//   node scripts/allowlist.mjs [out]     (default build/persisted-operations.json)
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? resolve(here, 'build/persisted-operations.json'));
const docs = {
  ...JSON.parse(readFileSync(resolve(here, 'src/gql/persisted-documents.json'), 'utf8')),
  ...JSON.parse(readFileSync(resolve(here, 'build/relay-persisted.json'), 'utf8')),
};

const list = {};
for (const [key, text] of Object.entries(docs)) {
  const hex = key.replace(/^sha256:/, '');
  const sum = createHash('sha256').update(text, 'utf8').digest('hex');
  if (sum !== hex) throw new Error(`${key.slice(0, 20)}… is not the SHA-256 of its text`);
  list[hex] = text;
}
if (Object.keys(list).length === 0) throw new Error('no operations: run codegen and relay first');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(list, null, 2) + '\n');
console.log(`allow-list: ${Object.keys(list).length} operations -> ${out}`);
