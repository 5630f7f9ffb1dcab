package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/seed"
)

const usage = `usage: gateway <command> [flags]

The portal's GraphQL API gateway. Build the binary with
  go build -o gateway ./cmd/gateway
or run it from the repository with go run ./cmd/gateway <command>.

commands:
  dev                      run the demo: a throwaway PostgreSQL (unless DATABASE_URL is set),
                           demo data, GraphQL at /graphql and GraphiQL at /
  serve [-migrate]         run against DATABASE_URL
  migrate up|down|status   apply, roll back one, or list the migrations on DATABASE_URL
  seed [flags]             fill DATABASE_URL with bulk benchmark data
  idp migrate -from A -to B [-tenant T] [-dry-run]
                           move the users of IdP adapter A to adapter B, keeping their ids
                           (docs/idp-migration.md)
  help [command]           this text, or a command's (as gateway <command> -h)

environment (the main settings; every setting, with its default, is in docs/configuration.md):
  DATABASE_URL        PostgreSQL URL of the main database; serve, migrate, seed and idp migrate need it,
                      dev starts a throwaway PostgreSQL when it is unset
  COMMS_DATABASE_URL  a database of its own for the comms context (default: DATABASE_URL)
  IDP_CONFIG          YAML file of the IdP adapters whose tokens are accepted; serve and idp migrate need it
  CURSOR_SECRETS      comma-separated secrets (32 bytes or more each) that pagination cursors
                      are sealed with; serve needs it, dev makes a random one
  LISTEN_ADDR         where serve listens (default :8080; dev takes -addr)
`

// commands are the gateway's commands by name.
var commands = map[string]command{
	"dev": {
		usage: `usage: gateway dev [-addr host:port]

Runs the demo: starts a throwaway PostgreSQL in a temporary directory (unless
DATABASE_URL is set: then that database is used, and seeded when empty),
applies the migrations, seeds the demo data, starts the dev IdP and prints
the GraphQL and GraphiQL URLs and a dev token per demo user. Ctrl-C (or
SIGTERM) stops it and removes the throwaway database; so does the gateway's
death by any other means. IDP_CONFIG, when set, adds those IdPs.
`,
		flags: func(fs *flag.FlagSet) runner {
			addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
			return func(ctx context.Context, e env) error { return runDev(ctx, e.withConfig(e.cfg.ForDev()), *addr) }
		},
	},
	"serve": {
		usage: `usage: gateway serve [-migrate]

Serves GraphQL on LISTEN_ADDR from DATABASE_URL, accepting the tokens of the
IdPs in IDP_CONFIG only. Needs DATABASE_URL, IDP_CONFIG and CURSOR_SECRETS;
every other setting is in docs/configuration.md.
`,
		flags: func(fs *flag.FlagSet) runner {
			migrate := fs.Bool("migrate", false, "apply pending migrations before serving")
			return func(ctx context.Context, e env) error { return runServe(ctx, e, *migrate) }
		},
	},
	"migrate": {
		usage: `usage: gateway migrate up|down|status

  up      apply every pending migration
  down    roll back the newest applied migration
  status  list the migrations and whether each is applied

on DATABASE_URL, and on COMMS_DATABASE_URL too when it names another database.
`,
		args: func(rest []string) error {
			if len(rest) != 1 || (rest[0] != "up" && rest[0] != "down" && rest[0] != "status") {
				return usageError{"usage: gateway migrate up|down|status"}
			}
			return nil
		},
		flags: func(fs *flag.FlagSet) runner {
			return func(ctx context.Context, e env) error { return runMigrate(ctx, e, fs.Arg(0)) }
		},
	},
	"seed": {
		usage: `usage: gateway seed [flags]

Fills DATABASE_URL (migrated first) with bulk benchmark data, or with the
demo data (-demo). COMMS_DATABASE_URL must be unset.
`,
		flags: func(fs *flag.FlagSet) runner {
			demo := fs.Bool("demo", false, "seed the demo data instead of bulk data")
			var o seed.BulkOptions
			fs.IntVar(&o.Tenants, "tenants", 10, "tenants")
			fs.IntVar(&o.Users, "users", 1_000_000, "users")
			fs.IntVar(&o.Buildings, "buildings", 100_000, "buildings")
			fs.IntVar(&o.Contacts, "contacts", 500_000, "contacts")
			fs.IntVar(&o.Invoices, "invoices", 10_000_000, "invoices")
			fs.Float64Var(&o.AcmeShare, "acme-share", 0.05, "share of users at acme.com")
			idps := fs.String("idps", "auth0-prod,keycloak-default,entra-corp,dev", "IdP ids, comma-separated")
			return func(ctx context.Context, e env) error {
				o.IdPs = strings.Split(*idps, ",")
				return runSeed(ctx, e, *demo, o)
			}
		},
	},
	"idp migrate": {
		usage: `usage: gateway idp migrate -from A -to B [-tenant T] [-dry-run] [-progress 5s]

Moves every user of IdP adapter A (of tenant T only, with -tenant) to adapter
B, keeping their ids (docs/idp-migration.md): finds each user's identity at B
by verified email through B's admin API, or invites one there, and re-points
the user. Every call goes through the identity outbox, within B's quota.
Needs DATABASE_URL and IDP_CONFIG, as serve does; B must list A under
migrate_from (its grace applies) and have an admin section that can find and
invite users. Prints progress every -progress and a summary; neither holds
personal data. Ctrl-C (or SIGTERM) stops it cleanly: run the same command to
resume. Repeating a finished run changes nothing it did. -dry-run reports
what a run would do and calls nothing, writes nothing.

exit codes:
  0  finished (or -dry-run reported): every user done or skipped (erased)
  1  an error: configuration, the database
  2  a usage error
  3  finished, but some users failed and stay on A (see the summary's reasons)
  4  stopped by a signal before it finished: run the same command to resume
`,
		flags: func(fs *flag.FlagSet) runner {
			var o migrateFlags
			fs.StringVar(&o.from, "from", "", "the source IdP adapter's id (required)")
			fs.StringVar(&o.to, "to", "", "the target IdP adapter's id (required)")
			fs.StringVar(&o.tenant, "tenant", "", "move the users of this tenant (a UUID) only; default: every tenant")
			fs.BoolVar(&o.dryRun, "dry-run", false, "report what would happen; call and write nothing")
			fs.DurationVar(&o.every, "progress", 5*time.Second, "how often to print progress")
			return func(ctx context.Context, e env) error { return runIdPMigrate(ctx, e, o) }
		},
	},
}

// command is one of the gateway's commands.
type command struct {
	usage string // its help text, before its flags
	// flags defines the command's flags on fs and returns what runs it
	// once they are parsed.
	flags func(fs *flag.FlagSet) runner
	// args checks the arguments after the flags; nil: there are none.
	args func(rest []string) error
}

// runner runs a command whose command line is parsed.
type runner func(ctx context.Context, e env) error

// env is what every command runs with: the settings and the process's
// logger, tracer and standard output.
type env struct {
	cfg    config.Config
	getenv func(string) string
	log    *slog.Logger
	tracer trace.TracerProvider
	stdout io.Writer
}

func (e env) withConfig(cfg config.Config) env { e.cfg = cfg; return e }

// usageError is a mistake in the command line; the process exits with 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// parseCommandLine parses args, before any setting is read: it returns
// the command to run, or nil and nil when help was asked for (and
// printed), or a usageError.
func parseCommandLine(args []string, stdout io.Writer) (runner, error) {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil, usageError{"no command"}
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			fmt.Fprint(stdout, usage)
			return nil, nil
		}
		name, rest = rest[0], append(rest[1:], "-h")
	}
	// Commands of two words (idp migrate).
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		if _, ok := commands[name+" "+rest[0]]; ok {
			name, rest = name+" "+rest[0], rest[1:]
		}
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprint(stdout, usage)
		return nil, usageError{fmt.Sprintf("unknown command %q", name)}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	r := cmd.flags(fs)
	fs.Usage = func() {
		fmt.Fprint(stdout, cmd.usage)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(stdout, "\nflags:")
			fs.PrintDefaults()
		}
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil
		}
		return nil, usageError{err.Error()}
	}
	check := cmd.args
	if check == nil {
		check = func(rest []string) error {
			if len(rest) > 0 {
				return usageError{fmt.Sprintf("gateway %s takes no arguments, got %q", name, rest[0])}
			}
			return nil
		}
	}
	if err := check(fs.Args()); err != nil {
		fs.Usage()
		return nil, err
	}
	return r, nil
}
