package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/jmoiron/sqlx"
	"go.opentelemetry.io/otel/trace"

	"github.com/propertyportal/gateway/graph"
	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/httpserver/graphiql"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/identity/webhook"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/dev"
	"github.com/propertyportal/gateway/internal/idp/providers"
	"github.com/propertyportal/gateway/internal/live"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/logging"
	"github.com/propertyportal/gateway/internal/metrics"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/privacy"
	"github.com/propertyportal/gateway/internal/property"
	"github.com/propertyportal/gateway/internal/seed"
)

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd, err := parseCommandLine(args, stdout)
	if cmd == nil || err != nil {
		return err // help was printed, or the command line is wrong
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if !comms.ValidRegion(cfg.PhoneRegion) {
		return fmt.Errorf("config: PHONE_DEFAULT_REGION %q is not a known region", cfg.PhoneRegion)
	}
	log := logging.New(cfg.LogLevel, os.Stderr)
	tracer, stopTracing, err := metrics.SetupTracing(ctx, cfg.OTLPEndpoint, cfg.ServiceName)
	if err != nil {
		return err
	}
	defer func() { _ = stopTracing(context.Background()) }()
	return cmd(ctx, env{cfg: cfg, getenv: getenv, log: log, tracer: tracer, stdout: stdout})
}

func runDev(ctx context.Context, e env, addr string) error {
	cfg, getenv, log, tracer, stdout := e.cfg, e.getenv, e.log, e.tracer, e.stdout
	if cfg.DatabaseURL == "" {
		fmt.Fprintln(stdout, "starting a throwaway PostgreSQL ...")
		cluster, err := postgres.StartCluster(ctx)
		if err != nil {
			return err
		}
		defer func() {
			if err := cluster.Stop(); err != nil {
				log.Error("stop PostgreSQL", "error", err.Error())
			}
			fmt.Fprintln(stdout, "PostgreSQL stopped and removed")
		}()
		admin, err := postgres.Open(ctx, cluster.URL("postgres"), postgres.Options{MaxOpenConns: 1})
		if err != nil {
			return err
		}
		_, err = admin.ExecContext(ctx, "CREATE DATABASE portal")
		_ = admin.Close()
		if err != nil {
			return fmt.Errorf("create database: %w", err)
		}
		cfg.DatabaseURL = cluster.URL("portal")
		fmt.Fprintf(stdout, "PostgreSQL: %s\n", cfg.DatabaseURL)
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxOpenConns: cfg.DBMaxConns, Traced: cfg.Tracing()})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db.DB); err != nil {
		return err
	}
	demo, err := seed.Demo(ctx, db)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mln, err := listenMetrics(cfg)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	issuer, err := dev.NewIssuer(url + "/dev-idp")
	if err != nil {
		return err
	}
	// The dev IdP's identities change in its in-memory admin store. The
	// demo users were never created there, so reconciliation stays off.
	devAdapter := issuer.Adapter("dev")
	devAdapter.Admin = &idp.AdminConfig{}
	adapters := []idp.Config{devAdapter}
	if cfg.IdPConfig != "" {
		more, err := providers.LoadFile(cfg.IdPConfig, getenv)
		if err != nil {
			return err
		}
		adapters = append(adapters, more...)
	}
	cursors, err := cursorSealer(cfg)
	if err != nil {
		return err
	}
	// One database for every context (gateway dev ignores
	// COMMS_DATABASE_URL), and no reconciliation (see above).
	g, err := build(cfg, databases{main: db, comms: db}, adapters, getenv, log, cursors, 0)
	if err != nil {
		return err
	}
	listenCtx, stopListening := context.WithCancel(ctx) // an erasure ends access on every replica at once
	defer stopListening()
	g.verifier.ListenForErasures(listenCtx, cfg.DatabaseURL)
	g.live.Listen(listenCtx, cfg.DatabaseURL) // identity change statuses, from whichever replica applied them
	creds, err := devCredentials(issuer, demo)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if cfg.GraphiQL {
		fmt.Fprintf(stdout, "GraphiQL: %s/\n", url)
	}
	fmt.Fprintf(stdout, "GraphQL:  %s/graphql\nDev IdP:  %s/\n\nDev tokens from the dev IdP (send as \"Authorization: Bearer <token>\"; one click away in GraphiQL; valid 12h):\n", url, issuer.URL())
	var tokens []graphiql.Token
	for _, c := range creds {
		fmt.Fprintf(stdout, "  %-34s %s\n", c.name+":", c.token)
		tokens = append(tokens, graphiql.Token{Name: c.name, Token: c.token})
	}
	fmt.Fprintf(stdout, "\nMore tokens: curl -d role=admin -d tenant=<tenant-id> -d sub=<external-id> %s/token (%s/ lists the demo tenants)\n", issuer.URL(), issuer.URL())
	fmt.Fprintln(stdout, "Ctrl-C stops the gateway and removes the throwaway database.")
	return serve(ctx, cfg, ln, log, g, app{metrics: mln, devIdP: issuer.Handler(), tracer: tracer,
		gi: graphiql.Options{Endpoint: "/graphql", Tokens: tokens, Title: "Portal gateway (dev)",
			DefaultToken: tokens[0].Name, Tabs: graphiql.PortalTabs()}})
}

// cursorSealer seals cursors with CURSOR_SECRETS, or with a random key of
// this process when none are set (gateway dev; serve refuses to start).
func cursorSealer(cfg config.Config) (*page.Sealer, error) {
	if len(cfg.CursorSecrets) == 0 {
		return page.NewEphemeralSealer(), nil
	}
	s, err := page.NewSealer(cfg.CursorSecrets...)
	if err != nil {
		return nil, fmt.Errorf("config: CURSOR_SECRETS: %w", err)
	}
	return s, nil
}

type devCredential struct{ name, token string }

// devCredentials mints a token for each demo tenant's admin and provider
// (dev IdP users of the demo data) and for an internal service account, and
// lists the demo tenants on the issuer's index page.
func devCredentials(issuer *dev.Issuer, demo *seed.DemoData) ([]devCredential, error) {
	const ttl = 12 * time.Hour
	var out []devCredential
	add := func(name string, c dev.Claims) error {
		tok, err := issuer.Mint(c, ttl)
		out = append(out, devCredential{name, tok})
		return err
	}
	for _, t := range demo.Tenants {
		issuer.AddTenant(dev.Tenant{Name: t.Name, ID: t.ID,
			Subjects: map[access.Role]string{access.RoleAdmin: t.Admin.ExternalID, access.RoleProvider: t.Provider.ExternalID}})
		for _, u := range []struct {
			role access.Role
			user seed.DemoUser
		}{{access.RoleAdmin, t.Admin}, {access.RoleProvider, t.Provider}} {
			if err := add(string(u.role)+", "+t.Name, dev.Claims{Subject: u.user.ExternalID, TenantID: t.ID, Role: u.role,
				Email: u.user.Email, Name: u.user.FullName}); err != nil {
				return nil, err
			}
		}
	}
	if err := add("internal service account", dev.Claims{Subject: "dev-service-account", Role: access.RoleInternal, Client: dev.ServiceClient}); err != nil {
		return nil, err
	}
	return out, nil
}

// databases are the connection pools of one process: main holds every
// context but perhaps comms, which COMMS_DATABASE_URL may move to a
// database of its own (comms is then another pool; else main).
type databases struct {
	main, comms *sqlx.DB
}

// all is each pool once, main first.
func (d databases) all() []*sqlx.DB {
	if d.comms == nil || d.comms == d.main {
		return []*sqlx.DB{d.main}
	}
	return []*sqlx.DB{d.main, d.comms}
}

// openDatabases opens DATABASE_URL and, when COMMS_DATABASE_URL names
// another database, that one; closeAll closes what was opened.
func openDatabases(ctx context.Context, cfg config.Config, o postgres.Options) (d databases, closeAll func(), err error) {
	if d.main, err = postgres.Open(ctx, cfg.DatabaseURL, o); err != nil {
		return d, nil, err
	}
	d.comms = d.main
	if cfg.CommsURL() != cfg.DatabaseURL {
		if d.comms, err = postgres.Open(ctx, cfg.CommsURL(), o); err != nil {
			_ = d.main.Close()
			return d, nil, fmt.Errorf("comms database: %w", err)
		}
	}
	return d, func() {
		for _, db := range d.all() {
			_ = db.Close()
		}
	}, nil
}

// migrateAll applies fn (postgres.Migrate, MigrateDown) to the main
// database and, when comms has its own, to that one too. Migrations are
// one goose set for every schema, so the comms database gets all of them:
// its other schemas stay empty.
func migrateAll(ctx context.Context, d databases, fn func(context.Context, *sql.DB) error) error {
	for i, db := range d.all() {
		if err := fn(ctx, db.DB); err != nil {
			if i > 0 {
				return fmt.Errorf("comms database: %w", err)
			}
			return err
		}
	}
	return nil
}

// gateway is every store and service of one process, each built once from
// the stores it needs.
type gateway struct {
	dbs      databases
	stores   loader.Stores
	verifier *auth.Verifier    // the trusted IdPs' tokens
	identity *identity.Service // changes identities at the IdPs (Start runs its workers)
	erasure  *privacy.Service
	live     *live.Hub                // identitySyncChanged's fan-out (Listen runs its listener)
	webhooks *webhook.Handler         // the trusted IdPs' webhooks
	schema   graphql.ExecutableSchema // the GraphQL schema and its resolvers
}

// build makes the process's stores and services over dbs for the trusted
// IdPs adapters. reconcileShare is the share of each admin quota that
// reconciliation uses; 0 turns it off.
func build(cfg config.Config, dbs databases, adapters []idp.Config, getenv func(string) string, log *slog.Logger,
	cursors *page.Sealer, reconcileShare float64) (*gateway, error) {
	g := &gateway{dbs: dbs, stores: loader.Stores{
		Directory:   directory.NewStore(dbs.main),
		Comms:       comms.NewStore(dbs.comms),
		Property:    property.NewStore(dbs.main),
		Bookkeeping: bookkeeping.NewStore(dbs.main),
	}}
	var err error
	if g.verifier, err = auth.New(adapters, g.stores.Directory, auth.Options{Log: log}); err != nil {
		return nil, err
	}
	ads, err := providers.NewAdmins(adapters, nil)
	if err != nil {
		return nil, err
	}
	g.identity = identity.New(dbs.main, g.stores.Directory, g.stores.Comms, ads, identity.Options{Log: log,
		Workers: cfg.IdentityWorkers, PhoneRegion: cfg.PhoneRegion, InteractiveWait: cfg.IdentityWait,
		Reconcile: identity.ReconcileOptions{Share: reconcileShare}})
	g.erasure = &privacy.Service{DB: dbs.main, CommsDB: dbs.comms, Identity: g.identity}
	g.live = live.New(dbs.main, live.Options{MaxSubscriptions: cfg.MaxSubscriptions, Log: log})
	// An IdP's deletion of an identity erases its user as the API does.
	if g.webhooks, err = webhook.New(adapters, getenv, privacy.Changes{Erasure: g.erasure, Directory: g.stores.Directory}, log); err != nil {
		return nil, err
	}
	g.schema = graph.NewSchema(&graph.Resolver{
		Directory: g.stores.Directory, Comms: g.stores.Comms, Property: g.stores.Property, Bookkeeping: g.stores.Bookkeeping,
		MaxPage: cfg.MaxPageSize, Cursors: cursors, Identity: g.identity, Erasure: g.erasure, PhoneRegion: cfg.PhoneRegion,
		Live: g.live,
	})
	return g, nil
}

func runServe(ctx context.Context, e env, migrate bool) error {
	cfg, getenv, log, tracer, stdout := e.cfg, e.getenv, e.log, e.tracer, e.stdout
	if cfg.DatabaseURL == "" {
		return errors.New("serve needs DATABASE_URL")
	}
	if cfg.IdPConfig == "" {
		return errors.New("serve needs IDP_CONFIG: the YAML file of the IdP adapters whose tokens it accepts")
	}
	adapters, err := providers.LoadFile(cfg.IdPConfig, getenv)
	if err != nil {
		return err
	}
	for _, a := range adapters {
		if a.Kind == idp.KindDev {
			return fmt.Errorf("idp %q: kind: dev is for gateway dev only; serve never trusts the dev IdP", a.ID)
		}
	}
	if len(cfg.CursorSecrets) == 0 {
		return errors.New("serve needs CURSOR_SECRETS: a secret of at least 32 bytes (e.g. openssl rand -base64 32), the same on every replica, that pagination cursors are sealed with")
	}
	cursors, err := cursorSealer(cfg)
	if err != nil {
		return err
	}
	dbs, closeDBs, err := openDatabases(ctx, cfg, postgres.Options{MaxOpenConns: cfg.DBMaxConns, Traced: cfg.Tracing()})
	if err != nil {
		return err
	}
	defer closeDBs()
	g, err := build(cfg, dbs, adapters, getenv, log, cursors, cfg.ReconcileShare)
	if err != nil {
		return err
	}
	listenCtx, stopListening := context.WithCancel(ctx) // an erasure ends access on every replica at once
	defer stopListening()
	g.verifier.ListenForErasures(listenCtx, cfg.DatabaseURL)
	g.live.Listen(listenCtx, cfg.DatabaseURL) // identity change statuses, from whichever replica applied them
	if migrate {
		if err := migrateAll(ctx, dbs, postgres.Migrate); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return err
	}
	mln, err := listenMetrics(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "GraphQL: http://%s/graphql\n", ln.Addr())
	return serve(ctx, cfg, ln, log, g, app{metrics: mln, tracer: tracer, gi: graphiql.Options{Endpoint: "/graphql", Title: "Portal gateway"}})
}

// webhookPruneEvery is how often serve prunes webhook event ids older than
// WEBHOOK_EVENT_RETENTION (and once at start).
const webhookPruneEvery = time.Hour

// listenMetrics opens METRICS_ADDR, when set, before the gateway says it is
// ready, so /metrics answers from the moment the GraphQL address is printed.
func listenMetrics(cfg config.Config) (net.Listener, error) {
	if cfg.MetricsAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: %w", err)
	}
	return ln, nil
}

// app is what serve adds to the gateway's services: its listeners, pages
// and IdPs.
type app struct {
	metrics net.Listener         // METRICS_ADDR's; nil: /metrics has no listener of its own
	devIdP  http.Handler         // gateway dev only
	gi      graphiql.Options     // the GraphiQL page, when GRAPHIQL serves it
	tracer  trace.TracerProvider // nil: tracing is off
}

func serve(ctx context.Context, cfg config.Config, ln net.Listener, log *slog.Logger, g *gateway, a app) error {
	tuneGC(cfg, log)
	// The workers outlive the HTTP server's shutdown, so the changes of the
	// last requests are still taken; a job in flight at Stop is released
	// for the next process.
	g.identity.Start(context.WithoutCancel(ctx))
	defer g.identity.Stop()
	// Webhook event ids are forgotten once no replay window admits them.
	pruneCtx, stopPrune := context.WithCancel(ctx)
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		webhook.PruneEvents(pruneCtx, g.stores.Directory, cfg.WebhookEventRetention, webhookPruneEvery, log)
	}()
	defer func() { stopPrune(); <-pruned }()
	limits, err := httpserver.LimitsFrom(cfg)
	if err != nil {
		return err
	}
	var gi *graphiql.Options
	if cfg.GraphiQL {
		gi = &a.gi
	}
	srv := &http.Server{
		Handler: httpserver.New(httpserver.Deps{
			Log: log, DBs: g.dbs.all(), Schema: g.schema, Stores: g.stores, Authenticator: g.verifier,
			MaxPageSize: cfg.MaxPageSize, GraphiQL: gi, GraphQLGet: cfg.GraphQLGet, DevIdP: a.devIdP,
			Webhooks: g.webhooks,
			Limits:   limits, RequestTimeout: cfg.RequestTimeout, CORSAllowedOrigins: cfg.CORSAllowedOrigins,
			Subscriptions: httpserver.Subscriptions{PerConnection: cfg.SubscriptionsPerConnection, KeepAlive: cfg.SubscriptionKeepAlive},
			MetricsOnMain: cfg.MetricsOnMain, Tracer: a.tracer,
			Admission: httpserver.Admission{MaxConcurrent: cfg.MaxConcurrentRequests, Queue: cfg.AdmissionQueue, Wait: cfg.AdmissionWait},
		}),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       120 * time.Second,
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if a.metrics != nil {
		msrv := &http.Server{Handler: metrics.Handler(), ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout}
		defer msrv.Close()
		go func() { errc <- msrv.Serve(a.metrics) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// runMigrate runs migrate up, down or status (parseCommandLine checked op).
func runMigrate(ctx context.Context, e env, op string) error {
	cfg, stdout := e.cfg, e.stdout
	if cfg.DatabaseURL == "" {
		return errors.New("migrate needs DATABASE_URL")
	}
	dbs, closeDBs, err := openDatabases(ctx, cfg, postgres.Options{MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer closeDBs()
	switch op {
	case "up":
		err = migrateAll(ctx, dbs, postgres.Migrate)
	case "down":
		err = migrateAll(ctx, dbs, postgres.MigrateDown)
	case "status":
		return migrationStatus(ctx, dbs, stdout)
	}
	if err == nil {
		fmt.Fprintln(stdout, "migrate "+op+": done")
	}
	return err
}

// migrationStatus lists the migrations of each database, under a heading
// naming it when comms has its own.
func migrationStatus(ctx context.Context, dbs databases, stdout io.Writer) error {
	all := dbs.all()
	for i, db := range all {
		if len(all) > 1 {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintln(stdout, []string{"main database (DATABASE_URL):", "comms database (COMMS_DATABASE_URL):"}[i])
		}
		if err := postgres.MigrationStatus(ctx, db.DB, stdout); err != nil {
			return err
		}
	}
	return nil
}

func runSeed(ctx context.Context, e env, demo bool, o seed.BulkOptions) error {
	cfg, stdout := e.cfg, e.stdout
	if cfg.DatabaseURL == "" {
		return errors.New("seed needs DATABASE_URL")
	}
	if cfg.CommsURL() != cfg.DatabaseURL {
		// Its statements join comms rows to directory and property rows.
		return errors.New("seed writes every context, comms too, into DATABASE_URL: unset COMMS_DATABASE_URL to seed")
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxOpenConns: 4})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db.DB); err != nil {
		return err
	}
	if demo {
		_, err := seed.Demo(ctx, db)
		return err
	}
	start := time.Now()
	res, err := seed.Bulk(ctx, db, o, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d tenants in %s\n", len(res.TenantIDs), time.Since(start).Round(time.Second))
	return nil
}
