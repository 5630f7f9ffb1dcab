// Package graphiql serves the embedded GraphiQL page and its assets. The
// page, its script, its styles, its fonts and the Monaco editor's web workers
// are all compiled into the binary (see web/graphiql for how they are built);
// it never fetches anything from outside: no CDN, no web fonts, and its
// Content-Security-Policy lets the browser load nothing from another origin.
package graphiql

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AssetPrefix is the path under which Handler serves the bundled files.
const AssetPrefix = "/graphiql/assets/"

//go:embed assets
var embedded embed.FS

// Token is a named bearer token offered on the page (dev only).
type Token struct {
	// Name labels the token's button, e.g. "provider (tenant Acme)".
	Name string
	// Token is sent as "Authorization: Bearer <Token>" once chosen.
	Token string
}

// Options configure the page.
type Options struct {
	// Endpoint is the GraphQL endpoint the page sends requests to;
	// "/graphql" when empty.
	Endpoint string
	// Tokens, when any, are offered as buttons above the editor; clicking
	// one makes every request carry it as a bearer token. Dev only: the
	// tokens are written into the page.
	Tokens []Token
	// Title is the page's title; "GraphiQL" when empty.
	Title string
	// DefaultToken names the token (one of Tokens) picked when the browser
	// has no choice of its own stored yet; none when empty.
	DefaultToken string
	// Tabs, when any, are the editor tabs GraphiQL opens with when the
	// browser has no tabs of its own stored yet (instead of GraphiQL's
	// welcome text); the first is the active one.
	Tabs []Tab
}

// Tab is an editor tab: an operation document and its variables.
type Tab struct {
	Query     string
	Variables string // JSON; empty for none
}

// asset is one embedded file, ready to serve.
type asset struct {
	data        []byte
	contentType string
	etag        string

	gzOnce sync.Once
	gz     []byte // gzip of data, made on first demand; nil if not smaller
}

// assets maps a file name under AssetPrefix to the file; version changes
// whenever any of them does and keys their long-lived cache entries.
var assets, version = loadAssets()

func loadAssets() (map[string]*asset, string) {
	m := map[string]*asset{}
	all := sha256.New()
	entries, err := fs.ReadDir(embedded, "assets")
	if err != nil {
		panic("graphiql: embedded assets: " + err.Error())
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := embedded.ReadFile("assets/" + e.Name())
		if err != nil {
			panic("graphiql: embedded assets: " + err.Error())
		}
		sum := sha256.Sum256(data)
		m[e.Name()] = &asset{
			data:        data,
			contentType: contentType(e.Name()),
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
		all.Write([]byte(e.Name()))
		all.Write(sum[:])
	}
	return m, hex.EncodeToString(all.Sum(nil)[:8])
}

// contentType does not depend on the host's MIME tables.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".woff2":
		return "font/woff2"
	}
	return "application/octet-stream"
}

// pageConfig is what the bundle reads from #graphiql-config.
type pageConfig struct {
	Endpoint     string        `json:"endpoint"`
	Tokens       []tokenConfig `json:"tokens"`
	DefaultToken string        `json:"defaultToken,omitempty"`
	Tabs         []tabConfig   `json:"tabs"`
	AssetBase    string        `json:"assetBase"`
	Version      string        `json:"version"`
}

type tabConfig struct {
	Query     string `json:"query"`
	Variables string `json:"variables,omitempty"`
}

type tokenConfig struct {
	Name  string `json:"name"`
	Token string `json:"token"`
}

// The config lands in a JSON script element: html/template marshals it
// and escapes <, > and & so nothing in it can close the element.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{.Prefix}}graphiql.css?v={{.Version}}">
</head>
<body>
<div id="graphiql" data-endpoint="{{.Config.Endpoint}}">Loading GraphiQL…</div>
<noscript>GraphiQL needs JavaScript.</noscript>
<script type="application/json" id="graphiql-config">{{.Config}}</script>
<script src="{{.Prefix}}graphiql.js?v={{.Version}}"></script>
</body>
</html>
`))

// Handler serves the page at "/" (exactly; other paths 404) and the assets under "/graphiql/assets/".
func Handler(opts Options) http.Handler {
	if opts.Endpoint == "" {
		opts.Endpoint = "/graphql"
	}
	if opts.Title == "" {
		opts.Title = "GraphiQL"
	}
	cfg := pageConfig{
		Endpoint:  opts.Endpoint,
		Tokens:    []tokenConfig{},
		Tabs:      []tabConfig{},
		AssetBase: AssetPrefix,
		Version:   version,
	}
	for _, t := range opts.Tokens {
		if t.Name != "" && t.Token != "" {
			cfg.Tokens = append(cfg.Tokens, tokenConfig{Name: t.Name, Token: t.Token})
			if t.Name == opts.DefaultToken {
				cfg.DefaultToken = t.Name
			}
		}
	}
	for _, t := range opts.Tabs {
		if t.Query != "" {
			cfg.Tabs = append(cfg.Tabs, tabConfig{Query: t.Query, Variables: t.Variables})
		}
	}
	var buf bytes.Buffer
	err := page.Execute(&buf, struct {
		Title, Prefix, Version string
		Config                 pageConfig
	}{opts.Title, AssetPrefix, version, cfg})
	if err != nil {
		// Only strings go in, so this is a bug in the template itself.
		panic("graphiql: render page: " + err.Error())
	}
	return &handler{page: buf.Bytes(), csp: csp(opts.Endpoint)}
}

// csp allows nothing but this origin, plus the endpoint's origin when it is
// an absolute URL. Monaco needs inline styles (it writes style attributes
// and <style> elements); its workers are same-origin files, so no blob:,
// and nothing needs eval. Fonts come as data: URLs inside the CSS.
func csp(endpoint string) string {
	connect := "'self'"
	if u, err := url.Parse(endpoint); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		!strings.ContainsAny(u.Host, " ;,'\"") {
		connect += " " + u.Scheme + "://" + u.Host
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data:",
		"font-src 'self' data:",
		"connect-src " + connect,
		"worker-src 'self'",
		"manifest-src 'none'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

type handler struct {
	page []byte
	csp  string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/":
		if !allowRead(w, r) {
			return
		}
		hd := w.Header()
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Content-Security-Policy", h.csp)
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Length", strconv.Itoa(len(h.page)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(h.page)
		}
	case strings.HasPrefix(r.URL.Path, AssetPrefix):
		a, ok := assets[strings.TrimPrefix(r.URL.Path, AssetPrefix)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if !allowRead(w, r) {
			return
		}
		serveAsset(w, r, a)
	default:
		http.NotFound(w, r)
	}
}

func allowRead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func serveAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Add("Vary", "Accept-Encoding")
	// URLs the page hands out carry ?v=<version>: such a file never changes,
	// so cache it for a year. Without it (or with an old one) revalidate.
	if r.URL.Query().Get("v") == version {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	body, etag := a.data, a.etag
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		if gz := a.gzipped(); gz != nil {
			body, etag = gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func (a *asset) gzipped() []byte {
	a.gzOnce.Do(func() {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(a.data)
		if zw.Close() == nil && buf.Len() < len(a.data) {
			a.gz = buf.Bytes()
		}
	})
	return a.gz
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if c := strings.ToLower(strings.TrimSpace(coding)); c != "gzip" && c != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}
