// Package webhook receives the change notifications that IdPs post to
// POST /webhooks/{idp_id} and keeps the directory's cache fresh. Each adapter kind authenticates deliveries as its IdP documents it
// (auth0.go, keycloak.go, entra.go, generic.go); every kind refuses events
// outside the adapter's time window or dated later than now plus
// ClockSkew, applies an event once by its id, and
// ignores an event older than what the cache holds (directory.ApplyChange).
// It compares secrets in constant time, uses crypto/hmac for signatures, and
// never logs a payload, a header or a secret: only ids, counts and reasons.
package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
)

// MaxBody is the largest delivery accepted.
const MaxBody = 1 << 20

// ClockSkew is how far in the future an event may be dated, for the IdP's
// clock running ahead of ours.
const ClockSkew = time.Minute

// Applier applies one change to the cache; *directory.Store is the one.
type Applier interface {
	ApplyChange(ctx context.Context, c directory.Change) (directory.Outcome, error)
}

// errUnauthorized and errBadRequest classify a refused delivery.
var (
	errUnauthorized = errors.New("unauthenticated delivery")
	errBadRequest   = errors.New("malformed delivery")
)

// verifier checks a delivery's authenticity and turns it into changes.
type verifier interface {
	// changes authenticates r with its body and returns the changes it
	// reports. Errors wrap errUnauthorized or errBadRequest.
	changes(r *http.Request, body []byte, now time.Time) ([]directory.Change, error)
}

type adapter struct {
	id     string
	kind   idp.Kind
	window time.Duration
	v      verifier
}

// Handler serves POST /webhooks/{idp_id}.
type Handler struct {
	apply    Applier
	log      *slog.Logger
	now      func() time.Time
	adapters map[string]*adapter
}

// New returns the handler for the adapters of cfgs that configure a
// webhook; getenv reads secrets named by secret_env. An adapter whose secret
// is empty is an error, so a missing variable never opens the endpoint.
func New(cfgs []idp.Config, getenv func(string) string, apply Applier, log *slog.Logger) (*Handler, error) {
	h := &Handler{apply: apply, log: log, now: time.Now, adapters: map[string]*adapter{}}
	for _, c := range cfgs {
		if c.Webhook == nil {
			continue
		}
		secret := c.Webhook.WebhookSecret(getenv)
		if secret == "" {
			return nil, fmt.Errorf("idp %q: webhook: the secret is empty (is %s set?)", c.ID, c.Webhook.SecretEnv)
		}
		a := &adapter{id: c.ID, kind: c.Kind, window: time.Duration(c.Webhook.ReplayWindow)}
		if a.window == 0 {
			a.window = 5 * time.Minute
		}
		switch c.Kind {
		case idp.KindAuth0:
			a.v = auth0{id: c.ID, token: secret, window: a.window}
		case idp.KindKeycloak:
			a.v = keycloak{id: c.ID, secret: []byte(secret), window: a.window}
		case idp.KindEntra:
			a.v = entra{id: c.ID, clientState: secret}
		default:
			a.v = generic{id: c.ID, secret: []byte(secret), window: a.window}
		}
		h.adapters[c.ID] = a
	}
	return h, nil
}

// SetClock replaces the clock, for tests of the time window.
func (h *Handler) SetClock(now func() time.Time) { h.now = now }

// Summary is the answer to an accepted delivery: how many events had each
// outcome.
type Summary map[string]int

// ServeHTTP authenticates a delivery, applies its changes and answers a
// Summary. An unknown adapter is 404, a bad signature or secret 401, a
// malformed body 400, a failure to apply 500 (the IdP retries).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := h.adapters[r.PathValue("idp_id")]
	if a == nil {
		http.Error(w, "no webhook for this IdP", http.StatusNotFound)
		return
	}
	if a.kind == idp.KindEntra && r.URL.Query().Has("validationToken") {
		validationHandshake(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		h.refuse(r.Context(), w, a, http.StatusRequestEntityTooLarge, "body too large or unreadable")
		return
	}
	changes, err := a.v.changes(r, body, h.now())
	switch {
	case errors.Is(err, errUnauthorized):
		h.refuse(r.Context(), w, a, http.StatusUnauthorized, err.Error())
		return
	case err != nil:
		h.refuse(r.Context(), w, a, http.StatusBadRequest, err.Error())
		return
	}
	sum := Summary{}
	for _, c := range changes {
		if c.Type == "" { // refused inside the verifier: outside the window
			sum["outside_window"]++
			continue
		}
		out, err := h.apply.ApplyChange(r.Context(), c)
		if err != nil {
			h.log.ErrorContext(r.Context(), "webhook: apply change", "idp_id", a.id, "error", err.Error())
			http.Error(w, "could not apply the change; retry", http.StatusInternalServerError)
			return
		}
		sum[string(out)]++
	}
	h.log.InfoContext(r.Context(), "webhook: delivery", "idp_id", a.id, "kind", string(a.kind), "events", len(changes), "outcomes", map[string]int(sum))
	status := http.StatusOK
	if a.kind == idp.KindEntra {
		status = http.StatusAccepted // what Graph expects
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(sum)
}

// refuse answers a refused delivery; the log names the reason, never the
// payload.
func (h *Handler) refuse(ctx context.Context, w http.ResponseWriter, a *adapter, status int, reason string) {
	h.log.WarnContext(ctx, "webhook: refused", "idp_id", a.id, "kind", string(a.kind), "status", status, "reason", reason)
	http.Error(w, http.StatusText(status), status)
}

// equal compares two secrets in constant time, also over their lengths.
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// within reports whether t lies within window before now and no later than
// now plus ClockSkew. A time further ahead is refused although the window
// would admit it: applied, it would mark the cache as newer than the genuine
// change that follows, which would then be ignored as outdated.
func within(t, now time.Time, window time.Duration) bool {
	d := now.Sub(t)
	return d <= window && d >= -ClockSkew
}

// outside marks a change refused for lying outside the time window.
func outside(c directory.Change) directory.Change {
	return directory.Change{IdPID: c.IdPID, EventID: c.EventID}
}
