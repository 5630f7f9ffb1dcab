//go:build tools

// Package tools pins the gqlgen code generator in go.mod, so
// `go generate ./...` runs the same version offline once the module cache is warm.
package tools

import _ "github.com/99designs/gqlgen"
