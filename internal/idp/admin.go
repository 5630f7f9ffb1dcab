package idp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AdminAdapter is the admin side of one IdP: it changes, reads and deletes
// identities through the provider's admin API. Every call has a timeout.
// Errors are *AdminError, so callers know whether to retry, when, or to
// give up.
type AdminAdapter interface {
	// UpdateUser changes the fields of u that are set, for the identity
	// externalID, and returns the profile the IdP holds afterwards (a
	// provider that answers 204 returns what it accepted).
	UpdateUser(ctx context.Context, externalID string, u ProfileUpdate) (*Profile, error)
	// GetUser reads the identity externalID.
	GetUser(ctx context.Context, externalID string) (*Profile, error)
	// DeleteUser deletes the identity externalID. An identity that is
	// already gone is not an error.
	DeleteUser(ctx context.Context, externalID string) error
}

// Inviter is the part of an admin adapter a migration between IdPs needs
// of its target (see docs/idp-migration.md): finding an identity by email
// and creating one without a password. Every call has a timeout and
// returns *AdminError, as AdminAdapter's do.
type Inviter interface {
	// FindUsersByEmail returns the identities the IdP holds whose email is
	// email, compared as the IdP compares emails (case-insensitively), with
	// EmailVerified as the IdP states it. None is not an error.
	FindUsersByEmail(ctx context.Context, email string) ([]*Profile, error)
	// InviteUser creates an identity for u with no password and starts the
	// IdP's own invite or password-reset flow, where its API has one, so
	// that the person sets their own credentials. It returns the new
	// identity. An email the IdP already holds is a Permanent error (409).
	// An invite whose answer was lost is Unknown: find the email again to
	// learn whether the identity was made. When the identity was made but
	// the flow could not be started (a second call failed), it returns the
	// new identity with that call's error.
	InviteUser(ctx context.Context, u NewIdentity) (*Profile, error)
}

// NewIdentity is an identity to create at an IdP.
type NewIdentity struct {
	Email    string
	FullName *string // nil: none
}

// Profile is an identity as an IdP holds it, normalised across providers.
type Profile struct {
	ExternalID string
	Email      *string // nil when the IdP has none
	FullName   *string // nil when the IdP has none
	// EmailVerified: the IdP states that the person proved they own Email
	// (Auth0 email_verified, Keycloak emailVerified; Entra: a member, or a
	// guest whose externalUserState is Accepted; see each adapter).
	EmailVerified bool
}

// ProfileUpdate is a change to an identity: nil fields do not change.
type ProfileUpdate struct {
	Email    *string
	FullName *string
}

// Empty reports whether u changes nothing.
func (u ProfileUpdate) Empty() bool { return u.Email == nil && u.FullName == nil }

// ErrorKind says what a caller should do about an admin API error.
type ErrorKind int

// The kinds of admin API error.
const (
	// Retryable: the IdP is down, slow or answered 5xx; try again later.
	Retryable ErrorKind = iota
	// RateLimited: the IdP answered 429; try again at RetryAt.
	RateLimited
	// Permanent: the IdP refused the request (400, 401, 403, 404, 409, 422):
	// the same request will never succeed.
	Permanent
)

// String names the kind, for logs.
func (k ErrorKind) String() string {
	switch k {
	case RateLimited:
		return "rate_limited"
	case Permanent:
		return "permanent"
	default:
		return "retryable"
	}
}

// AdminError is an error from an admin API. Reason is safe to show a user:
// it never holds PII or a token, only what kind of refusal it was.
type AdminError struct {
	Kind    ErrorKind
	Status  int       // the HTTP status; 0 when no answer came
	RetryAt time.Time // for RateLimited (and a 5xx with Retry-After): when to try again; zero: unknown
	Reason  string    // safe to show: e.g. "the identity provider refused the email address (409)"
	Err     error     // the cause, for logs; may be nil
	// Unknown: the request may have reached the IdP and taken effect: no
	// answer came after it was sent (a timeout, a reset connection), or a
	// proxy gave up waiting for the IdP (500, 502, 504). A caller that
	// cares must read the identity back to learn what happened.
	Unknown bool
}

// Error returns the safe reason with the cause.
func (e *AdminError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

// Unwrap returns the cause.
func (e *AdminError) Unwrap() error { return e.Err }

// AsAdminError returns err as an *AdminError; any other error (a network
// failure, a timeout) is Retryable, its outcome Unknown.
func AsAdminError(err error) *AdminError {
	var ae *AdminError
	if errors.As(err, &ae) {
		return ae
	}
	return &AdminError{Kind: Retryable, Reason: "the identity provider could not be reached", Err: err, Unknown: true}
}

// StatusError classifies an HTTP answer that was not a success. what names
// the operation ("update user"); detail is the provider's own error code
// (never its message, which may echo PII). now is the time the answer came.
func StatusError(resp *http.Response, what, detail string, now time.Time) *AdminError {
	e := &AdminError{Status: resp.StatusCode}
	code := ""
	if detail != "" {
		code = " (" + detail + ")"
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Kind = RateLimited
		e.RetryAt = RetryTime(resp.Header, now)
		e.Reason = fmt.Sprintf("the identity provider is rate limiting %s requests", what)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		e.Kind = Retryable
		e.RetryAt = RetryTime(resp.Header, now)
		e.Reason = fmt.Sprintf("the identity provider failed to %s (status %d)", what, resp.StatusCode)
		// 503 and 408 say the request was not taken; an internal error or a
		// proxy that gave up on the IdP says nothing about it.
		e.Unknown = resp.StatusCode == http.StatusInternalServerError ||
			resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout
	case resp.StatusCode == http.StatusNotFound:
		e.Kind = Permanent
		e.Reason = fmt.Sprintf("the identity provider does not know this user (status 404%s)", code)
	case resp.StatusCode == http.StatusConflict:
		e.Kind = Permanent
		e.Reason = fmt.Sprintf("the identity provider refused to %s: the value conflicts with another identity (status 409%s)", what, code)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.Kind = Permanent
		e.Reason = fmt.Sprintf("the gateway is not allowed to %s at the identity provider (status %d%s)", what, resp.StatusCode, code)
	default:
		e.Kind = Permanent
		e.Reason = fmt.Sprintf("the identity provider refused to %s (status %d%s)", what, resp.StatusCode, code)
	}
	return e
}

// RetryTime reads when to try again from Retry-After (seconds or an HTTP
// date) or X-RateLimit-Reset (Unix seconds, as Auth0 sends it), whichever is
// later; the zero time when neither is there.
func RetryTime(h http.Header, now time.Time) time.Time {
	var at time.Time
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
			at = now.Add(time.Duration(secs * float64(time.Second)))
		} else if t, err := http.ParseTime(v); err == nil {
			at = t
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs > 0 {
			if t := time.Unix(secs, 0); t.After(at) {
				at = t
			}
		}
	}
	return at
}

// TransportError wraps a failure to get an answer (refused, reset, timed
// out) as Retryable. Its outcome is known (nothing reached the IdP) unless
// the caller marks it Unknown.
func TransportError(what string, err error) *AdminError {
	reason := fmt.Sprintf("the identity provider did not answer the %s request", what)
	if errors.Is(err, context.DeadlineExceeded) {
		reason = fmt.Sprintf("the identity provider did not answer the %s request in time", what)
	}
	return &AdminError{Kind: Retryable, Reason: reason, Err: err}
}

// Quota is what one admin API answer said about the caller's quota, from
// X-RateLimit-Limit and X-RateLimit-Remaining (Auth0 sends both on every
// Management API answer). Known is false when the answer said nothing.
type Quota struct {
	Limit, Remaining int
	Known            bool
}

// QuotaOf reads the quota an answer's headers state.
func QuotaOf(h http.Header) Quota {
	limit, err1 := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit")))
	remaining, err2 := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	if err1 != nil || err2 != nil || limit <= 0 || remaining < 0 {
		return Quota{}
	}
	return Quota{Limit: limit, Remaining: remaining, Known: true}
}

type quotaTraceKey struct{}

// WithQuotaTrace returns a context under which every admin API answer
// (errors included) reports what it said about the quota to fn, so a
// caller can pace itself. fn may be called more than once per operation
// (Keycloak reads before it writes).
func WithQuotaTrace(ctx context.Context, fn func(Quota)) context.Context {
	return context.WithValue(ctx, quotaTraceKey{}, fn)
}

// traceQuota reports h to the quota trace of ctx, if any.
func traceQuota(ctx context.Context, h http.Header) {
	if fn, ok := ctx.Value(quotaTraceKey{}).(func(Quota)); ok {
		fn(QuotaOf(h))
	}
}
