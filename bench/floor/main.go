// Command floor is the latency floor of bench/run.sh: an HTTP server that
// answers every request with the gateway's answer to { __typename } from
// memory, with no GraphQL, middleware or SQL. Driven by the same wrk
// settings as the gateway, its p99/p50 is what the machine (two cores
// shared by the server, wrk and PostgreSQL) adds to any server's tail.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("floor: http://%s/graphql\n", ln.Addr())
	answer := []byte(`{"data":{"__typename":"Query"}}`)
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
