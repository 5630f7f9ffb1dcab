package auth

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/directory"
)

// ErasureChannel is the channel migration 00035's trigger on
// directory.users notifies, with the user's id, when a user is erased.
const ErasureChannel = "gateway_user_erased"

// RepointChannel is the channel migration 00036's trigger notifies, with
// the user's id, when a user moves to another identity (directory.Repoint):
// the user's cached sign-ins, of the identity it left, are dropped as on an
// erasure.
const RepointChannel = directory.RepointChannel

// listenerTuning is how the erasure listener connects; tests shorten it.
type listenerTuning struct {
	dialer                     pq.Dialer
	minReconnect, maxReconnect time.Duration
}

var defaultListenerTuning = listenerTuning{
	// Keepalive probes find a connection lost without a word (a network
	// partition, a host gone) in about 20 s while the listener is idle;
	// without them it takes minutes. Until then the cache stays on.
	dialer: keepAliveDialer{net.Dialer{Timeout: 10 * time.Second,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 5 * time.Second, Count: 3}}},
	minReconnect: 100 * time.Millisecond,
	maxReconnect: 10 * time.Second,
}

// ListenForErasures keeps the sign-in cache in step with erasures on every
// replica until ctx is done: in the background it LISTENs on
// ErasureChannel and RepointChannel over a connection of its own to dsn
// (the main database, where directory.users lives) and, on each notice,
// drops every cached token of the erased or moved user, so the user's next
// request is verified and signed in again, which the directory refuses (erased)
// or bounds by the move's grace (moved). The notice comes from the
// erasing transaction itself, at its commit, whichever path erased
// (eraseUser, eraseContact, an IdP deletion by webhook). It costs nothing
// per request: a cache hit still sends no statement.
//
// From this call on, while the listener is not connected and listening
// (until the first LISTEN, after a lost connection until it is
// re-established, after ctx is done) the cache is off: every request is
// verified and signed in, so an erasure still ends access at once, at the
// price of one sign-in statement per request. When it comes back the
// cache starts empty, since notices sent meanwhile were lost.
//
// A request that took its scope before the erasure landed may finish; only
// later requests are refused.
//
// Call it once. The channel it returns is closed when the listener has
// stopped; a LISTEN the server refuses stops it early, logged, with the
// cache off.
func (v *Verifier) ListenForErasures(ctx context.Context, dsn string) (stopped <-chan struct{}) {
	v.signedIn.setState(func(s *listenerState) { *s = listenerState{guarded: true} })
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := v.listen(ctx, dsn); err != nil {
			v.log.ErrorContext(ctx, "erasure listener stopped: the sign-in cache stays off", "error", err.Error())
		}
	}()
	return done
}

func (v *Verifier) listen(ctx context.Context, dsn string) error {
	tune := v.listenerTuning
	l := pq.NewDialListener(tune.dialer, dsn, tune.minReconnect, tune.maxReconnect, v.listenerEvent)
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer func() {
		stop()
		_ = l.Close()
		// Let the listener's goroutine deliver what it holds and end.
		go func() {
			for range l.Notify {
			}
		}()
		v.signedIn.setState(func(s *listenerState) { s.connected, s.listening = false, false })
	}()
	for _, ch := range []string{ErasureChannel, RepointChannel} {
		if err := l.Listen(ch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("listen for erasures: %w", err)
		}
	}
	if was, on := v.signedIn.setState(func(s *listenerState) { s.listening = true }); on && !was {
		v.log.InfoContext(ctx, "erasure listener up: the sign-in cache is on")
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-l.Notify:
			if !ok {
				return nil
			}
			if n == nil {
				// Reconnected (the event purged already): notices may
				// have been lost meanwhile.
				v.signedIn.purge()
				continue
			}
			id, err := uuid.Parse(n.Extra)
			if err != nil {
				v.log.WarnContext(ctx, "erasure or repoint notice without a user id: the sign-in cache is purged", "channel", n.Channel)
				v.signedIn.purge()
				continue
			}
			dropped := v.signedIn.dropUser(id)
			v.log.DebugContext(ctx, "erased or moved user signed out", "channel", n.Channel, "user_id", id.String(), "tokens", dropped)
		}
	}
}

// listenerEvent follows the listener's connection; pq calls it from the
// goroutine that delivers notices, before the notices that follow.
func (v *Verifier) listenerEvent(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventConnected, pq.ListenerEventReconnected:
		// On a reconnection pq has LISTENed again before this event.
		if was, on := v.signedIn.setState(func(s *listenerState) { s.connected = true }); on && !was {
			v.log.Info("erasure listener up: the sign-in cache is on")
		}
	case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
		was, _ := v.signedIn.setState(func(s *listenerState) { s.connected = false })
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if was {
			v.log.Warn("erasure listener down: the sign-in cache is off until it reconnects", "event", ev.String(), "error", msg)
		} else {
			v.log.Debug("erasure listener still down", "event", ev.String(), "error", msg)
		}
	}
}

// keepAliveDialer is a pq.Dialer with TCP keepalive tuned.
type keepAliveDialer struct{ d net.Dialer }

func (k keepAliveDialer) Dial(network, address string) (net.Conn, error) {
	return k.d.Dial(network, address)
}

func (k keepAliveDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	d := k.d
	d.Timeout = timeout
	return d.Dial(network, address)
}

func (k keepAliveDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return k.d.DialContext(ctx, network, address)
}
