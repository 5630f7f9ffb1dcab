// Package migrations embeds the SQL migrations of every context. It owns the
// schema files only; internal/postgres applies them.
package migrations

import "embed"

// FS holds every migration, named NNNNN_name.sql in goose's format.
//
//go:embed *.sql
var FS embed.FS
