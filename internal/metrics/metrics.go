// Package metrics owns what the gateway tells its operators about itself
// besides logs: the Prometheus collectors and the one registry they live
// in, served at /metrics, and the OpenTelemetry tracing setup
// (SetupTracing, tracing.go).
//
// Every label has a bounded set of values: operation names only from the
// operator's allow-list (see Operations), error codes from the API's fixed
// list (apperr.Codes), adapters from the configured IdPs. It never takes a
// label value a client chose, which could carry PII (an email, a name, a
// token, a raw query).
//
// Tracing exports over OTLP/HTTP only when an endpoint is configured.
// Without one the global provider stays OpenTelemetry's no-op, so SQL
// spans cost next to nothing, and SetupTracing returns no provider, so the
// HTTP server makes no span and intercepts no GraphQL field. Spans carry no
// PII: no paths, no variables, no header values, SQL text only with
// placeholders.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/propertyportal/gateway/internal/apperr"
)

// Registry holds every collector of this package plus the Go runtime and
// process collectors.
var Registry = prometheus.NewRegistry()

var (
	httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_http_requests_total",
		Help: "HTTP requests by route (a fixed set) and status code.",
	}, []string{"route", "code"})

	graphqlRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_graphql_requests_total",
		Help: "GraphQL operations by operation name (of the persisted-operations allow-list; an unnamed listed one is \"anonymous\", any other \"other\") and outcome (ok, error, refused).",
	}, []string{"operation", "outcome"})

	graphqlDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_graphql_request_duration_seconds",
		Help:    "GraphQL operation latency, from the start of the operation to its response, by operation name.",
		Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"operation"})

	graphqlErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_graphql_errors_total",
		Help: "GraphQL errors by extensions.code.",
	}, []string{"code"})

	cancelledRequests = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gateway_requests_cancelled_total",
		Help: "GraphQL requests whose client went away before the answer.",
	})

	erasures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_erasures_total",
		Help: "Erasures that scrubbed something, by what became of the identity at its IdP (idp_deletion): queued, not_configured (the IdP has no admin adapter: delete the identity there by hand), deleted_at_idp (the IdP deleted it and told us) or none (a contact without an account).",
	}, []string{"idp_deletion"})

	sqlPerRequest = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gateway_sql_statements_per_request",
		Help:    "SQL statements one GraphQL request sent.",
		Buckets: []float64{0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50},
	})

	loaderBatch = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_loader_batch_size",
		Help:    "Keys in one dataloader batch, by loader.",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
	}, []string{"loader"})

	idpCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_idp_calls_total",
		Help: "Calls to IdP admin APIs by adapter (idp_id) and status (the HTTP status code, or \"error\" when no response came).",
	}, []string{"adapter", "status"})

	idpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_idp_call_duration_seconds",
		Help:    "Latency of calls to IdP admin APIs by adapter.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"adapter"})

	outboxDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_outbox_depth",
		Help: "Identity updates waiting in the outbox, by adapter.",
	}, []string{"adapter"})

	outboxAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_outbox_oldest_age_seconds",
		Help: "Age of the oldest identity update waiting in the outbox, by adapter; 0 when none waits.",
	}, []string{"adapter"})

	admissionExecuting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gateway_admission_executing",
		Help: "GraphQL requests executing now, at most MAX_CONCURRENT_REQUESTS.",
	})

	admissionQueued = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gateway_admission_queued",
		Help: "GraphQL requests waiting for a slot now, at most ADMISSION_QUEUE.",
	})

	admissionRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_admission_refused_total",
		Help: "GraphQL requests refused OVERLOADED by the admission bound, by reason: queue_full (every slot busy and the queue full) or queue_timeout (no slot within ADMISSION_WAIT).",
	}, []string{"reason"})

	subscriptionsOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gateway_subscriptions_open",
		Help: "GraphQL subscriptions open now in this process (graphql-ws and SSE), at most MAX_SUBSCRIPTIONS.",
	})

	quotaWaits = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_idp_quota_wait_seconds",
		Help:    "Time a call to an IdP waited for its rate-limit quota (the client's own limiter or the IdP's Retry-After), by adapter.",
		Buckets: []float64{0, .01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60},
	}, []string{"adapter"})
)

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		httpRequests, graphqlRequests, graphqlDuration, graphqlErrors, cancelledRequests, erasures, sqlPerRequest, loaderBatch,
		idpCalls, idpDuration, outboxDepth, outboxAge, quotaWaits,
		admissionExecuting, admissionQueued, admissionRefused, subscriptionsOpen,
	)
	// Every reason from the start, at 0; refusals come fast, so their
	// children are looked up once.
	refusedBy = map[string]prometheus.Counter{}
	for _, r := range []string{RefusedQueueFull, RefusedQueueTimeout} {
		refusedBy[r] = admissionRefused.WithLabelValues(r)
	}
}

// Handler serves the registry in the Prometheus text format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}

// ObserveHTTP counts one HTTP request; route must come from a fixed set
// (the server's route patterns), never from the request's path.
func ObserveHTTP(route string, status int) {
	httpByRoute.get(routeStatus{route, status}).Inc()
}

// The children of the vectors the request path observes, by label values:
// a vector hashes its labels and locks on every WithLabelValues. Every key
// is a label set the vector already holds, so each cache is as bounded as
// its vector.
var (
	httpByRoute = children[routeStatus, prometheus.Counter]{of: func(k routeStatus) prometheus.Counter {
		return httpRequests.WithLabelValues(k.route, strconv.Itoa(k.status))
	}}
	operationsBy = children[operationOutcome, prometheus.Counter]{of: func(k operationOutcome) prometheus.Counter {
		return graphqlRequests.WithLabelValues(k.operation, k.outcome)
	}}
	durationBy = children[string, prometheus.Observer]{of: func(op string) prometheus.Observer {
		return graphqlDuration.WithLabelValues(op)
	}}
	errorsBy = children[string, prometheus.Counter]{of: func(code string) prometheus.Counter {
		return graphqlErrors.WithLabelValues(code)
	}}
	batchesBy = children[string, prometheus.Observer]{of: func(loader string) prometheus.Observer {
		return loaderBatch.WithLabelValues(loader)
	}}
)

type routeStatus struct {
	route  string
	status int
}

type operationOutcome struct{ operation, outcome string }

// children is a read-mostly cache of a vector's children.
type children[K comparable, M any] struct {
	of func(K) M
	mu sync.RWMutex
	m  map[K]M
}

func (c *children[K, M]) get(k K) M {
	c.mu.RLock()
	m, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return m
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.m[k]; ok {
		return m
	}
	if c.m == nil {
		c.m = map[K]M{}
	}
	m = c.of(k)
	c.m[k] = m
	return m
}

// ObserveOperation counts one GraphQL operation and its latency. operation
// must be a label from Operations.Label. outcome is "ok", "error" (it ran
// and some field failed) or "refused" (it failed before execution).
func ObserveOperation(operation, outcome string, d time.Duration) {
	operationsBy.get(operationOutcome{operation, outcome}).Inc()
	durationBy.get(operation).Observe(d.Seconds())
}

// ObserveError counts one GraphQL error by its extensions.code. Codes are
// the API's fixed list, apperr.Codes; anything else is counted as "OTHER".
func ObserveError(code string) {
	if _, ok := apperr.Lookup(code); !ok {
		code = "OTHER"
	}
	errorsBy.get(code).Inc()
}

// ObserveCancelled counts one request whose client went away.
func ObserveCancelled() { cancelledRequests.Inc() }

// ObserveErasure counts one erasure that scrubbed something; idpDeletion is
// one of privacy's fixed outcomes (queued, not_configured, deleted_at_idp,
// none).
func ObserveErasure(idpDeletion string) { erasures.WithLabelValues(idpDeletion).Inc() }

// ObserveStatements records how many SQL statements one request sent.
func ObserveStatements(n int64) { sqlPerRequest.Observe(float64(n)) }

// ObserveLoaderBatch records the size of one dataloader batch; loader is
// the loader's field name (UserByID, LinksByBuilding, ...).
func ObserveLoaderBatch(loader string, keys int) {
	batchesBy.get(loader).Observe(float64(keys))
}

// ObserveIdPCall records one call to an IdP's admin API: adapter is the
// adapter's idp_id (a configured, bounded set), status the HTTP status code
// it answered (0 when no response came: a network error or a timeout), d
// how long the call took. The identity outbox's IdP clients call it once
// per HTTP request they send.
func ObserveIdPCall(adapter string, status int, d time.Duration) {
	s := "error"
	if status > 0 {
		s = strconv.Itoa(status)
	}
	idpCalls.WithLabelValues(adapter, s).Inc()
	idpDuration.WithLabelValues(adapter).Observe(d.Seconds())
}

// SetOutbox reports the identity outbox of one adapter: how many updates
// wait and how old the oldest is (0 when none waits). The outbox worker
// calls it after each poll.
func SetOutbox(adapter string, depth int, oldest time.Duration) {
	outboxDepth.WithLabelValues(adapter).Set(float64(depth))
	outboxAge.WithLabelValues(adapter).Set(oldest.Seconds())
}

// The reasons of gateway_admission_refused_total.
const (
	RefusedQueueFull    = "queue_full"    // every slot busy and the queue full: refused on arrival
	RefusedQueueTimeout = "queue_timeout" // queued, and no slot came within the wait
)

// AdmissionExecuting adds delta to the GraphQL requests executing.
func AdmissionExecuting(delta float64) { admissionExecuting.Add(delta) }

// SubscriptionsOpen adds delta to the subscriptions open.
func SubscriptionsOpen(delta float64) { subscriptionsOpen.Add(delta) }

// AdmissionQueued adds delta to the GraphQL requests waiting for a slot.
func AdmissionQueued(delta float64) { admissionQueued.Add(delta) }

// ObserveAdmissionRefused counts one request the admission bound refused;
// reason is RefusedQueueFull or RefusedQueueTimeout.
func ObserveAdmissionRefused(reason string) {
	if c, ok := refusedBy[reason]; ok {
		c.Inc()
	}
}

// refusedBy are gateway_admission_refused_total's children by reason,
// read-only after init.
var refusedBy map[string]prometheus.Counter

// ObserveQuotaWait records how long a call to an IdP waited for its
// rate-limit quota before it was sent (its limiter's wait, or a 429's
// Retry-After / X-RateLimit-Reset). Call it for every call, with 0 when it
// did not wait, so the histogram's count is the number of calls.
func ObserveQuotaWait(adapter string, d time.Duration) {
	quotaWaits.WithLabelValues(adapter).Observe(d.Seconds())
}

// Operations is the operation label's set of values: the names of the
// operations in documents the operator listed (the persisted-operations
// allow-list), "anonymous" for a listed operation without a name, and
// "other" for everything else. No name a client sends becomes a label, so
// none can take the place of another.
type Operations struct {
	listed map[string]bool // document texts
}

// NewOperations returns the label set of the listed documents; with none,
// every operation is "other".
func NewOperations(docs []string) *Operations {
	o := &Operations{listed: make(map[string]bool, len(docs))}
	for _, d := range docs {
		o.listed[d] = true
	}
	return o
}

// Label returns the label of an operation: doc is the text of its
// document, name the operation's name as that document spells it.
func (o *Operations) Label(doc, name string) string {
	switch {
	case !o.listed[doc]:
		return "other"
	case name == "":
		return "anonymous"
	}
	return name
}
