package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
)

// Reading the rows of several tables by id in one statement (package node:
// an id does not say which table holds it). Each store describes its
// by-ids read as a Part; UnionAll makes one UNION ALL of them, in which a
// row is tagged with its branch and carries that branch's columns, the
// other branches' columns NULL; SelectUnion hands each row to the scan
// logic of its store, over its own columns only.

// Part is what a store's read of its rows by ids (FindUsersByIDs, ...)
// selects, so that a UNION ALL can select it too: the same columns, from
// the same table, under the same conditions.
type Part struct {
	Columns string   // the select list, as the store's own read has it
	Types   []string // the SQL type of each column, for the NULLs that stand in for it in other branches
	From    string   // the table, and its alias if the columns use one
	// Where adds the conditions of the rows of ids that s may read, as the
	// store's own read does.
	Where func(q *Query, s access.Scope, ids []uuid.UUID)
}

// UnionAll returns the text of one statement that reads the rows of ids
// that s may read from every part, adding its arguments to q: a UNION ALL
// of one branch per part whose first column is the part's index, then the
// columns of every part in turn, those of the other parts NULL. The
// branches share their arguments: the ids, and the tenant, are sent once.
func UnionAll(q *Query, s access.Scope, ids []uuid.UUID, parts ...Part) string {
	var types []string
	for _, p := range parts {
		types = append(types, p.Types...)
	}
	var b strings.Builder
	at := 0
	for i, p := range parts {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("SELECT ")
		b.WriteString(strconv.Itoa(i))
		for _, t := range types[:at] {
			b.WriteString(", NULL::" + t)
		}
		b.WriteString(", " + p.Columns)
		at += len(p.Types)
		for _, t := range types[at:] {
			b.WriteString(", NULL::" + t)
		}
		bq := Query{Args: q.Args, share: true}
		p.Where(&bq, s, ids)
		q.Args = bq.Args
		b.WriteString(" FROM " + p.From + " " + bq.Clause())
	}
	return b.String()
}

// SelectUnion runs query, a statement UnionAll made of parts, as a prepared
// statement, and calls scan for every row with the index of its part and a
// function that scans that part's columns as rows.Scan does (one target per
// column of the part, in order): the store's own scan logic reads the row.
func SelectUnion(ctx context.Context, c *Stmts, parts []Part, scan func(part int, cols func(dest ...any) error) error, query string, args ...any) error {
	at := make([]int, len(parts)+1)
	at[0] = 1
	for i, p := range parts {
		at[i+1] = at[i] + len(p.Types)
	}
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	dest := make([]any, at[len(parts)])
	var part int
	for rows.Next() {
		// Scanned twice: for the tag, then for the tagged part's columns,
		// the others (NULL) discarded.
		dest[0] = &part
		for i := 1; i < len(dest); i++ {
			dest[i] = discard{}
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if part < 0 || part >= len(parts) {
			return fmt.Errorf("scan union: no part %d", part)
		}
		from, to := at[part], at[part+1]
		err := scan(part, func(d ...any) error {
			if len(d) != to-from {
				return fmt.Errorf("scan union: %d targets for the %d columns of part %d", len(d), to-from, part)
			}
			dest[0] = discard{}
			copy(dest[from:to], d)
			return rows.Scan(dest...)
		})
		if err != nil {
			return err
		}
	}
	return rows.Err()
}

// discard scans a column into nothing.
type discard struct{}

func (discard) Scan(any) error { return nil }
