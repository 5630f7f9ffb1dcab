package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/propertyportal/gateway/internal/config"
)

// The collector's defaults for a gateway. A read allocates a great deal
// that lives only until its answer is written, so Go's default (collect
// when the heap has doubled) collects often for little: at full scale the
// collector was a fifth of Q1's CPU and a third of Q3's (bench/README.md,
// "the wire's binary forms, and GC tuning"). A gateway lets the heap grow
// to five times what is live, and caps it with a soft limit sized by the
// requests that may execute at once, so memory stays bounded.
const (
	gcPercent = 400
	// gcBaseLimit is the heap of an idle gateway with room to spare;
	// gcPerRequest what one executing request may hold live (Q1, the
	// heaviest read, allocates 0.8 MB in all).
	gcBaseLimit  = 64 << 20
	gcPerRequest = 1 << 20
)

// tuneGC applies the collector's defaults unless GOGC or GOMEMLIMIT, Go's
// own settings, say otherwise. With MAX_CONCURRENT_REQUESTS=0 (no bound on
// executing requests) no limit can be sized, and Go's defaults stay.
func tuneGC(cfg config.Config, log *slog.Logger) {
	_, gogc := os.LookupEnv("GOGC")
	_, limit := os.LookupEnv("GOMEMLIMIT")
	if gogc || limit || cfg.MaxConcurrentRequests <= 0 {
		return
	}
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(memoryLimit(cfg.MaxConcurrentRequests))
	log.Debug("garbage collector", "gogc", gcPercent, "memory_limit_mib", memoryLimit(cfg.MaxConcurrentRequests)>>20)
}

// memoryLimit is the soft memory limit for n requests executing at once.
func memoryLimit(n int) int64 { return gcBaseLimit + int64(n)*gcPerRequest }
