// Writes the schema relay-compiler reads, build/relay-schema.graphql:
// schema.graphqls (the source of truth) with only the schema definition's
// description left out. relay-compiler 21's schema parser does not accept a
// description on `schema { ... }` (GraphQL spec October 2021), and answers
// "'Query' root type must be provided"; everything else is as written.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kind, parse, print, visit } from 'graphql';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(here, 'build/relay-schema.graphql');
const doc = parse(readFileSync(resolve(here, '../../schema.graphqls'), 'utf8'));
const relaySchema = visit(doc, {
  [Kind.SCHEMA_DEFINITION]: node => ({ ...node, description: undefined }),
});
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, print(relaySchema) + '\n');
