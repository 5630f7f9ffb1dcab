// Builds the GraphiQL bundle into internal/httpserver/graphiql/assets/, which
// the gateway embeds with go:embed. Run: npm ci && npm run build (or ./build.sh).
import * as esbuild from 'esbuild';
import {
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, '../../internal/httpserver/graphiql/assets');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// graphiql/style.css already holds Monaco's CSS (and its codicon font as a
// data: URL); the .css files Monaco's ESM modules import would duplicate it.
const dropMonacoCSS = {
  name: 'drop-monaco-css',
  setup(build) {
    build.onLoad({ filter: /[\\/]monaco-editor[\\/].*\.css$/ }, () => ({
      contents: '',
      loader: 'css',
    }));
  },
};

const common = {
  absWorkingDir: here, // bare entry points and metafile paths are relative to it
  bundle: true,
  format: 'iife',
  minify: true,
  sourcemap: false,
  target: ['es2022'],
  // Licences: every bundled package's licence text goes to
  // THIRD_PARTY_LICENSES.txt instead (see below).
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
  plugins: [dropMonacoCSS],
};

const app = await esbuild.build({
  ...common,
  entryPoints: { graphiql: join(here, 'src/main.jsx') },
  outdir: out,
  jsx: 'automatic',
  loader: { '.ttf': 'dataurl', '.woff': 'dataurl', '.woff2': 'dataurl' },
});

const workers = await esbuild.build({
  ...common,
  entryPoints: {
    'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
    'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
    'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
  },
  outdir: out,
});

// One file with the licence of every npm package that ended up in a bundle.
const pkgDirs = new Set();
for (const meta of [app.metafile, workers.metafile]) {
  for (const input of Object.keys(meta.inputs)) {
    const m = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
    if (m) pkgDirs.add(m[1]);
  }
}
const notices = [...pkgDirs]
  .map(dir => {
    const pkg = JSON.parse(readFileSync(join(here, dir, 'package.json'), 'utf8'));
    const file = readdirSync(join(here, dir)).find(f => /^(licen[cs]e|copying)/i.test(f));
    const text = file
      ? readFileSync(join(here, dir, file), 'utf8').trim()
      : `(no licence file in the package; package.json says: ${pkg.license})`;
    return { id: `${pkg.name}@${pkg.version}`, license: pkg.license, text };
  })
  .sort((a, b) => a.id.localeCompare(b.id));
writeFileSync(
  join(out, 'THIRD_PARTY_LICENSES.txt'),
  'Third-party software bundled into the GraphiQL assets of this directory.\n\n' +
    notices.map(n => `== ${n.id} (${n.license}) ==\n\n${n.text}\n`).join('\n'),
);

for (const f of readdirSync(out).sort()) {
  console.log(`${f}\t${statSync(join(out, f)).size} bytes`);
}
