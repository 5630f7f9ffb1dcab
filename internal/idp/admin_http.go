package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// AdminClient is the HTTP side the admin adapters share: a client-credentials
// token cached until shortly before it expires (golang.org/x/oauth2), a
// timeout on every call, and the classification of answers into
// AdminErrors.
type AdminClient struct {
	http    *http.Client
	tokens  oauth2.TokenSource
	timeout time.Duration
	// ErrorCode extracts the provider's error code from an error body, for
	// the safe reason; it must never return the provider's message.
	ErrorCode func(body []byte) string
}

// NewAdminClient makes a client that authenticates with cc. A nil base
// uses a fresh http.Client.
func NewAdminClient(cc clientcredentials.Config, timeout time.Duration, base *http.Client) *AdminClient {
	if base == nil {
		base = &http.Client{}
	}
	tokenHTTP := *base
	tokenHTTP.Timeout = timeout
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &tokenHTTP)
	return &AdminClient{http: base, tokens: cc.TokenSource(ctx), timeout: timeout}
}

// Do sends method url with body (JSON, nil for none) and decodes a 2xx
// answer into out (nil to ignore it). what names the operation for the
// safe reason ("update user").
func (c *AdminClient) Do(ctx context.Context, method, url string, body, out any, what string) error {
	_, err := c.do(ctx, method, url, body, out, what, true)
	return err
}

// DoHeader is Do that also returns the headers of a 2xx answer (Keycloak
// answers a create with the new id in Location).
func (c *AdminClient) DoHeader(ctx context.Context, method, url string, body, out any, what string) (http.Header, error) {
	return c.do(ctx, method, url, body, out, what, true)
}

// DoPublic is Do without the bearer token, for an endpoint of the IdP
// that takes none (Auth0's Authentication API): the token is not sent
// where it is not needed.
func (c *AdminClient) DoPublic(ctx context.Context, method, url string, body, out any, what string) error {
	_, err := c.do(ctx, method, url, body, out, what, false)
	return err
}

func (c *AdminClient) do(ctx context.Context, method, url string, body, out any, what string, withToken bool) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var tok *oauth2.Token
	if withToken {
		var err error
		if tok, err = c.token(ctx, what); err != nil {
			return nil, err
		}
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, &AdminError{Kind: Permanent, Reason: "the request could not be encoded", Err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, &AdminError{Kind: Permanent, Reason: "the admin API address is invalid", Err: err}
	}
	if tok != nil {
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// Once the request's headers are on the wire the IdP may act on it,
	// answer or not: a failure after that leaves the outcome unknown.
	var sent atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { sent.Store(true) }}))
	resp, err := c.http.Do(req)
	if err != nil {
		e := TransportError(what, withoutURL(err))
		e.Unknown = sent.Load()
		return nil, e
	}
	defer resp.Body.Close()
	traceQuota(ctx, resp.Header)
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		e := TransportError(what, err)
		e.Unknown = true
		return nil, e
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		code := ""
		if c.ErrorCode != nil {
			code = c.ErrorCode(b)
		}
		return nil, StatusError(resp, what, code, time.Now())
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, &AdminError{Kind: Retryable, Status: resp.StatusCode, Reason: fmt.Sprintf("the identity provider's answer to %s could not be read", what), Err: err}
		}
	}
	return resp.Header, nil
}

// withoutURL drops the request URL that net/http puts in its errors: a
// search's query holds the email searched for, which must not reach a
// log. The method and the cause stay.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// token returns the cached token, fetching a new one when it is about to
// expire. The fetch runs under ctx's deadline.
func (c *AdminClient) token(ctx context.Context, what string) (*oauth2.Token, error) {
	type result struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() {
		t, err := c.tokens.Token()
		ch <- result{t, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, TransportError("token", ctx.Err())
	}
	if r.err == nil {
		return r.tok, nil
	}
	var re *oauth2.RetrieveError
	if errors.As(r.err, &re) && re.Response != nil {
		e := StatusError(re.Response, "issue an admin token", re.ErrorCode, time.Now())
		e.Err = errors.New("token endpoint refused")
		return nil, e
	}
	return nil, TransportError("token", r.err)
}
