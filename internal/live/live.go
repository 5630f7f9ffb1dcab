// Package live pushes the status of identity changes to the subscribers of
// identitySyncChanged as it moves from PENDING to APPLIED or FAILED,
// whichever replica's worker moved it. It owns one LISTEN connection per
// process (lib/pq's Listener) on two channels: IdentityChangeChannel, which
// migration 00038's trigger on identity.outbox notifies from the
// transaction that changes a change's state (so at its commit, never for a
// rollback), and the erasure channel, which ends an erased user's
// subscriptions. A notice carries ids and a state only; each is read again
// from the database (one statement) before it is sent, so a subscriber
// gets the committed status, and only of the changes it may see.
//
// It reads the identity outbox and the directory's users (their tenant),
// and writes nothing. It never logs or sends PII: an event is ids and a
// status whose reason is safe to show.
package live

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/metrics"
	"github.com/propertyportal/gateway/internal/postgres"
)

// IdentityChangeChannel is the channel migration 00038's trigger notifies,
// with {"id", "user_id", "state"}, when an identity change's state changes.
const IdentityChangeChannel = "gateway_identity_change"

// ErasureChannel is migration 00035's channel: a user's id, at the commit
// of the user's erasure.
const ErasureChannel = "gateway_user_erased"

// Event is where one identity change stands, as a subscriber may see it.
// The last event of a subscription that the gateway ends has End set: the
// subscription ends with that error (an expired token, an erased user).
type Event struct {
	ChangeID int64
	UserID   uuid.UUID
	TenantID uuid.UUID
	Sync     identity.Sync
	End      error
}

// ID is the change's id as the API shows it; End, when the event ends the
// subscription: the error it ends with.
func (e *Event) ID() (string, error) {
	if e.End != nil {
		return "", e.End
	}
	return strconv.FormatInt(e.ChangeID, 10), nil
}

// The errors a subscription ends with, or is refused with.
var (
	ErrExpired = apperr.E(apperr.Unauthenticated, "the token has expired: subscribe again with a new one")
	ErrErased  = apperr.E(apperr.Unauthenticated, "the signed-in user was erased")
	ErrBehind  = apperr.E(apperr.RateLimited, "the subscriber fell too far behind its events: subscribe again")
	errStopped = apperr.E(apperr.Unavailable, "live updates are unavailable: the gateway is not listening for them")
	errNoUser  = apperr.E(apperr.Forbidden, "only a signed-in user, an admin or an internal service account may subscribe")
)

// Options bound a Hub; zero values take the defaults.
type Options struct {
	// MaxSubscriptions bounds the subscriptions open at once in the
	// process (MAX_SUBSCRIPTIONS); 0: no bound.
	MaxSubscriptions int
	// Log receives the listener's state; never PII.
	Log *slog.Logger
	// MinReconnect and MaxReconnect are the listener's backoff; 100 ms
	// and 10 s when zero.
	MinReconnect, MaxReconnect time.Duration
}

// Hub is the process's fan-out of identity change events. It is safe for
// concurrent use.
type Hub struct {
	db   *sqlx.DB
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	subs    map[*sub]struct{}
	started bool      // Listen was called and has not stopped
	down    time.Time // when the connection was lost; zero while it is up
}

// New returns a hub over db, the main database (identity.outbox and
// directory.users live there). It serves no subscriber before Listen.
func New(db *sqlx.DB, o Options) *Hub {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MinReconnect <= 0 {
		o.MinReconnect = 100 * time.Millisecond
	}
	if o.MaxReconnect <= 0 {
		o.MaxReconnect = 10 * time.Second
	}
	return &Hub{db: db, opts: o, log: o.Log, subs: map[*sub]struct{}{}}
}

// sub is one subscription.
type sub struct {
	scope access.Scope
	mu    sync.Mutex
	queue []Event       // events to send, in order
	wake  chan struct{} // signalled when queue grows; capacity 1
	stop  chan struct{} // closed to end the subscription with err
	once  sync.Once
	err   error
}

func (s *sub) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.stop)
	})
}

// readTimeout bounds the read of a new subscription's pending changes:
// a subscription runs under no request deadline.
const readTimeout = 5 * time.Second

// maxQueued is how many events a subscription holds for a client slower
// than its events; beyond them it ends (ErrBehind) rather than lose one.
const maxQueued = 1000

// push queues evs, or reports false when the queue would hold too many.
func (s *sub) push(evs []Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue)+len(evs) > maxQueued {
		return false
	}
	s.queue = append(s.queue, evs...)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// take empties the queue.
func (s *sub) take() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// Listen runs the hub's listener on its own connection to dsn until ctx is
// done, in the background. While the connection is lost, notices are lost
// too: when it is back, every subscriber gets the current status of each
// of its changes that is pending, or that finished from a minute before
// the loss on (a status it already has may come twice; never an older one
// after a newer), and the subscriptions of users erased meanwhile end. A LISTEN the server refuses stops the hub, logged: every
// subscription then ends UNAVAILABLE and new ones are refused. The channel
// it returns is closed when the listener has stopped.
func (h *Hub) Listen(ctx context.Context, dsn string) (stopped <-chan struct{}) {
	h.mu.Lock()
	h.started = true
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := h.listen(ctx, dsn)
		h.mu.Lock()
		h.started = false
		for s := range h.subs {
			s.end(errStopped)
		}
		h.mu.Unlock()
		if err != nil {
			h.log.ErrorContext(ctx, "identity change listener stopped: subscriptions are refused", "error", err.Error())
		}
	}()
	return done
}

func (h *Hub) listen(ctx context.Context, dsn string) error {
	l := pq.NewDialListener(keepAliveDialer{}, dsn, h.opts.MinReconnect, h.opts.MaxReconnect, h.listenerEvent)
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer func() {
		stop()
		_ = l.Close()
		go func() {
			for range l.Notify {
			}
		}()
	}()
	for _, ch := range []string{IdentityChangeChannel, ErasureChannel} {
		if err := l.Listen(ch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("listen for identity changes: %w", err)
		}
	}
	// Subscriptions may have opened before the first LISTEN: what they
	// missed comes now.
	h.resync(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-l.Notify:
			if !ok {
				return nil
			}
			if n == nil { // reconnected (pq LISTENed again): notices may have been lost meanwhile
				h.resync(ctx)
				continue
			}
			h.notice(ctx, n)
		}
	}
}

// listenerEvent follows the listener's connection: its loss is noted, so
// that the resync after it reads what finished meanwhile.
func (h *Hub) listenerEvent(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
		h.mu.Lock()
		first := h.down.IsZero()
		if first {
			h.down = time.Now()
		}
		h.mu.Unlock()
		if first {
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			h.log.Warn("identity change listener down: subscribers get a resync when it is back", "event", ev.String(), "error", msg)
		}
	case pq.ListenerEventReconnected:
		h.log.Info("identity change listener up again")
	}
}

// notice handles one notification.
func (h *Hub) notice(ctx context.Context, n *pq.Notification) {
	if n.Channel == ErasureChannel {
		if id, err := uuid.Parse(n.Extra); err == nil {
			h.endUsers([]uuid.UUID{id})
		}
		return
	}
	var p struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(n.Extra), &p); err != nil || p.ID == 0 {
		h.log.WarnContext(ctx, "identity change notice without a change id", "channel", n.Channel)
		return
	}
	if h.idle() {
		return
	}
	evs, err := h.read(ctx, `o.id = $1`, p.ID)
	if err != nil {
		h.log.ErrorContext(ctx, "identity change not read: its subscribers miss it", "change_id", p.ID, "error", err.Error())
		return
	}
	h.fanOut(evs, nil)
}

// resync sends every subscriber the current status of its pending changes
// and of those that finished since shortly before the connection was lost,
// and ends the subscriptions of users erased meanwhile: two statements.
func (h *Hub) resync(ctx context.Context) {
	h.mu.Lock()
	since := h.down.Add(-time.Minute)
	if h.down.IsZero() {
		since = time.Now().Add(-time.Minute)
	}
	h.down = time.Time{}
	var users []uuid.UUID
	for s := range h.subs {
		if s.scope.UserID != uuid.Nil {
			users = append(users, s.scope.UserID)
		}
	}
	h.mu.Unlock()
	if h.idle() {
		return
	}
	evs, err := h.read(ctx, `(o.state IN ('pending', 'running') OR o.finished_at >= $1)`, since)
	var erased []uuid.UUID
	if err == nil && len(users) > 0 {
		err = h.db.SelectContext(ctx, &erased, `SELECT id FROM directory.users WHERE id = ANY($1) AND erased_at IS NOT NULL`, pq.Array(users))
		err = postgres.Translate(err, "read erased subscribers")
	}
	if err != nil {
		h.log.ErrorContext(ctx, "identity changes not read after the listener reconnected: subscriptions end", "error", err.Error())
		h.mu.Lock()
		for s := range h.subs {
			s.end(errStopped)
		}
		h.mu.Unlock()
		return
	}
	h.fanOut(evs, nil)
	if len(erased) > 0 {
		h.endUsers(erased)
	}
}

// endUsers ends the subscriptions of the erased users ids.
func (h *Hub) endUsers(ids []uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if slices.Contains(ids, s.scope.UserID) {
			s.end(ErrErased)
		}
	}
}

func (h *Hub) idle() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) == 0
}

// read returns the changes where cond (on o, the outbox) holds, with the
// tenant of each change's user: one statement. Only updates are read:
// a deletion belongs to an erasure, which ends the user's subscriptions.
func (h *Hub) read(ctx context.Context, cond string, arg any) ([]Event, error) {
	var rows []struct {
		ID        int64     `db:"id"`
		UserID    uuid.UUID `db:"user_id"`
		TenantID  uuid.UUID `db:"tenant_id"`
		State     string    `db:"state"`
		Attempts  int       `db:"attempts"`
		NextTryAt time.Time `db:"next_try_at"`
		Reason    *string   `db:"reason"`
	}
	err := h.db.SelectContext(ctx, &rows, `SELECT o.id, o.user_id, u.tenant_id, o.state, o.attempts, o.next_try_at, o.reason
		FROM identity.outbox o JOIN directory.users u ON u.id = o.user_id
		WHERE o.op = 'update' AND `+cond+` ORDER BY o.id`, arg)
	if err != nil {
		return nil, postgres.Translate(err, "read identity changes")
	}
	evs := make([]Event, len(rows))
	for i, r := range rows {
		evs[i] = Event{ChangeID: r.ID, UserID: r.UserID, TenantID: r.TenantID, Sync: syncOf(r.State, r.Attempts, r.NextTryAt, r.Reason)}
	}
	return evs, nil
}

// syncOf is the status a client sees of a change in state, as
// identity.Service shows it in the mutations' payload.
func syncOf(state string, attempts int, next time.Time, reason *string) identity.Sync {
	switch state {
	case "applied":
		return identity.Sync{Status: identity.Applied, Attempts: attempts}
	case "failed", "cancelled": // cancelled: the user was erased first
		return identity.Sync{Status: identity.Failed, Attempts: attempts, Reason: reason}
	default:
		return identity.Sync{Status: identity.Pending, Attempts: attempts, NextTryAt: &next, Reason: reason}
	}
}

// fanOut hands each event to the subscriptions that may see it (only to
// to, when set).
func (h *Hub) fanOut(evs []Event, to *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if to != nil && s != to {
			continue
		}
		var seen []Event
		for _, ev := range evs {
			if Sees(s.scope, ev) {
				seen = append(seen, ev)
			}
		}
		if len(seen) > 0 && !s.push(seen) {
			s.end(ErrBehind)
		}
	}
}

// Sees reports whether sc may see ev: a signed-in provider its own
// changes, an admin those of its tenant's users, an internal service
// account every tenant's (it reads across tenants as everywhere else; an
// event holds ids and a status, no PII).
func Sees(sc access.Scope, ev Event) bool {
	switch sc.Role {
	case access.RoleInternal:
		return true
	case access.RoleAdmin:
		return sc.TenantID == ev.TenantID
	case access.RoleProvider:
		return sc.UserID != uuid.Nil && sc.UserID == ev.UserID && sc.TenantID == ev.TenantID
	}
	return false
}

// Subscribe opens a subscription for sc: the events of the changes sc may
// see (Sees), from now until ctx is done, the token's end that
// WithExpiry put in ctx (the last event then ends it with ErrExpired), or
// the user's erasure (ErrErased). It first sends the current status of
// each of those changes that is pending, so a change made just before
// subscribing is not missed. It is refused FORBIDDEN for a provider
// without a user, RATE_LIMITED beyond MaxSubscriptions or the connection's
// bound (WithConnection), UNAVAILABLE when the hub is not listening.
func (h *Hub) Subscribe(ctx context.Context, sc access.Scope) (<-chan *Event, error) {
	if !sc.Role.Valid() || (sc.Role == access.RoleProvider && sc.UserID == uuid.Nil) {
		return nil, errNoUser
	}
	until, _ := ctx.Value(expiryKey{}).(time.Time)
	if !until.IsZero() && !time.Now().Before(until) { // a WebSocket signed in with a token since expired
		return nil, ErrExpired
	}
	c, _ := ctx.Value(connKey{}).(*connection)
	if c != nil {
		if c.n.Add(1) > c.max {
			c.n.Add(-1)
			return nil, apperr.E(apperr.RateLimited, "too many subscriptions on this connection (at most %d)", c.max)
		}
	}
	release := func() {
		if c != nil {
			c.n.Add(-1)
		}
	}
	s := &sub{scope: sc, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	h.mu.Lock()
	switch {
	case !h.started:
		h.mu.Unlock()
		release()
		return nil, errStopped
	case h.opts.MaxSubscriptions > 0 && len(h.subs) >= h.opts.MaxSubscriptions:
		h.mu.Unlock()
		release()
		return nil, apperr.E(apperr.RateLimited, "too many subscriptions on this gateway: retry later")
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	metrics.SubscriptionsOpen(1)

	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	pending, err := h.read(rctx, `o.state IN ('pending', 'running') AND `+scopeCond(sc), scopeArg(sc))
	cancel()
	if err != nil {
		h.remove(s)
		release()
		return nil, err
	}
	h.fanOut(pending, s)

	out := make(chan *Event)
	go func() {
		defer close(out)
		defer release()
		defer h.remove(s)
		var expired <-chan time.Time
		if !until.IsZero() {
			t := time.NewTimer(time.Until(until))
			defer t.Stop()
			expired = t.C
		}
		// What was sent of each change: an older status never follows a
		// newer one (a resync may read a change before an event of it).
		type sent struct {
			attempts int
			final    bool // APPLIED or FAILED: never PENDING again
		}
		last := map[int64]sent{}
		send := func(ev Event) bool {
			select {
			case out <- &ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		// deliver sends ev unless it is older than what was sent of its
		// change; false when the client has gone.
		deliver := func(ev Event) bool {
			was, ok := last[ev.ChangeID]
			pending := ev.Sync.Status == identity.Pending
			if ok && (was.final || ev.Sync.Attempts < was.attempts) && pending {
				return true
			}
			last[ev.ChangeID] = sent{attempts: ev.Sync.Attempts, final: !pending}
			return send(ev)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-expired:
				send(Event{End: ErrExpired})
				return
			case <-s.stop:
				if s.err != ErrBehind { // what came before the end goes first
					for _, ev := range s.take() {
						if !deliver(ev) {
							return
						}
					}
				}
				send(Event{End: s.err})
				return
			case <-s.wake:
				for _, ev := range s.take() {
					if !deliver(ev) {
						return
					}
				}
			}
		}
	}()
	return out, nil
}

// scopeCond narrows the outbox read of Subscribe to what sc sees; its
// argument is scopeArg(sc).
func scopeCond(sc access.Scope) string {
	switch sc.Role {
	case access.RoleInternal:
		return `$1::uuid IS NULL`
	case access.RoleAdmin:
		return `u.tenant_id = $1`
	default:
		return `o.user_id = $1`
	}
}

func scopeArg(sc access.Scope) any {
	switch sc.Role {
	case access.RoleInternal:
		return nil
	case access.RoleAdmin:
		return sc.TenantID
	default:
		return sc.UserID
	}
}

func (h *Hub) remove(s *sub) {
	h.mu.Lock()
	_, ok := h.subs[s]
	delete(h.subs, s)
	h.mu.Unlock()
	if ok {
		metrics.SubscriptionsOpen(-1)
	}
}

type connKey struct{}

// connection counts the subscriptions of one connection.
type connection struct {
	n   atomic.Int32
	max int32
}

// WithConnection returns a context for the operations of one connection
// (a WebSocket), on which Subscribe opens at most max subscriptions at
// once; no bound when max is 0.
func WithConnection(ctx context.Context, max int) context.Context {
	if max <= 0 {
		return ctx
	}
	return context.WithValue(ctx, connKey{}, &connection{max: int32(max)})
}

type expiryKey struct{}

// WithExpiry returns a context whose subscriptions end at until, when the
// credential they were opened with is refused (its exp); zero: never.
func WithExpiry(ctx context.Context, until time.Time) context.Context {
	return context.WithValue(ctx, expiryKey{}, until)
}

// keepAliveDialer finds a connection lost without a word in about 20 s
// while the listener is idle (as internal/auth's erasure listener does).
type keepAliveDialer struct{}

var dialer = net.Dialer{Timeout: 10 * time.Second,
	KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 5 * time.Second, Count: 3}}

func (keepAliveDialer) Dial(network, address string) (net.Conn, error) {
	return dialer.Dial(network, address)
}

func (keepAliveDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	d := dialer
	d.Timeout = timeout
	return d.Dial(network, address)
}
