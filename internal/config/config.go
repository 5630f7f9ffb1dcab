// Package config is the gateway's configuration: one struct with defaults,
// loaded from the environment and validated before anything starts.
package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
)

// Config is every setting of the gateway. docs/configuration.md lists each
// with its environment variable and default.
type Config struct {
	DatabaseURL      string        // DATABASE_URL: PostgreSQL for every context
	CommsDatabaseURL string        // COMMS_DATABASE_URL: comms' own database; DATABASE_URL when empty
	ListenAddr       string        // LISTEN_ADDR
	MaxPageSize      int           // MAX_PAGE_SIZE: the cap on `first` and `last`, and on the ids of `nodes`
	DBMaxConns       int           // DB_MAX_CONNS: the connection pool size per database
	ShutdownTimeout  time.Duration // SHUTDOWN_TIMEOUT: how long in-flight requests get on stop
	LogLevel         string        // LOG_LEVEL: debug, info, warn or error
	IdPConfig        string        // IDP_CONFIG: path of the IdP adapters' YAML file
	PhoneRegion      string        // PHONE_DEFAULT_REGION: the region of phone numbers without a country code
	IdentityWorkers  int           // IDENTITY_WORKERS: outbox workers per process
	IdentityWait     time.Duration // IDENTITY_WAIT: how long an identity mutation waits for the IdP before answering PENDING
	ReconcileShare   float64       // RECONCILE_SHARE: the share of each IdP's admin quota reconciliation may use; 0 turns it off
	// WebhookEventRetention (WEBHOOK_EVENT_RETENTION) is how long the ids of
	// applied webhook events are kept to refuse redeliveries; serve prunes
	// older ones. It must outlast the longest replay window (24h).
	WebhookEventRetention time.Duration

	// Limits on GraphQL requests; every refusal happens before anything runs.
	MaxDepth       int           // MAX_DEPTH: deepest field nesting a document may have
	MaxAliases     int           // MAX_ALIASES: aliased fields a document may have
	MaxComplexity  int           // MAX_COMPLEXITY: cost a query may have (lists cost `first` times their fields)
	MaxTokens      int           // MAX_TOKENS: lexical tokens a document may have
	MaxBodyBytes   int64         // MAX_BODY_BYTES: the largest request body
	MaxBatch       int           // MAX_BATCH: operations in one batched POST; 0 turns batching off
	RequestTimeout time.Duration // REQUEST_TIMEOUT: how long one GraphQL request may run
	// The admission bound: GraphQL requests executing at once, beyond them a
	// short queue, beyond that 503 OVERLOADED at once.
	MaxConcurrentRequests int           // MAX_CONCURRENT_REQUESTS: executing at once; 0 turns the bound off; default AdmissionPerConn × DB_MAX_CONNS
	AdmissionQueue        int           // ADMISSION_QUEUE: requests that may wait for a slot; 0: none; default MAX_CONCURRENT_REQUESTS
	AdmissionWait         time.Duration // ADMISSION_WAIT: the longest a request waits for a slot
	APQCacheSize          int           // APQ_CACHE_SIZE: automatic persisted queries kept; 0 turns APQ off
	// Subscriptions (graphql-ws over WebSocket, GraphQL over SSE): they hold
	// no admission slot once open, so these bound them instead.
	MaxSubscriptions           int           // MAX_SUBSCRIPTIONS: open at once in the process; 0: no bound
	SubscriptionsPerConnection int           // SUBSCRIPTIONS_PER_CONNECTION: open at once on one WebSocket
	SubscriptionKeepAlive      time.Duration // SUBSCRIPTION_KEEPALIVE: how often an idle stream is pinged
	// PersistedOperationsFile (PERSISTED_OPERATIONS_FILE) is a JSON object of
	// operations keyed by the SHA-256 of their text; when set, only those run.
	PersistedOperationsFile string
	Introspection           bool     // INTROSPECTION: schema introspection; off unless set, on in dev
	FieldSuggestions        bool     // FIELD_SUGGESTIONS: "did you mean" hints; off unless set, on in dev
	CORSAllowedOrigins      []string // CORS_ALLOWED_ORIGINS: comma-separated origins that may call the API from a browser
	GraphQLGet              GetMode  // GRAPHQL_GET: which queries /graphql takes over GET; off unless set, on in dev
	GraphiQL                bool     // GRAPHIQL: the GraphiQL page at /; off unless set, on in dev
	// CursorSecrets (CURSOR_SECRETS) are comma-separated secrets of at least
	// 32 bytes that pagination cursors are sealed with: the first seals, every
	// one opens (list a new secret first and keep the old one while its
	// cursors matter). Required by serve; gateway dev makes a random one.
	CursorSecrets []string

	// What the HTTP server gives a client to send its request; past it the
	// connection is closed, so a request sent byte by byte holds nothing for long.
	ReadHeaderTimeout time.Duration // READ_HEADER_TIMEOUT: to send the request line and headers
	ReadTimeout       time.Duration // READ_TIMEOUT: to send the whole request, headers and body

	// Observability.
	MetricsAddr   string // METRICS_ADDR: a listener of its own for /metrics
	MetricsOnMain bool   // METRICS_ON_MAIN: /metrics on the main listener too; off unless set, on in dev
	OTLPEndpoint  string // OTEL_EXPORTER_OTLP_ENDPOINT: where traces go; empty turns tracing off
	ServiceName   string // OTEL_SERVICE_NAME: the service name on traces

	set map[string]bool // the variables the environment set
}

// GetMode says which GraphQL requests /graphql takes over GET.
type GetMode string

// The values of GRAPHQL_GET.
const (
	GetOff GetMode = "off" // none: GET is 405, queries come by POST
	// GetPersisted takes a persisted query named by its hash without its
	// text (extensions.persistedQuery), the request a CDN can cache.
	GetPersisted GetMode = "persisted"
	GetOn        GetMode = "on" // any query, as text or by hash
)

// AdmissionPerConn is MAX_CONCURRENT_REQUESTS's default per connection of
// the pool (DB_MAX_CONNS): a request spends much of its life waiting on
// PostgreSQL and the rest in the gateway's CPU (sign-in, parsing,
// encoding), so twice the pool keeps every connection busy; more would
// only wait inside the pool, holding memory and adding latency.
const AdmissionPerConn = 2

// The defaults that packages also fall back to when they are used without
// a configuration (tests, benchmarks, a zero field): each value is here
// only, and Default uses it too.
const (
	DefaultPhoneRegion     = "DE"    // PHONE_DEFAULT_REGION
	DefaultMaxPageSize     = 100     // MAX_PAGE_SIZE
	DefaultIdentityWorkers = 4       // IDENTITY_WORKERS
	DefaultDBMaxConns      = 20      // DB_MAX_CONNS
	DefaultMaxBodyBytes    = 1 << 20 // MAX_BODY_BYTES
)

// Default returns the defaults.
func Default() Config {
	return Config{
		ListenAddr:                 ":8080",
		MaxPageSize:                DefaultMaxPageSize,
		DBMaxConns:                 DefaultDBMaxConns,
		MaxConcurrentRequests:      AdmissionPerConn * DefaultDBMaxConns,
		AdmissionQueue:             AdmissionPerConn * DefaultDBMaxConns,
		AdmissionWait:              100 * time.Millisecond,
		ShutdownTimeout:            15 * time.Second,
		LogLevel:                   "info",
		PhoneRegion:                DefaultPhoneRegion,
		IdentityWorkers:            DefaultIdentityWorkers,
		IdentityWait:               2 * time.Second,
		ReconcileShare:             0.1,
		WebhookEventRetention:      7 * 24 * time.Hour,
		MaxDepth:                   12,
		MaxAliases:                 30,
		MaxComplexity:              50000,
		MaxTokens:                  2000,
		MaxBodyBytes:               DefaultMaxBodyBytes,
		MaxBatch:                   0,
		RequestTimeout:             15 * time.Second,
		APQCacheSize:               1000,
		MaxSubscriptions:           1000,
		SubscriptionsPerConnection: 10,
		SubscriptionKeepAlive:      15 * time.Second,
		GraphQLGet:                 GetOff,
		ReadHeaderTimeout:          10 * time.Second,
		ReadTimeout:                30 * time.Second,
		ServiceName:                "gateway",
	}
}

// ForDev turns on what `gateway dev` wants for exploring (introspection,
// field suggestions, GraphiQL, queries over GET, /metrics on the main
// listener) unless the environment set them explicitly.
func (c Config) ForDev() Config {
	for name, dst := range map[string]*bool{"INTROSPECTION": &c.Introspection, "FIELD_SUGGESTIONS": &c.FieldSuggestions,
		"GRAPHIQL": &c.GraphiQL, "METRICS_ON_MAIN": &c.MetricsOnMain} {
		if !c.set[name] {
			*dst = true
		}
	}
	if !c.set["GRAPHQL_GET"] {
		c.GraphQLGet = GetOn
	}
	return c
}

// Load reads the environment through environ over the defaults. A bad value
// is an error naming the variable.
func Load(environ func(string) string) (Config, error) {
	c := Default()
	c.set = map[string]bool{}
	getenv := func(name string) string {
		v := environ(name)
		if v != "" {
			c.set[name] = true
		}
		return v
	}
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	str("DATABASE_URL", &c.DatabaseURL)
	str("COMMS_DATABASE_URL", &c.CommsDatabaseURL)
	str("LISTEN_ADDR", &c.ListenAddr)
	str("LOG_LEVEL", &c.LogLevel)
	str("IDP_CONFIG", &c.IdPConfig)
	str("PHONE_DEFAULT_REGION", &c.PhoneRegion)
	str("PERSISTED_OPERATIONS_FILE", &c.PersistedOperationsFile)
	str("METRICS_ADDR", &c.MetricsAddr)
	str("OTEL_EXPORTER_OTLP_ENDPOINT", &c.OTLPEndpoint)
	str("OTEL_SERVICE_NAME", &c.ServiceName)
	for name, dst := range map[string]*int{
		"MAX_PAGE_SIZE": &c.MaxPageSize, "DB_MAX_CONNS": &c.DBMaxConns, "IDENTITY_WORKERS": &c.IdentityWorkers,
		"MAX_DEPTH": &c.MaxDepth, "MAX_ALIASES": &c.MaxAliases, "MAX_COMPLEXITY": &c.MaxComplexity, "MAX_TOKENS": &c.MaxTokens,
		"SUBSCRIPTIONS_PER_CONNECTION": &c.SubscriptionsPerConnection,
	} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return c, fmt.Errorf("config: %s must be a positive integer", name)
			}
			*dst = n
		}
	}
	for name, dst := range map[string]*int{"MAX_BATCH": &c.MaxBatch, "APQ_CACHE_SIZE": &c.APQCacheSize,
		"MAX_CONCURRENT_REQUESTS": &c.MaxConcurrentRequests, "ADMISSION_QUEUE": &c.AdmissionQueue,
		"MAX_SUBSCRIPTIONS": &c.MaxSubscriptions} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return c, fmt.Errorf("config: %s must be a non-negative integer", name)
			}
			*dst = n
		}
	}
	if !c.set["MAX_CONCURRENT_REQUESTS"] {
		c.MaxConcurrentRequests = AdmissionPerConn * c.DBMaxConns
	}
	if !c.set["ADMISSION_QUEUE"] {
		c.AdmissionQueue = c.MaxConcurrentRequests
	}
	if v := getenv("MAX_BODY_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1024 {
			return c, fmt.Errorf("config: MAX_BODY_BYTES must be an integer of at least 1024")
		}
		c.MaxBodyBytes = n
	}
	for name, dst := range map[string]*bool{"INTROSPECTION": &c.Introspection, "FIELD_SUGGESTIONS": &c.FieldSuggestions,
		"GRAPHIQL": &c.GraphiQL, "METRICS_ON_MAIN": &c.MetricsOnMain} {
		if v := getenv(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return c, fmt.Errorf("config: %s must be true or false", name)
			}
			*dst = b
		}
	}
	if v := getenv("GRAPHQL_GET"); v != "" {
		switch m := GetMode(v); m {
		case GetOff, GetPersisted, GetOn:
			c.GraphQLGet = m
		default:
			return c, fmt.Errorf("config: GRAPHQL_GET must be off, persisted or on")
		}
	}
	if v := getenv("CORS_ALLOWED_ORIGINS"); v != "" {
		for _, o := range strings.Split(v, ",") {
			o = strings.TrimSpace(o)
			if o == "" {
				continue
			}
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
				return c, fmt.Errorf("config: CORS_ALLOWED_ORIGINS must be comma-separated origins such as https://portal.example.com")
			}
			c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, u.Scheme+"://"+u.Host)
		}
	}
	if v := getenv("CURSOR_SECRETS"); v != "" {
		for _, secret := range strings.Split(v, ",") {
			if secret = strings.TrimSpace(secret); len(secret) < 32 {
				return c, fmt.Errorf("config: CURSOR_SECRETS must be comma-separated secrets of at least 32 bytes each, e.g. from openssl rand -base64 32")
			}
			c.CursorSecrets = append(c.CursorSecrets, secret)
		}
	}
	if c.OTLPEndpoint != "" {
		if u, err := url.Parse(c.OTLPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("config: OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL such as http://collector:4318")
		}
	}
	for name, dst := range map[string]*time.Duration{"SHUTDOWN_TIMEOUT": &c.ShutdownTimeout, "REQUEST_TIMEOUT": &c.RequestTimeout,
		"IDENTITY_WAIT": &c.IdentityWait, "READ_HEADER_TIMEOUT": &c.ReadHeaderTimeout, "READ_TIMEOUT": &c.ReadTimeout,
		"WEBHOOK_EVENT_RETENTION": &c.WebhookEventRetention, "ADMISSION_WAIT": &c.AdmissionWait,
		"SUBSCRIPTION_KEEPALIVE": &c.SubscriptionKeepAlive} {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return c, fmt.Errorf("config: %s must be a duration such as 2ms or 15s", name)
			}
			*dst = d
		}
	}
	for name, d := range map[string]time.Duration{"REQUEST_TIMEOUT": c.RequestTimeout, "READ_HEADER_TIMEOUT": c.ReadHeaderTimeout, "READ_TIMEOUT": c.ReadTimeout,
		"ADMISSION_WAIT": c.AdmissionWait, "SUBSCRIPTION_KEEPALIVE": c.SubscriptionKeepAlive} {
		if d == 0 {
			return c, fmt.Errorf("config: %s must be more than zero", name)
		}
	}
	if c.WebhookEventRetention <= idp.MaxReplayWindow {
		return c, fmt.Errorf("config: WEBHOOK_EVENT_RETENTION must be longer than %s, the longest replay window an IdP adapter may have, e.g. 168h", idp.MaxReplayWindow)
	}
	if c.ReadHeaderTimeout > c.ReadTimeout {
		return c, fmt.Errorf("config: READ_HEADER_TIMEOUT must not be longer than READ_TIMEOUT, which includes the headers")
	}
	if v := getenv("RECONCILE_SHARE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return c, fmt.Errorf("config: RECONCILE_SHARE must be a number from 0 to 1, e.g. 0.1")
		}
		c.ReconcileShare = f
	}
	if len(c.PhoneRegion) != 2 || strings.ToUpper(c.PhoneRegion) != c.PhoneRegion {
		return c, fmt.Errorf("config: PHONE_DEFAULT_REGION must be a two-letter region code such as DE")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("config: LOG_LEVEL must be debug, info, warn or error")
	}
	return c, nil
}

// Tracing reports whether traces are sent (OTEL_EXPORTER_OTLP_ENDPOINT).
func (c Config) Tracing() bool { return c.OTLPEndpoint != "" }

// CommsURL returns the comms database URL.
func (c Config) CommsURL() string {
	if c.CommsDatabaseURL != "" {
		return c.CommsDatabaseURL
	}
	return c.DatabaseURL
}
