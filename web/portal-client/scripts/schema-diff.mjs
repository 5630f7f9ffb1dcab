// Compares schema.graphqls with the last released schema
// (schema.released.graphql) with @graphql-inspector/core and fails on a
// breaking change that CHANGELOG.md does not list.
//
// The rule: every breaking change's schema path (as the inspector names it,
// e.g. `Query.users`, `User.email`, `Query.users.first`, `PageInfo`) must
// appear in backticks in a list item under "### Breaking" in the
// "## Unreleased" section. Dangerous changes (an argument or interface
// added, which may surprise an exhaustive client) are reported, never fatal.
//
//   node scripts/schema-diff.mjs [schema] [changelog]   (defaults: the repository's)
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CriticalityLevel, diff } from '@graphql-inspector/core';
import { buildSchema } from 'graphql';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const schemaFile = resolve(process.argv[2] ?? resolve(here, '../../schema.graphqls'));
const changelogFile = resolve(process.argv[3] ?? resolve(here, '../../CHANGELOG.md'));
const releasedFile = resolve(here, 'schema.released.graphql');

// breakingListed returns the backticked paths of the list items under
// "### Breaking" in the "## Unreleased" section of a changelog.
export function breakingListed(changelog) {
  const unreleased = changelog.split(/^## /m).find(s => /^Unreleased\b/.test(s)) ?? '';
  const breaking = unreleased.split(/^### /m).find(s => /^Breaking\b/.test(s)) ?? '';
  const paths = new Set();
  for (const line of breaking.split('\n')) {
    if (!/^\s*[-*]\s/.test(line) && !/^\s{2,}\S/.test(line)) continue;
    for (const m of line.matchAll(/`([^`]+)`/g)) paths.add(m[1]);
  }
  return paths;
}

const released = buildSchema(readFileSync(releasedFile, 'utf8'));
const current = buildSchema(readFileSync(schemaFile, 'utf8'));
const changes = await diff(released, current);
const listed = breakingListed(readFileSync(changelogFile, 'utf8'));

let unlisted = 0;
for (const c of changes) {
  const level = c.criticality.level;
  if (level === CriticalityLevel.NonBreaking) continue;
  const path = c.path ?? '(schema)';
  if (level === CriticalityLevel.Breaking) {
    const ok = listed.has(path);
    if (!ok) unlisted++;
    console.log(`${ok ? 'breaking (listed)  ' : 'BREAKING, NOT LISTED'} ${path}: ${c.message}`);
  } else {
    console.log(`dangerous           ${path}: ${c.message}`);
  }
}
const breaking = changes.filter(c => c.criticality.level === CriticalityLevel.Breaking).length;
console.log(`schema diff against schema.released.graphql: ${changes.length} changes, ${breaking} breaking, ${unlisted} not in CHANGELOG.md's Unreleased "Breaking" list`);
if (unlisted > 0) {
  console.error('List each breaking change\'s path in backticks under "### Breaking" in CHANGELOG.md\'s "## Unreleased" section (see docs/api.md#schema-changes).');
  process.exitCode = 1;
}
