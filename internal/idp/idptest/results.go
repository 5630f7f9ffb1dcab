package idptest

import (
	"encoding/json"
	"testing"
)

// Results reads the JSON a script of tools/idp-clients printed: one
// object per step, {"ok": true, ...} or {"ok": false, "error": {"name",
// "status", "headers", "body"}}.
type Results struct {
	T   *testing.T
	Out map[string]any
}

// Get is the value at step's path, and whether it is there.
func (r Results) Get(step string, path ...string) (any, bool) {
	var v any = r.Out[step]
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, v != nil
}

func (r Results) dump(step string) string {
	b, _ := json.Marshal(r.Out[step])
	return string(b)
}

// OK asserts that step succeeded.
func (r Results) OK(step string) {
	r.T.Helper()
	if ok, _ := r.Get(step, "ok"); ok != true {
		r.T.Errorf("%s: the official client failed: %s", step, r.dump(step))
	}
}

// Require stops the test unless step succeeded.
func (r Results) Require(step string) {
	r.T.Helper()
	if ok, _ := r.Get(step, "ok"); ok != true {
		r.T.Fatalf("%s: the official client failed: %s", step, r.dump(step))
	}
}

// Failed asserts that step threw an error of class name for an answer
// with status.
func (r Results) Failed(step string, status int, name string) {
	r.T.Helper()
	ok, _ := r.Get(step, "ok")
	st, _ := r.Get(step, "error", "status")
	n, _ := r.Get(step, "error", "name")
	if ok != false || st != float64(status) || (name != "" && n != name) {
		r.T.Errorf("%s: want the client to throw %s for %d, got %s", step, name, status, r.dump(step))
	}
}

// Equal asserts the value at step's path.
func (r Results) Equal(step string, want any, path ...string) {
	r.T.Helper()
	if got, _ := r.Get(step, path...); got != want {
		r.T.Errorf("%s %v: got %#v, want %#v (step: %s)", step, path, got, want, r.dump(step))
	}
}

// Present asserts that step's path holds a value.
func (r Results) Present(step string, path ...string) {
	r.T.Helper()
	if _, ok := r.Get(step, path...); !ok {
		r.T.Errorf("%s %v: missing (step: %s)", step, path, r.dump(step))
	}
}

// Num is the number at step's path (0 when absent).
func (r Results) Num(step string, path ...string) float64 {
	v, _ := r.Get(step, path...)
	n, _ := v.(float64)
	return n
}

// Str is the string at step's path ("" when absent).
func (r Results) Str(step string, path ...string) string {
	v, _ := r.Get(step, path...)
	s, _ := v.(string)
	return s
}
