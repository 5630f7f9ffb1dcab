package webhook

import (
	"context"
	"log/slog"
	"time"
)

// Pruner forgets webhook event ids received before a time;
// *directory.Store is the one.
type Pruner interface {
	PruneWebhookEvents(ctx context.Context, before time.Time) (int64, error)
}

// PruneEvents forgets, at once and then every interval until ctx ends, the
// event ids received longer than retention ago. The retention must outlast
// every adapter's replay window, or a redelivery the window still admits
// would be applied again. A failed prune is logged and retried at the next
// tick; the log carries counts and errors only.
func PruneEvents(ctx context.Context, p Pruner, retention, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := p.PruneWebhookEvents(ctx, time.Now().Add(-retention))
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.ErrorContext(ctx, "webhook: prune event ids", "error", err.Error())
		case n > 0:
			log.InfoContext(ctx, "webhook: pruned event ids", "count", n, "retention", retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
