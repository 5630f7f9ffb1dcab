package graph

import (
	"context"
	"errors"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/propertyportal/gateway/internal/apperr"
)

// Codes maps each error kind to its GraphQL extensions.code.
var Codes = map[apperr.Kind]string{
	apperr.Internal:        "INTERNAL",
	apperr.Invalid:         "BAD_USER_INPUT",
	apperr.NotFound:        "NOT_FOUND",
	apperr.Conflict:        "CONFLICT",
	apperr.Forbidden:       "FORBIDDEN",
	apperr.Unauthenticated: "UNAUTHENTICATED",
	apperr.RateLimited:     "RATE_LIMITED",
}

// ErrorPresenter is the one place errors become GraphQL errors. Our errors
// show their safe message and their kind's code; gqlgen's own parse and
// validation errors keep theirs; anything else is logged with the request
// id and shown as "internal error".
func ErrorPresenter(log *slog.Logger, requestID func(context.Context) string) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if e := apperr.As(err); e != nil && e.Kind != apperr.Internal {
			gqlErr.Message = e.Message
			ext := map[string]any{"code": Codes[e.Kind]}
			if e.Field != "" {
				ext["field"] = e.Field
			}
			gqlErr.Extensions = ext
			return gqlErr
		}
		var original *gqlerror.Error
		if apperr.As(err) == nil && errors.As(err, &original) && original.Extensions["code"] != nil && original.Err == nil {
			return gqlErr // a parse or validation error from gqlgen itself
		}
		log.ErrorContext(ctx, "internal error", "request_id", requestID(ctx), "error", err.Error())
		gqlErr.Message = "internal error"
		gqlErr.Extensions = map[string]any{"code": Codes[apperr.Internal]}
		return gqlErr
	}
}

// Recover turns a panic in a resolver into an internal error.
func Recover(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", p)
		return apperr.E(apperr.Internal, "internal error")
	}
}
