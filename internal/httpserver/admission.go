package httpserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/metrics"
)

// Admission bounds the GraphQL requests that execute at once
// (MAX_CONCURRENT_REQUESTS, ADMISSION_QUEUE, ADMISSION_WAIT). Its zero
// value admits every request.
type Admission struct {
	MaxConcurrent int           // requests executing at once; 0: no bound
	Queue         int           // requests that may wait for a slot beyond those; 0: none waits
	Wait          time.Duration // the longest a request waits for a slot; 0: none waits
}

// overloadedRow is OVERLOADED's row of apperr.Codes: its status and its
// retry hint (Retry-After and extensions.retryAfter).
var overloadedRow, _ = apperr.Lookup(apperr.CodeOverloaded)

// overloadedBody is the answer to a refused request, encoded once: a
// refusal under overload must cost next to nothing.
var overloadedBody = func() []byte {
	b, _ := json.Marshal(map[string]any{"errors": []map[string]any{{
		"message":    "the gateway is busy; retry later",
		"extensions": map[string]any{"code": overloadedRow.Code, "retryAfter": overloadedRow.RetryAfter},
	}}})
	return append(b, '\n')
}()

// admission is the bound of one handler: a slot per executing request and
// a count of the requests waiting for one.
type admission struct {
	slots   chan struct{} // one element per executing request
	queue   int64
	wait    time.Duration
	queued  atomic.Int64
	maxBody int64 // the transport's MAX_BODY_BYTES
	next    http.Handler
}

func (ad *admission) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case ad.slots <- struct{}{}:
	default:
		var ok bool
		if r, ok = ad.await(w, r); !ok {
			return
		}
	}
	metrics.AdmissionExecuting(1)
	release := func() {
		<-ad.slots
		metrics.AdmissionExecuting(-1)
	}
	if isStream(r) {
		// A stream holds its slot until it is established, not for its
		// life: MAX_SUBSCRIPTIONS bounds open ones.
		s := &streamSlot{ResponseWriter: w, release: release}
		defer s.done()
		ad.next.ServeHTTP(s, r)
		return
	}
	defer release()
	ad.next.ServeHTTP(w, r)
}

// await waits in the queue for a slot and reports whether it got one, with
// the request to serve then (its body read, see readBody); when it did
// not, the request has been answered.
func (ad *admission) await(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if ad.queued.Add(1) > ad.queue {
		ad.queued.Add(-1)
		overloaded(w, metrics.RefusedQueueFull)
		return r, false
	}
	metrics.AdmissionQueued(1)
	defer func() {
		ad.queued.Add(-1)
		metrics.AdmissionQueued(-1)
	}()
	t := time.NewTimer(ad.wait)
	defer t.Stop()
	r = ad.readBody(r)
	select {
	case ad.slots <- struct{}{}: // the runtime hands a freed slot to the longest waiting
		return r, true
	case <-t.C:
		overloaded(w, metrics.RefusedQueueTimeout)
	case <-r.Context().Done(): // the client went away: no one reads the answer
		refuse(w, mediaJSON, apperr.CodeCancelled, "the request was cancelled")
	}
	return r, false
}

// readBody reads a waiting request's body, up to one byte more than the
// transport takes, and returns a copy of the request whose body is what it
// read in front of the rest: net/http cancels a request's context when its
// client goes away only once the body is read. A GraphQL body has come
// with the headers, so this is a copy; at most Queue bodies are held so.
// A body that fails to read fails the same way in the transport.
func (ad *admission) readBody(r *http.Request) *http.Request {
	if r.Body == nil || r.Body == http.NoBody {
		return r
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, ad.maxBody+1))
	var rest io.Reader = r.Body
	if err != nil {
		rest = errReader{err}
	}
	r2 := r.WithContext(r.Context())
	r2.Body = readCloser{io.MultiReader(bytes.NewReader(b), rest), r.Body}
	return r2
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// overloaded answers a request refused by the bound, for reason.
func overloaded(w http.ResponseWriter, reason string) {
	metrics.ObserveAdmissionRefused(reason)
	metrics.ObserveError(overloadedRow.Code)
	h := w.Header()
	h["Retry-After"] = retryAfterValue
	h["Content-Type"] = jsonValue
	w.WriteHeader(overloadedRow.Status)
	_, _ = w.Write(overloadedBody)
}

// Header values of a refusal, shared: no writer changes them.
var (
	retryAfterValue = []string{strconv.Itoa(overloadedRow.RetryAfter)}
	jsonValue       = []string{"application/json"}
)
