// Entry of the GraphiQL bundle the gateway embeds (internal/httpserver/graphiql).
// Everything it needs ships in the bundle: the Monaco workers are separate
// files in the same asset directory, loaded from our own origin.
import { explorerPlugin } from '@graphiql/plugin-explorer';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import '@graphiql/plugin-explorer/style.css';
import './app.css';

// The asset directory is the one this script was loaded from, unless the
// page says otherwise. document.currentScript is only set while a classic
// script first runs, so read it now.
const scriptSrc = document.currentScript && document.currentScript.src;

function readConfig() {
  let cfg = {};
  const el = document.getElementById('graphiql-config');
  if (el && el.textContent.trim()) {
    try {
      cfg = JSON.parse(el.textContent);
    } catch (err) {
      console.error('graphiql: bad #graphiql-config JSON', err);
    }
  }
  const root = document.getElementById('graphiql');
  const endpoint =
    cfg.endpoint || (root && root.dataset.endpoint) || '/graphql';
  const tokens = Array.isArray(cfg.tokens)
    ? cfg.tokens.filter(t => t && t.name && t.token)
    : [];
  const assetBase =
    cfg.assetBase ||
    (scriptSrc ? new URL('.', scriptSrc).pathname : '/graphiql/assets/');
  const tabs = Array.isArray(cfg.tabs)
    ? cfg.tabs
        .filter(t => t && typeof t.query === 'string' && t.query)
        .map(t => ({
          query: t.query,
          variables: typeof t.variables === 'string' ? t.variables : undefined,
        }))
    : [];
  const defaultToken = tokens.some(t => t.name === cfg.defaultToken)
    ? cfg.defaultToken
    : null;
  return {
    endpoint,
    tokens,
    defaultToken,
    tabs,
    assetBase,
    version: cfg.version || '',
  };
}

const config = readConfig();

function assetURL(file) {
  const v = config.version ? '?v=' + encodeURIComponent(config.version) : '';
  return config.assetBase + file + v;
}

// Monaco asks for a worker per language; each is a classic (IIFE) script of
// ours. Nothing is fetched from anywhere but this origin.
globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    switch (label) {
      case 'json':
        return new Worker(assetURL('json.worker.js'), { name: 'json' });
      case 'graphql':
        return new Worker(assetURL('graphql.worker.js'), { name: 'graphql' });
    }
    return new Worker(assetURL('editor.worker.js'), { name: label || 'editor' });
  },
};

const STORAGE_KEY = 'gateway:graphiql:active-token';

// The token chosen last time ("" when it was none), else the page's default.
function initialToken(tokens, defaultToken) {
  try {
    const name = localStorage.getItem(STORAGE_KEY);
    if (name === '') return null;
    if (name && tokens.some(t => t.name === name)) return name;
  } catch {
    // storage may be disabled; start with the default
  }
  return defaultToken;
}

// Made once: GraphiQL keeps its plugins by identity.
const plugins = [explorerPlugin()];

function TokenBar({ tokens, active, onSelect }) {
  return (
    <div className="gw-tokenbar" role="toolbar" aria-label="Dev tokens">
      <span className="gw-tokenbar-label">Dev token:</span>
      <button
        type="button"
        className={'gw-token' + (active === null ? ' gw-token-active' : '')}
        aria-pressed={active === null}
        onClick={() => onSelect(null)}
      >
        none
      </button>
      {tokens.map(t => (
        <button
          type="button"
          key={t.name}
          className={'gw-token' + (active === t.name ? ' gw-token-active' : '')}
          aria-pressed={active === t.name}
          title={'Send Authorization: Bearer <' + t.name + '>'}
          onClick={() => onSelect(t.name)}
        >
          {t.name}
        </button>
      ))}
      <span className="gw-tokenbar-status" aria-live="polite">
        {active === null
          ? 'requests carry no Authorization header'
          : 'requests carry Authorization: Bearer (' + active + ')'}
      </span>
    </div>
  );
}

// The page's tabs (defaultTabs) open when GraphiQL has none stored yet; the
// default token is picked when none was chosen before.
function App({ endpoint, tokens, defaultToken, tabs }) {
  const [active, setActive] = useState(() =>
    initialToken(tokens, defaultToken),
  );

  // A new fetcher per token: GraphiQL re-runs introspection when the fetcher
  // changes. Headers typed in GraphiQL's own headers editor still win.
  const fetcher = useMemo(() => {
    const tok = tokens.find(t => t.name === active);
    return createGraphiQLFetcher({
      url: endpoint,
      headers: tok ? { Authorization: 'Bearer ' + tok.token } : {},
    });
  }, [endpoint, tokens, active]);

  const select = name => {
    setActive(name);
    try {
      localStorage.setItem(STORAGE_KEY, name === null ? '' : name);
    } catch {
      // ignore: selection just isn't remembered
    }
  };

  return (
    <div className="gw-app">
      {tokens.length > 0 && (
        <TokenBar tokens={tokens} active={active} onSelect={select} />
      )}
      <div className="gw-graphiql">
        <GraphiQL
          fetcher={fetcher}
          plugins={plugins}
          defaultTabs={tabs.length > 0 ? tabs : undefined}
        />
      </div>
    </div>
  );
}

const rootEl = document.getElementById('graphiql');
if (rootEl) {
  createRoot(rootEl).render(
    <App
      endpoint={config.endpoint}
      tokens={config.tokens}
      defaultToken={config.defaultToken}
      tabs={config.tabs}
    />,
  );
} else {
  console.error('graphiql: no #graphiql element on the page');
}
