// Package oidc is what the gateway knows of a provider by OpenID Connect
// alone: the standard claim defaults (DefaultClaims), no admin API, and the
// generic webhook scheme, which the dev issuer uses too.
package oidc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/delivery"
)

// DefaultClaims are the standard claims: sub, and roles.
var DefaultClaims = idp.ClaimDefaults{Subject: "sub", Roles: "roles"}

// The generic scheme, for any IdP without a documented one of its own: the
// sender puts the Unix time in seconds in TimestampHeader and
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)) in
// SignatureHeader. Signing the timestamp with the body makes a replayed
// delivery fail once the window has passed; a timestamp or occurred_at
// later than now plus delivery.ClockSkew is refused too.
const (
	TimestampHeader = "X-Webhook-Timestamp"
	SignatureHeader = "X-Webhook-Signature"
)

// Event is the body of a generic delivery.
type Event struct {
	ID         string    `json:"id"`          // unique per event
	Type       string    `json:"type"`        // user.updated or user.deleted
	OccurredAt time.Time `json:"occurred_at"` // RFC 3339; the timestamp header when absent
	User       struct {
		ID       string  `json:"id"` // the subject (external_id)
		Email    *string `json:"email"`
		FullName *string `json:"name"`
	} `json:"user"`
}

type Verifier struct {
	id     string
	secret []byte
	window time.Duration
}

// NewVerifier returns the verifier of adapter id's deliveries, signed with
// secret; events older than window are refused.
func NewVerifier(id, secret string, window time.Duration) *Verifier {
	return &Verifier{id: id, secret: []byte(secret), window: window}
}

// Sign returns the signature header value of body at timestamp ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (g Verifier) Changes(r *http.Request, body []byte, now time.Time) ([]directory.Change, error) {
	ts := r.Header.Get(TimestampHeader)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: missing or bad %s", delivery.ErrUnauthorized, TimestampHeader)
	}
	sent := time.Unix(sec, 0)
	if !delivery.Within(sent, now, g.window) {
		return nil, fmt.Errorf("%w: timestamp outside the replay window", delivery.ErrUnauthorized)
	}
	got, ok := strings.CutPrefix(r.Header.Get(SignatureHeader), "sha256=")
	mac, err := hex.DecodeString(got)
	if !ok || err != nil {
		return nil, fmt.Errorf("%w: missing or bad %s", delivery.ErrUnauthorized, SignatureHeader)
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(g.secret, ts, body), "sha256="))
	if !hmac.Equal(mac, want) {
		return nil, fmt.Errorf("%w: signature mismatch", delivery.ErrUnauthorized)
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.User.ID == "" {
		return nil, fmt.Errorf("%w: want {id, type, occurred_at, user: {id, email, name}}", delivery.ErrBadRequest)
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = sent
	}
	c := directory.Change{IdPID: g.id, EventID: ev.ID, ExternalID: ev.User.ID, OccurredAt: ev.OccurredAt}
	switch ev.Type {
	case "user.updated":
		c.Type, c.Email, c.FullName = directory.ChangeUpdated, ev.User.Email, ev.User.FullName
	case "user.deleted":
		c.Type = directory.ChangeDeleted
	default:
		return nil, nil // another event type: nothing for the cache
	}
	if c.OccurredAt.After(now.Add(delivery.ClockSkew)) {
		// A time in the future would hold back every real change after it.
		c = delivery.Outside(c)
	}
	return []directory.Change{c}, nil
}
