// Package seed fills a database with demo or benchmark data: Demo writes a
// small, realistic, deterministic data set for `gateway dev` and tests, and
// Bulk generates millions of rows set-based for benchmarks (`gateway seed`).
// It is never for production data: every name, address, email and phone
// number it writes is made up.
//
// Unlike the context stores, seed writes to every schema (directory, property,
// comms, bookkeeping): it stands in for the users of all of them at once.
package seed

import (
	"fmt"

	"github.com/google/uuid"
)

var (
	// demoNamespace derives the fixed ids of the demo data.
	demoNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/propertyportal/gateway/internal/seed/demo"))
	// benchNamespace derives the ids of the benchmark tenants.
	benchNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/propertyportal/gateway/internal/seed/bench"))
)

// demoID is the fixed id of the demo row of kind named key.
func demoID(kind, key string) uuid.UUID {
	return uuid.NewSHA1(demoNamespace, []byte(kind+":"+key))
}

// BenchTenantID returns the id Bulk gives its n-th tenant (1-based):
// uuid.NewSHA1 of "bench-tenant-N", the same on every database.
func BenchTenantID(n int) uuid.UUID {
	return uuid.NewSHA1(benchNamespace, []byte(fmt.Sprintf("bench-tenant-%d", n)))
}
