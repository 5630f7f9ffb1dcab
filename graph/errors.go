package graph

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/propertyportal/gateway/internal/apperr"
)

// ErrorPresenter is the one place errors become GraphQL errors. Our errors
// show their safe message and their kind's code (apperr.Codes). gqlgen's own parse and
// validation errors keep their code, and an argument gqlgen could not
// unmarshal is BAD_USER_INPUT; neither echoes what the caller sent (see
// withoutInput). An UNAVAILABLE error carries a retry hint (retryAfter,
// in seconds). An error of a request whose client went away (its context is
// cancelled) is no error of the gateway: it is not logged (the transport
// counts and logs the cancelled request once). Anything else is logged with
// the request id and shown as "internal error".
func ErrorPresenter(log *slog.Logger, requestID func(context.Context) string) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if e := apperr.As(err); e != nil && e.Kind != apperr.Internal {
			gqlErr.Message = e.Message
			row, _ := apperr.Lookup(e.Kind.Code())
			ext := map[string]any{"code": row.Code}
			if e.Field != "" {
				ext["field"] = e.Field
			}
			if row.RetryAfter > 0 {
				ext["retryAfter"] = row.RetryAfter
			}
			gqlErr.Extensions = ext
			return gqlErr
		}
		var original *gqlerror.Error
		if apperr.As(err) == nil && errors.As(err, &original) {
			if original.Extensions["code"] != nil && original.Err == nil {
				return withoutInput(gqlErr) // a parse or validation error from gqlgen itself
			}
			if arg, ok := argumentOf(ctx, original); ok {
				gqlErr.Message = "argument " + arg + ": " + describeValueError(original.Err.Error())
				gqlErr.Extensions = map[string]any{"code": apperr.CodeInvalid, "field": arg}
				return gqlErr
			}
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			gqlErr.Message = "the request was cancelled"
			gqlErr.Extensions = map[string]any{"code": apperr.CodeCancelled}
			return gqlErr
		}
		log.ErrorContext(ctx, "internal error", "request_id", requestID(ctx), "error", err.Error())
		gqlErr.Message = "internal error"
		gqlErr.Extensions = map[string]any{"code": apperr.CodeInternal}
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

// The descriptions that stand in for what the caller sent.
const (
	valueGiven  = "<value>"        // a value: a literal, a variable's value, the operation name
	unknownName = "<unknown name>" // a name that should name something of the schema but does not
)

// withoutInput rewrites a parse, validation or variable error of gqlparser so
// that it names only the schema (types, fields, arguments, enum values,
// directives), the names the document declares (operations, fragments,
// variables, aliases) and positions. Values the caller sent, the operation
// name it asked for, the keys of its input objects and any name that does
// not resolve are replaced with a description; the location or path still
// points at them. The shapes are gqlparser's (validator/rules, validator/vars.go,
// parser, lexer) and gqlgen's executor.
func withoutInput(e *gqlerror.Error) *gqlerror.Error {
	switch {
	case e.Extensions["code"] == errcode.ParseFailed:
		e.Message = escapeTail.ReplaceAllString(e.Message, "escape sequence.")
		e.Message = scrubQuoted(e.Message, punctuatorOrSchema, valueGiven)
	case len(e.Path) >= 2 && e.Path[0] == ast.PathName("variable"):
		variableError(e)
	case e.Rule == "" && len(e.Path) == 0 && opNotFound.MatchString(e.Message):
		e.Message = "no operation in the document has the name given as operationName"
	case strings.HasPrefix(e.Rule, "ValuesOfCorrectType"):
		e.Message = literalError(e.Message)
	case resolvesInSchema[e.Rule]:
		e.Message = scrubQuoted(e.Message, inSchema, unknownName)
	default: // names the document declares; anything that is no name goes
		e.Message = scrubQuoted(e.Message, declaredName, valueGiven)
	}
	return e
}

var (
	quoted       = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	escapeTail   = regexp.MustCompile(`escape sequence: .*$`)
	opNotFound   = regexp.MustCompile(`^operation .* not found$`)
	graphQLName  = regexp.MustCompile(`^\$?[_A-Za-z][_0-9A-Za-z]*$`)
	enumLiteral  = regexp.MustCompile(`^Value "(?:[^"\\]|\\.)*" does not exist in ("[^"]*") enum\.`)
	notValidEnum = regexp.MustCompile(`^.* is not a valid ([_A-Za-z][_0-9A-Za-z]*)$`)
	cannotUse    = regexp.MustCompile(`^cannot use (?:value )?.* as (ID|Int|Float)(: .*)?$`)
)

// resolvesInSchema are the validation rules whose quoted names should name
// something of the schema (or, for fragments and variables, of the
// document) and are reported because they do not.
var resolvesInSchema = map[string]bool{
	"FieldsOnCorrectType": true, "FieldsOnCorrectTypeWithoutSuggestions": true,
	"KnownArgumentNames": true, "KnownArgumentNamesWithoutSuggestions": true,
	"KnownTypeNames": true, "KnownTypeNamesWithoutSuggestions": true,
	"KnownDirectives": true, "KnownFragmentNames": true, "NoUndefinedVariables": true,
	"UniqueArgumentNames": true, "UniqueInputFieldNames": true, "UniqueDirectivesPerLocation": true,
	"ProvidedRequiredArguments": true, "ScalarLeafs": true, "ScalarLeafsWithoutSuggestions": true,
}

// literalError rewrites a ValuesOfCorrectType message: the literal goes,
// the type it should have had stays.
func literalError(msg string) string {
	if m := enumLiteral.FindStringSubmatch(msg); m != nil {
		return "Value " + valueGiven + " does not exist in " + m[1] + " enum."
	}
	for _, cut := range []string{" value: ", ", found "} {
		if i := strings.Index(msg, cut); i >= 0 {
			return msg[:i] + cut + valueGiven + "."
		}
	}
	return scrubQuoted(msg, inSchema, unknownName)
}

// variableError rewrites an error of variable coercion, whose path is
// "variable", the variable's name and the steps into its value: the value
// and any key the input type does not define go, and the message names the
// variable.
func variableError(e *gqlerror.Error) {
	msg := e.Message
	switch {
	case notValidEnum.MatchString(msg):
		msg = "the value given is not a valid " + notValidEnum.FindStringSubmatch(msg)[1]
	case cannotUse.MatchString(msg):
		m := cannotUse.FindStringSubmatch(msg)
		msg = "the value given cannot be used as " + m[1] + m[2]
	default:
		msg = scrubQuoted(msg, inSchema, valueGiven)
	}
	where := "$"
	for i, step := range e.Path[1:] {
		switch s := step.(type) {
		case ast.PathName:
			if i > 0 && !inSchema(string(s)) {
				e.Path[i+1] = ast.PathName(unknownName)
				s = unknownName
			}
			if i > 0 {
				where += "."
			}
			where += string(s)
		case ast.PathIndex:
			where += "[" + strconv.Itoa(int(s)) + "]"
		}
	}
	e.Message = "variable " + where + ": " + msg
}

// argumentOf returns the argument an error is about when gqlgen could not
// unmarshal it: such an error's path runs past its field's own path into
// the argument, where a resolver's error ends at the field.
func argumentOf(ctx context.Context, e *gqlerror.Error) (string, bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || e.Err == nil {
		return "", false
	}
	own := fc.Path()
	if len(e.Path) <= len(own) {
		return "", false
	}
	var b strings.Builder
	for i, step := range e.Path[len(own):] {
		switch s := step.(type) {
		case ast.PathName:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(s))
		case ast.PathIndex:
			b.WriteString("[" + strconv.Itoa(int(s)) + "]")
		}
	}
	return b.String(), true
}

// describeValueError says what was wrong with a value gqlgen could not
// unmarshal, without the value.
func describeValueError(msg string) string {
	if m := notValidEnum.FindStringSubmatch(msg); m != nil && inSchema(m[1]) {
		return "the value given is not a valid " + m[1]
	}
	return "the value given is not valid here"
}

// scrubQuoted replaces every double-quoted part of msg that keep refuses
// with desc.
func scrubQuoted(msg string, keep func(string) bool, desc string) string {
	return quoted.ReplaceAllStringFunc(msg, func(q string) string {
		if s, err := strconv.Unquote(q); err == nil && keep(s) {
			return q
		}
		return desc
	})
}

// punctuators are GraphQL's punctuators, which parse errors quote.
var punctuators = map[string]bool{"!": true, "$": true, "&": true, "(": true, ")": true, "...": true,
	":": true, "=": true, "@": true, "[": true, "]": true, "{": true, "|": true, "}": true}

// punctuatorOrSchema keeps what a parse error expected: a punctuator or a
// name of the schema.
func punctuatorOrSchema(s string) bool { return punctuators[s] || inSchema(s) }

// declaredName keeps a GraphQL name, such as a fragment, variable or alias
// the document declares; anything else is a value.
func declaredName(s string) bool { return graphQLName.MatchString(s) }

// inSchema reports whether s names something of the schema: a type (also
// in a type reference such as [ID!]!), a field, argument, enum value or
// input field, a directive (@name), or a type and field (User.email).
func inSchema(s string) bool {
	names := schemaNames()
	if t := strings.Trim(s, "[]!"); names[t] {
		return true
	}
	if strings.HasPrefix(s, "@") {
		return names[s]
	}
	parts := strings.Split(s, ".")
	for _, p := range parts {
		if !names[p] {
			return false
		}
	}
	return len(parts) > 1
}

// schemaNames are the names the schema defines, computed once.
var schemaNames = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	for name, def := range parsedSchema.Types {
		names[name] = true
		for _, f := range def.Fields {
			names[f.Name] = true
			for _, a := range f.Arguments {
				names[a.Name] = true
			}
		}
		for _, v := range def.EnumValues {
			names[v.Name] = true
		}
	}
	for name, d := range parsedSchema.Directives {
		names["@"+name] = true
		for _, a := range d.Arguments {
			names[a.Name] = true
		}
	}
	return names
})
