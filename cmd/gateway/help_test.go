package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpNeedsNoSettings: every help form prints its usage and succeeds
// with an empty environment (no DATABASE_URL, no IdPs), and asks nothing
// of a database.
func TestHelpNeedsNoSettings(t *testing.T) {
	top := []string{"usage: gateway <command>", "go build -o gateway ./cmd/gateway",
		"dev", "serve", "migrate up|down|status", "seed", "idp migrate -from A -to B",
		"DATABASE_URL", "COMMS_DATABASE_URL", "IDP_CONFIG", "CURSOR_SECRETS", "LISTEN_ADDR", "docs/configuration.md"}
	for name, tc := range map[string]struct {
		args []string
		want []string
	}{
		"Help":           {[]string{"help"}, top},
		"DashH":          {[]string{"-h"}, top},
		"DashDashHelp":   {[]string{"--help"}, top},
		"HelpDev":        {[]string{"help", "dev"}, []string{"usage: gateway dev", "-addr"}},
		"DevDashH":       {[]string{"dev", "-h"}, []string{"usage: gateway dev", "-addr", "127.0.0.1:8080"}},
		"DevHelp":        {[]string{"dev", "--help"}, []string{"usage: gateway dev", "-addr"}},
		"ServeDashH":     {[]string{"serve", "-h"}, []string{"usage: gateway serve", "-migrate", "DATABASE_URL", "IDP_CONFIG", "CURSOR_SECRETS"}},
		"ServeHelp":      {[]string{"serve", "--help"}, []string{"usage: gateway serve", "-migrate"}},
		"MigrateDashH":   {[]string{"migrate", "-h"}, []string{"usage: gateway migrate up|down|status", "up", "down", "status", "DATABASE_URL"}},
		"MigrateHelp":    {[]string{"migrate", "--help"}, []string{"usage: gateway migrate up|down|status"}},
		"SeedDashH":      {[]string{"seed", "-h"}, []string{"usage: gateway seed", "-demo", "-tenants", "-idps", "DATABASE_URL"}},
		"SeedHelp":       {[]string{"seed", "--help"}, []string{"usage: gateway seed", "-demo"}},
		"HelpAfterFlags": {[]string{"seed", "-tenants", "3", "-h"}, []string{"usage: gateway seed"}},
		"HelpIdPMigrate": {[]string{"help", "idp", "migrate"}, []string{"usage: gateway idp migrate", "-from", "-to", "-tenant", "-dry-run", "exit codes"}},
		"IdPMigrateDashH": {[]string{"idp", "migrate", "-h"}, []string{"usage: gateway idp migrate", "DATABASE_URL", "IDP_CONFIG",
			"run the same command to resume"}},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			asked := map[string]bool{}
			err := run(context.Background(), tc.args, func(k string) string { asked[k] = true; return "" }, &out)
			if err != nil {
				t.Fatalf("gateway %s: err = %v (exit code %d), want nil (0)\n%s", strings.Join(tc.args, " "), err, exitCode(err), out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("gateway %s: usage lacks %q:\n%s", strings.Join(tc.args, " "), w, out.String())
				}
			}
			if asked["DATABASE_URL"] {
				t.Errorf("gateway %s read its settings", strings.Join(tc.args, " "))
			}
		})
	}
}

// TestUsageErrorsFail: no command, an unknown one, an unknown flag and a
// bad migrate argument print the usage and fail with exit code 2, before
// any setting is read.
func TestUsageErrorsFail(t *testing.T) {
	for name, args := range map[string][]string{
		"NoCommand":       nil,
		"UnknownCommand":  {"launch"},
		"UnknownFlag":     {"dev", "-port", "1"},
		"MigrateNoArg":    {"migrate"},
		"MigrateSideways": {"migrate", "sideways"},
		"HelpUnknown":     {"help", "launch"},
		"IdPNoSubcommand": {"idp"},
		"IdPMigrateArg":   {"idp", "migrate", "-from", "a", "-to", "b", "now"},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), args, func(string) string { return "" }, &out)
			if err == nil || exitCode(err) != 2 {
				t.Fatalf("gateway %s: err = %v (exit code %d), want a usage error (2)", strings.Join(args, " "), err, exitCode(err))
			}
			if !strings.Contains(out.String(), "usage: gateway") {
				t.Errorf("gateway %s printed no usage:\n%s", strings.Join(args, " "), out.String())
			}
		})
	}
}
