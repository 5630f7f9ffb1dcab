package graph

import (
	"context"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/propertyportal/gateway/graph/model"
	"github.com/propertyportal/gateway/internal/policy"
)

// Planned objects carry everything an operation reads of them, so writing
// their JSON needs none of gqlgen's per-field machinery (a field context, a
// context value, closures and a goroutine per list element), which costs
// more than the rest of a read put together. FastReads lets gqlgen resolve
// each root field as usual (arguments, resolver, errors) and then writes
// what the root field's resolver returned, when it is a planned object or
// connection, straight to JSON. The result is the one gqlgen would give, as
// TestFastReadsAnswerAsGQLGen checks field by field: the same values, nulls
// carried up to the nearest nullable field, errors on the same paths.
type FastReads struct{}

// ExtensionName names the extension.
func (FastReads) ExtensionName() string { return "FastReads" }

// Validate accepts every schema.
func (FastReads) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptField writes the planned result of a root field.
func (FastReads) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || (fc.Object != "Query" && fc.Object != "Mutation") {
		return next(ctx)
	}
	res, err := next(ctx)
	if err != nil || res == nil {
		return res, err
	}
	w := &writer{ctx: ctx, op: graphql.GetOperationContext(ctx), buf: (*bufs.Get().(*[]byte))[:0]}
	sel := fc.Field.Selections
	var ok bool
	switch v := res.(type) {
	case *model.UserConnection:
		if v == nil {
			return nil, nil
		}
		ok = writeConnection(w, sel, userConnection, v, w.user)
	case *model.BuildingConnection:
		if v == nil {
			return nil, nil
		}
		ok = writeConnection(w, sel, buildingConnection, v, w.building)
	case *model.ContactConnection:
		if v == nil {
			return nil, nil
		}
		ok = writeConnection(w, sel, contactConnection, v, w.contact)
	case *model.InvoiceConnection:
		if v == nil {
			return nil, nil
		}
		ok = writeConnection(w, sel, invoiceConnection, v, w.invoice)
	case *model.User:
		if v == nil {
			return nil, nil
		}
		ok = w.user(sel, v)
	case *model.Building:
		if v == nil {
			return nil, nil
		}
		ok = w.building(sel, v)
	case *model.Contact:
		if v == nil {
			return nil, nil
		}
		ok = w.contact(sel, v)
	case *model.Invoice:
		if v == nil {
			return nil, nil
		}
		ok = w.invoice(sel, v)
	case []model.Node:
		ok = w.nodes(sel, v)
	case *model.BuildingContact:
		if v == nil {
			return nil, nil
		}
		ok = w.link(sel, v)
	default:
		return res, nil // not planned: gqlgen marshals it
	}
	if !ok {
		release(w.buf)
		return graphql.Null, nil // a non-null field below was null: so is this one
	}
	return &rawJSON{w.buf}, nil
}

// bufs holds the buffers root fields are written into, so a read does not
// grow a new one from nothing (doubling a large answer's buffer was a
// third of Q1's bytes).
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxPooled is the largest buffer kept for another request: a rare huge
// answer is left to the collector rather than held.
const maxPooled = 1 << 20

func release(b []byte) {
	if cap(b) <= maxPooled {
		b = b[:0]
		bufs.Put(&b)
	}
}

// rawJSON is JSON written before gqlgen marshals the response. gqlgen
// marshals a root field once, copying it into the response: the buffer
// then goes back to bufs, and a second marshal would write nothing.
type rawJSON struct{ b []byte }

// MarshalGQL writes the JSON.
func (r *rawJSON) MarshalGQL(w io.Writer) {
	_, _ = w.Write(r.b)
	release(r.b)
	r.b = nil
}

// writer writes one root field's planned value. Every write method returns
// false when the value it wrote had to be null but may not be: its caller
// then writes null itself, or returns false in turn.
type writer struct {
	ctx  context.Context // the root field's
	op   *graphql.OperationContext
	buf  []byte
	path []step // below the root field, for the errors

	fields map[*ast.Selection]*collected
}

// step is one step of the path below the root field: a field of an object
// of type object, or an index of a list.
type step struct {
	field  *graphql.CollectedField
	object string
	index  int
}

// collect collects the fields of sel on typ once per selection set: every
// object of a list has the same.
func (w *writer) collect(sel ast.SelectionSet, typ []string) []graphql.CollectedField {
	if len(sel) == 0 {
		return nil
	}
	first := &sel[0]
	for c := w.fields[first]; c != nil; c = c.next {
		if c.n == len(sel) && c.typ == typ[0] {
			return c.fields
		}
	}
	f := graphql.CollectFields(w.op, sel, typ)
	if w.fields == nil {
		w.fields = map[*ast.Selection]*collected{}
	}
	w.fields[first] = &collected{n: len(sel), typ: typ[0], fields: f, next: w.fields[first]}
	return f
}

// collected is the fields of a selection set on a type, kept by the
// selection set's first selection (its backing array): a pointer hashes
// cheaply, and the few sets that share one are told apart by their length
// and type.
type collected struct {
	n      int
	typ    string
	fields []graphql.CollectedField
	next   *collected
}

// here is the context of the current path, as gqlgen's field contexts would
// make it: errors take their path and location from it. It is made only
// for an error.
func (w *writer) here() context.Context {
	ctx := w.ctx
	for _, s := range w.path {
		if s.field == nil {
			i := s.index
			ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
			continue
		}
		ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: s.object, Field: *s.field})
	}
	return ctx
}

// fail reports err on the current field, as gqlgen reports a resolver's.
func (w *writer) fail(err error) {
	ctx := w.here()
	w.op.Error(ctx, graphql.AddFieldLocationToError(ctx, err))
}

// invalidNull reports a null where the schema allows none.
func (w *writer) invalidNull() { graphql.AddInvalidNullError(w.here(), "") }

// object writes the fields of one object of type typ; field writes the
// value of one (with its key already written) and reports whether it could.
// An object that cannot be whole is taken back out of the buffer, once every
// field has reported its errors.
func (w *writer) object(sel ast.SelectionSet, typ []string, field func(f *graphql.CollectedField) bool) bool {
	start := len(w.buf)
	w.buf = append(w.buf, '{')
	whole := true
	fields := w.collect(sel, typ)
	for i := range fields {
		f := &fields[i]
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.str(f.Alias)
		w.buf = append(w.buf, ':')
		if f.Name == "__typename" {
			w.str(typ[0])
			continue
		}
		w.path = append(w.path, step{field: f, object: typ[0]})
		if !field(f) {
			whole = false // the other fields still report their errors, as gqlgen's do
		}
		w.path = w.path[:len(w.path)-1]
	}
	if !whole {
		w.buf = w.buf[:start]
		return false
	}
	w.buf = append(w.buf, '}')
	return true
}

// list writes n elements; an element that cannot be (they are all
// non-null) makes the whole list null, once every element has reported its
// errors.
func (w *writer) list(n int, elem func(i int) bool) bool {
	start := len(w.buf)
	w.buf = append(w.buf, '[')
	whole := true
	for i := range n {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.path = append(w.path, step{index: i})
		if !elem(i) {
			whole = false
		}
		w.path = w.path[:len(w.path)-1]
	}
	if !whole {
		w.buf = w.buf[:start]
		return false
	}
	w.buf = append(w.buf, ']')
	return true
}

// orNull turns a nullable field's failed value into null.
func (w *writer) orNull(ok bool) bool {
	if !ok {
		w.null()
	}
	return true
}

// required is a non-null field whose value is missing.
func (w *writer) required() bool {
	w.invalidNull()
	return false
}

func (w *writer) null() { w.buf = append(w.buf, "null"...) }

func (w *writer) bool(b bool) bool {
	w.buf = strconv.AppendBool(w.buf, b)
	return true
}

func (w *writer) int(n int64) bool {
	w.buf = strconv.AppendInt(w.buf, n, 10)
	return true
}

// uuid writes id in its canonical form, as uuid.UUID.String does.
func (w *writer) uuid(id uuid.UUID) bool {
	const hex = "0123456789abcdef"
	w.buf = append(w.buf, '"')
	for i, b := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			w.buf = append(w.buf, '-')
		}
		w.buf = append(w.buf, hex[b>>4], hex[b&0xf])
	}
	w.buf = append(w.buf, '"')
	return true
}

func (w *writer) time(t time.Time) bool {
	w.buf = append(w.buf, '"')
	w.buf = t.UTC().AppendFormat(w.buf, time.RFC3339Nano)
	w.buf = append(w.buf, '"')
	return true
}

func (w *writer) timeOrNull(t *time.Time) bool {
	if t == nil {
		w.null()
		return true
	}
	return w.time(*t)
}

// str writes s as a JSON string, escaped as gqlgen escapes it.
func (w *writer) str(s string) bool {
	w.buf = append(w.buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			if c < utf8.RuneSelf {
				i++
				continue
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			continue
		}
		w.buf = append(w.buf, s[start:i]...)
		switch c {
		case '\t':
			w.buf = append(w.buf, `\t`...)
		case '\r':
			w.buf = append(w.buf, `\r`...)
		case '\n':
			w.buf = append(w.buf, `\n`...)
		case '\\':
			w.buf = append(w.buf, `\\`...)
		case '"':
			w.buf = append(w.buf, `\"`...)
		default:
			const hex = "0123456789abcdef"
			w.buf = append(w.buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	w.buf = append(w.buf, s[start:]...)
	w.buf = append(w.buf, '"')
	return true
}

func (w *writer) strOrNull(s *string) bool {
	if s == nil {
		w.null()
		return true
	}
	return w.str(*s)
}

// pii writes a @pii field: its value when the planner decided the caller
// may read it, else null with FORBIDDEN on the field, as the directive says.
func (w *writer) pii(o interface{ Sees(policy.Kind) bool }, k policy.Kind, s *string) bool {
	if !o.Sees(k) {
		w.fail(policy.ErrForbidden)
		w.null()
		return true
	}
	return w.strOrNull(s)
}

// The object types.

func (w *writer) user(sel ast.SelectionSet, u *model.User) bool {
	return w.object(sel, userImplementors, func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "id":
			return w.uuid(u.ID)
		case "tenantId":
			return w.uuid(u.TenantID)
		case "idpId":
			return w.str(u.IdPID)
		case "externalId":
			return w.str(u.ExternalID)
		case "email":
			return w.pii(u, policy.Email, u.Email)
		case "fullName":
			return w.pii(u, policy.Name, u.FullName)
		case "syncedAt":
			return w.timeOrNull(u.SyncedAt)
		case "createdAt":
			return w.time(u.CreatedAt)
		case "erasedAt":
			return w.timeOrNull(u.ErasedAt)
		case "contact":
			return w.orNull(u.Contact != nil && w.contact(f.Selections, u.Contact))
		case "invoices":
			conn, err := u.InvoicePages.Get(pageKey(f.ArgumentMap(w.op.Variables)))
			switch {
			case err != nil:
				w.fail(err)
				return false
			case conn == nil:
				return w.required()
			}
			return writeConnection(w, f.Selections, invoiceConnection, conn, w.invoice)
		}
		return w.unknown(f)
	})
}

func (w *writer) contact(sel ast.SelectionSet, c *model.Contact) bool {
	return w.object(sel, contactImplementors, func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "id":
			return w.uuid(c.ID)
		case "tenantId":
			return w.uuid(c.TenantID)
		case "fullName":
			return w.pii(c, policy.Name, c.FullName)
		case "email":
			return w.pii(c, policy.Email, c.Email)
		case "phone":
			return w.pii(c, policy.Phone, c.Phone)
		case "createdAt":
			return w.time(c.CreatedAt)
		case "erasedAt":
			return w.timeOrNull(c.ErasedAt)
		case "user":
			return w.orNull(c.User != nil && w.user(f.Selections, c.User))
		case "buildings":
			return w.links(f.Selections, c.Buildings)
		}
		return w.unknown(f)
	})
}

func (w *writer) building(sel ast.SelectionSet, b *model.Building) bool {
	return w.object(sel, buildingImplementors, func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "id":
			return w.uuid(b.ID)
		case "tenantId":
			return w.uuid(b.TenantID)
		case "providerId":
			return w.uuid(b.ProviderID)
		case "name":
			return w.str(b.Name)
		case "address":
			return w.str(b.Address)
		case "createdAt":
			return w.time(b.CreatedAt)
		case "contacts":
			return w.links(f.Selections, b.Contacts)
		case "primaryContact":
			return w.orNull(b.PrimaryContact != nil && w.contact(f.Selections, b.PrimaryContact))
		}
		return w.unknown(f)
	})
}

// nodes writes a non-null list of nullable nodes: a node that cannot be
// whole is null.
func (w *writer) nodes(sel ast.SelectionSet, ns []model.Node) bool {
	return w.list(len(ns), func(i int) bool {
		switch n := ns[i].(type) {
		case *model.User:
			return w.orNull(w.user(sel, n))
		case *model.Contact:
			return w.orNull(w.contact(sel, n))
		case *model.Building:
			return w.orNull(w.building(sel, n))
		case *model.Invoice:
			return w.orNull(w.invoice(sel, n))
		}
		w.null()
		return true
	})
}

// links writes a non-null list of non-null links.
func (w *writer) links(sel ast.SelectionSet, ls []*model.BuildingContact) bool {
	if ls == nil {
		ls = []*model.BuildingContact{}
	}
	return w.list(len(ls), func(i int) bool { return w.link(sel, ls[i]) })
}

func (w *writer) link(sel ast.SelectionSet, l *model.BuildingContact) bool {
	return w.object(sel, buildingContactImplementors, func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "building":
			if l.Building == nil {
				return w.required()
			}
			return w.building(f.Selections, l.Building)
		case "contact":
			if l.Contact == nil {
				return w.required()
			}
			return w.contact(f.Selections, l.Contact)
		case "role":
			return w.str(l.Role)
		case "isPrimary":
			return w.bool(l.IsPrimary)
		}
		return w.unknown(f)
	})
}

func (w *writer) invoice(sel ast.SelectionSet, inv *model.Invoice) bool {
	return w.object(sel, invoiceImplementors, func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "id":
			return w.uuid(inv.ID)
		case "tenantId":
			return w.uuid(inv.TenantID)
		case "number":
			return w.str(inv.Number)
		case "amountMinor":
			return w.int(inv.AmountMinor)
		case "currency":
			return w.str(inv.Currency)
		case "issuedAt":
			return w.time(inv.IssuedAt)
		case "createdByUserId":
			return w.uuid(inv.CreatedByUserID)
		case "createdBy":
			if inv.CreatedBy == nil {
				return w.required()
			}
			return w.user(f.Selections, inv.CreatedBy)
		}
		return w.unknown(f)
	})
}

// writeConnection writes a connection of nodes of typ.
// connectionType names a connection's types, as w.object takes them.
type connectionType struct{ conn, edge []string }

var (
	userConnection     = connectionType{[]string{"UserConnection"}, []string{"UserEdge"}}
	buildingConnection = connectionType{[]string{"BuildingConnection"}, []string{"BuildingEdge"}}
	contactConnection  = connectionType{[]string{"ContactConnection"}, []string{"ContactEdge"}}
	invoiceConnection  = connectionType{[]string{"InvoiceConnection"}, []string{"InvoiceEdge"}}
)

func writeConnection[N any](w *writer, sel ast.SelectionSet, typ connectionType, c *model.Connection[N], node func(ast.SelectionSet, N) bool) bool {
	return w.object(sel, typ.conn, func(f *graphql.CollectedField) bool {
		switch f.Name {
		case "edges":
			return w.list(len(c.Edges), func(i int) bool {
				e := c.Edges[i]
				return w.object(f.Selections, typ.edge, func(ef *graphql.CollectedField) bool {
					switch ef.Name {
					case "cursor":
						return w.str(e.Cursor())
					case "node":
						return node(ef.Selections, e.Node)
					}
					return w.unknown(ef)
				})
			})
		case "pageInfo":
			p := c.PageInfo
			return w.object(f.Selections, pageInfoImplementors, func(pf *graphql.CollectedField) bool {
				switch pf.Name {
				case "hasNextPage":
					return w.bool(p.HasNextPage)
				case "hasPreviousPage":
					return w.bool(p.HasPreviousPage)
				case "startCursor":
					return w.strOrNull(p.StartCursor())
				case "endCursor":
					return w.strOrNull(p.EndCursor())
				}
				return w.unknown(pf)
			})
		case "totalCount":
			n, err := c.TotalCount(w.here())
			if err != nil {
				w.fail(err)
				return false
			}
			return w.int(int64(n))
		}
		return w.unknown(f)
	})
}

// unknown is a field the writer does not know: the schema has a field this
// file was not told of (TestFastReadsKnowEveryField fails first).
func (w *writer) unknown(*graphql.CollectedField) bool {
	w.fail(errNotWritten)
	return false
}

var errNotWritten = &notWritten{}

type notWritten struct{}

func (*notWritten) Error() string { return "field not known to the writer" }
