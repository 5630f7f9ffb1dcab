package identity

import (
	"context"
	"time"

	"github.com/propertyportal/gateway/internal/metrics"
)

// Backlog is an IdP adapter's unfinished changes: how many, and the age of
// the oldest (zero when there are none).
type Backlog struct {
	Depth  int
	Oldest time.Duration
}

// outboxDepth is the unfinished work of one IdP adapter.
type outboxDepth struct {
	IdPID  string  `db:"idp_id"`
	Depth  int     `db:"depth"`
	Oldest float64 `db:"oldest_seconds"`
}

// Backlogs returns, per IdP adapter with an admin API, how many changes
// are unfinished and the age of the oldest (zero for an idle adapter).
func (s *Service) Backlogs(ctx context.Context) (map[string]Backlog, error) {
	var rows []outboxDepth
	err := s.db.SelectContext(ctx, &rows, `
		SELECT idp_id, count(*) AS depth, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS oldest_seconds
		FROM identity.outbox WHERE state IN ('pending', 'running') GROUP BY idp_id`)
	if err != nil {
		return nil, err
	}
	out := map[string]Backlog{}
	for id := range s.adapters {
		out[id] = Backlog{}
	}
	for _, r := range rows {
		out[r.IdPID] = Backlog{Depth: r.Depth, Oldest: time.Duration(r.Oldest * float64(time.Second))}
	}
	return out, nil
}

// observeOutbox reports the outbox's depth and age to the metrics every
// interval until ctx ends.
func (s *Service) observeOutbox(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if d, err := s.Backlogs(ctx); err == nil {
			for id, v := range d {
				metrics.SetOutbox(id, v.Depth, v.Oldest)
			}
		} else if ctx.Err() == nil {
			s.opts.Log.Warn("identity outbox: depth not read", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
