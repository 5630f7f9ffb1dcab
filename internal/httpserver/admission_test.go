package httpserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/httpserver"
)

// sent is the answer of a request sent in the background, or its error.
type sent struct {
	answer
	err error
}

// sendQuery posts q with the internal credential in the background, under
// ctx; its answer (or error) arrives on the channel.
func sendQuery(ctx context.Context, srv *httptest.Server, q string) chan sent {
	b, _ := json.Marshal(map[string]any{"query": q})
	return sendBody(ctx, srv, string(b))
}

// sendBody posts body as sendQuery does.
func sendBody(ctx context.Context, srv *httptest.Server, body string) chan sent {
	ch := make(chan sent, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", internal)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- sent{err: err}
			return
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		a := answer{status: res.StatusCode, header: res.Header, raw: string(raw), statements: -1}
		_ = json.Unmarshal(raw, &a.body)
		if h := res.Header.Get("X-SQL-Statements"); h != "" {
			a.statements, _ = strconv.Atoi(h)
		}
		ch <- sent{answer: a, err: err}
	}()
	return ch
}

// receive waits for a background answer, failing after a generous
// deadline (a guard against a hang, not a measure of speed).
func receive(t *testing.T, what string, ch chan sent) sent {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(30 * time.Second):
		t.Fatalf("no answer to %s", what)
		return sent{}
	}
}

// pending reports whether a background request has no answer yet; an
// answer stays on the channel.
func pending(ch chan sent) bool {
	select {
	case s := <-ch:
		ch <- s
		return false
	default:
		return true
	}
}

// lockBuildings holds property.buildings in a transaction, so that every
// request reading it executes until the returned release is called.
func lockBuildings(t *testing.T, db *sqlx.DB) (release func()) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`LOCK TABLE property.buildings IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			_ = tx.Rollback()
		}
	}
	t.Cleanup(release)
	return release
}

// lockWaiters is how many statements of the test's database wait on a lock.
func lockWaiters(db *sqlx.DB) int {
	var n int
	_ = db.Get(&n, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)
	return n
}

// admissionMetrics are the admission gauges and refusal counters.
type admissionMetrics struct{ executing, queued, full, late float64 }

func admissionNow(t *testing.T, base string) admissionMetrics {
	t.Helper()
	text := scrape(t, base)
	return admissionMetrics{
		executing: value(text, "gateway_admission_executing"),
		queued:    value(text, "gateway_admission_queued"),
		full:      value(text, `gateway_admission_refused_total{reason="queue_full"}`),
		late:      value(text, `gateway_admission_refused_total{reason="queue_timeout"}`),
	}
}

// checkOverloaded checks a refusal by the admission bound: 503 with
// Retry-After, a GraphQL error OVERLOADED with its retry hint, and nothing
// run (no statement counted: the request never reached GraphQL).
func checkOverloaded(t *testing.T, what string, a answer) {
	t.Helper()
	if a.status != http.StatusServiceUnavailable || a.code() != "OVERLOADED" {
		t.Fatalf("%s: %d %s, want 503 OVERLOADED", what, a.status, a.raw)
	}
	if n, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("%s: Retry-After %q, want whole seconds", what, a.header.Get("Retry-After"))
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q", what, ct)
	}
	errs, _ := a.body["errors"].([]any)
	ext, _ := errs[0].(map[string]any)["extensions"].(map[string]any)
	if n, _ := ext["retryAfter"].(float64); n < 1 {
		t.Fatalf("%s: no extensions.retryAfter: %s", what, a.raw)
	}
	if _, ok := a.body["data"]; ok || a.statements != -1 {
		t.Fatalf("%s: data or X-SQL-Statements in a refusal: %v %s", what, a.header, a.raw)
	}
}

// TestAdmissionBoundRefusesAtOnceAndRecovers: with two requests executing
// (held on a table lock) and one queued, the bound of two plus a queue of
// one is reached: further GraphQL requests are answered 503 OVERLOADED
// with Retry-After at once, while the held ones still wait, before their
// body is read or their credential checked; the health checks and
// /metrics are not bound. When the lock goes, the held and queued requests
// complete, and requests are admitted again.
func TestAdmissionBoundRefusesAtOnceAndRecovers(t *testing.T) {
	srv, db := newServer(t, func(d *httpserver.Deps) {
		d.MetricsOnMain = true
		d.Admission = httpserver.Admission{MaxConcurrent: 2, Queue: 1, Wait: time.Minute}
	})
	if a := query(t, srv, cheap); a.status != 200 || a.code() != "" {
		t.Fatalf("before the load: %d %s", a.status, a.raw)
	}
	before := admissionNow(t, srv.URL)

	release := lockBuildings(t, db)
	ctx := context.Background()
	held := []chan sent{sendQuery(ctx, srv, cheap), sendQuery(ctx, srv, cheap)}
	waitUntil(t, "two requests waiting on the lock", 10*time.Second, func() bool { return lockWaiters(db) == 2 })
	held = append(held, sendQuery(ctx, srv, cheap))
	waitUntil(t, "a request in the queue", 10*time.Second, func() bool { return admissionNow(t, srv.URL).queued == before.queued+1 })
	if m := admissionNow(t, srv.URL); m.executing != before.executing+2 {
		t.Fatalf("gateway_admission_executing %v, want %v", m.executing, before.executing+2)
	}

	checkOverloaded(t, "a query beyond the bound", query(t, srv, cheap))
	// Refused before the body is read and the credential verified: a bad
	// token and a body that is no GraphQL request get the same answer.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(`not json`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer not-a-token")
	checkOverloaded(t, "a bad token and body beyond the bound", do(t, req))
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if s := status(t, srv.URL+path); s != 200 {
			t.Errorf("%s beyond the bound: %d, want 200", path, s)
		}
	}
	for i, ch := range held {
		if !pending(ch) {
			t.Fatalf("held request %d answered while the lock holds", i)
		}
	}
	if n := lockWaiters(db); n != 2 {
		t.Fatalf("%d statements on the lock, want the two admitted requests' only", n)
	}

	release()
	for i, ch := range held {
		s := receive(t, "a held request", ch)
		if s.err != nil || s.status != 200 || s.code() != "" || s.statements < 1 {
			t.Fatalf("held request %d after the lock: %v %d %s", i, s.err, s.status, s.raw)
		}
	}
	waitUntil(t, "nothing executing or queued", 10*time.Second, func() bool {
		m := admissionNow(t, srv.URL)
		return m.executing == before.executing && m.queued == before.queued
	})
	for i := range 5 {
		if a := query(t, srv, cheap); a.status != 200 || a.code() != "" {
			t.Fatalf("query %d after the load: %d %s", i, a.status, a.raw)
		}
	}
	if m := admissionNow(t, srv.URL); m.full != before.full+2 || m.late != before.late {
		t.Errorf("refusals: queue_full %v -> %v (want +2), queue_timeout %v -> %v (want +0)", before.full, m.full, before.late, m.late)
	}
}

// TestQueuedRequestsLeaveTheQueue: a queued request whose client goes away
// leaves the queue (the next one is queued, not refused), and one that
// waits longer than the admission wait is refused OVERLOADED.
func TestQueuedRequestsLeaveTheQueue(t *testing.T) {
	t.Run("ClientGone", func(t *testing.T) {
		srv, db := newServer(t, func(d *httpserver.Deps) {
			d.MetricsOnMain = true
			d.Admission = httpserver.Admission{MaxConcurrent: 1, Queue: 1, Wait: time.Minute}
		})
		before := admissionNow(t, srv.URL)
		release := lockBuildings(t, db)
		ctx := context.Background()
		first := sendQuery(ctx, srv, cheap)
		waitUntil(t, "a request waiting on the lock", 10*time.Second, func() bool { return lockWaiters(db) == 1 })
		goneCtx, leave := context.WithCancel(ctx)
		gone := sendQuery(goneCtx, srv, cheap)
		waitUntil(t, "a request in the queue", 10*time.Second, func() bool { return admissionNow(t, srv.URL).queued == before.queued+1 })
		checkOverloaded(t, "a query beyond the full queue", query(t, srv, cheap))

		leave()
		if s := receive(t, "the request whose client left", gone); s.err == nil {
			t.Fatalf("the client that left got an answer: %d %s", s.status, s.raw)
		}
		waitUntil(t, "the queue empty again", 10*time.Second, func() bool { return admissionNow(t, srv.URL).queued == before.queued })
		next := sendQuery(ctx, srv, cheap)
		waitUntil(t, "the next request in the queue", 10*time.Second, func() bool { return admissionNow(t, srv.URL).queued == before.queued+1 })
		if !pending(next) {
			t.Fatal("the next request was answered while the lock holds")
		}

		release()
		for _, ch := range []chan sent{first, next} {
			if s := receive(t, "a request after the lock", ch); s.err != nil || s.status != 200 || s.code() != "" {
				t.Fatalf("after the lock: %v %d %s", s.err, s.status, s.raw)
			}
		}
		if m := admissionNow(t, srv.URL); m.full != before.full+1 || m.late != before.late {
			t.Errorf("refusals: queue_full %v -> %v (want +1), queue_timeout %v -> %v (want +0)", before.full, m.full, before.late, m.late)
		}
	})
	t.Run("WaitedTooLong", func(t *testing.T) {
		srv, db := newServer(t, func(d *httpserver.Deps) {
			d.MetricsOnMain = true
			d.Admission = httpserver.Admission{MaxConcurrent: 1, Queue: 1, Wait: 50 * time.Millisecond}
		})
		before := admissionNow(t, srv.URL)
		release := lockBuildings(t, db)
		first := sendQuery(context.Background(), srv, cheap)
		waitUntil(t, "a request waiting on the lock", 10*time.Second, func() bool { return lockWaiters(db) == 1 })
		checkOverloaded(t, "a query queued past the wait", query(t, srv, cheap))
		if !pending(first) {
			t.Fatal("the admitted request was answered while the lock holds")
		}
		release()
		if s := receive(t, "the admitted request", first); s.err != nil || s.status != 200 || s.code() != "" {
			t.Fatalf("after the lock: %v %d %s", s.err, s.status, s.raw)
		}
		if m := admissionNow(t, srv.URL); m.late != before.late+1 || m.full != before.full {
			t.Errorf("refusals: queue_timeout %v -> %v (want +1), queue_full %v -> %v (want +0)", before.late, m.late, before.full, m.full)
		}
	})
}

// TestQueuedBodyReachesTheTransport: the body a queued request's wait has
// read reaches the transport as sent: a query runs, and a body over
// MAX_BODY_BYTES is still refused REQUEST_TOO_LARGE.
func TestQueuedBodyReachesTheTransport(t *testing.T) {
	srv, db := newServer(t, func(d *httpserver.Deps) {
		d.MetricsOnMain = true
		d.Limits.MaxBodyBytes = 2048
		d.Admission = httpserver.Admission{MaxConcurrent: 1, Queue: 2, Wait: time.Minute}
	})
	before := admissionNow(t, srv.URL)
	release := lockBuildings(t, db)
	ctx := context.Background()
	first := sendQuery(ctx, srv, cheap)
	waitUntil(t, "a request waiting on the lock", 10*time.Second, func() bool { return lockWaiters(db) == 1 })
	large := sendBody(ctx, srv, `{"query":"{ __typename }","variables":{"pad":"`+strings.Repeat("x", 4096)+`"}}`)
	queued := sendQuery(ctx, srv, `{ __typename }`)
	waitUntil(t, "two requests in the queue", 10*time.Second, func() bool { return admissionNow(t, srv.URL).queued == before.queued+2 })
	release()
	if s := receive(t, "the large body", large); s.err != nil || s.status != http.StatusRequestEntityTooLarge || s.code() != "REQUEST_TOO_LARGE" {
		t.Fatalf("the large body after the queue: %v %d %s", s.err, s.status, s.raw)
	}
	for _, ch := range []chan sent{first, queued} {
		if s := receive(t, "a query", ch); s.err != nil || s.status != 200 || s.code() != "" {
			t.Fatalf("a query after the queue: %v %d %s", s.err, s.status, s.raw)
		}
	}
}

// BenchmarkOverloadedRefusal is the handler's cost of a refusal by the
// bound (no network): the whole middleware chain up to the 503.
func BenchmarkOverloadedRefusal(b *testing.B) {
	srv, db := newServer(b, func(d *httpserver.Deps) {
		d.Admission = httpserver.Admission{MaxConcurrent: 1}
	})
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`LOCK TABLE property.buildings IN ACCESS EXCLUSIVE MODE`); err != nil {
		b.Fatal(err)
	}
	held := sendQuery(context.Background(), srv, cheap)
	for lockWaiters(db) != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	h := srv.Config.Handler
	body := `{"query":"` + cheap + `"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", internal)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	_ = tx.Rollback()
	<-held
}
