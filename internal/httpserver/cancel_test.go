package httpserver_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/logging"
)

// cancelled is the gateway_requests_cancelled_total counter.
func cancelled(t *testing.T, base string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^gateway_requests_cancelled_total ([0-9.e+]+)$`).FindStringSubmatch(scrape(t, base))
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	return n
}

// TestClientGoneIsNotAnError: a client that goes away while several fields
// wait on the database is counted and logged once, at debug, and leaves no
// ERROR line.
func TestClientGoneIsNotAnError(t *testing.T) {
	var buf syncBuffer
	srv, db := newServer(t, func(d *httpserver.Deps) {
		d.Log = slog.New(logging.RequestIDHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
		d.MetricsOnMain = true
	})
	before := cancelled(t, srv.URL)

	// Hold the tables the fields read, so that they wait while the client leaves.
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `LOCK TABLE property.buildings, directory.users IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	const id = "5d1e0c3a-7b9f-4e2d-9a6c-3f8b1e7d2c40"
	reqCtx, cancel := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(reqCtx, http.MethodPost, srv.URL+"/graphql",
		strings.NewReader(`{"query":"{ a: buildings(first: 1) { totalCount } b: buildings(first: 2) { totalCount } c: users(first: 1) { totalCount } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", internal)
	req.Header.Set("X-Request-ID", id)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	waitUntil(t, "the fields waiting on the lock", 10*time.Second, func() bool {
		var n int
		_ = db.GetContext(ctx, &n, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)
		return n >= 1
	})
	cancel()
	<-done
	accessLine(t, &buf, id) // the server has finished the request

	var debug int
	for _, m := range logLines(t, &buf) {
		if m["level"] == "ERROR" || m["level"] == "WARN" {
			t.Errorf("a cancelled request logged %v", m)
		}
		if m["level"] == "DEBUG" && m["msg"] == "request cancelled" && m["request_id"] == id {
			debug++
		}
	}
	if debug != 1 {
		t.Errorf("%d debug lines \"request cancelled\", want 1:\n%s", debug, buf.String())
	}
	if after := cancelled(t, srv.URL); after != before+1 {
		t.Errorf("gateway_requests_cancelled_total went from %v to %v, want one more", before, after)
	}
}
