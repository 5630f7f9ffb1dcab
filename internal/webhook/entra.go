package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/propertyportal/gateway/internal/directory"
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
type entra struct {
	id          string
	clientState string
}

// EntraNotifications is the body of a delivery (changeNotificationCollection).
type EntraNotifications struct {
	Value []json.RawMessage `json:"value"`
}

// EntraNotification is the part of a changeNotification the cache needs.
type EntraNotification struct {
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

func (e entra) changes(_ *http.Request, body []byte, now time.Time) ([]directory.Change, error) {
	var coll EntraNotifications
	if err := json.Unmarshal(body, &coll); err != nil || len(coll.Value) == 0 {
		return nil, fmt.Errorf("%w: want a changeNotificationCollection", errBadRequest)
	}
	items := make([]EntraNotification, len(coll.Value))
	for i, raw := range coll.Value {
		if err := json.Unmarshal(raw, &items[i]); err != nil {
			return nil, fmt.Errorf("%w: bad notification", errBadRequest)
		}
		// Every item must carry our clientState: one that does not is
		// forged or meant for another endpoint, and so is the delivery.
		if !equal(items[i].ClientState, e.clientState) {
			return nil, fmt.Errorf("%w: clientState mismatch", errUnauthorized)
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
