// A minimal typed GraphQL client over fetch: the documents are the ones
// GraphQL Code Generator made from operations/*.graphql, so the variables a
// call takes and the data it answers are the schema's types.
import { createClient as createSSEClient } from 'graphql-sse';

import type { TypedDocumentString } from './gql/graphql.js';

/** One GraphQL error as the gateway answers it. */
export interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

/** A GraphQL response: data, errors, or both. */
export interface Result<T> {
  data?: T | null;
  errors?: GraphQLError[];
}

/**
 * How a client sends an operation: its text as generated (`text`), only its
 * hash as a persisted-operations client does (`hash`), or the text the
 * allow-list holds for that hash (`listed`).
 */
export type Send = 'text' | 'hash' | 'listed';

/** hashOf is the hex SHA-256 codegen gave the document (persistedDocuments). */
export function hashOf<T, V>(doc: TypedDocumentString<T, V>): string {
  const meta = doc.__meta__ as { hash?: string } | undefined;
  if (!meta?.hash?.startsWith('sha256:')) throw new Error('the document carries no sha256 hash: is persistedDocuments on in codegen.ts?');
  return meta.hash.slice('sha256:'.length);
}

/** Client sends operations to one GraphQL endpoint with one bearer token. */
export class Client {
  constructor(
    readonly url: string,
    readonly token: string,
    readonly send: Send = 'text',
    readonly listed: Record<string, string> = {},
  ) {}

  /** with is this client sending another way. */
  with(send: Send): Client {
    return new Client(this.url, this.token, send, this.listed);
  }

  /** request sends doc with variables and returns the whole response. */
  async request<T, V>(doc: TypedDocumentString<T, V>, variables: V): Promise<Result<T>> {
    const body: Record<string, unknown> = { variables };
    if (this.send === 'text') {
      body.query = doc.toString();
    } else {
      const hash = hashOf(doc);
      if (this.send === 'hash') {
        body.extensions = { persistedQuery: { version: 1, sha256Hash: hash } };
      } else {
        const text = this.listed[hash];
        if (text === undefined) throw new Error(`operation ${hash.slice(0, 12)}… is not in the allow-list`);
        body.query = text;
      }
    }
    return this.raw(body) as Promise<Result<T>>;
  }

  /**
   * byHash sends the listed operation with this hash, as a client built on
   * persisted operations does (Relay's network layer, say): only the hash in
   * `hash` mode, the listed text otherwise.
   */
  async byHash<T>(hash: string, variables: Record<string, unknown>): Promise<T> {
    const text = this.listed[hash];
    if (text === undefined) throw new Error(`operation ${hash.slice(0, 12)}… is not in the allow-list`);
    const body = this.send === 'hash'
      ? { variables, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }
      : { variables, query: text };
    const res = (await this.raw(body)) as Result<T>;
    if (res.errors?.length || !res.data) {
      throw new Error('GraphQL errors: ' + JSON.stringify(res.errors ?? 'no data'));
    }
    return res.data;
  }

  /**
   * subscribe starts doc over GraphQL over SSE (graphql-sse, distinct
   * connections mode), sent as request sends a query, and resolves once the
   * stream is open. Each result goes to next; stop ends the stream.
   */
  async subscribe<T, V>(doc: TypedDocumentString<T, V>, variables: V, next: (r: Result<T>) => void): Promise<() => void> {
    const client = createSSEClient({
      url: this.url,
      headers: { Authorization: 'Bearer ' + this.token },
      retryAttempts: 0,
    });
    const request = this.send === 'hash'
      ? { query: '', variables: variables as Record<string, unknown>, extensions: { persistedQuery: { version: 1, sha256Hash: hashOf(doc) } } }
      : { query: this.send === 'text' ? doc.toString() : this.listed[hashOf(doc)] ?? '', variables: variables as Record<string, unknown> };
    let stop = () => {};
    await new Promise<void>((connected, failed) => {
      stop = client.subscribe<T>(request, {
        next: r => next(r as Result<T>),
        error: e => failed(e instanceof Error ? e : new Error(JSON.stringify(e))),
        complete: () => {},
      }, { connected: () => connected() });
    });
    return () => {
      stop();
      client.dispose();
    };
  }

  /** data is request's data, or an error naming every GraphQL error. */
  async data<T, V>(doc: TypedDocumentString<T, V>, variables: V): Promise<T> {
    const res = await this.request(doc, variables);
    if (res.errors?.length || !res.data) {
      throw new Error('GraphQL errors: ' + JSON.stringify(res.errors ?? 'no data'));
    }
    return res.data;
  }

  /** raw posts a GraphQL request body as it is (for operations outside the typed set). */
  async raw(body: Record<string, unknown>): Promise<Result<unknown>> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        authorization: 'Bearer ' + this.token,
      },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    try {
      return JSON.parse(text) as Result<unknown>;
    } catch {
      throw new Error(`HTTP ${res.status}: not JSON: ${text.slice(0, 200)}`);
    }
  }
}
