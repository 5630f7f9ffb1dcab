package identity

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/providers"
	"github.com/propertyportal/gateway/internal/postgres"
)

// ReconcileOptions tune reconciliation: re-reading users from their IdP,
// least recently synced first, to repair the cache where a webhook was
// missed. Zero Share turns it off.
type ReconcileOptions struct {
	// Share is the part of each adapter's rate reconciliation may use, e.g.
	// 0.1: at 2/s, one read every 5 s, across every process together.
	Share float64
	// MinAge: users synced more recently than this are left alone; default 1h.
	MinAge time.Duration
}

// reconcile re-reads the users of one IdP at its share of the rate.
func (s *Service) reconcile(ctx context.Context, idpID string, o ReconcileOptions) {
	ad := s.adapters[idpID]
	log := s.opts.Log.With("idp", idpID, "task", "reconcile")
	every := time.Duration(float64(time.Second) / (ad.RequestsPerSecond * min(o.Share, 1)) * (1 + s.opts.RateGuard))
	interval := time.Duration(float64(time.Second) / ad.RequestsPerSecond * (1 + s.opts.RateGuard))
	for ctx.Err() == nil {
		// The pace row is shared: all processes together read at the share.
		if _, err := s.waitSlot(ctx, "reconcile:"+idpID, every, nil, 0); err != nil {
			if ctx.Err() == nil {
				log.Error("reconcile: pace", "error", err.Error())
				sleep(ctx, time.Second)
			}
			continue
		}
		found, err := s.reconcileOne(ctx, idpID, ad, interval, o.MinAge)
		if !found && err == nil { // everyone is fresh: look again later
			sleep(ctx, min(o.MinAge/4, time.Minute))
		}
		if err != nil && ctx.Err() == nil {
			ae := idp.AsAdminError(err)
			log.Warn("reconcile: read failed", "kind", ae.Kind.String(), "status", ae.Status)
			if ae.Kind == idp.RateLimited && !ae.RetryAt.IsZero() {
				_ = s.holdSlots(context.WithoutCancel(ctx), idpID, ae.RetryAt)
			}
		}
	}
}

// reconcileOne re-reads the least recently synced user of idpID that has
// no change on its way (its cache will follow that change) and refreshes
// the cache, unless the user was synced meanwhile.
func (s *Service) reconcileOne(ctx context.Context, idpID string, ad providers.Admin, interval, minAge time.Duration) (found bool, err error) {
	users, err := s.dir.FindStalestUsers(ctx, idpID, time.Now().Add(-minAge), 20)
	if err != nil || len(users) == 0 {
		return false, err
	}
	for _, u := range users {
		pending, err := unfinished(ctx, s.db, u.ID)
		if err != nil {
			return true, err
		}
		if len(pending) > 0 {
			continue
		}
		if ok, err := s.claimReconcile(ctx, u.ID); err != nil || !ok {
			if err != nil {
				return true, err
			}
			continue
		}
		sl, err := s.waitSlot(ctx, idpID, interval, nil, 0)
		if err != nil {
			return true, err
		}
		var q idp.Quota
		p, err := ad.GetUser(idp.WithQuotaTrace(ctx, func(got idp.Quota) { q = got }), u.ExternalID)
		if perr := s.followPace(ctx, idpID, sl, err, q); perr != nil {
			return true, perr
		}
		if ae := idp.AsAdminError(err); err != nil && ae.Status == 404 {
			// Gone at the IdP: erasure's business, not the cache's. Mark
			// it seen so the reconciler moves on.
			_, err = s.dir.RefreshIdentity(ctx, u.ID, nil, nil, u.SyncedAt)
			s.opts.Log.Warn("reconcile: identity missing at its IdP", "idp", idpID, "user", u.ID.String())
			return true, err
		}
		if err != nil {
			return true, err
		}
		_, err = s.dir.RefreshIdentity(ctx, u.ID, p.Email, p.FullName, u.SyncedAt)
		return true, err
	}
	return false, nil
}

// claimReconcile claims user id for re-reading for a minute; false when
// another process holds it.
func (s *Service) claimReconcile(ctx context.Context, id uuid.UUID) (bool, error) {
	var got []uuid.UUID
	err := s.db.SelectContext(ctx, &got, `
		INSERT INTO identity.reconcile_claims AS c (user_id, until) VALUES ($1, now() + interval '1 minute')
		ON CONFLICT (user_id) DO UPDATE SET until = EXCLUDED.until WHERE c.until < now()
		RETURNING user_id`, id)
	if err != nil {
		return false, postgres.Translate(err, "claim user for reconciliation")
	}
	return len(got) == 1, nil
}

// ReconcileLag is, per IdP with an adapter, the age of its least recently
// synced user's cache: how far reconciliation is behind.
func (s *Service) ReconcileLag(ctx context.Context) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for id := range s.adapters {
		t, ok, err := s.dir.OldestSync(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			out[id] = time.Since(t)
		}
	}
	return out, nil
}

// Lag is how far one IdP's cache is behind.
type Lag struct {
	IdPID   string
	Seconds float64 // since its least recently synced user was synced
}

// SyncLag is ReconcileLag for an internal service account, sorted by IdP;
// Forbidden for anyone else.
func (s *Service) SyncLag(ctx context.Context, sc access.Scope) ([]*Lag, error) {
	if !sc.CrossTenant() {
		return nil, apperr.E(apperr.Forbidden, "only an internal service account may read the sync lag")
	}
	lags, err := s.ReconcileLag(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Lag, 0, len(lags))
	for id, d := range lags {
		out = append(out, &Lag{IdPID: id, Seconds: d.Seconds()})
	}
	slices.SortFunc(out, func(a, b *Lag) int { return strings.Compare(a.IdPID, b.IdPID) })
	return out, nil
}
