package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/providers"
	"github.com/propertyportal/gateway/internal/postgres"
)

// migrateFlags are the command line of gateway idp migrate.
type migrateFlags struct {
	from, to, tenant string
	dryRun           bool
	every            time.Duration
}

// The exit codes of gateway idp migrate beyond 0, 1 and 2 (its usage).
const (
	exitMigrationFailures = 3 // finished, with users that failed
	exitMigrationStopped  = 4 // stopped by a signal: resumable
)

// exitError ends the process with code, after its message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// runIdPMigrate runs gateway idp migrate: it checks the pair against
// IDP_CONFIG, then dry-runs, or starts or resumes the run and applies it
// with the target's outbox workers in this process.
func runIdPMigrate(ctx context.Context, e env, o migrateFlags) error {
	cfg, stdout := e.cfg, e.stdout
	if o.from == "" || o.to == "" {
		return usageError{"usage: gateway idp migrate -from A -to B [-tenant T] [-dry-run]: -from and -to are required"}
	}
	var tenant *uuid.UUID
	if o.tenant != "" {
		t, err := uuid.Parse(o.tenant)
		if err != nil {
			return usageError{"gateway idp migrate: -tenant must be a tenant id (a UUID)"}
		}
		tenant = &t
	}
	if o.every <= 0 {
		return usageError{"gateway idp migrate: -progress must be positive"}
	}
	if cfg.DatabaseURL == "" {
		return errors.New("idp migrate needs DATABASE_URL")
	}
	if cfg.IdPConfig == "" {
		return errors.New("idp migrate needs IDP_CONFIG: the YAML file of the IdP adapters, as serve uses it")
	}
	adapters, err := providers.LoadFile(cfg.IdPConfig, e.getenv)
	if err != nil {
		return err
	}
	if err := idp.CheckMigrations(adapters); err != nil {
		return err
	}
	target, grace, err := migrationTarget(adapters, o.from, o.to)
	if err != nil {
		return err
	}
	ads, err := providers.NewAdmins([]idp.Config{target}, nil)
	if err != nil {
		return err
	}
	if ads[o.to].Inviter == nil {
		return fmt.Errorf("idp %q: kind %q cannot find and invite users, so it cannot be a migration's target", o.to, target.Kind)
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxOpenConns: cfg.IdentityWorkers + 4})
	if err != nil {
		return err
	}
	defer db.Close()
	svc := identity.New(db, directory.NewStore(db), comms.NewStore(db), ads, identity.Options{Log: e.log,
		Workers: cfg.IdentityWorkers, PhoneRegion: cfg.PhoneRegion})
	plan := identity.MigrationPlan{From: o.from, To: o.to, Tenant: tenant, Grace: grace}
	if o.dryRun {
		d, err := svc.DryRunMigration(ctx, plan)
		if err != nil {
			return err
		}
		printDryRun(stdout, plan, d, svc)
		return nil
	}
	svc.Start(ctx)
	defer svc.Stop()
	m, resumed, started, err := svc.StartMigration(ctx, plan)
	if err != nil {
		return err
	}
	if !started {
		if m == nil {
			fmt.Fprintf(stdout, "nothing to migrate: %s has no users to move\n", scopeOf(plan))
			return nil
		}
		fmt.Fprintf(stdout, "nothing to migrate: %s has no users left to move; the last run:\n", scopeOf(plan))
		printSummary(stdout, m)
		return nil
	}
	verb := "started"
	if resumed {
		verb = "resumed"
	}
	fmt.Fprintf(stdout, "migration %s %s: %s, %d users (%d done, %d failed, %d skipped so far), grace %s\n",
		m.ID, verb, scopeOf(plan), m.Total, m.Done, m.Failed, m.Skipped, m.Grace)
	m, err = svc.RunMigration(ctx, m.ID, identity.RunOptions{Every: o.every, Progress: func(m *identity.Migration) {
		printProgress(stdout, m, svc)
	}})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stdout, "stopped before the migration finished; nothing is lost: run the same command to resume\n")
			return exitError{code: exitMigrationStopped, msg: "idp migrate: stopped by a signal; run the same command to resume"}
		}
		return err
	}
	printSummary(stdout, m)
	if m.Failed > 0 {
		return exitError{code: exitMigrationFailures,
			msg: fmt.Sprintf("idp migrate: %d users failed and stay on %s (see docs/idp-migration.md for each reason)", m.Failed, m.FromIdP)}
	}
	return nil
}

// migrationTarget returns the target's configuration and the grace its
// migrate_from gives the source; an error says what to configure.
func migrationTarget(adapters []idp.Config, from, to string) (idp.Config, time.Duration, error) {
	var target *idp.Config
	source := false
	for i := range adapters {
		switch adapters[i].ID {
		case to:
			target = &adapters[i]
		case from:
			source = true
		}
	}
	switch {
	case from == to:
		return idp.Config{}, 0, usageError{"gateway idp migrate: -from and -to must name two different adapters"}
	case !source:
		return idp.Config{}, 0, fmt.Errorf("idp migrate: -from %q is not an adapter of IDP_CONFIG", from)
	case target == nil:
		return idp.Config{}, 0, fmt.Errorf("idp migrate: -to %q is not an adapter of IDP_CONFIG", to)
	case target.Admin == nil:
		return idp.Config{}, 0, fmt.Errorf("idp %q: admin: required to migrate users to it (the admin API finds and invites them)", to)
	}
	mf, ok := target.MigrateFrom(from)
	if !ok {
		return idp.Config{}, 0, fmt.Errorf("idp %q: migrate_from: does not list %q; declare the pair (with its grace) on the target first", to, from)
	}
	return *target, time.Duration(mf.Grace), nil
}

func scopeOf(p identity.MigrationPlan) string {
	s := p.From + " -> " + p.To
	if p.Tenant != nil {
		return s + " (tenant " + p.Tenant.String() + ")"
	}
	return s + " (every tenant)"
}

func printDryRun(w io.Writer, p identity.MigrationPlan, d *identity.DryRun, svc *identity.Service) {
	fmt.Fprintf(w, "dry run: %s; nothing was called or written\n", scopeOf(p))
	if d.Resumes != nil {
		fmt.Fprintf(w, "  would resume migration %s (%d users already handled)\n", *d.Resumes, d.Handled)
	} else {
		fmt.Fprintln(w, "  would start a new migration")
	}
	fmt.Fprintf(w, "  users to migrate:  %d\n  skipped (erased):  %d\n", d.ToMigrate, d.Erased)
	n := 0
	for _, c := range d.Conflicts {
		n += c.Count
	}
	fmt.Fprintf(w, "  conflicts known locally: %d\n", n)
	for _, c := range d.Conflicts {
		fmt.Fprintf(w, "    %-22s %d\n", c.Reason, c.Count)
	}
	fmt.Fprintf(w, "  calls to %s: at most %d (%d per user); %s at its quota of %g requests/s\n",
		p.To, d.MaxCalls, svc.CallsPerUser(p.To), about(d.Duration), svc.RequestsPerSecond(p.To))
}

func printProgress(w io.Writer, m *identity.Migration, svc *identity.Service) {
	fmt.Fprintf(w, "progress: %d done, %d failed, %d skipped, %d remaining of %d; %s left at the quota\n",
		m.Done, m.Failed, m.Skipped, m.Remaining, m.Total, about(svc.AtQuota(m.ToIdP, m.Remaining)))
}

// about is d for a person: "about 3m20s", "under a second".
func about(d time.Duration) string {
	if d < time.Second {
		return "under a second"
	}
	return "about " + d.Round(time.Second).String()
}

func printSummary(w io.Writer, m *identity.Migration) {
	state := "finished"
	if m.State != identity.MigrationFinished {
		state = "unfinished"
	}
	took := ""
	if m.FinishedAt != nil {
		took = " in " + m.FinishedAt.Sub(m.StartedAt).Round(time.Second).String()
	}
	fmt.Fprintf(w, "migration %s %s%s: %s -> %s\n", m.ID, state, took, m.FromIdP, m.ToIdP)
	fmt.Fprintf(w, "  users:   %d\n  done:    %d\n  failed:  %d\n  skipped: %d (erased)\n", m.Total, m.Done, m.Failed, m.Skipped)
	if m.Remaining > 0 {
		fmt.Fprintf(w, "  remaining: %d\n", m.Remaining)
	}
	if len(m.Failures) > 0 {
		fmt.Fprintln(w, "  failed by reason (docs/idp-migration.md says what to do about each):")
		for _, f := range m.Failures {
			fmt.Fprintf(w, "    %-22s %d\n", f.Reason, f.Count)
		}
	}
}
