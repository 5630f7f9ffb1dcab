package directory

import (
	"context"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// LockUserForErasure reads and locks a user visible to the scope, erased or
// not, inside the privacy service's transaction. NotFound outside the scope.
func LockUserForErasure(ctx context.Context, tx *sqlx.Tx, s access.Scope, id uuid.UUID) (*User, error) {
	var q postgres.Query
	q.Where("id = " + q.Arg(id))
	scoped(&q, s, "tenant_id")
	u, err := postgres.QueryRow(ctx, tx, scanUser, `SELECT `+userColumns+` FROM directory.users `+q.Clause()+` FOR UPDATE`, q.Args...)
	if err != nil {
		if err = postgres.Translate(err, "lock user"); apperr.KindOf(err) == apperr.NotFound {
			return nil, apperr.E(apperr.NotFound, "user not found")
		}
		return nil, err
	}
	return u, nil
}

// ScrubUser removes the cached PII of a locked user (email, full name) and
// marks it erased; the id, IdP pointer and tenant stay, so invoices still
// join. It returns the kinds of fields that held data, e.g. "user.email".
func ScrubUser(ctx context.Context, tx *sqlx.Tx, u *User) ([]string, error) {
	var fields []string
	if u.Email != nil {
		fields = append(fields, "user.email")
	}
	if u.FullName != nil {
		fields = append(fields, "user.full_name")
	}
	if len(fields) == 0 && u.ErasedAt != nil {
		return nil, nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE directory.users SET email = NULL, full_name = NULL,
		erased_at = coalesce(erased_at, now()), updated_at = now() WHERE id = $1`, u.ID)
	return fields, postgres.Translate(err, "erase user")
}
