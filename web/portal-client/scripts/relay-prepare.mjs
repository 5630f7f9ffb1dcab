// Writes the schema relay-compiler reads, build/relay-schema.graphql:
// schema.graphqls (the source of truth) with only the schema definition's
// description left out. relay-compiler 21's schema parser does not accept a
// description on `schema { ... }` (GraphQL spec October 2021), and answers
// "'Query' root type must be provided"; everything else is as written.
// It also empties relay/__generated__ and build/relay-persisted.json, where
// relay-compiler writes the text of every operation it makes by its SHA-256
// (relay.config.json's persistConfig): it persists only the documents it
// writes anew and wants the file to exist, so each run starts from nothing
// and the file holds exactly today's operations.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
rmSync(resolve(here, 'relay/__generated__'), { recursive: true, force: true });
writeFileSync(resolve(here, 'build/relay-persisted.json'), '{}\n');
