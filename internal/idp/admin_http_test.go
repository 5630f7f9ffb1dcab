package idp_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/propertyportal/gateway/internal/idp"
)

// tokenServer answers client-credentials token requests and hands every
// other request to h.
func tokenServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"t","token_type":"Bearer","expires_in":3600}`))
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func client(tokenURL string, timeout time.Duration) *idp.AdminClient {
	return idp.NewAdminClient(clientcredentials.Config{ClientID: "c", ClientSecret: "s", TokenURL: tokenURL}, timeout, nil)
}

func TestAdminClientOutcome(t *testing.T) {
	ctx := context.Background()
	t.Run("RefusedConnectionIsKnown", func(t *testing.T) {
		tok := tokenServer(t, nil)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		err = client(tok.URL+"/token", time.Second).Do(ctx, http.MethodPatch, "http://"+addr+"/u", map[string]string{"a": "b"}, nil, "update user")
		if ae := idp.AsAdminError(err); err == nil || ae.Kind != idp.Retryable || ae.Unknown {
			t.Fatalf("a refused connection: %+v", ae)
		}
	})
	t.Run("TimeoutAfterSendingIsUnknown", func(t *testing.T) {
		srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // then the server notices the client leave
			<-r.Context().Done()
		})
		err := client(srv.URL+"/token", 200*time.Millisecond).Do(ctx, http.MethodPatch, srv.URL+"/u", map[string]string{"a": "b"}, nil, "update user")
		if ae := idp.AsAdminError(err); err == nil || ae.Kind != idp.Retryable || !ae.Unknown {
			t.Fatalf("a write that timed out: %+v", ae)
		}
	})
	for status, unknown := range map[int]bool{500: true, 502: true, 504: true, 503: false, 429: false, 409: false} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) })
			err := client(srv.URL+"/token", time.Second).Do(ctx, http.MethodPatch, srv.URL+"/u", map[string]string{"a": "b"}, nil, "update user")
			if ae := idp.AsAdminError(err); err == nil || ae.Status != status || ae.Unknown != unknown {
				t.Fatalf("status %d: %+v, want unknown %v", status, ae, unknown)
			}
		})
	}
	t.Run("QuotaHeadersTraced", func(t *testing.T) {
		srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-RateLimit-Limit", "10")
			w.Header().Set("X-RateLimit-Remaining", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		var got idp.Quota
		qctx := idp.WithQuotaTrace(ctx, func(q idp.Quota) { got = q })
		_ = client(srv.URL+"/token", time.Second).Do(qctx, http.MethodGet, srv.URL+"/u", nil, nil, "read user")
		if got != (idp.Quota{Limit: 10, Remaining: 3, Known: true}) {
			t.Fatalf("traced %+v", got)
		}
	})
}
