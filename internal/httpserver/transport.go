package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/metrics"
)

// The two response media types of the GraphQL-over-HTTP spec.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// httpTransport is the GraphQL-over-HTTP transport: POST with an
// application/json body, GET for queries only, Accept negotiation between
// application/json and application/graphql-response+json, and the status
// codes the spec asks for. It also refuses what a browser can send without
// a CORS preflight (simple content types, form posts, GET mutations), so no
// mutation can come from another site's page.
type httpTransport struct {
	maxBody  int64
	maxBatch int
}

var _ graphql.Transport = httpTransport{}

// Supports takes every request to the endpoint: Do answers the ones it
// refuses with the right status.
func (httpTransport) Supports(*http.Request) bool { return true }

// response is a GraphQL response whose data entry is left out when the
// request failed before execution.
type response struct {
	Errors     gqlerror.List   `json:"errors,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Extensions map[string]any  `json:"extensions,omitempty"`
}

func (t httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media, ok := negotiate(r.Header.Values("Accept"))
	if !ok {
		refuse(w, mediaJSON, apperr.CodeNotAcceptable,
			"Accept must allow application/graphql-response+json or application/json")
		return
	}
	switch r.Method {
	case http.MethodGet:
		params, err := paramsFromQuery(r.URL.RawQuery)
		if err != nil {
			refuse(w, media, apperr.CodeBadRequest, err.Error())
			return
		}
		if !onlyQuery(params) {
			w.Header().Set("Allow", "POST")
			refuse(w, media, apperr.CodeMethodNotAllowed, "only queries may be sent with GET; use POST")
			return
		}
		params.Headers = r.Header
		res, status := t.execute(r.Context(), exec, params, media, true)
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "POST")
		}
		write(w, media, status, res)
	case http.MethodPost:
		if !jsonContentType(r.Header.Get("Content-Type")) {
			refuse(w, media, apperr.CodeUnsupportedMedia,
				"Content-Type must be application/json")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, t.maxBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				refuse(w, media, apperr.CodeRequestTooLarge,
					"request body larger than "+strconv.FormatInt(t.maxBody, 10)+" bytes")
				return
			}
			refuse(w, media, apperr.CodeBadRequest, "could not read the request body")
			return
		}
		body = bytes.TrimSpace(body)
		if len(body) > 0 && body[0] == '[' {
			t.batch(w, r, exec, body, media)
			return
		}
		params, err := decodeParams(body)
		if err != nil {
			refuse(w, media, apperr.CodeBadRequest, err.Error())
			return
		}
		params.Headers = r.Header
		res, status := t.execute(r.Context(), exec, params, media, false)
		write(w, media, status, res)
	default:
		w.Header().Set("Allow", "GET, POST")
		refuse(w, media, apperr.CodeMethodNotAllowed, "use GET for queries or POST")
	}
}

// batch runs a JSON array of operations one after another, when MAX_BATCH
// allows batches.
func (t httpTransport) batch(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, body []byte, media string) {
	if t.maxBatch == 0 {
		refuse(w, media, apperr.CodeBatchingDisabled, "batched requests are not accepted")
		return
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil || len(raws) == 0 {
		refuse(w, media, apperr.CodeBadRequest, "the body must be a JSON object or a non-empty array of them")
		return
	}
	if len(raws) > t.maxBatch {
		refuse(w, media, apperr.CodeBatchTooLarge,
			"a batch may hold at most "+strconv.Itoa(t.maxBatch)+" operations")
		return
	}
	all := make([]*response, len(raws))
	for i, raw := range raws {
		params, err := decodeParams(raw)
		if err != nil {
			all[i] = &response{Errors: gqlerror.List{codedError(apperr.CodeBadRequest, err.Error())}}
			continue
		}
		params.Headers = r.Header
		all[i], _ = t.execute(r.Context(), exec, params, media, false)
	}
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(all)
}

// execute runs one operation and returns its response and status: errors
// before execution are 200 with application/json and 400 with
// application/graphql-response+json (and carry no data entry); a mutation
// over GET is 405.
func (t httpTransport) execute(ctx context.Context, exec graphql.GraphExecutor, params *graphql.RawParams, media string, get bool) (*response, int) {
	start := graphql.Now()
	params.ReadTime = graphql.TraceTiming{Start: start, End: start}
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		status := http.StatusOK
		if media == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
		res := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)
		return &response{Errors: res.Errors, Extensions: res.Extensions}, status
	}
	if get && opCtx.Operation.Operation != ast.Query {
		res := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx),
			gqlerror.List{codedError(apperr.CodeMethodNotAllowed, "only queries may be sent with GET; use POST")})
		return &response{Errors: res.Errors, Extensions: res.Extensions}, http.StatusMethodNotAllowed
	}
	handler, ctx := exec.DispatchOperation(ctx, opCtx)
	res := handler(ctx)
	data := res.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return &response{Errors: res.Errors, Data: data, Extensions: res.Extensions}, http.StatusOK
}

// negotiate picks the response media type from the Accept header: none at
// all means application/json; of the two types, the one with the higher q
// (application/graphql-response+json on a tie); a wildcard alone gives
// application/json. ok is false when the header allows neither.
func negotiate(accept []string) (media string, ok bool) {
	if len(accept) == 0 {
		return mediaJSON, true
	}
	qGQL, qJSON, qWild := -1.0, -1.0, -1.0
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
			switch mt {
			case mediaGraphQLResponse:
				qGQL = max(qGQL, q)
			case mediaJSON:
				qJSON = max(qJSON, q)
			case "application/*", "*/*":
				qWild = max(qWild, q)
			}
		}
	}
	switch {
	case qGQL > 0 && qGQL >= qJSON:
		return mediaGraphQLResponse, true
	case qJSON > 0:
		return mediaJSON, true
	case qWild > 0 && qGQL != 0 && qJSON != 0:
		return mediaJSON, true
	}
	return mediaJSON, false
}

// jsonContentType reports whether a POST's Content-Type is application/json
// in UTF-8 (or with no charset, which means UTF-8).
func jsonContentType(h string) bool {
	if h == mediaJSON || h == mediaJSON+"; charset=utf-8" { // what clients send, without parsing
		return true
	}
	mt, params, err := mime.ParseMediaType(h)
	if err != nil || mt != mediaJSON {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")
}

// requestBody is a GraphQL request as JSON. Unknown members are ignored.
type requestBody struct {
	Query         *json.RawMessage `json:"query"`
	OperationName *string          `json:"operationName"`
	Variables     map[string]any   `json:"variables"`
	Extensions    map[string]any   `json:"extensions"`
}

// decodeParams reads one request object: query a string (it may be left
// out only when a persisted query's hash names it), operationName a string
// or null, variables and extensions objects or null.
func decodeParams(b []byte) (*graphql.RawParams, error) {
	if p, ok := quickParams(b); ok {
		return p, nil
	}
	return decodeParamsSlow(b)
}

// decodeParamsSlow is decodeParams by encoding/json alone.
func decodeParamsSlow(b []byte) (*graphql.RawParams, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var body requestBody
	if err := dec.Decode(&body); err != nil {
		return nil, errors.New("the body must be a JSON object with a string query")
	}
	if dec.More() {
		return nil, errors.New("the body must hold one JSON value")
	}
	p := &graphql.RawParams{Variables: body.Variables, Extensions: body.Extensions}
	if body.Query != nil && string(*body.Query) != "null" {
		if err := json.Unmarshal(*body.Query, &p.Query); err != nil {
			return nil, errors.New("query must be a string")
		}
	}
	if body.OperationName != nil {
		p.OperationName = *body.OperationName
	}
	if p.Query == "" && p.Extensions["persistedQuery"] == nil {
		return nil, errors.New("query is required")
	}
	return p, nil
}

// quickParams reads the request object most clients send without
// encoding/json's reflection and buffers: members spelled exactly query,
// operationName, variables and extensions, each at most once; query a
// non-empty string and operationName a string or null, in UTF-8 and without
// \u escapes; variables and extensions {} or null; nothing after the
// object. Whatever it reads, decodeParams' decoder reads alike; anything
// else (ok false) is left to that decoder.
func quickParams(b []byte) (p *graphql.RawParams, ok bool) {
	r := quickReader{b: b}
	if !r.skip('{') {
		return nil, false
	}
	p = &graphql.RawParams{}
	var seen [4]bool
	for first := true; ; first = false {
		if r.skip('}') {
			break
		}
		if !first && !r.skip(',') {
			return nil, false
		}
		key, ok := r.plainKey()
		if !ok || !r.skip(':') {
			return nil, false
		}
		i := -1
		switch string(key) {
		case "query":
			i = 0
		case "operationName":
			i = 1
		case "variables":
			i = 2
		case "extensions":
			i = 3
		}
		if i < 0 || seen[i] {
			return nil, false
		}
		seen[i] = true
		switch i {
		case 0:
			if p.Query, ok = r.str(); !ok || p.Query == "" {
				return nil, false
			}
		case 1:
			if !r.null() {
				if p.OperationName, ok = r.str(); !ok {
					return nil, false
				}
			}
		case 2, 3:
			if r.null() {
				continue
			}
			if !r.skip('{') || !r.skip('}') {
				return nil, false
			}
			if i == 2 {
				p.Variables = map[string]any{}
			} else {
				p.Extensions = map[string]any{}
			}
		}
	}
	r.space()
	return p, seen[0] && r.i == len(r.b)
}

// quickReader is quickParams' cursor over the body.
type quickReader struct {
	b []byte
	i int
}

// space skips JSON's whitespace.
func (r *quickReader) space() {
	for r.i < len(r.b) && (r.b[r.i] == ' ' || r.b[r.i] == '\t' || r.b[r.i] == '\n' || r.b[r.i] == '\r') {
		r.i++
	}
}

// skip consumes c, after whitespace, if it comes next.
func (r *quickReader) skip(c byte) bool {
	r.space()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// null consumes a null literal if one comes next.
func (r *quickReader) null() bool {
	r.space()
	if bytes.HasPrefix(r.b[r.i:], []byte("null")) {
		r.i += 4
		return true
	}
	return false
}

// plainKey reads a member name of ASCII letters only.
func (r *quickReader) plainKey() ([]byte, bool) {
	if !r.skip('"') {
		return nil, false
	}
	start := r.i
	for r.i < len(r.b) && ('a' <= r.b[r.i] && r.b[r.i] <= 'z' || 'A' <= r.b[r.i] && r.b[r.i] <= 'Z') {
		r.i++
	}
	if r.i == len(r.b) || r.b[r.i] != '"' {
		return nil, false
	}
	r.i++
	return r.b[start : r.i-1], true
}

// str reads a string of valid UTF-8 whose escapes are the one-letter ones.
func (r *quickReader) str() (string, bool) {
	if !r.skip('"') {
		return "", false
	}
	start, ascii := r.i, true
	var out []byte // nil until the first escape
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			raw := r.b[start:r.i]
			r.i++
			if !ascii && !utf8.Valid(raw) {
				return "", false // the decoder replaces invalid bytes
			}
			if out == nil {
				return string(raw), true
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if r.i+1 == len(r.b) {
				return "", false
			}
			if out == nil {
				out = append(make([]byte, 0, len(r.b)-start), r.b[start:r.i]...)
			}
			e := strings.IndexByte(`"\/bfnrt`, r.b[r.i+1])
			if e < 0 {
				return "", false // \u and anything invalid
			}
			out = append(out, "\"\\/\b\f\n\r\t"[e])
			r.i += 2
			continue
		case c >= 0x80:
			ascii = false
		}
		if out != nil {
			out = append(out, c)
		}
		r.i++
	}
	return "", false
}

// paramsFromQuery reads a GET request's parameters; variables and
// extensions are JSON in the URL.
func paramsFromQuery(raw string) (*graphql.RawParams, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errors.New("the query string is malformed")
	}
	p := &graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName")}
	for name, dst := range map[string]*map[string]any{"variables": &p.Variables, "extensions": &p.Extensions} {
		if v := q.Get(name); v != "" {
			dec := json.NewDecoder(strings.NewReader(v))
			dec.UseNumber()
			if err := dec.Decode(dst); err != nil {
				return nil, errors.New(name + " must be a JSON object")
			}
		}
	}
	if p.Query == "" && p.Extensions["persistedQuery"] == nil {
		return nil, errors.New("query is required")
	}
	return p, nil
}

// onlyQuery reports whether a GET's document selects a query. It looks
// before validation, so a mutation over GET is refused with 405 whatever
// the schema holds; a document that does not parse is left to the executor
// to report.
func onlyQuery(p *graphql.RawParams) bool {
	if p.Query == "" {
		return true // a persisted query: execute checks the operation it names
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: p.Query})
	if err != nil {
		return true
	}
	op := doc.Operations.ForName(p.OperationName)
	return op == nil || op.Operation == ast.Query
}

// codedError is a GraphQL error with extensions.code.
func codedError(code, msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
}

// refuse answers a request refused before GraphQL runs, with the HTTP
// status of code in apperr.Codes.
func refuse(w http.ResponseWriter, media string, code, msg string) {
	metrics.ObserveError(code)
	row, _ := apperr.Lookup(code)
	write(w, media, row.Status, &response{Errors: gqlerror.List{codedError(code, msg)}})
}

// write sends res as json.Encoder would, but passes the data through as
// gqlgen wrote it: re-encoding a json.RawMessage scans every byte of it again.
func write(w http.ResponseWriter, media string, status int, res *response) {
	ct := mediaJSON + "; charset=utf-8"
	if media == mediaGraphQLResponse {
		ct = mediaGraphQLResponse + "; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	sep := jsonOpen
	member := func(key, v []byte) {
		_, _ = w.Write(sep)
		_, _ = w.Write(key)
		_, _ = w.Write(v)
		sep = jsonComma
	}
	if len(res.Errors) > 0 {
		errs, _ := json.Marshal(res.Errors) // messages, paths and extensions always marshal
		member(jsonErrors, errs)
	}
	if len(res.Data) > 0 {
		member(jsonData, res.Data)
	}
	if len(res.Extensions) > 0 {
		ext, _ := json.Marshal(res.Extensions)
		member(jsonExtensions, ext)
	}
	if len(res.Errors)+len(res.Data)+len(res.Extensions) == 0 {
		_, _ = w.Write(jsonOpen)
	}
	_, _ = w.Write(jsonClose)
}

// The bytes write puts around a response's members; no writer may change
// them (io.Writer's contract).
var (
	jsonOpen, jsonComma, jsonClose       = []byte("{"), []byte(","), []byte("}\n")
	jsonErrors, jsonData, jsonExtensions = []byte(`"errors":`), []byte(`"data":`), []byte(`"extensions":`)
)
