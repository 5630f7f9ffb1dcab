package httpserver

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/propertyportal/gateway/internal/apperr"
)

// storableStrings refuses, before anything runs, an operation with a string
// input that PostgreSQL text cannot store: a NUL (U+0000) or bytes that are
// not UTF-8 (JSON decoding repairs those, a GET's query string does not).
// Such a string would otherwise reach a store and come back as an internal
// error. It reads every literal of the document once (each fragment once,
// however often it is spread) and every coerced variable, defaults
// included, so its work is linear in the request's size. The error is
// BAD_USER_INPUT naming the argument or variable, never the value. The
// variables are read on every request; a document whose literals passed is
// not read again.
type storableStrings struct{ passed passed }

func (storableStrings) ExtensionName() string                   { return "StorableStrings" }
func (storableStrings) Validate(graphql.ExecutableSchema) error { return nil }

func (s storableStrings) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil {
		return nil
	}
	for _, def := range op.Operation.VariableDefinitions {
		if where, bad := unstorableIn(op.Variables[def.Variable]); bad {
			field := "$" + def.Variable + join(where)
			return unstorable(field, "variable "+field, def.Position)
		}
	}
	if s.passed.has(op.Operation) {
		return nil
	}
	w := literalWalk{}
	w.directives(op.Operation.Directives)
	w.selections(op.Operation.SelectionSet)
	for _, f := range op.Doc.Fragments {
		w.directives(f.Directives)
		w.selections(f.SelectionSet)
	}
	if w.err == nil {
		s.passed.add(op.Operation)
	}
	return w.err
}

// storable reports whether PostgreSQL text can hold s.
func storable(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

// unstorable is the error for the input field, which desc describes.
func unstorable(field, desc string, pos *ast.Position) *gqlerror.Error {
	e := apperr.InvalidField(field, "%s must not contain NUL (U+0000) or bytes that are not UTF-8", desc)
	gqlErr := &gqlerror.Error{Message: e.Message, Err: e}
	if pos != nil {
		gqlErr.Locations = []gqlerror.Location{{Line: pos.Line, Column: pos.Column}}
	}
	return gqlErr
}

// unstorableIn reports whether a variable's value holds an unstorable
// string, and where inside it, innermost step first.
func unstorableIn(v any) (where []string, bad bool) {
	switch v := v.(type) {
	case string:
		return nil, !storable(v)
	case []any:
		for i, x := range v {
			if where, bad := unstorableIn(x); bad {
				return append(where, "["+strconv.Itoa(i)+"]"), true
			}
		}
	case map[string]any:
		for k, x := range v {
			if where, bad := unstorableIn(x); bad {
				return append(where, "."+k), true
			}
		}
	}
	return nil, false
}

// join turns the steps unstorableIn returns into a path.
func join(steps []string) string {
	slices.Reverse(steps)
	return strings.Join(steps, "")
}

// literalWalk looks for an unstorable string among a document's literals;
// err holds the first it finds. Variables are checked once, by value.
type literalWalk struct{ err *gqlerror.Error }

func (w *literalWalk) selections(set ast.SelectionSet) {
	for _, sel := range set {
		if w.err != nil {
			return
		}
		switch s := sel.(type) {
		case *ast.Field:
			w.arguments(s.Name, s.Arguments)
			w.directives(s.Directives)
			w.selections(s.SelectionSet)
		case *ast.InlineFragment:
			w.directives(s.Directives)
			w.selections(s.SelectionSet)
		case *ast.FragmentSpread:
			w.directives(s.Directives)
		}
	}
}

func (w *literalWalk) directives(ds ast.DirectiveList) {
	for _, d := range ds {
		w.arguments("@"+d.Name, d.Arguments)
	}
}

func (w *literalWalk) arguments(of string, args ast.ArgumentList) {
	for _, a := range args {
		if w.err != nil {
			return
		}
		if where, v := unstorableLiteral(a.Value); v != nil {
			field := a.Name + join(where)
			w.err = unstorable(field, "argument "+field+" of "+of, v.Position)
		}
	}
}

// unstorableLiteral returns the unstorable string literal inside v, if
// any, and where it is, innermost step first.
func unstorableLiteral(v *ast.Value) (where []string, bad *ast.Value) {
	if v == nil {
		return nil, nil
	}
	switch v.Kind {
	case ast.StringValue, ast.BlockValue:
		if !storable(v.Raw) {
			return nil, v
		}
	case ast.ListValue:
		for i, c := range v.Children {
			if where, bad := unstorableLiteral(c.Value); bad != nil {
				return append(where, "["+strconv.Itoa(i)+"]"), bad
			}
		}
	case ast.ObjectValue:
		for _, c := range v.Children {
			if where, bad := unstorableLiteral(c.Value); bad != nil {
				return append(where, "."+c.Name), bad
			}
		}
	}
	return nil, nil
}
