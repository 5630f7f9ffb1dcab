package apperr

import "net/http"

// The GraphQL extensions.code values the API answers with.
const (
	// The codes of the kinds.
	CodeInternal        = "INTERNAL"
	CodeInvalid         = "BAD_USER_INPUT"
	CodeNotFound        = "NOT_FOUND"
	CodeConflict        = "CONFLICT"
	CodeForbidden       = "FORBIDDEN"
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeRateLimited     = "RATE_LIMITED"
	CodeUnavailable     = "UNAVAILABLE"

	// gqlgen's own codes.
	CodeParseFailed            = "GRAPHQL_PARSE_FAILED"
	CodeValidationFailed       = "GRAPHQL_VALIDATION_FAILED"
	CodePersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND"

	// The codes of the transport, before GraphQL runs.
	CodeBadRequest       = "BAD_REQUEST"
	CodeRequestTooLarge  = "REQUEST_TOO_LARGE"
	CodeBatchingDisabled = "BATCHING_DISABLED"
	CodeBatchTooLarge    = "BATCH_TOO_LARGE"
	CodeUnsupportedMedia = "UNSUPPORTED_MEDIA"
	CodeNotAcceptable    = "NOT_ACCEPTABLE"
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	CodeOverloaded       = "OVERLOADED"
	CodeCancelled        = "CANCELLED"

	// The codes of the limits, before anything executes.
	CodeTooManyTokens       = "TOO_MANY_TOKENS"
	CodeTooDeep             = "QUERY_TOO_DEEP"
	CodeTooManyAliases      = "TOO_MANY_ALIASES"
	CodeTooComplex          = "QUERY_TOO_COMPLEX"
	CodeOperationNotAllowed = "OPERATION_NOT_ALLOWED"
	CodeIntrospectionOff    = "INTROSPECTION_DISABLED"
	CodeTimeout             = "TIMEOUT"
)

// NoKind is the Kind of a code that no error kind presents as.
const NoKind Kind = -1

// CodeRow is one row of the table of codes.
type CodeRow struct {
	Code string
	// Kind is the error kind presented with this code; NoKind for the
	// codes of gqlgen, the transport and the limits.
	Kind Kind
	// Status is the HTTP status of a request refused with this code before
	// GraphQL runs; 0 when the code comes in a GraphQL response, whose
	// status the transport picks (or, for INTERNAL, depends on where it
	// failed).
	Status int
	// RetryAfter is the retry hint in seconds (extensions.retryAfter and,
	// for a refused request, the Retry-After header); 0: none.
	RetryAfter int
	Meaning    string
}

// Codes is the one table of the codes: the error presenter answers an
// error of a kind with its row's code, a request refused before GraphQL
// runs gets its row's status, and metrics counts errors by these codes
// alone. A code that is in no row is counted as OTHER.
var Codes = []CodeRow{
	{CodeInternal, Internal, 0, 0, `anything unexpected: logged with the request id and shown as "internal error" (503 when sign-in itself fails, 500 when a handler panics)`},
	{CodeInvalid, Invalid, 0, 0, "bad input; extensions.field names the input at fault"},
	{CodeNotFound, NotFound, 0, 0, "the thing does not exist for this caller"},
	{CodeConflict, Conflict, 0, 0, "the change breaks a uniqueness rule or lost a race"},
	{CodeForbidden, Forbidden, 0, 0, "the caller may not do or see this"},
	{CodeUnauthenticated, Unauthenticated, http.StatusUnauthorized, 0, "no valid credentials (401 with WWW-Authenticate: Bearer)"},
	{CodeRateLimited, RateLimited, 0, 0, "too many requests; try later"},
	{CodeUnavailable, Unavailable, http.StatusServiceUnavailable, 5, "the database cannot be reached; retry after extensions.retryAfter seconds (503 when sign-in itself fails)"},

	{CodeParseFailed, NoKind, 0, 0, "the document does not parse"},
	{CodeValidationFailed, NoKind, 0, 0, "the document does not match the schema"},
	{CodePersistedQueryNotFound, NoKind, 0, 0, "an APQ hash the gateway has not seen yet (the client resends with the text)"},

	{CodeBadRequest, NoKind, http.StatusBadRequest, 0, "the body or parameters are not a GraphQL request"},
	{CodeRequestTooLarge, NoKind, http.StatusRequestEntityTooLarge, 0, "the body is larger than MAX_BODY_BYTES"},
	{CodeBatchingDisabled, NoKind, http.StatusBadRequest, 0, "a batch (JSON array) when MAX_BATCH is 0"},
	{CodeBatchTooLarge, NoKind, http.StatusBadRequest, 0, "more operations than MAX_BATCH"},
	{CodeUnsupportedMedia, NoKind, http.StatusUnsupportedMediaType, 0, "a POST whose Content-Type is not application/json"},
	{CodeNotAcceptable, NoKind, http.StatusNotAcceptable, 0, "an Accept header that allows neither response type"},
	{CodeMethodNotAllowed, NoKind, http.StatusMethodNotAllowed, 0, "a method other than POST and GET (as GRAPHQL_GET allows), or a mutation over GET"},
	{CodeOverloaded, NoKind, http.StatusServiceUnavailable, 1, "MAX_CONCURRENT_REQUESTS execute and ADMISSION_QUEUE more wait, or this one waited ADMISSION_WAIT; a slot frees within milliseconds, and the hint spreads a client's retries a little"},
	{CodeCancelled, NoKind, http.StatusServiceUnavailable, 0, "the client gave up on the request; no client reads it and nothing logs it"},

	{CodeTooManyTokens, NoKind, 0, 0, "more lexical tokens than MAX_TOKENS"},
	{CodeTooDeep, NoKind, 0, 0, "nested deeper than MAX_DEPTH"},
	{CodeTooManyAliases, NoKind, 0, 0, "more aliases than MAX_ALIASES"},
	{CodeTooComplex, NoKind, 0, 0, "costs more than MAX_COMPLEXITY"},
	{CodeOperationNotAllowed, NoKind, 0, 0, "not in the persisted-operations allow-list"},
	{CodeIntrospectionOff, NoKind, 0, 0, "__schema or __type while INTROSPECTION is off"},
	{CodeTimeout, NoKind, 0, 0, "ran longer than REQUEST_TIMEOUT"},
}

var (
	byCode = func() map[string]CodeRow {
		m := make(map[string]CodeRow, len(Codes))
		for _, c := range Codes {
			m[c.Code] = c
		}
		return m
	}()
	byKind = func() map[Kind]CodeRow {
		m := map[Kind]CodeRow{}
		for _, c := range Codes {
			if c.Kind != NoKind {
				m[c.Kind] = c
			}
		}
		return m
	}()
)

// Code returns the kind's code; INTERNAL for a kind not in the table.
func (k Kind) Code() string {
	if c, ok := byKind[k]; ok {
		return c.Code
	}
	return CodeInternal
}

// Lookup returns the row of code, and whether the table has one.
func Lookup(code string) (CodeRow, bool) {
	c, ok := byCode[code]
	return c, ok
}
