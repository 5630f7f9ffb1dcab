package httpserver

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/propertyportal/gateway/internal/apperr"
)

// outage follows whether the database answers, from the requests that use
// it, and logs each change of state once: an ERROR when it goes away, an
// INFO when it is back. A request that meets the outage answers
// UNAVAILABLE and logs nothing of its own.
type outage struct {
	log    *slog.Logger
	down   atomic.Bool
	downAt atomic.Int64 // when it went down, in Unix nanoseconds
}

// seen records err when it is an outage (apperr.Unavailable) and reports
// whether it was one; the request's mark is set for after.
func (o *outage) seen(ctx context.Context, err error) bool {
	if apperr.KindOf(err) != apperr.Unavailable {
		return false
	}
	if m, ok := ctx.Value(outageMarkKey{}).(*atomic.Bool); ok {
		m.Store(true)
	}
	if o.down.CompareAndSwap(false, true) {
		o.downAt.Store(time.Now().UnixNano())
		o.log.ErrorContext(ctx, "database unavailable", "error", err.Error())
	}
	return true
}

// answered records a request that sent statements and met no outage: the
// database is up, unless the request started before the outage was seen
// (its statements may have run before), which would flap the state.
func (o *outage) answered(ctx context.Context, started time.Time) {
	if !o.down.Load() || started.UnixNano() <= o.downAt.Load() {
		return
	}
	if o.down.CompareAndSwap(true, false) {
		o.log.InfoContext(ctx, "database available again")
	}
}

type outageMarkKey struct{}

// withOutageMark gives the request a mark that seen sets.
func withOutageMark(ctx context.Context) (context.Context, *atomic.Bool) {
	m := new(atomic.Bool)
	return context.WithValue(ctx, outageMarkKey{}, m), m
}
