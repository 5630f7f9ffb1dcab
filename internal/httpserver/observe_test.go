package httpserver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/seed"
)

// demoQuery loads buildings, their contacts and the contacts' users: three
// loaders, one batch each.
const demoQuery = `query DemoBuildings { buildings(first: 5) { edges { node { name contacts { contact { fullName user { email } } } } } } }`

// scrape returns the /metrics text.
func scrape(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: %d", res.StatusCode)
	}
	return string(b)
}

// value is the value of the sample whose name and labels start with
// series (e.g. `gateway_x_total{code="A"`), 0 when absent.
func value(text, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + `[^\n]*\s(\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	return f
}

func TestMetrics(t *testing.T) {
	const deep = `{ a: buildings { edges { node { contacts { contact { buildings { building { contacts { contact { buildings { building { contacts { contact { id } } } } } } } } } } } } } }`
	srv, db := newServer(t, func(d *httpserver.Deps) {
		d.MetricsOnMain = true
		d.Limits = allowListed(t, demoQuery, cheap, deep)
	})
	if _, err := seed.Demo(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	before := scrape(t, srv.URL)
	if a := query(t, srv, demoQuery); a.code() != "" || a.statements != 3 {
		t.Fatalf("%d statements: %s", a.statements, a.raw)
	}
	query(t, srv, cheap)
	query(t, srv, deep)
	after := scrape(t, srv.URL)

	for series, want := range map[string]float64{
		`gateway_graphql_requests_total{operation="DemoBuildings",outcome="ok"}`:    1,
		`gateway_graphql_requests_total{operation="anonymous",outcome="ok"}`:        1,
		`gateway_graphql_requests_total{operation="anonymous",outcome="refused"}`:   1,
		`gateway_graphql_request_duration_seconds_count{operation="DemoBuildings"}`: 1,
		`gateway_graphql_errors_total{code="QUERY_TOO_DEEP"}`:                       1,
		`gateway_sql_statements_per_request_count`:                                  3,
		`gateway_sql_statements_per_request_sum`:                                    3 + 2, // page and count
		`gateway_loader_batch_size_count{loader="LinksByBuilding"}`:                 1,
		`gateway_loader_batch_size_count{loader="UserByID"}`:                        1,
		`gateway_http_requests_total{code="200",route="/graphql"}`:                  3,
		`gateway_loader_batch_size_sum{loader="LinksByBuilding"}`:                   5,
	} {
		if got := value(after, series) - value(before, series); got != want {
			t.Errorf("%s grew by %v, want %v", series, got, want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(after, "# HELP "+name+" ") {
			t.Errorf("%s is not exported", name)
		}
	}
}

// TestOperationLabelsOnlyFromTheAllowList sends a burst of operations named
// by the client: none of their names becomes a label, with or without an
// allow-list, and a listed operation keeps its own.
func TestOperationLabelsOnlyFromTheAllowList(t *testing.T) {
	const listed = `query ListedBuildings { buildings(first: 1) { totalCount } }`
	burst := func(t *testing.T, srv *httptest.Server) {
		t.Helper()
		for i := range 150 {
			query(t, srv, `query Jane_Doe_`+strconv.Itoa(i)+`_example_com { __typename }`)
		}
		query(t, srv, `query ListedBuildings { __typename }`) // the listed name on a document of the client's
	}
	t.Run("NoAllowList", func(t *testing.T) {
		srv, _ := newServer(t, func(d *httpserver.Deps) { d.MetricsOnMain = true })
		burst(t, srv)
		if text := scrape(t, srv.URL); strings.Contains(text, "Jane_Doe") || strings.Contains(text, "ListedBuildings") {
			t.Fatalf("client-chosen names became labels:\n%s", grepLines(text, "operation="))
		}
	})
	t.Run("AllowList", func(t *testing.T) {
		srv, _ := newServer(t, func(d *httpserver.Deps) {
			d.MetricsOnMain = true
			d.Limits = allowListed(t, listed)
		})
		burst(t, srv)
		if a := query(t, srv, listed); a.code() != "" {
			t.Fatal(a.raw)
		}
		text := scrape(t, srv.URL)
		if strings.Contains(text, "Jane_Doe") || value(text, `gateway_graphql_requests_total{operation="ListedBuildings",outcome="ok"}`) != 1 ||
			value(text, `gateway_graphql_requests_total{operation="ListedBuildings",outcome="refused"}`) != 0 {
			t.Fatalf("labels:\n%s", grepLines(text, "operation="))
		}
	})
}

// grepLines are the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// recordSpans installs a tracer provider that records every span, as the
// global one (SQL spans) and for the server to be given (Deps.Tracer).
func recordSpans(t *testing.T) (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return rec, tp
}

func TestTracesCoverHTTPResolversAndSQL(t *testing.T) {
	rec, tp := recordSpans(t)

	// A pool opened traced, as the binary opens it when tracing is on.
	db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{MaxOpenConns: 4, Traced: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	srv, _ := newServerOn(t, db, func(d *httpserver.Deps) {
		d.Limits = allowListed(t, demoQuery) // it names the operation's span
		d.Tracer = tp
	})
	if _, err := seed.Demo(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	if a := query(t, srv, demoQuery, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01"); a.code() != "" {
		t.Fatal(a.raw)
	}
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() != traceID {
			continue // spans of the fixture's own SQL
		}
		found[s.Name()] = true
		for _, kv := range s.Attributes() {
			if v := kv.Value.Emit(); strings.Contains(v, "@") {
				t.Errorf("span %s attribute %s holds an email: %s", s.Name(), kv.Key, v)
			}
		}
	}
	for _, want := range []string{"POST /graphql", "graphql.operation DemoBuildings", "graphql.resolve Query.buildings",
		"graphql.plan Building.contacts", "graphql.plan BuildingContact.contact"} {
		if !found[want] {
			t.Errorf("no span %q in the caller's trace; got %v", want, found)
		}
	}
	sql := 0
	for name := range found {
		if strings.HasPrefix(name, "sql.") {
			sql++
		}
	}
	if sql == 0 {
		t.Errorf("no SQL span in the caller's trace; got %v", found)
	}
}

// TestTracingOffMakesNoRequestSpans sends a sampled caller's trace to a
// server without a tracer over a pool opened without Traced: even with a
// recording global provider (which SQL spans use), no span is started.
func TestTracingOffMakesNoRequestSpans(t *testing.T) {
	rec, tp := recordSpans(t)
	srv, db := newServer(t, nil)
	if _, err := seed.Demo(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	if a := query(t, srv, demoQuery, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01"); a.code() != "" {
		t.Fatal(a.raw)
	}
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() == traceID || strings.HasPrefix(s.Name(), "graphql.") || strings.HasPrefix(s.Name(), "POST ") ||
			strings.HasPrefix(s.Name(), "sql.") { // a pool opened without Traced has no otelsql in the way
			t.Errorf("span %q (trace %s) with tracing off", s.Name(), s.SpanContext().TraceID())
		}
	}
}

// TestSpansNameTheRouteNotWhatTheClientSent sends a name in the path and as
// the method: no span's name or attribute carries it.
func TestSpansNameTheRouteNotWhatTheClientSent(t *testing.T) {
	rec, tp := recordSpans(t)
	srv, _ := newServer(t, func(d *httpserver.Deps) { d.Tracer = tp })
	for _, r := range []struct{ method, path string }{
		{"GET", "/users/jane.doe@example.com"}, {"JANEDOE", "/graphql"}, {"POST", "/graphql/jane.doe"},
	} {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, strings.NewReader(`{"query":"{ __typename }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", internal)
		do(t, req)
	}
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) < 3 {
		t.Fatalf("%d spans, want one per request at least", len(spans))
	}
	for _, s := range spans {
		texts := []string{s.Name()}
		for _, kv := range s.Attributes() {
			texts = append(texts, kv.Value.Emit())
		}
		for _, v := range texts {
			if l := strings.ToLower(v); strings.Contains(l, "jane") || strings.Contains(l, "example.com") {
				t.Errorf("span %q holds %q", s.Name(), v)
			}
		}
	}
}
