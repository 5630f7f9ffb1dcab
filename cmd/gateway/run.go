package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/httpserver/graphiql"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/metrics"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/property"
	"github.com/propertyportal/gateway/internal/seed"
	"github.com/propertyportal/gateway/internal/telemetry"
)

const usage = `usage: gateway <command> [flags]

commands:
  dev                      run the demo: a throwaway PostgreSQL (unless DATABASE_URL is set),
                           demo data, GraphQL at /graphql and GraphiQL at /
  serve [-migrate]         run against DATABASE_URL
  migrate up|down|status   apply, roll back one, or list the migrations on DATABASE_URL
  seed [flags]             fill DATABASE_URL with bulk benchmark data (seed -h for flags)
`

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return errors.New("no command")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, os.Stderr)
	stopTracing, err := telemetry.Setup(ctx, cfg.OTLPEndpoint, cfg.ServiceName)
	if err != nil {
		return err
	}
	defer func() { _ = stopTracing(context.Background()) }()
	switch args[0] {
	case "dev":
		return runDev(ctx, cfg.ForDev(), args[1:], log, stdout)
	case "serve":
		return runServe(ctx, cfg, args[1:], log, stdout)
	case "migrate":
		return runMigrate(ctx, cfg, args[1:], stdout)
	case "seed":
		return runSeed(ctx, cfg, args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stdout, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func runDev(ctx context.Context, cfg config.Config, args []string, log *slog.Logger, stdout io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
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
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxOpenConns: cfg.DBMaxConns})
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
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	headers := devHeaders(demo)
	fmt.Fprintf(stdout, "\nGraphiQL: %s/\nGraphQL:  %s/graphql\n\nDev credentials (Authorization header values; also one click away in GraphiQL):\n", url, url)
	var tokens []graphiql.Token
	for _, h := range headers {
		fmt.Fprintf(stdout, "  %-34s %s\n", h.name+":", h.value)
		tokens = append(tokens, graphiql.Token{Name: h.name, Token: h.value})
	}
	fmt.Fprintln(stdout, "\nCtrl-C stops the gateway and removes the throwaway database.")
	return serve(ctx, cfg, ln, log, []*sqlx.DB{db}, stores(db, db), auth.Dev{}, graphiql.Options{Endpoint: "/graphql", Tokens: tokens, Title: "Portal gateway (dev)"})
}

type devHeader struct{ name, value string }

func devHeaders(demo *seed.DemoData) []devHeader {
	var out []devHeader
	for _, t := range demo.Tenants {
		out = append(out,
			devHeader{"admin, " + t.Name, auth.DevHeader(access.Scope{Role: access.RoleAdmin, TenantID: t.ID, UserID: t.Admin.ID})},
			devHeader{"provider, " + t.Name, auth.DevHeader(access.Scope{Role: access.RoleProvider, TenantID: t.ID, UserID: t.Provider.ID})})
	}
	out = append(out, devHeader{"internal service account", auth.DevHeader(access.Scope{Role: access.RoleInternal, TenantID: uuid.Nil})})
	return out
}

func stores(db, commsDB *sqlx.DB) loader.Stores {
	return loader.Stores{
		Directory:   directory.NewStore(db),
		Comms:       comms.NewStore(commsDB),
		Property:    property.NewStore(db),
		Bookkeeping: bookkeeping.NewStore(db),
	}
}

func runServe(ctx context.Context, cfg config.Config, args []string, log *slog.Logger, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	migrate := fs.Bool("migrate", false, "apply pending migrations before serving")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return errors.New("serve needs DATABASE_URL")
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxOpenConns: cfg.DBMaxConns})
	if err != nil {
		return err
	}
	defer db.Close()
	commsDB := db
	if cfg.CommsURL() != cfg.DatabaseURL {
		if commsDB, err = postgres.Open(ctx, cfg.CommsURL(), postgres.Options{MaxOpenConns: cfg.DBMaxConns}); err != nil {
			return err
		}
		defer commsDB.Close()
	}
	if *migrate {
		if err := postgres.Migrate(ctx, db.DB); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "GraphQL: http://%s/graphql\n", ln.Addr())
	// No authenticator yet: token verification comes with the IdP adapters,
	// and the dev authenticator is never enabled here.
	return serve(ctx, cfg, ln, log, []*sqlx.DB{db, commsDB}, stores(db, commsDB), nil, graphiql.Options{Endpoint: "/graphql", Title: "Portal gateway"})
}

func serve(ctx context.Context, cfg config.Config, ln net.Listener, log *slog.Logger, dbs []*sqlx.DB, st loader.Stores, a auth.Authenticator, gi graphiql.Options) error {
	limits, err := httpserver.LimitsFrom(cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: httpserver.New(httpserver.Deps{
			Log: log, DBs: dbs, Stores: st, Authenticator: a,
			MaxPageSize: cfg.MaxPageSize, LoaderWait: cfg.LoaderWait, GraphiQL: gi,
			Limits: limits, RequestTimeout: cfg.RequestTimeout, CORSAllowedOrigins: cfg.CORSAllowedOrigins,
			MetricsOnMain: cfg.MetricsAddr == "",
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("METRICS_ADDR: %w", err)
		}
		msrv := &http.Server{Handler: metrics.Handler(), ReadHeaderTimeout: 10 * time.Second}
		defer msrv.Close()
		go func() { errc <- msrv.Serve(mln) }()
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

func runMigrate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: gateway migrate up|down|status")
	}
	if cfg.DatabaseURL == "" {
		return errors.New("migrate needs DATABASE_URL")
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "up":
		err = postgres.Migrate(ctx, db.DB)
	case "down":
		err = postgres.MigrateDown(ctx, db.DB)
	case "status":
		return postgres.MigrationStatus(ctx, db.DB, stdout)
	default:
		return errors.New("usage: gateway migrate up|down|status")
	}
	if err == nil {
		fmt.Fprintln(stdout, "migrate "+args[0]+": done")
	}
	return err
}

func runSeed(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stdout)
	demo := fs.Bool("demo", false, "seed the demo data instead of bulk data")
	var o seed.BulkOptions
	fs.IntVar(&o.Tenants, "tenants", 10, "tenants")
	fs.IntVar(&o.Users, "users", 1_000_000, "users")
	fs.IntVar(&o.Buildings, "buildings", 100_000, "buildings")
	fs.IntVar(&o.Contacts, "contacts", 500_000, "contacts")
	fs.IntVar(&o.Invoices, "invoices", 10_000_000, "invoices")
	fs.Float64Var(&o.AcmeShare, "acme-share", 0.05, "share of users at acme.com")
	idps := fs.String("idps", "auth0-prod,keycloak-default,entra-corp,dev", "IdP ids, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.IdPs = strings.Split(*idps, ",")
	if cfg.DatabaseURL == "" {
		return errors.New("seed needs DATABASE_URL")
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxOpenConns: 4})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db.DB); err != nil {
		return err
	}
	if *demo {
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
