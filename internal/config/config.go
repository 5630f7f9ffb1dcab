// Package config is the gateway's configuration: one struct with defaults,
// loaded from the environment and validated before anything starts.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the gateway. The README lists each with its
// environment variable and default.
type Config struct {
	DatabaseURL      string        // DATABASE_URL: PostgreSQL for every context
	CommsDatabaseURL string        // COMMS_DATABASE_URL: comms' own database; DATABASE_URL when empty
	ListenAddr       string        // LISTEN_ADDR
	MaxPageSize      int           // MAX_PAGE_SIZE: the cap on `first`
	LoaderWait       time.Duration // LOADER_WAIT: how long a dataloader collects keys
	DBMaxConns       int           // DB_MAX_CONNS: the connection pool size per database
	ShutdownTimeout  time.Duration // SHUTDOWN_TIMEOUT: how long in-flight requests get on stop
	LogLevel         string        // LOG_LEVEL: debug, info, warn or error
	IdPConfig        string        // IDP_CONFIG: path of the IdP adapters' YAML file
	PhoneRegion      string        // PHONE_DEFAULT_REGION: the region of phone numbers without a country code
	IdentityWorkers  int           // IDENTITY_WORKERS: outbox workers per process
	IdentityWait     time.Duration // IDENTITY_WAIT: how long an identity mutation waits for the IdP before answering PENDING
	ReconcileShare   float64       // RECONCILE_SHARE: the share of each IdP's admin quota reconciliation may use; 0 turns it off
}

// Default returns the defaults.
func Default() Config {
	return Config{
		ListenAddr:      ":8080",
		MaxPageSize:     100,
		LoaderWait:      2 * time.Millisecond,
		DBMaxConns:      20,
		ShutdownTimeout: 15 * time.Second,
		LogLevel:        "info",
		PhoneRegion:     "DE",
		IdentityWorkers: 4,
		IdentityWait:    2 * time.Second,
		ReconcileShare:  0.1,
	}
}

// Load reads the environment through getenv over the defaults. A bad value
// is an error naming the variable.
func Load(getenv func(string) string) (Config, error) {
	c := Default()
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	str("DATABASE_URL", &c.DatabaseURL)
	str("COMMS_DATABASE_URL", &c.CommsDatabaseURL)
	str("LISTEN_ADDR", &c.ListenAddr)
	str("LOG_LEVEL", &c.LogLevel)
	str("IDP_CONFIG", &c.IdPConfig)
	str("PHONE_DEFAULT_REGION", &c.PhoneRegion)
	for name, dst := range map[string]*int{"MAX_PAGE_SIZE": &c.MaxPageSize, "DB_MAX_CONNS": &c.DBMaxConns, "IDENTITY_WORKERS": &c.IdentityWorkers} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return c, fmt.Errorf("config: %s must be a positive integer", name)
			}
			*dst = n
		}
	}
	for name, dst := range map[string]*time.Duration{"LOADER_WAIT": &c.LoaderWait, "SHUTDOWN_TIMEOUT": &c.ShutdownTimeout, "IDENTITY_WAIT": &c.IdentityWait} {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return c, fmt.Errorf("config: %s must be a duration such as 2ms or 15s", name)
			}
			*dst = d
		}
	}
	if v := getenv("RECONCILE_SHARE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return c, fmt.Errorf("config: RECONCILE_SHARE must be a number from 0 to 1, e.g. 0.1")
		}
		c.ReconcileShare = f
	}
	if len(c.PhoneRegion) != 2 || strings.ToUpper(c.PhoneRegion) != c.PhoneRegion {
		return c, fmt.Errorf("config: PHONE_DEFAULT_REGION must be a two-letter region code such as DE")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("config: LOG_LEVEL must be debug, info, warn or error")
	}
	return c, nil
}

// CommsURL returns the comms database URL.
func (c Config) CommsURL() string {
	if c.CommsDatabaseURL != "" {
		return c.CommsDatabaseURL
	}
	return c.DatabaseURL
}
