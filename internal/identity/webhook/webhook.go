// Package webhook is the HTTP handler of the change notifications that IdPs
// post to POST /webhooks/{idp_id}, which keep the directory's cache fresh,
// and the pruning of the event ids it keeps. Each adapter
// kind authenticates deliveries as its IdP documents it, with the verifier
// of its provider (internal/idp/providers; the schemes live in
// internal/idp/<kind>/webhook.go); every kind refuses events outside the
// adapter's time window or dated later than now plus delivery.ClockSkew,
// applies an event once by its id, and ignores an event older than what the
// cache holds (directory.ApplyChange). Secrets are compared in constant
// time and signatures checked with crypto/hmac; nothing logs a payload, a
// header or a secret: only ids, counts and reasons.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/delivery"
	"github.com/propertyportal/gateway/internal/idp/providers"
)

// MaxBody is the largest delivery accepted.
const MaxBody = 1 << 20

// Applier applies one change to the cache; *directory.Store is the one.
type Applier interface {
	ApplyChange(ctx context.Context, c directory.Change) (directory.Outcome, error)
}

type adapter struct {
	id     string
	kind   idp.Kind
	window time.Duration
	v      providers.Verifier
	status int // of an accepted delivery
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
		p, ok := providers.ByKind[c.Kind]
		if !ok || p.NewVerifier == nil {
			return nil, fmt.Errorf("idp %q: webhook: kind %q has no webhook verifier", c.ID, c.Kind)
		}
		a.v, a.status = p.NewVerifier(c.ID, secret, a.window), p.WebhookStatus
		if a.status == 0 {
			a.status = http.StatusOK
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
	if hs, ok := a.v.(providers.Handshaker); ok && hs.Handshake(w, r) {
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
	changes, err := a.v.Changes(r, body, h.now())
	switch {
	case errors.Is(err, delivery.ErrUnauthorized):
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
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(sum)
}

// refuse answers a refused delivery; the log names the reason, never the
// payload.
func (h *Handler) refuse(ctx context.Context, w http.ResponseWriter, a *adapter, status int, reason string) {
	h.log.WarnContext(ctx, "webhook: refused", "idp_id", a.id, "kind", string(a.kind), "status", status, "reason", reason)
	http.Error(w, http.StatusText(status), status)
}
