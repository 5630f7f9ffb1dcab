package graphiql

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

func get(t *testing.T, h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	return rr
}

var configRE = regexp.MustCompile(`(?s)<script type="application/json" id="graphiql-config">(.*?)</script>`)

// pageConfigOf extracts and parses the JSON the bundle reads.
func pageConfigOf(t *testing.T, page string) pageConfig {
	t.Helper()
	m := configRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no #graphiql-config element in page:\n%s", page)
	}
	var cfg pageConfig
	if err := json.Unmarshal([]byte(m[1]), &cfg); err != nil {
		t.Fatalf("config is not JSON: %v\n%s", err, m[1])
	}
	return cfg
}

func TestPageListsEndpointAndTokens(t *testing.T) {
	h := Handler(Options{
		Endpoint: "/api/graphql",
		Title:    "Gateway dev",
		Tokens: []Token{
			{Name: "provider (tenant Acme)", Token: "tok-1"},
			{Name: "tenant user", Token: "tok-2"},
		},
	})
	rr := get(t, h, "/")
	if rr.Code != http.StatusOK {
		t.Fatalf("GET / = %d", rr.Code)
	}
	body := rr.Body.String()
	for _, want := range []string{
		`<title>Gateway dev</title>`,
		`data-endpoint="/api/graphql"`,
		`<div id="graphiql"`,
		`src="/graphiql/assets/graphiql.js?v=` + version + `"`,
		`href="/graphiql/assets/graphiql.css?v=` + version + `"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	cfg := pageConfigOf(t, body)
	if cfg.Endpoint != "/api/graphql" || cfg.AssetBase != AssetPrefix || cfg.Version != version {
		t.Errorf("config = %+v", cfg)
	}
	want := []tokenConfig{{"provider (tenant Acme)", "tok-1"}, {"tenant user", "tok-2"}}
	if len(cfg.Tokens) != len(want) {
		t.Fatalf("tokens = %+v, want %+v", cfg.Tokens, want)
	}
	for i := range want {
		if cfg.Tokens[i] != want[i] {
			t.Errorf("token %d = %+v, want %+v", i, cfg.Tokens[i], want[i])
		}
	}

	hd := rr.Header()
	if ct := hd.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := hd.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	csp := hd.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "worker-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-eval", "http:", "https:", "blob:", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %q", csp, bad)
		}
	}
}

func TestPageDefaultsAndNoTokens(t *testing.T) {
	rr := get(t, Handler(Options{Tokens: []Token{{Name: "no token"}, {Token: "no name"}}}), "/")
	body := rr.Body.String()
	if !strings.Contains(body, `data-endpoint="/graphql"`) || !strings.Contains(body, "<title>GraphiQL</title>") {
		t.Errorf("defaults missing from page:\n%s", body)
	}
	cfg := pageConfigOf(t, body)
	if cfg.Endpoint != "/graphql" {
		t.Errorf("endpoint = %q", cfg.Endpoint)
	}
	if cfg.Tokens == nil || len(cfg.Tokens) != 0 {
		t.Errorf("tokens = %#v, want an empty list (incomplete tokens are dropped)", cfg.Tokens)
	}
	if !strings.Contains(configRE.FindStringSubmatch(body)[1], `"tokens":[]`) {
		t.Errorf("tokens should be [] not null")
	}
}

func TestPageEscapesConfig(t *testing.T) {
	name := `</script><script>alert(1)</script>`
	rr := get(t, Handler(Options{Title: "<b>x</b>", Tokens: []Token{{Name: name, Token: `a"b&c<d>`}}}), "/")
	body := rr.Body.String()
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<b>x</b>") {
		t.Fatalf("unescaped input in page:\n%s", body)
	}
	cfg := pageConfigOf(t, body)
	if len(cfg.Tokens) != 1 || cfg.Tokens[0].Name != name || cfg.Tokens[0].Token != `a"b&c<d>` {
		t.Errorf("tokens did not round-trip: %+v", cfg.Tokens)
	}
}

func TestAbsoluteEndpointAllowedByCSP(t *testing.T) {
	rr := get(t, Handler(Options{Endpoint: "https://api.example.test:8443/graphql"}), "/")
	csp := rr.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self' https://api.example.test:8443;") {
		t.Errorf("CSP %q does not allow the endpoint's origin", csp)
	}
}

func TestAssetsServedWithTypes(t *testing.T) {
	h := Handler(Options{})
	for name, ctype := range map[string]string{
		"graphiql.js":       "text/javascript; charset=utf-8",
		"graphiql.css":      "text/css; charset=utf-8",
		"editor.worker.js":  "text/javascript; charset=utf-8",
		"json.worker.js":    "text/javascript; charset=utf-8",
		"graphql.worker.js": "text/javascript; charset=utf-8",

		"THIRD_PARTY_LICENSES.txt": "text/plain; charset=utf-8",
	} {
		rr := get(t, h, AssetPrefix+name+"?v="+version)
		if rr.Code != http.StatusOK {
			t.Errorf("%s: status %d", name, rr.Code)
			continue
		}
		if got := rr.Header().Get("Content-Type"); got != ctype {
			t.Errorf("%s: Content-Type %q, want %q", name, got, ctype)
		}
		if rr.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", name)
		}
		if got := rr.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q for the versioned URL", name, got)
		}
		if !bytes.Equal(rr.Body.Bytes(), assets[name].data) {
			t.Errorf("%s: body differs from the embedded file", name)
		}
		if rr.Body.Len() < 1000 {
			t.Errorf("%s: only %d bytes; was the bundle built?", name, rr.Body.Len())
		}
	}
}

func TestAssetCaching(t *testing.T) {
	h := Handler(Options{})
	rr := get(t, h, AssetPrefix+"graphiql.css")
	if got := rr.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("unversioned asset Cache-Control = %q, want no-cache", got)
	}
	etag := rr.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	rr = get(t, h, AssetPrefix+"graphiql.css", "If-None-Match", etag)
	if rr.Code != http.StatusNotModified {
		t.Errorf("revalidation with matching ETag = %d, want 304", rr.Code)
	}
	rr = get(t, h, AssetPrefix+"graphiql.css?v=stale")
	if got := rr.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("stale-version asset Cache-Control = %q, want no-cache", got)
	}
}

func TestAssetGzip(t *testing.T) {
	h := Handler(Options{})
	name := "editor.worker.js"
	rr := get(t, h, AssetPrefix+name, "Accept-Encoding", "br, gzip;q=0.8")
	if rr.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", rr.Header().Get("Content-Encoding"))
	}
	if !strings.Contains(rr.Header().Get("Vary"), "Accept-Encoding") {
		t.Error("no Vary: Accept-Encoding")
	}
	zr, err := gzip.NewReader(rr.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, assets[name].data) {
		t.Error("gunzipped body differs from the embedded file")
	}
	rr = get(t, h, AssetPrefix+name, "Accept-Encoding", "gzip;q=0")
	if rr.Header().Get("Content-Encoding") != "" || !bytes.Equal(rr.Body.Bytes(), assets[name].data) {
		t.Error("gzip;q=0 should get the plain file")
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"":                    false,
		"gzip":                true,
		"gzip, deflate, br":   true,
		"GZIP;q=0.5":          true,
		"gzip;q=0":            false,
		"deflate, br":         false,
		"*":                   true,
		"identity, *;q=0":     false,
		"x-gzip-not, br;q=1":  false,
		" gzip ; q=1.0 , br ": true,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestUnknownPaths404(t *testing.T) {
	h := Handler(Options{})
	for _, p := range []string{
		"/index.html",
		"/graphql-ui",
		"/favicon.ico",
		"/graphiql",
		"/graphiql/",
		"/graphiql/assets/",
		"/graphiql/assets/nope.js",
		"/graphiql/assets/../graphiql.go",
		"/graphiql/assets/%2e%2e/graphiql.go",
		"/graphiql/assets/sub/graphiql.js",
		"/assets/graphiql.js",
	} {
		if rr := get(t, h, p); rr.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, rr.Code)
		}
	}
}

func TestMethods(t *testing.T) {
	h := Handler(Options{})
	for _, p := range []string{"/", AssetPrefix + "graphiql.js"} {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(http.MethodPost, p, strings.NewReader("{}")))
		if rr.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s = %d, want 405", p, rr.Code)
		}
		rr = httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(http.MethodHead, p, nil))
		if rr.Code != http.StatusOK || rr.Body.Len() != 0 {
			t.Errorf("HEAD %s = %d with %d bytes", p, rr.Code, rr.Body.Len())
		}
	}
}

// cdnHosts are places a GraphiQL page commonly loads code, styles or fonts
// from. None may appear in what we serve: the page must work offline.
var cdnHosts = []string{
	"unpkg.com", "jsdelivr", "esm.sh", "cdnjs", "skypack", "jspm",
	"fonts.googleapis", "fonts.gstatic", "googleapis.com", "cloudflare.com",
	"graphql.org/swapi", "raw.githubusercontent",
}

func TestNothingLoadedFromOutside(t *testing.T) {
	h := Handler(Options{Tokens: []Token{{Name: "dev", Token: "x"}}})
	page := get(t, h, "/").Body.String()
	if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+`).FindAllString(page, -1); len(m) > 0 {
		t.Errorf("page refers to other hosts: %q", m)
	}
	for _, ref := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		u := ref[1]
		if u != "data:," && !strings.HasPrefix(u, AssetPrefix) {
			t.Errorf("page loads %q, not from %s", u, AssetPrefix)
		}
	}

	files := map[string][]byte{"page": []byte(page)}
	for name, a := range assets {
		files[name] = a.data
	}
	for name, data := range files {
		lower := bytes.ToLower(data)
		for _, host := range cdnHosts {
			if i := bytes.Index(lower, []byte(host)); i >= 0 {
				lo, hi := max(0, i-60), min(len(data), i+60)
				t.Errorf("%s mentions %q: …%s…", name, host, data[lo:hi])
			}
		}
	}

	// Styles: every url(...) must be inline data; no @import at all.
	css := assets["graphiql.css"].data
	if bytes.Contains(css, []byte("@import")) {
		t.Error("graphiql.css has an @import")
	}
	for _, m := range regexp.MustCompile(`url\(\s*["']?([^"')]{0,40})`).FindAllSubmatch(css, -1) {
		if !bytes.HasPrefix(m[1], []byte("data:")) && !bytes.HasPrefix(m[1], []byte("#")) {
			t.Errorf("graphiql.css loads url(%s…)", m[1])
		}
	}
	// Scripts: no dynamic import of, or worker from, an absolute URL.
	abs := regexp.MustCompile(`(?:import\(|importScripts\(|new Worker\(|new SharedWorker\()\s*["'\x60]https?:`)
	for name, a := range assets {
		if loc := abs.FindIndex(a.data); loc != nil {
			t.Errorf("%s loads code from an absolute URL: %s", name, a.data[loc[0]:min(len(a.data), loc[1]+60)])
		}
	}
}

func TestBundleLoadsItsWorkersFromHere(t *testing.T) {
	js := assets["graphiql.js"].data
	for _, w := range []string{"editor.worker.js", "json.worker.js", "graphql.worker.js"} {
		if _, ok := assets[w]; !ok {
			t.Errorf("worker %s is not embedded", w)
		}
		if !bytes.Contains(js, []byte(`"`+w+`"`)) {
			t.Errorf("graphiql.js does not name %s", w)
		}
	}
	if !bytes.Contains(js, []byte("MonacoEnvironment")) {
		t.Error("graphiql.js does not set MonacoEnvironment")
	}
	for name := range assets {
		if strings.HasSuffix(name, ".map") {
			t.Errorf("source map %s is embedded", name)
		}
	}
}

// The tabs gateway dev opens with are valid operations of the schema, the
// first is the starting query, and the page hands them to GraphiQL.
func TestPortalTabsAreOperationsOfTheSchema(t *testing.T) {
	src, err := os.ReadFile("../../../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(src)})
	if gerr != nil {
		t.Fatal(gerr)
	}
	tabs := PortalTabs()
	if len(tabs) != 4 {
		t.Fatalf("%d tabs, want the starting query and one per kind of user", len(tabs))
	}
	for i, tab := range tabs {
		doc, errs := gqlparser.LoadQuery(schema, tab.Query)
		if len(errs) > 0 {
			t.Errorf("tab %d: %v", i, errs)
			continue
		}
		if len(doc.Operations) == 0 {
			t.Errorf("tab %d has no operation", i)
		}
		for _, op := range doc.Operations {
			if op.Name == "" {
				t.Errorf("tab %d: an operation without a name (GraphiQL titles tabs by it)", i)
			}
		}
		if tab.Variables != "" && !json.Valid([]byte(tab.Variables)) {
			t.Errorf("tab %d: variables are not JSON", i)
		}
	}
	if !strings.Contains(tabs[0].Query, "query Buildings {\n  buildings(first: 5) {") {
		t.Errorf("the first tab is not the starting query:\n%s", tabs[0].Query)
	}
	for i, kind := range []string{`"admin, …"`, `"provider, …"`, `"internal service account"`} {
		if !strings.Contains(tabs[i+1].Query, kind) {
			t.Errorf("tab %d does not say it needs a %s token", i+1, kind)
		}
	}

	cfg := pageConfigOf(t, get(t, Handler(Options{
		Tokens: []Token{{Name: "a", Token: "1"}, {Name: "b", Token: "2"}}, DefaultToken: "b", Tabs: tabs,
	}), "/").Body.String())
	if cfg.DefaultToken != "b" || len(cfg.Tabs) != len(tabs) || cfg.Tabs[0].Query != tabs[0].Query || cfg.Tabs[1].Variables != tabs[1].Variables {
		t.Errorf("config = %+v", cfg)
	}
	// A default that names no token picks none.
	cfg = pageConfigOf(t, get(t, Handler(Options{Tokens: []Token{{Name: "a", Token: "1"}}, DefaultToken: "c"}), "/").Body.String())
	if cfg.DefaultToken != "" || cfg.Tabs == nil || len(cfg.Tabs) != 0 {
		t.Errorf("config = %+v", cfg)
	}
}
