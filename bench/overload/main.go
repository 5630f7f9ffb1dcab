// Command overload is bench/overload.sh's load generator: a closed loop of
// -c connections, each sending the POST body of -body to -url with the
// Authorization value of BENCH_AUTH as soon as its last answer came (or,
// with -retry-after, a refusal's Retry-After later), for -d.
// Unlike wrk it keeps each answer's latency by its kind, so the latency of
// the admitted requests is not mixed with that of the refusals. It prints
// one machine-readable line:
//
//	RESULT duration_us=... ok=... refused=... other=... errors=... ok_p50_us=... ok_p99_us=... refused_p50_us=... refused_p99_us=...
//
// ok: 200 without a GraphQL error; refused: 503 with Retry-After (the
// admission bound's answer); other: any other answer; errors: no answer
// (a connection error or the -timeout). Requests still running at the end
// are cancelled and not counted.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "the GraphQL endpoint")
	conns := flag.Int("c", 1000, "connections (each one request at a time)")
	dur := flag.Duration("d", 10*time.Second, "how long to send")
	bodyFile := flag.String("body", "", "the file of the JSON body to POST")
	timeout := flag.Duration("timeout", 10*time.Second, "the longest one request may take")
	honour := flag.Bool("retry-after", false, "after a refusal, wait its Retry-After before the next request (else send it at once)")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil || *url == "" {
		fmt.Fprintln(os.Stderr, "usage: overload -url URL -body FILE [-c N] [-d DURATION]; BENCH_AUTH holds the Authorization value:", err)
		os.Exit(2)
	}
	auth := os.Getenv("BENCH_AUTH")

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns,
		DisableCompression: true, IdleConnTimeout: time.Minute,
	}}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	results := make([]tally, *conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		wg.Add(1)
		go func(t *tally) {
			defer wg.Done()
			buf := make([]byte, 0, 64<<10)
			for ctx.Err() == nil {
				if wait := t.one(ctx, client, *url, auth, body, *timeout, &buf); *honour && wait > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(wait):
					}
				}
			}
		}(&results[i])
	}
	wg.Wait()
	elapsed := time.Since(start)

	var all tally
	for _, t := range results {
		all.ok = append(all.ok, t.ok...)
		all.refused = append(all.refused, t.refused...)
		all.other += t.other
		all.errors += t.errors
	}
	fmt.Printf("RESULT duration_us=%d ok=%d refused=%d other=%d errors=%d ok_p50_us=%d ok_p99_us=%d refused_p50_us=%d refused_p99_us=%d\n",
		elapsed.Microseconds(), len(all.ok), len(all.refused), all.other, all.errors,
		percentile(all.ok, 50), percentile(all.ok, 99), percentile(all.refused, 50), percentile(all.refused, 99))
}

// tally is one connection's answers: the latencies of the admitted and the
// refused ones (µs), and counts of the rest.
type tally struct {
	ok, refused   []int64
	other, errors int
}

var graphQLErrors = []byte(`"errors"`)

// one sends one request and files its answer; a request the end of the
// run cancelled is not filed. It returns a refusal's Retry-After.
func (t *tally) one(ctx context.Context, client *http.Client, url, auth string, body []byte, timeout time.Duration, buf *[]byte) time.Duration {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	sent := time.Now()
	res, err := client.Do(req)
	if err == nil {
		*buf, err = readAll(res.Body, (*buf)[:0])
		res.Body.Close()
	}
	took := time.Since(sent).Microseconds()
	switch {
	case ctx.Err() != nil: // the run is over
	case err != nil: // no answer within the timeout, or none at all
		t.errors++
	case res.StatusCode == http.StatusOK && !bytes.Contains(*buf, graphQLErrors):
		t.ok = append(t.ok, took)
	case res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "":
		t.refused = append(t.refused, took)
		n, _ := strconv.Atoi(res.Header.Get("Retry-After"))
		return time.Duration(n) * time.Second
	default:
		t.other++
	}
	return 0
}

// readAll reads r to its end into buf.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// percentile is the p-th percentile of xs (nearest rank), 0 when empty.
func percentile(xs []int64, p int) int64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	i := (len(xs)*p + 99) / 100
	return xs[max(i-1, 0)]
}
