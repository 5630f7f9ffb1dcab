package webhook

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
)

// The generic scheme, for any IdP without a documented one of its own: the
// sender puts the Unix time in seconds in TimestampHeader and
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)) in
// SignatureHeader. Signing the timestamp with the body makes a replayed
// delivery fail once the window has passed; a timestamp or occurred_at
// later than now plus ClockSkew is refused too.
const (
	TimestampHeader = "X-Webhook-Timestamp"
	SignatureHeader = "X-Webhook-Signature"
)

// GenericEvent is the body of a generic delivery.
type GenericEvent struct {
	ID         string    `json:"id"`          // unique per event
	Type       string    `json:"type"`        // user.updated or user.deleted
	OccurredAt time.Time `json:"occurred_at"` // RFC 3339; the timestamp header when absent
	User       struct {
		ID       string  `json:"id"` // the subject (external_id)
		Email    *string `json:"email"`
		FullName *string `json:"name"`
	} `json:"user"`
}

type generic struct {
	id     string
	secret []byte
	window time.Duration
}

// SignGeneric returns the signature header value of body at timestamp ts.
func SignGeneric(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (g generic) changes(r *http.Request, body []byte, now time.Time) ([]directory.Change, error) {
	ts := r.Header.Get(TimestampHeader)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: missing or bad %s", errUnauthorized, TimestampHeader)
	}
	sent := time.Unix(sec, 0)
	if !within(sent, now, g.window) {
		return nil, fmt.Errorf("%w: timestamp outside the replay window", errUnauthorized)
	}
	got, ok := strings.CutPrefix(r.Header.Get(SignatureHeader), "sha256=")
	mac, err := hex.DecodeString(got)
	if !ok || err != nil {
		return nil, fmt.Errorf("%w: missing or bad %s", errUnauthorized, SignatureHeader)
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(SignGeneric(g.secret, ts, body), "sha256="))
	if !hmac.Equal(mac, want) {
		return nil, fmt.Errorf("%w: signature mismatch", errUnauthorized)
	}
	var ev GenericEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.User.ID == "" {
		return nil, fmt.Errorf("%w: want {id, type, occurred_at, user: {id, email, name}}", errBadRequest)
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
	if c.OccurredAt.After(now.Add(ClockSkew)) {
		// A time in the future would hold back every real change after it.
		c = outside(c)
	}
	return []directory.Change{c}, nil
}
