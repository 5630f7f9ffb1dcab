// Package identity changes identities at their IdPs, durably and within
// each IdP's quota. A change is written to a transactional outbox
// (identity.outbox) in the same transaction as the comms change it comes
// with (with comms in a database of its own, a transaction there that
// commits just before), and applied by workers through the IdP's admin adapter: in the
// order it was made for each user, interactive changes before background
// work, within a rate shared by every gateway process on the database
// (identity.rate_slots) and paced by the 429s the IdP answers, retried with
// jittered backoff that honours Retry-After and X-RateLimit-Reset, and
// ended FAILED with a safe reason when the IdP refuses it for good. A write
// whose outcome is unknown is read back before anything newer is sent. The
// directory cache follows only what the IdP is seen to hold. Migrations
// between IdP adapters (migration.go) move users to another IdP through the
// same outbox, re-pointing each through directory.Repoint. This package
// writes SQL against the identity schema only; directory and comms rows
// change through their stores. It never logs PII.
package identity

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp/providers"
)

// SyncStatus is where a change to an identity stands.
type SyncStatus string

// The statuses of a change.
const (
	Applied SyncStatus = "APPLIED" // the IdP accepted it (or nothing needed to change)
	Pending SyncStatus = "PENDING" // queued or being retried
	Failed  SyncStatus = "FAILED"  // the IdP refused it for good
)

// Sync is the status of the latest change to a user's identity.
type Sync struct {
	Status    SyncStatus
	Attempts  int        // calls made so far
	NextTryAt *time.Time // PENDING: when the next attempt is due
	Reason    *string    // PENDING after an error, FAILED: why, safe to show
}

// Result is what an identity mutation returns: the user (its cache still
// holds what the IdP last accepted), the linked contact (nil when there is
// none) and the status of the change at the IdP.
type Result struct {
	User    *directory.User
	Contact *comms.Contact
	Sync    Sync
}

// Priority orders work: interactive changes go before background work.
type Priority int

// The priorities.
const (
	Interactive Priority = 0
	Background  Priority = 1
)

// Options tune the workers; zero values take the defaults.
type Options struct {
	Workers         int           // per process; default config.DefaultIdentityWorkers
	PollInterval    time.Duration // how often an idle worker looks for work; default 250ms
	BackoffBase     time.Duration // the first retry delay; default 1s, doubled per attempt
	BackoffMax      time.Duration // the cap on a retry delay; default 5m
	MaxAttempts     int           // 0: retry until the IdP accepts or refuses for good
	RateGuard       float64       // extra spacing between calls, as a share of 1/rate; default 0.1
	InteractiveWait time.Duration // how long a mutation waits for its change to apply before answering PENDING; default 0
	RecordTimeout   time.Duration // how long recording a call's outcome may take; default 10s
	// Settle is how long after the gateway gave up on a write (no answer:
	// a timeout, a reset) the IdP may still apply it; default 30s. Until
	// then nothing newer is sent for that user.
	Settle time.Duration
	// PhoneRegion is the region a profile's phone number without a country
	// code is read in; config.DefaultPhoneRegion when empty.
	PhoneRegion string
	Log         *slog.Logger
	// Reconcile re-reads users from their IdPs in the background; off
	// unless Reconcile.Share is set.
	Reconcile ReconcileOptions
}

func (o *Options) defaults() {
	if o.PhoneRegion == "" {
		o.PhoneRegion = config.DefaultPhoneRegion
	}
	if o.Workers == 0 {
		o.Workers = config.DefaultIdentityWorkers
	}
	if o.PollInterval == 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.BackoffBase == 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = 5 * time.Minute
	}
	if o.RecordTimeout == 0 {
		o.RecordTimeout = 10 * time.Second
	}
	if o.Settle == 0 {
		o.Settle = 30 * time.Second
	}
	if o.RateGuard == 0 {
		o.RateGuard = 0.1
	}
	if o.Reconcile.MinAge == 0 {
		o.Reconcile.MinAge = time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Service takes identity changes (the mutations, QueueDeletion) and applies
// them through the admin adapters with its workers.
type Service struct {
	db       *sqlx.DB
	dir      *directory.Store
	comms    *comms.Store
	adapters map[string]providers.Admin
	opts     Options
	wake     chan struct{}

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New makes a service applying changes through adapters, keyed by IdP id.
// db holds the identity schema (the outbox) and the directory, which dir
// is a store over: a change is queued in the same transaction that locks
// its user. cm is the comms store, over db or over comms' own database
// (see UpdateMyProfile for what that changes). Call Start to run its
// workers.
func New(db *sqlx.DB, dir *directory.Store, cm *comms.Store, adapters map[string]providers.Admin, opts Options) *Service {
	opts.defaults()
	return &Service{
		db: db, dir: dir, comms: cm,
		adapters: adapters, opts: opts, wake: make(chan struct{}, 1),
	}
}

// Start runs the workers (and the reconcilers, when configured) until ctx ends or Stop is called. Calling Start
// twice without Stop does nothing.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.work(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.observeOutbox(ctx, 15*time.Second)
	}()
	if s.opts.Reconcile.Share > 0 {
		for id := range s.adapters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.reconcile(ctx, id, s.opts.Reconcile)
			}()
		}
	}
	go func() {
		wg.Wait()
		close(s.done)
	}()
}

// Stop ends the workers and waits for them. A job in flight is released
// for the next worker, in this process or another.
func (s *Service) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// notify wakes an idle worker of this process.
func (s *Service) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
