package main

import (
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/propertyportal/gateway/internal/config"
)

// restoreGC puts the test process's collector back as it was.
func restoreGC(t *testing.T) {
	percent := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(math.MaxInt64) // no limit; a negative one only reads it
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
}

func unsetenv(t *testing.T, key string) {
	if v, ok := os.LookupEnv(key); ok {
		t.Cleanup(func() { os.Setenv(key, v) })
		os.Unsetenv(key)
	}
}

func TestCollectorDefaults(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Run("Default", func(t *testing.T) {
		restoreGC(t)
		unsetenv(t, "GOGC")
		unsetenv(t, "GOMEMLIMIT")
		tuneGC(config.Config{MaxConcurrentRequests: 40}, log)
		if got := debug.SetGCPercent(100); got != gcPercent {
			t.Errorf("GC percent %d, want %d", got, gcPercent)
		}
		if got, want := debug.SetMemoryLimit(-1), int64(104<<20); got != want {
			t.Errorf("memory limit %d MiB, want %d MiB", got>>20, want>>20)
		}
	})
	for name, env := range map[string][2]string{"GOGC": {"GOGC", "150"}, "GOMEMLIMIT": {"GOMEMLIMIT", "1GiB"}} {
		t.Run("Operator"+name, func(t *testing.T) {
			restoreGC(t)
			t.Setenv(env[0], env[1])
			tuneGC(config.Config{MaxConcurrentRequests: 40}, log)
			if got := debug.SetGCPercent(100); got != 100 {
				t.Errorf("with %s set the GC percent became %d", env[0], got)
			}
		})
	}
	t.Run("Unbounded", func(t *testing.T) {
		restoreGC(t)
		unsetenv(t, "GOGC")
		unsetenv(t, "GOMEMLIMIT")
		tuneGC(config.Config{MaxConcurrentRequests: 0}, log)
		if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
			t.Errorf("no bound on requests, yet a memory limit of %d MiB", got>>20)
		}
	})
}
