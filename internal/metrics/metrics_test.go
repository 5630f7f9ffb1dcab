package metrics

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOperationLabelsAreBounded(t *testing.T) {
	o := NewOperations(nil, 3)
	for i := range 3 {
		if got := o.Label("Op" + strconv.Itoa(i)); got != "Op"+strconv.Itoa(i) {
			t.Fatalf("label %d = %q", i, got)
		}
	}
	if got := o.Label("Op9"); got != "other" {
		t.Fatalf("fourth name = %q, want other", got)
	}
	if got := o.Label("Op1"); got != "Op1" {
		t.Fatalf("known name = %q", got)
	}
	if got := o.Label(""); got != "anonymous" {
		t.Fatalf("unnamed = %q", got)
	}
	if got := o.Label("not a name@example.com"); got != "other" {
		t.Fatalf("odd name = %q", got)
	}
}

func TestAllowListFixesTheLabels(t *testing.T) {
	o := NewOperations([]string{"Buildings"}, 100)
	if o.Label("Buildings") != "Buildings" || o.Label("Users") != "other" {
		t.Fatal("allow-listed names only")
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
