package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/dev/devtest"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// startServe runs `serve -migrate` on a fresh database with one trusted
// IdP and the settings in env; it returns the base URL and a bearer
// credential of an internal service account.
func startServe(t *testing.T, env map[string]string) (base, authorization string) {
	t.Helper()
	iss := devtest.Issuer(t, nil)
	full := map[string]string{
		"DATABASE_URL": pgtest.URL(t), "LISTEN_ADDR": "127.0.0.1:0", "KC_ISSUER": iss.URL(), "CURSOR_SECRETS": testCursorSecret,
		"IDP_CONFIG": idpFile(t, `idps: [{id: keycloak-default, kind: keycloak, issuer: "${KC_ISSUER}", audiences: [portal-gateway],
  tenant_claim: tenant_id, roles_claim: roles, role_map: {internal: internal}, internal_clients: [gateway-ops]}]`),
	}
	for k, v := range env {
		full[k] = v
	}
	_, base = start(t, full, regexp.MustCompile(`^GraphQL: (http://\S+)/graphql$`), "serve", "-migrate")
	tok, err := iss.Mint(dev.Claims{Subject: "svc", Role: access.RoleInternal, Client: "gateway-ops"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return base, "Bearer " + tok
}

// fetch sends a request without a body and returns status, header and body.
func fetch(t *testing.T, method, u, authorization string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// trickle opens a connection to addr, writes head at once and then rest
// one byte every interval, and fails the test when the server has not
// closed the connection after limit (whatever it answered first is read
// and dropped).
func trickle(t *testing.T, addr, head, rest string, every, limit time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := range len(rest) {
			time.Sleep(every)
			if _, err := conn.Write([]byte{rest[i]}); err != nil {
				return // the server closed the connection
			}
		}
	}()
	_ = conn.SetReadDeadline(start.Add(limit))
	_, err = io.Copy(io.Discard, conn)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("the connection is still open after %s", limit)
	}
	t.Logf("closed after %s", time.Since(start).Round(time.Millisecond))
}

func TestServeCutsOffSlowRequests(t *testing.T) {
	base, authz := startServe(t, map[string]string{"READ_HEADER_TIMEOUT": "500ms", "READ_TIMEOUT": "1s"})
	addr := strings.TrimPrefix(base, "http://")
	// At one byte per 50ms each trickle below would last 10s or more; the
	// server has to close each within its timeout and a margin.
	const every, margin = 50 * time.Millisecond, 1500 * time.Millisecond
	body := `{"query":"{ __typename }"}` + strings.Repeat(" ", 200)
	head := "POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"

	t.Run("SlowHeaders", func(t *testing.T) {
		trickle(t, addr, "POST /graphql HTTP/1.1\r\n", "Host: gateway\r\nX-Padding: "+strings.Repeat("a", 200)+"\r\n\r\n", every, 500*time.Millisecond+margin)
	})
	t.Run("SlowBody", func(t *testing.T) {
		trickle(t, addr, head+"Authorization: "+authz+"\r\n\r\n", body, every, time.Second+margin)
	})
	t.Run("SlowBodyWithoutCredentials", func(t *testing.T) {
		trickle(t, addr, head+"\r\n", body, every, time.Second+margin)
	})
	t.Run("FastRequestsStillWork", func(t *testing.T) {
		if status, b := post(t, base, authz, `{ __typename }`); status != http.StatusOK || strings.Contains(b, `"errors"`) {
			t.Fatalf("%d %s", status, b)
		}
	})
}

func TestServeServesMetricsOnlyWhereAsked(t *testing.T) {
	own := freeAddr(t)
	for name, tc := range map[string]struct {
		env       map[string]string
		main, own bool
	}{
		"Default":           {nil, false, false},
		"OnMain":            {map[string]string{"METRICS_ON_MAIN": "true"}, true, false},
		"OnTheirOwnAddress": {map[string]string{"METRICS_ADDR": own}, false, true},
	} {
		t.Run(name, func(t *testing.T) {
			base, _ := startServe(t, tc.env)
			want := http.StatusNotFound
			if tc.main {
				want = http.StatusOK
			}
			if status, _, b := fetch(t, http.MethodGet, base+"/metrics", ""); status != want || tc.main && !strings.Contains(b, "# HELP gateway_") {
				t.Errorf("main listener: GET /metrics: %d %.100s, want %d", status, b, want)
			}
			if tc.own {
				if status, _, b := fetch(t, http.MethodGet, "http://"+own+"/metrics", ""); status != http.StatusOK || !strings.Contains(b, "# HELP gateway_") {
					t.Errorf("METRICS_ADDR: GET /metrics: %d %.100s", status, b)
				}
			}
		})
	}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeServesGraphiQLAndGetQueriesOnlyWhenAsked(t *testing.T) {
	getQuery := "/graphql?query=" + url.QueryEscape(`{ __typename }`)
	t.Run("Default", func(t *testing.T) {
		base, authz := startServe(t, nil)
		for _, path := range []string{"/", "/graphiql/assets/graphiql.js"} {
			if status, _, b := fetch(t, http.MethodGet, base+path, ""); status != http.StatusNotFound {
				t.Errorf("GET %s: %d %.100s, want 404", path, status, b)
			}
		}
		status, hdr, b := fetch(t, http.MethodGet, base+getQuery, authz)
		if status != http.StatusMethodNotAllowed || hdr.Get("Allow") != "POST" || !strings.Contains(b, `"code":"METHOD_NOT_ALLOWED"`) {
			t.Errorf("GET query: %d allow=%q %s", status, hdr.Get("Allow"), b)
		}
		if status, b := post(t, base, authz, `{ __typename }`); status != http.StatusOK || strings.Contains(b, `"errors"`) {
			t.Errorf("POST: %d %s", status, b)
		}
	})
	t.Run("TurnedOn", func(t *testing.T) {
		base, authz := startServe(t, map[string]string{"GRAPHIQL": "true", "GRAPHQL_GET": "on"})
		for path, want := range map[string]string{"/": "<title>Portal gateway</title>", getQuery: `{"data":{"__typename":"Query"}}`} {
			if status, _, b := fetch(t, http.MethodGet, base+path, authz); status != http.StatusOK || !strings.Contains(b, want) {
				t.Errorf("GET %s: %d %.200s", path, status, b)
			}
		}
	})
}
