package metrics

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOnlyListedDocumentsNameTheirLabel(t *testing.T) {
	const listed, unnamed = `query Buildings { buildings { totalCount } } query Users { users { totalCount } }`, `{ me { id } }`
	o := NewOperations([]string{listed, unnamed})
	for _, c := range []struct{ doc, name, want string }{
		{listed, "Buildings", "Buildings"},
		{listed, "Users", "Users"},
		{unnamed, "", "anonymous"},
		{`query Buildings { me { id } }`, "Buildings", "other"}, // a listed name on a document of the client's
		{`query Jane_Doe_example_com { me { id } }`, "Jane_Doe_example_com", "other"},
		{`{ __typename }`, "", "other"},
		{"", "", "other"},
	} {
		if got := o.Label(c.doc, c.name); got != c.want {
			t.Errorf("Label(%.30q, %q) = %q, want %q", c.doc, c.name, got, c.want)
		}
	}
	if got := NewOperations(nil).Label(listed, "Buildings"); got != "other" {
		t.Errorf("without a list: %q, want other", got)
	}
}

func TestIdentityCollectorsAreExported(t *testing.T) {
	ObserveIdPCall("auth0-prod", 429, 30*time.Millisecond)
	ObserveIdPCall("auth0-prod", 0, time.Second)
	SetOutbox("auth0-prod", 7, 90*time.Second)
	ObserveQuotaWait("auth0-prod", 500*time.Millisecond)
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`gateway_idp_calls_total{adapter="auth0-prod",status="429"} 1`,
		`gateway_idp_calls_total{adapter="auth0-prod",status="error"} 1`,
		`gateway_idp_call_duration_seconds_count{adapter="auth0-prod"} 2`,
		`gateway_outbox_depth{adapter="auth0-prod"} 7`,
		`gateway_outbox_oldest_age_seconds{adapter="auth0-prod"} 90`,
		`gateway_idp_quota_wait_seconds_sum{adapter="auth0-prod"} 0.5`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
}

func TestUnknownErrorCodesShareOneLabel(t *testing.T) {
	ObserveError("jane@example.com")
	ObserveError("")
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if body := rec.Body.String(); strings.Contains(body, "example.com") || !strings.Contains(body, `gateway_graphql_errors_total{code="OTHER"} 2`) {
		t.Fatalf("codes not bounded:\n%s", body)
	}
}

// The request path's observations land on the labels they name, however
// many goroutines observe at once.
func TestObservationsByLabels(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ObserveHTTP("POST /test-route", 200+i%2)
			ObserveOperation("TestOp", []string{"ok", "refused"}[i%2], time.Millisecond)
			ObserveLoaderBatch("TestLoader", 3)
		}()
	}
	wg.Wait()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`gateway_http_requests_total{code="200",route="POST /test-route"} 25`,
		`gateway_http_requests_total{code="201",route="POST /test-route"} 25`,
		`gateway_graphql_requests_total{operation="TestOp",outcome="ok"} 25`,
		`gateway_graphql_requests_total{operation="TestOp",outcome="refused"} 25`,
		`gateway_graphql_request_duration_seconds_count{operation="TestOp"} 50`,
		`gateway_loader_batch_size_sum{loader="TestLoader"} 150`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ObserveHTTP("POST /graphql", 200)
			ObserveOperation("other", "ok", time.Millisecond)
			ObserveStatements(2)
		}
	})
}
