package keycloak

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp/delivery"
)

// Keycloak has no webhooks of its own; the common plugin is p2-inc's
// keycloak-events, whose ext-event-http listener POSTs each event as JSON and,
// with a sharedSecret, signs it: X-Keycloak-Signature is the hex
// HMAC-SHA256 of the body (a "sha256=" prefix is accepted too). The body
// carries uid (the event id) and time (Unix milliseconds). Admin events:
// "admin.USER-UPDATE" with resourcePath "users/{id}" and the user as saved
// in representation (a JSON string), and "admin.USER-DELETE". User events
// "access.UPDATE_PROFILE" and "access.UPDATE_EMAIL" carry no new values:
// the user is marked for a refresh.
type Verifier struct {
	id     string
	secret []byte
	window time.Duration
}

// NewVerifier returns the verifier of adapter id's ext-event-http
// listener, whose shared secret is secret; events older than window are
// refused.
func NewVerifier(id, secret string, window time.Duration) *Verifier {
	return &Verifier{id: id, secret: []byte(secret), window: window}
}

// SignatureHeader carries the body's signature.
const SignatureHeader = "X-Keycloak-Signature"

// Event is the part of a keycloak-events payload the cache needs.
type Event struct {
	UID            string `json:"uid"`
	Time           int64  `json:"time"` // Unix milliseconds
	Type           string `json:"type"`
	ResourcePath   string `json:"resourcePath"`
	Representation string `json:"representation"`
	AuthDetails    struct {
		UserID string `json:"userId"`
	} `json:"authDetails"`
	UserID string `json:"userId"`
}

type eventUser struct {
	Email     *string `json:"email"`
	FirstName *string `json:"firstName"`
	LastName  *string `json:"lastName"`
}

// Sign returns the X-Keycloak-Signature value of body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (k Verifier) Changes(r *http.Request, body []byte, now time.Time) ([]directory.Change, error) {
	got, err := hex.DecodeString(strings.TrimPrefix(r.Header.Get(SignatureHeader), "sha256="))
	if err != nil || len(got) == 0 {
		return nil, fmt.Errorf("%w: missing or bad %s", delivery.ErrUnauthorized, SignatureHeader)
	}
	want, _ := hex.DecodeString(Sign(k.secret, body))
	if !hmac.Equal(got, want) {
		return nil, fmt.Errorf("%w: signature mismatch", delivery.ErrUnauthorized)
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.UID == "" || ev.Time == 0 {
		return nil, fmt.Errorf("%w: want a keycloak-events payload with uid and time", delivery.ErrBadRequest)
	}
	c := directory.Change{IdPID: k.id, EventID: ev.UID, OccurredAt: time.UnixMilli(ev.Time)}
	switch ev.Type {
	case "admin.USER-UPDATE", "admin.USER-DELETE":
		user, ok := strings.CutPrefix(ev.ResourcePath, "users/")
		if !ok || user == "" || strings.Contains(user, "/") {
			return nil, nil // a sub-resource of a user, e.g. its role mappings
		}
		c.ExternalID = user
		if ev.Type == "admin.USER-DELETE" {
			c.Type = directory.ChangeDeleted
			break
		}
		var u eventUser
		if json.Unmarshal([]byte(ev.Representation), &u) != nil {
			c.Type = directory.ChangeStale
			break
		}
		c.Type, c.Email, c.FullName = directory.ChangeUpdated, u.Email, joinName(u.FirstName, u.LastName)
		if c.Email == nil && c.FullName == nil {
			c.Type = directory.ChangeStale
		}
	case "access.UPDATE_PROFILE", "access.UPDATE_EMAIL":
		c.ExternalID = ev.AuthDetails.UserID
		if c.ExternalID == "" {
			c.ExternalID = ev.UserID
		}
		if c.ExternalID == "" {
			return nil, nil
		}
		c.Type = directory.ChangeStale
	default:
		return nil, nil
	}
	if !delivery.Within(c.OccurredAt, now, k.window) {
		c = delivery.Outside(c)
	}
	return []directory.Change{c}, nil
}

// joinName makes Keycloak's first and last name one full name, as its
// tokens' name claim does; nil when both are absent.
func joinName(first, last *string) *string {
	if first == nil && last == nil {
		return nil
	}
	var parts []string
	for _, p := range []*string{first, last} {
		if p != nil && strings.TrimSpace(*p) != "" {
			parts = append(parts, strings.TrimSpace(*p))
		}
	}
	s := strings.Join(parts, " ")
	return &s
}
