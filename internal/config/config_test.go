package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreSafe(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Introspection || c.FieldSuggestions || c.MaxBatch != 0 || c.MaxDepth == 0 || c.MaxComplexity == 0 ||
		c.MaxTokens == 0 || c.MaxBodyBytes == 0 || c.RequestTimeout == 0 || len(c.CORSAllowedOrigins) != 0 ||
		c.GraphiQL || c.GraphQLGet != GetOff || c.MetricsOnMain || c.ReadHeaderTimeout == 0 || c.ReadTimeout == 0 {
		t.Fatalf("unsafe defaults: %+v", c)
	}
	dev := c.ForDev()
	if !dev.Introspection || !dev.FieldSuggestions || !dev.GraphiQL || dev.GraphQLGet != GetOn || !dev.MetricsOnMain {
		t.Fatalf("dev: %+v", dev)
	}
}

func TestServeTurnsOnWhatIsAskedFor(t *testing.T) {
	c, err := Load(env(map[string]string{"GRAPHIQL": "true", "GRAPHQL_GET": "persisted", "METRICS_ON_MAIN": "true",
		"READ_HEADER_TIMEOUT": "2s", "READ_TIMEOUT": "20s"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.GraphiQL || c.GraphQLGet != GetPersisted || !c.MetricsOnMain || c.ReadHeaderTimeout != 2*time.Second || c.ReadTimeout != 20*time.Second {
		t.Fatalf("%+v", c)
	}
}

func TestExplicitSettingsWinInDev(t *testing.T) {
	c, err := Load(env(map[string]string{"INTROSPECTION": "false", "MAX_BATCH": "5", "REQUEST_TIMEOUT": "3s",
		"CORS_ALLOWED_ORIGINS": "https://portal.example.com, http://localhost:3000",
		"GRAPHIQL":             "false", "GRAPHQL_GET": "persisted", "METRICS_ON_MAIN": "false"}))
	if err != nil {
		t.Fatal(err)
	}
	c = c.ForDev()
	if c.Introspection || !c.FieldSuggestions || c.MaxBatch != 5 || c.RequestTimeout != 3*time.Second ||
		c.GraphiQL || c.GraphQLGet != GetPersisted || c.MetricsOnMain ||
		strings.Join(c.CORSAllowedOrigins, " ") != "https://portal.example.com http://localhost:3000" {
		t.Fatalf("%+v", c)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	for name, v := range map[string]string{
		"MAX_DEPTH": "0", "MAX_ALIASES": "x", "MAX_COMPLEXITY": "-1", "MAX_TOKENS": "many", "MAX_BODY_BYTES": "10",
		"MAX_BATCH": "-1", "APQ_CACHE_SIZE": "x", "REQUEST_TIMEOUT": "0s", "INTROSPECTION": "maybe",
		"FIELD_SUGGESTIONS": "2", "CORS_ALLOWED_ORIGINS": "portal.example.com/path", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector",
		"GRAPHIQL": "yes please", "GRAPHQL_GET": "sometimes", "METRICS_ON_MAIN": "public", "READ_HEADER_TIMEOUT": "0s",
		"READ_TIMEOUT": "-1s", "MAX_CONCURRENT_REQUESTS": "-1", "ADMISSION_QUEUE": "x", "ADMISSION_WAIT": "0s",
	} {
		if _, err := Load(env(map[string]string{name: v})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: err = %v", name, v, err)
		}
	}
}

func TestReadHeaderTimeoutFitsInReadTimeout(t *testing.T) {
	_, err := Load(env(map[string]string{"READ_HEADER_TIMEOUT": "10s", "READ_TIMEOUT": "5s"}))
	if err == nil || !strings.Contains(err.Error(), "READ_HEADER_TIMEOUT") || !strings.Contains(err.Error(), "READ_TIMEOUT") {
		t.Fatalf("err = %v", err)
	}
}

// TestWebhookEventRetention: the ids of webhook events are kept a week by
// default, and never for less than the longest replay window an adapter may
// have (24h), so a redelivery the window still admits is known as one.
func TestWebhookEventRetention(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.WebhookEventRetention != 7*24*time.Hour {
		t.Fatalf("default %s, err %v", c.WebhookEventRetention, err)
	}
	if c, err = Load(env(map[string]string{"WEBHOOK_EVENT_RETENTION": "48h"})); err != nil || c.WebhookEventRetention != 48*time.Hour {
		t.Fatalf("48h: %s, err %v", c.WebhookEventRetention, err)
	}
	for _, v := range []string{"x", "-1h", "0s", "24h", "2h"} {
		if _, err := Load(env(map[string]string{"WEBHOOK_EVENT_RETENTION": v})); err == nil || !strings.Contains(err.Error(), "WEBHOOK_EVENT_RETENTION") {
			t.Errorf("%s: err = %v", v, err)
		}
	}
}

// TestAdmissionBound: the bound follows the pool (twice DB_MAX_CONNS, with
// a queue as long) unless set; 0 turns it off, and the queue may be 0.
func TestAdmissionBound(t *testing.T) {
	for _, tc := range []struct {
		env        map[string]string
		max, queue int
		wait       time.Duration
	}{
		{nil, 40, 40, 100 * time.Millisecond},
		{map[string]string{"DB_MAX_CONNS": "8"}, 16, 16, 100 * time.Millisecond},
		{map[string]string{"MAX_CONCURRENT_REQUESTS": "10", "ADMISSION_WAIT": "1s"}, 10, 10, time.Second},
		{map[string]string{"MAX_CONCURRENT_REQUESTS": "10", "ADMISSION_QUEUE": "0"}, 10, 0, 100 * time.Millisecond},
		{map[string]string{"MAX_CONCURRENT_REQUESTS": "0"}, 0, 0, 100 * time.Millisecond},
	} {
		c, err := Load(env(tc.env))
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if c.MaxConcurrentRequests != tc.max || c.AdmissionQueue != tc.queue || c.AdmissionWait != tc.wait {
			t.Errorf("%v: bound %d, queue %d, wait %s; want %d, %d, %s", tc.env, c.MaxConcurrentRequests, c.AdmissionQueue, c.AdmissionWait, tc.max, tc.queue, tc.wait)
		}
	}
	d := Default()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if d.MaxConcurrentRequests != c.MaxConcurrentRequests || d.AdmissionQueue != c.AdmissionQueue || d.AdmissionWait != c.AdmissionWait {
		t.Errorf("Default() and Load differ: %d/%d/%s, %d/%d/%s", d.MaxConcurrentRequests, d.AdmissionQueue, d.AdmissionWait,
			c.MaxConcurrentRequests, c.AdmissionQueue, c.AdmissionWait)
	}
}
