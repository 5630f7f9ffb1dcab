package providers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/metrics"
)

// instrumented reports every admin call of one IdP to the metrics: its
// adapter, the HTTP status the IdP answered (0 when none came) and how long
// it took. It holds no PII: labels are the adapter id and the status.
type instrumented struct {
	idp.AdminAdapter
	id string
}

func (a instrumented) observe(start time.Time, err error) {
	status := http.StatusOK
	if err != nil {
		status = 0
		var ae *idp.AdminError
		if errors.As(err, &ae) {
			status = ae.Status
		}
	}
	metrics.ObserveIdPCall(a.id, status, time.Since(start))
}

// UpdateUser implements idp.AdminAdapter.
func (a instrumented) UpdateUser(ctx context.Context, externalID string, u idp.ProfileUpdate) (p *idp.Profile, err error) {
	defer func(start time.Time) { a.observe(start, err) }(time.Now())
	return a.AdminAdapter.UpdateUser(ctx, externalID, u)
}

// GetUser implements idp.AdminAdapter.
func (a instrumented) GetUser(ctx context.Context, externalID string) (p *idp.Profile, err error) {
	defer func(start time.Time) { a.observe(start, err) }(time.Now())
	return a.AdminAdapter.GetUser(ctx, externalID)
}

// DeleteUser implements idp.AdminAdapter.
func (a instrumented) DeleteUser(ctx context.Context, externalID string) (err error) {
	defer func(start time.Time) { a.observe(start, err) }(time.Now())
	return a.AdminAdapter.DeleteUser(ctx, externalID)
}

// Unwrap returns the provider's adapter.
func (a instrumented) Unwrap() idp.AdminAdapter { return a.AdminAdapter }

// instrumentedInviter reports an Inviter's calls as instrumented does.
type instrumentedInviter struct {
	idp.Inviter
	obs instrumented
}

// FindUsersByEmail implements idp.Inviter.
func (a instrumentedInviter) FindUsersByEmail(ctx context.Context, email string) (p []*idp.Profile, err error) {
	defer func(start time.Time) { a.obs.observe(start, err) }(time.Now())
	return a.Inviter.FindUsersByEmail(ctx, email)
}

// InviteUser implements idp.Inviter.
func (a instrumentedInviter) InviteUser(ctx context.Context, u idp.NewIdentity) (p *idp.Profile, err error) {
	defer func(start time.Time) { a.obs.observe(start, err) }(time.Now())
	return a.Inviter.InviteUser(ctx, u)
}
