package postgres

// MaxStmts is maxStmts, for the tests of the bound.
const MaxStmts = maxStmts
