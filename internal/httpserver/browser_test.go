package httpserver_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/httpserver/graphiql"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/dev/devtest"
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

// TestGraphiQLRunsAQueryOffline loads the GraphiQL page in headless
// Chromium with every request to anything but the gateway failed, picks a
// credential in the token bar, runs a query and reads its result.
func TestGraphiQLRunsAQueryOffline(t *testing.T) {
	bin := findChromium(t)
	// Real tokens of a dev issuer, verified as gateway dev verifies them.
	iss := devtest.Issuer(t, nil)
	var tokens []graphiql.Token
	for name, c := range map[string]dev.Claims{
		"provider, somewhere":      {Subject: "someone", TenantID: uuid.New(), Role: access.RoleProvider},
		"internal service account": {Subject: "svc", Role: access.RoleInternal, Client: dev.ServiceClient},
	} {
		tok, err := iss.Mint(c, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, graphiql.Token{Name: name, Token: tok})
	}
	srv, db := newServer(t, func(d *httpserver.Deps) {
		v, err := auth.New([]idp.Config{iss.Adapter("dev")}, d.Stores.Directory, auth.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d.Authenticator = v
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
	base, _ := url.Parse(srv.URL)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	// Every request the page makes is paused: the gateway's go on, anything
	// else is failed and remembered.
	var (
		mu       sync.Mutex
		outside  []string
		gateway  int
		graphqls int
	)
	err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		go func() {
			u, err := url.Parse(e.Request.URL)
			mu.Lock()
			if err != nil || u.Host != base.Host {
				outside = append(outside, e.Request.URL)
				mu.Unlock()
				_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: e.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
				return
			}
			gateway++
			if u.Path == "/graphql" {
				graphqls++
			}
			mu.Unlock()
			_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
		}()
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	const q = `query Count { buildings(first: 1) { totalCount } }`
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
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
	var result string
	if err == nil {
		result, err = chromedp.Run(ctx, chromedp.Poll[string](
			`(() => { const r = document.querySelector(".graphiql-response"); return r && r.innerText.includes("totalCount") ? r.innerText : false; })()`,
			chromedp.WithPollingTimeout(30*time.Second)))
	}
	if err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
		t.Fatalf("browser: %v\npage:\n%s", err, page)
	}
	// Monaco renders spaces as non-breaking ones.
	result = strings.ReplaceAll(result, "\u00a0", " ")
	if !strings.Contains(result, `"totalCount": `+strconv.Itoa(buildings)) {
		t.Fatalf("result does not show the %d buildings:\n%s", buildings, result)
	}
	mu.Lock()
	defer mu.Unlock()
	if gateway == 0 || graphqls == 0 {
		t.Fatalf("the interceptor saw %d gateway requests, %d to /graphql", gateway, graphqls)
	}
	for _, u := range outside {
		if !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
			t.Errorf("the page asked for something outside the gateway: %s", u)
		}
	}
}

// ignore drops an action's value.
func ignore[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}
