// Command gateway is the portal's GraphQL API gateway.
//
//	gateway dev                     demo: throwaway PostgreSQL, demo data, GraphiQL
//	gateway serve [-migrate]        production: DATABASE_URL, verified tokens only
//	gateway migrate up|down|status  the embedded migrations
//	gateway seed [flags]            bulk data for benchmarks
//	gateway idp migrate -from A -to B   move the users of one IdP adapter to another
//	gateway help [command]          usage, as gateway <command> -h
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(gatewayMain(os.Args[1:])) }

// gatewayMain runs the gateway with args in this process and returns its
// exit code.
func gatewayMain(args []string) int {
	if len(args) > 0 && args[0] == "dev" {
		stopWithGoRun()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, args, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
	}
	return exitCode(err)
}

// exitCode is the process's exit status for what run returned.
func exitCode(err error) int {
	var u usageError
	var x exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		return 2 // as the flag package's
	case errors.As(err, &x):
		return x.code
	default:
		return 1
	}
}
