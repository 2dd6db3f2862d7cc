package main

import (
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/pgbackend"
)

// openPostgresBackend opens a PostgreSQL database (pgbackend.Open): the
// password comes from the URL, PGPASSWORD or ~/.pgpass; the table
// (agentvault_kv) is created on first use. Errors name host:port, never
// the password.
func openPostgresBackend(o *opener, t target) (backend.Backend, error) {
	return pgbackend.Open(o.ctx, t.URL)
}
