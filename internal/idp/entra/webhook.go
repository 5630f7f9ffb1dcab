package entra

import (
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

// Microsoft Entra ID tells of user changes through Microsoft Graph change
// notifications on the "users" resource. Creating the subscription, Graph
// first POSTs to the URL with ?validationToken=...: the endpoint must answer
// 200 with the token as text/plain within 10 seconds. Every notification
// then carries the clientState given at creation, which the endpoint must
// check, and is answered 202. Basic notifications say only which user
// changed (changeType updated or deleted, resourceData.id the object id,
// Entra's oid) and no time: an update marks the user for a refresh and a
// deletion erases the pointer. An item's id, when Graph sends one, is its
// event id; otherwise a hash of the item and the second it arrived. Lifecycle notifications are
// ignored here (the subscription is renewed by the adapter).
type Verifier struct {
	id          string
	clientState string
}

// NewVerifier returns the verifier of adapter id's Graph subscription,
// created with clientState. Basic notifications carry no time, so there is
// no window.
func NewVerifier(id, clientState string, _ time.Duration) *Verifier {
	return &Verifier{id: id, clientState: clientState}
}

// WebhookStatus is the status Graph expects of an accepted delivery.
const WebhookStatus = http.StatusAccepted

// Handshake answers Graph's subscription validation (a request with
// ?validationToken=) and reports whether r was one.
func (Verifier) Handshake(w http.ResponseWriter, r *http.Request) bool {
	if !r.URL.Query().Has("validationToken") {
		return false
	}
	validationHandshake(w, r)
	return true
}

// Notifications is the body of a delivery (changeNotificationCollection).
type Notifications struct {
	Value []json.RawMessage `json:"value"`
}

// Notification is the part of a changeNotification the cache needs.
type Notification struct {
	ID             string `json:"id"`
	SubscriptionID string `json:"subscriptionId"`
	ClientState    string `json:"clientState"`
	ChangeType     string `json:"changeType"`
	LifecycleEvent string `json:"lifecycleEvent"`
	Resource       string `json:"resource"`
	ResourceData   struct {
		ID string `json:"id"`
	} `json:"resourceData"`
}

// validationHandshake answers Graph's subscription validation: the decoded
// token, as plain text.
func validationHandshake(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("validationToken")
	if token == "" || len(token) > 4096 {
		http.Error(w, "bad validationToken", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(token))
}

func (e Verifier) Changes(_ *http.Request, body []byte, now time.Time) ([]directory.Change, error) {
	var coll Notifications
	if err := json.Unmarshal(body, &coll); err != nil || len(coll.Value) == 0 {
		return nil, fmt.Errorf("%w: want a changeNotificationCollection", delivery.ErrBadRequest)
	}
	items := make([]Notification, len(coll.Value))
	for i, raw := range coll.Value {
		if err := json.Unmarshal(raw, &items[i]); err != nil {
			return nil, fmt.Errorf("%w: bad notification", delivery.ErrBadRequest)
		}
		// Every item must carry our clientState: one that does not is
		// forged or meant for another endpoint, and so is the delivery.
		if !delivery.Equal(items[i].ClientState, e.clientState) {
			return nil, fmt.Errorf("%w: clientState mismatch", delivery.ErrUnauthorized)
		}
	}
	var out []directory.Change
	for i, n := range items {
		if n.LifecycleEvent != "" {
			continue
		}
		user := n.ResourceData.ID
		if user == "" {
			if _, after, ok := strings.Cut(n.Resource, "/"); ok && strings.HasPrefix(strings.ToLower(n.Resource), "users/") {
				user = after
			}
		}
		if user == "" {
			continue
		}
		id := n.ID
		if id == "" {
			// Without an id, identical items of two real changes of one
			// user cannot be told apart, so the hash only collapses copies
			// delivered within one second; both changes are idempotent.
			sum := sha256.Sum256(coll.Value[i])
			id = fmt.Sprintf("sha256:%s@%d", hex.EncodeToString(sum[:]), now.Unix())
		}
		c := directory.Change{IdPID: e.id, EventID: id, ExternalID: user, OccurredAt: now}
		switch n.ChangeType {
		case "updated":
			c.Type = directory.ChangeStale
		case "deleted":
			c.Type = directory.ChangeDeleted
		default:
			continue
		}
		out = append(out, c)
	}
	return out, nil
}
