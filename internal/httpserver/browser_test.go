package httpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/httpserver/graphiql"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/dev/devtest"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/seed"
)

// findChromium returns the browser to drive. Without one the test fails
// when CI is set (CI installs Debian's chromium) and is skipped otherwise.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but no chromium is installed (apt-get install chromium)")
	}
	t.Skip("skipped: no chromium on PATH (apt-get install chromium); with CI set this fails instead")
	return ""
}

// browser is headless Chromium on a page of srv, with every request to
// anything but the gateway failed and remembered.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	outside  []string
	gateway  int
	graphqls int
}

// openBrowser starts Chromium for srv; it lives as long as t, at most 3 minutes.
func openBrowser(t *testing.T, srv *httptest.Server) *browser {
	t.Helper()
	bin := findChromium(t)
	base, _ := url.Parse(srv.URL)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	b := &browser{ctx: ctx}

	// Every request the page makes is paused: the gateway's go on, anything
	// else is failed and remembered.
	err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		go func() {
			u, err := url.Parse(e.Request.URL)
			b.mu.Lock()
			if err != nil || u.Host != base.Host {
				b.outside = append(b.outside, e.Request.URL)
				b.mu.Unlock()
				_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: e.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
				return
			}
			b.gateway++
			if u.Path == "/graphql" {
				b.graphqls++
			}
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
		}()
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// fail ends the test with err and what the page shows.
func (b *browser) fail(t *testing.T, step string, err error) {
	t.Helper()
	page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ""`))
	editor, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector(".graphiql-query-editor .view-lines"); return e ? e.innerText : ""; })()`))
	t.Fatalf("%s: %v\noperation editor:\n%s\npage:\n%s", step, err, editor, page)
}

// poll waits until the expression is truthy and returns its value.
func (b *browser) poll(t *testing.T, step, expr string) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Poll[string](expr, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		b.fail(t, step, err)
	}
	// Monaco renders spaces as non-breaking ones.
	return strings.ReplaceAll(v, "\u00a0", " ")
}

// checkOffline fails the test for every request that left the gateway.
func (b *browser) checkOffline(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gateway == 0 || b.graphqls == 0 {
		t.Fatalf("the interceptor saw %d gateway requests, %d to /graphql", b.gateway, b.graphqls)
	}
	for _, u := range b.outside {
		if !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
			t.Errorf("the page asked for something outside the gateway: %s", u)
		}
	}
}

// devIssuerTokens mints real tokens of a dev issuer, verified as gateway
// dev verifies them, for the named identities.
func devIssuerTokens(t *testing.T, who []struct {
	name   string
	claims dev.Claims
}) ([]graphiql.Token, func(*httpserver.Deps)) {
	t.Helper()
	iss := devtest.Issuer(t, nil)
	var tokens []graphiql.Token
	for _, w := range who {
		tok, err := iss.Mint(w.claims, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, graphiql.Token{Name: w.name, Token: tok})
	}
	return tokens, func(d *httpserver.Deps) {
		v, err := auth.New([]idp.Config{iss.Adapter("dev")}, d.Stores.Directory, auth.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d.Authenticator = v
	}
}

// TestGraphiQLRunsAQueryOffline loads the GraphiQL page in headless
// Chromium with every request to anything but the gateway failed, picks a
// credential in the token bar, runs a query and reads its result.
func TestGraphiQLRunsAQueryOffline(t *testing.T) {
	findChromium(t)
	tokens, verify := devIssuerTokens(t, []struct {
		name   string
		claims dev.Claims
	}{
		{"provider, somewhere", dev.Claims{Subject: "someone", TenantID: uuid.New(), Role: access.RoleProvider}},
		{"internal service account", dev.Claims{Subject: "svc", Role: access.RoleInternal, Client: dev.ServiceClient}},
	})
	srv, db := newServer(t, func(d *httpserver.Deps) {
		verify(d)
		d.GraphiQL = &graphiql.Options{Endpoint: "/graphql", Tokens: tokens, Title: "Portal gateway (browser test)"}
		d.Limits.Introspection = true
	})
	if _, err := seed.Demo(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	var buildings int
	if err := db.Get(&buildings, `SELECT count(*) FROM property.buildings`); err != nil || buildings == 0 {
		t.Fatalf("demo buildings: %d, %v", buildings, err)
	}
	b := openBrowser(t, srv)
	ctx := b.ctx

	const q = `query Count { buildings(first: 1) { totalCount } }`
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		// Start from our query, in GraphiQL's own storage, then reload.
		ignore(chromedp.Evaluate[bool](`localStorage.clear(); localStorage.setItem("graphiql:query", `+strconv.Quote(q)+`); true`)),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)),
		chromedp.Click(`//button[normalize-space(text())="internal service account"]`),
		chromedp.WaitVisible(chromedp.CSS(`.gw-token-active`)),
		chromedp.Sleep(500*time.Millisecond), // the new fetcher re-runs introspection
		chromedp.Click(chromedp.CSS(`.graphiql-execute-button`)),
	)
	if err != nil {
		b.fail(t, "run", err)
	}
	result := b.poll(t, "result",
		`(() => { const r = document.querySelector(".graphiql-response"); return r && r.innerText.includes("totalCount") ? r.innerText : false; })()`)
	if !strings.Contains(result, `"totalCount": `+strconv.Itoa(buildings)) {
		t.Fatalf("result does not show the %d buildings:\n%s", buildings, result)
	}
	b.checkOffline(t)
}

// TestGraphiQLExploresTheSchemaOffline opens the page as gateway dev
// serves it, under the default limits: it starts with the first admin's
// token picked and the starting query in the editor, runs it, shows the
// schema in the Docs pane, completes a field name of the schema, marks an
// unknown field, and lists Query's fields in the Explorer; all offline.
func TestGraphiQLExploresTheSchemaOffline(t *testing.T) {
	findChromium(t)
	db := pgtest.DB(t)
	demo, err := seed.Demo(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	nw := demo.Tenants[0]
	admin := "admin, " + nw.Name
	tokens, verify := devIssuerTokens(t, []struct {
		name   string
		claims dev.Claims
	}{
		{"provider, " + nw.Name, dev.Claims{Subject: nw.Provider.ExternalID, TenantID: nw.ID, Role: access.RoleProvider}},
		{admin, dev.Claims{Subject: nw.Admin.ExternalID, TenantID: nw.ID, Role: access.RoleAdmin}},
		{"internal service account", dev.Claims{Subject: "svc", Role: access.RoleInternal, Client: dev.ServiceClient}},
	})
	srv := serverOn(t, db, func(d *httpserver.Deps) {
		verify(d)
		d.GraphiQL = &graphiql.Options{Endpoint: "/graphql", Tokens: tokens, Title: "Portal gateway (browser test)",
			DefaultToken: admin, Tabs: graphiql.PortalTabs()}
		d.Limits.Introspection = true // as in gateway dev; every other limit is the default
	})
	b := openBrowser(t, srv)
	ctx := b.ctx

	err = chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		ignore(chromedp.Evaluate[bool](`localStorage.clear(); true`)),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)),
	)
	if err != nil {
		b.fail(t, "load", err)
	}
	t.Run("FirstView", func(t *testing.T) {
		if active := b.poll(t, "token", `(() => { const a = document.querySelector(".gw-token-active"); return a ? a.innerText : false; })()`); active != admin {
			t.Errorf("token picked: %q, want %q", active, admin)
		}
		tabs := b.poll(t, "tabs", `(() => { const t = document.querySelector('[aria-label="Select active operation"]'); return t && t.innerText.includes("AcrossTenants") ? t.innerText : false; })()`)
		for _, want := range []string{"Buildings", "TenantUsers", "Me", "AcrossTenants"} {
			if !strings.Contains(tabs, want) {
				t.Errorf("no %s tab: %q", want, tabs)
			}
		}
		editor := b.poll(t, "editor", `(() => { const e = document.querySelector(".graphiql-query-editor .view-lines"); return e && e.innerText.includes("buildings") ? e.innerText : false; })()`)
		if !strings.Contains(editor, "buildings(first: 5) {") || strings.Contains(editor, "Welcome to GraphiQL") {
			t.Errorf("editor does not start with the starting query:\n%s", editor)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.graphiql-execute-button`))); err != nil {
			b.fail(t, "run", err)
		}
		result := b.poll(t, "result", `(() => { const r = document.querySelector(".graphiql-response"); return r && r.innerText.includes("isPrimary") ? r.innerText : false; })()`)
		if strings.Contains(result, `"errors"`) || !strings.Contains(result, `"isPrimary": true`) || !strings.Contains(result, `"fullName": "`) {
			t.Errorf("the starting query's result:\n%s", result)
		}
	})
	t.Run("Docs", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[aria-label="Show Documentation Explorer"]`))); err != nil {
			b.fail(t, "open docs", err)
		}
		docs := b.poll(t, "docs", `(() => { const d = document.querySelector(".graphiql-doc-explorer");
			return d && (d.innerText.includes("BuildingContact") || d.innerText.includes("Error fetching schema")) ? d.innerText : false; })()`)
		if strings.Contains(docs, "Error fetching schema") || !strings.Contains(docs, "Mutation") {
			t.Fatalf("docs pane:\n%s", docs)
		}
		for _, ty := range []string{"Building", "Contact", "Invoice", "User"} {
			if !regexp.MustCompile(`(?m)^` + ty + `$`).MatchString(docs) {
				t.Errorf("the docs list no type %s:\n%s", ty, docs)
			}
		}
		if err := chromedp.Do(ctx, chromedp.Click(`//a[contains(@class,"graphiql-doc-explorer-type-name") and normalize-space(text())="Query"]`)); err != nil {
			b.fail(t, "open Query", err)
		}
		query := b.poll(t, "Query's fields", `(() => { const d = document.querySelector(".graphiql-doc-explorer"); return d && d.innerText.includes("invoices") ? d.innerText : false; })()`)
		for _, f := range []string{"buildings", "users", "contacts", "invoices", "BuildingConnection!"} {
			if !strings.Contains(query, f) {
				t.Errorf("Query's docs lack %s:\n%s", f, query)
			}
		}
	})
	t.Run("CompletesAFieldName", func(t *testing.T) {
		type_(t, b, "query Complete { buil")
		list := b.poll(t, "completion", `(() => { const w = document.querySelector(".graphiql-query-editor .suggest-widget.visible"); return w && w.innerText.includes("buildings") ? w.innerText : false; })()`)
		if !strings.Contains(list, "building") {
			t.Errorf("completion list:\n%s", list)
		}
	})
	t.Run("MarksAnUnknownField", func(t *testing.T) {
		type_(t, b, "query Valid { buildings(first: 1) { totalCount } }")
		// A valid document has no marker (give the linter its time) ...
		if err := chromedp.Do(ctx, chromedp.Sleep(time.Second)); err != nil {
			b.fail(t, "wait", err)
		}
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".graphiql-query-editor .squiggly-error").length`))
		if err != nil || n != 0 {
			b.fail(t, "valid document", fmt.Errorf("%d error markers, %v", n, err))
		}
		// ... an unknown field gets one, which says why on hover.
		type_(t, b, "query Lint { nosuchfield }")
		b.poll(t, "marker", `document.querySelectorAll(".graphiql-query-editor .squiggly-error").length > 0 ? "yes" : false`)
		box, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.querySelector(".graphiql-query-editor .squiggly-error").getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`))
		if err != nil || len(box) != 2 {
			b.fail(t, "marker box", err)
		}
		if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box[0], box[1])); err != nil {
			b.fail(t, "hover", err)
		}
		hover := b.poll(t, "hover", `(() => { const h = [...document.querySelectorAll(".monaco-hover")].map(e => e.innerText).join("\n"); return h.includes("nosuchfield") ? h : false; })()`)
		if !strings.Contains(hover, `Cannot query field "nosuchfield" on type "Query"`) {
			t.Errorf("hover:\n%s", hover)
		}
	})
	t.Run("Explorer", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[aria-label="Show GraphiQL Explorer"]`))); err != nil {
			b.fail(t, "open explorer", err)
		}
		ex := b.poll(t, "explorer", `(() => { const e = document.querySelector(".graphiql-plugin"); return e && e.innerText.includes("Explorer") && e.innerText.includes("invoices") ? e.innerText : false; })()`)
		for _, f := range []string{"buildings", "users", "contacts", "invoices", "me"} {
			if !regexp.MustCompile(`(?m)^\W*` + f + `\b`).MatchString(ex) {
				t.Errorf("the explorer lists no Query field %s:\n%s", f, ex)
			}
		}
		// Clicking a field in a new tab builds a query of it.
		err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`.graphiql-tab-add`)),
			chromedp.Sleep(300*time.Millisecond),
			chromedp.Click(chromedp.CSS(`.graphiql-explorer-root .graphiql-explorer-node.graphiql-explorer-invoices > span[data-field-name="invoices"]`)),
		)
		if err != nil {
			b.fail(t, "click invoices", err)
		}
		built := b.poll(t, "built query", `(() => { const e = document.querySelector(".graphiql-query-editor .view-lines"); return e && e.innerText.includes("invoices") ? e.innerText : false; })()`)
		if !regexp.MustCompile(`(?s)query\b.*\{\s*invoices\b`).MatchString(built) {
			t.Errorf("the explorer built:\n%s", built)
		}
	})
	b.checkOffline(t)
}

// type_ replaces the operation editor's text with text (one line), typed
// as a user types, so completion and linting react.
func type_(t *testing.T, b *browser, text string) {
	t.Helper()
	// A click on the editor's first line, inside the editor's visible box
	// (its line elements may be wider than what shows).
	at, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]float64](`(() => {
		const ed = document.querySelector(".graphiql-query-editor .monaco-editor").getBoundingClientRect();
		const line = document.querySelector(".graphiql-query-editor .monaco-editor .view-line").getBoundingClientRect();
		return [Math.max(line.left, ed.left) + 30, line.top + line.height / 2];
	})()`))
	if err != nil || len(at) != 2 {
		b.fail(t, "find the editor", err)
	}
	err = chromedp.Do(b.ctx,
		chromedp.MouseClickXY(at[0], at[1]),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent(kb.Delete),
		chromedp.Sleep(200*time.Millisecond),
	)
	// One character at a time, as typed: a bracket Monaco closed itself is
	// typed over, so the text ends up as given (plus the brackets it closed
	// for text that leaves them open).
	for _, r := range text {
		if err != nil {
			break
		}
		_, err = chromedp.Call(b.ctx, input.InsertText, input.InsertTextParams{Text: string(r)})
	}
	if err != nil {
		b.fail(t, "type", err)
	}
	// The editor renders what was typed when it gets to it, later on a busy
	// machine: wait until it shows the whole text.
	want, _ := json.Marshal(text)
	got := b.poll(t, "typed", `(() => { const e = document.querySelector(".graphiql-query-editor .view-lines");
		return e && e.innerText.replace(/\s+/g, " ").trim().startsWith(`+string(want)+`) ? e.innerText + " " : false; })()`)
	if rest, ok := strings.CutPrefix(strings.TrimSpace(got), text); !ok || strings.Trim(rest, "})]") != "" {
		b.fail(t, "type", fmt.Errorf("the editor holds %q, not %q", got, text))
	}
}

// ignore drops an action's value.
func ignore[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}
