package idp

import (
	"fmt"
	"time"
)

// WebhookConfig is how an adapter's IdP authenticates the change
// notifications it posts to /webhooks/{id}. What the secret is depends on
// the kind:
//   - auth0: the Authorization token of the Custom Webhook log stream; a
//     delivery's Authorization header must equal it.
//   - keycloak: the shared secret of the keycloak-events ext-event-http
//     listener; X-Keycloak-Signature is the hex HMAC-SHA256 of the body.
//   - entra: the clientState given when creating the Graph subscription;
//     every notification must carry it.
//   - oidc, dev: the key of the generic HMAC-SHA256 scheme over
//     "<timestamp>.<body>".
type WebhookConfig struct {
	// Secret is the secret itself; prefer SecretEnv so that the file holds
	// no secret. Exactly one of the two.
	Secret string `yaml:"secret"`
	// SecretEnv names the environment variable that holds the secret.
	SecretEnv string `yaml:"secret_env"`
	// ReplayWindow is how far before now an event's time may lie; older
	// deliveries are refused, and so are those dated later than now plus
	// delivery.ClockSkew (1m). Default 5m (Auth0's log streams can lag and
	// retry: raise it for them).
	ReplayWindow Duration `yaml:"replay_window"`
}

// WebhookSecret returns the secret, read through getenv when SecretEnv is
// set. Empty when it is not set.
func (w *WebhookConfig) WebhookSecret(getenv func(string) string) string {
	if w.SecretEnv != "" {
		return getenv(w.SecretEnv)
	}
	return w.Secret
}

// normalizeWebhook fills in the defaults and checks the fields; an error
// names the adapter and the field.
func (c *Config) normalizeWebhook() error {
	w := c.Webhook
	if w == nil {
		return nil
	}
	if (w.Secret == "") == (w.SecretEnv == "") {
		return fmt.Errorf("idp %q: webhook: set exactly one of secret and secret_env", c.ID)
	}
	if w.Secret != "" && len(w.Secret) < 16 {
		return fmt.Errorf("idp %q: webhook.secret: must be at least 16 characters", c.ID)
	}
	if w.ReplayWindow == 0 {
		w.ReplayWindow = Duration(5 * time.Minute)
	}
	if w.ReplayWindow < 0 || time.Duration(w.ReplayWindow) > MaxReplayWindow {
		return fmt.Errorf("idp %q: webhook.replay_window: must be between 0s and 24h", c.ID)
	}
	return nil
}

// MaxReplayWindow is the longest replay_window a webhook may have; the
// gateway keeps event ids longer than it (WEBHOOK_EVENT_RETENTION).
const MaxReplayWindow = 24 * time.Hour
