// Package pgbackend is an agentvault Backend on PostgreSQL, through
// github.com/jackc/pgx/v5: the vault in the database a team already runs,
// replicates and backs up.
//
//	pool, err := pgxpool.New(ctx, "postgres://app@db.internal:5432/app?sslmode=verify-full")
//	store, err := pgbackend.New(pool)               // the caller's pool; Close leaves it open
//	store, err := pgbackend.Open(ctx, url)          // or a pool of its own, closed by Close
//	vault, err := agentvault.New(store, keys)
//
// # Layout
//
// One table (default agentvault_kv, see WithTable): key text COLLATE "C"
// PRIMARY KEY, value bytea, rev bigint. Revisions come from a sequence
// (<table>_rev), so a revision is never handed out twice, even across a
// delete and re-create. A second table, <table>_schema, holds the layout's
// version so that later layouts can migrate. Both are created on first use,
// in one transaction under an advisory lock, so many processes may start
// against an empty database at once.
//
// Every operation is one statement (one round trip): a create is an
// INSERT … ON CONFLICT DO NOTHING, an update an UPDATE … WHERE key = $1 AND
// rev = $2, a delete likewise; List is a range scan on the primary key
// (key >= prefix AND key < the next prefix), never LIKE; GetMany (the
// backend.Batcher capability) is one SELECT … WHERE key = ANY($1).
//
// # Errors
//
// Errors wrap the backend sentinels (ErrNotFound, ErrConflict,
// ErrInvalidKey, ErrClosed) and ctx.Err() when the caller's deadline or
// cancellation stopped a statement. A connection failure names the host and
// port, never the password.
//
// A Backend is safe for concurrent use by many goroutines and, through the
// database, by many processes on many machines.
package pgbackend

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentvault/agentvault/backend"
)

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.Batcher = (*Backend)(nil)
)

// SchemaVersion is the table layout this package writes and reads. A
// database whose schema table records a newer version is refused.
const SchemaVersion = 1

// DefaultTable is the table used without WithTable.
const DefaultTable = "agentvault_kv"

// Backend stores agentvault's records in one PostgreSQL table. Create one
// with New or Open. The zero value is not usable.
type Backend struct {
	pool  *pgxpool.Pool
	owned bool
	table string
	q     queries

	closed atomic.Bool
}

type options struct {
	table       string
	initTimeout time.Duration
}

// Option configures New and Open.
type Option func(*options)

// WithTable sets the table name (default "agentvault_kv"): 1–48 characters,
// lower-case letters, digits and underscores, starting with a letter or
// underscore, optionally qualified by a schema ("vault.agentvault_kv"). The
// revision sequence and the schema table take the same name with "_rev" and
// "_schema" appended.
func WithTable(name string) Option { return func(o *options) { o.table = name } }

// WithInitTimeout bounds the first-use set-up that New and Open run
// (creating or checking the tables). Default: 30 seconds.
func WithInitTimeout(d time.Duration) Option { return func(o *options) { o.initTimeout = d } }

var identRE = regexp.MustCompile(`^([a-z_][a-z0-9_]{0,47}\.)?[a-z_][a-z0-9_]{0,47}$`)

// New returns a Backend on the caller's pool, creating the table on first
// use. Close does not close the pool.
func New(pool *pgxpool.Pool, opts ...Option) (*Backend, error) {
	if pool == nil {
		return nil, errors.New("pgbackend: new: pool is nil")
	}
	o := options{table: DefaultTable, initTimeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if !identRE.MatchString(o.table) {
		return nil, fmt.Errorf("pgbackend: new: table name %q is not 1–48 lower-case letters, digits or underscores (optionally schema-qualified)", o.table)
	}
	if o.initTimeout <= 0 {
		return nil, fmt.Errorf("pgbackend: new: init timeout %v must be positive", o.initTimeout)
	}
	b := &Backend{pool: pool, table: o.table, q: newQueries(o.table)}
	ctx, cancel := context.WithTimeout(context.Background(), o.initTimeout)
	defer cancel()
	if err := b.migrate(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN, as pgxpool.ParseConfig accepts; the password may come from the URL,
// PGPASSWORD or ~/.pgpass) and returns a Backend that owns its pool: Close
// closes it.
func Open(ctx context.Context, url string, opts ...Option) (*Backend, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors redact the password; still, never echo the URL.
		return nil, fmt.Errorf("pgbackend: open: invalid connection string: %w", redactErr(err, url))
	}
	cfg.ConnConfig.BuildContextWatcherHandler = CancelOnContextDone
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgbackend: open %s: %w", target(cfg.ConnConfig), redactErr(err, url))
	}
	b, err := New(pool, opts...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	b.owned = true
	return b, nil
}

// CancelOnContextDone is a pgconn BuildContextWatcherHandler that, when a
// statement's context ends, asks the server to cancel the statement (a
// PostgreSQL cancel request) and waits up to 2 seconds for it to stop
// before dropping the connection. pgx's default only closes the
// connection, and a server that does not notice goes on to run (and
// commit) the statement after the caller was told it failed. Open sets it;
// set it on a pool you pass to New:
//
//	cfg, _ := pgxpool.ParseConfig(url)
//	cfg.ConnConfig.BuildContextWatcherHandler = pgbackend.CancelOnContextDone
func CancelOnContextDone(c *pgconn.PgConn) ctxwatch.Handler {
	return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 2 * time.Second}
}

// Close releases the pool if Open created it. Later calls, Close included,
// fail with backend.ErrClosed.
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return fmt.Errorf("pgbackend: close: %w", backend.ErrClosed)
	}
	if b.owned {
		b.pool.Close()
	}
	return nil
}

// Table returns the table name the Backend uses.
func (b *Backend) Table() string { return b.table }

type queries struct {
	get, getMany, insert, update, del, delRev, list, listAll string
}

func newQueries(t string) queries {
	seq := t + "_rev"
	return queries{
		get:     `SELECT value, rev FROM ` + t + ` WHERE key = $1`,
		getMany: `SELECT key, value, rev FROM ` + t + ` WHERE key = ANY($1)`,
		insert:  `INSERT INTO ` + t + ` (key, value, rev) VALUES ($1, $2, nextval('` + seq + `')) ON CONFLICT (key) DO NOTHING RETURNING rev`,
		update:  `UPDATE ` + t + ` SET value = $2, rev = nextval('` + seq + `') WHERE key = $1 AND rev = $3 RETURNING rev`,
		del:     `DELETE FROM ` + t + ` WHERE key = $1 RETURNING rev`,
		// One statement: the CTE deletes on a matching revision; the outer
		// query sees the row as it was before, so a miss tells "not found"
		// from "conflict" without a second round trip.
		delRev:  `WITH d AS (DELETE FROM ` + t + ` WHERE key = $1 AND rev = $2 RETURNING 1) SELECT (SELECT count(*) FROM d), (SELECT rev FROM ` + t + ` WHERE key = $1)`,
		list:    `SELECT key FROM ` + t + ` WHERE key >= $1 AND key < $2 ORDER BY key`,
		listAll: `SELECT key FROM ` + t + ` WHERE key >= $1 ORDER BY key`,
	}
}

// migrate creates the tables on first use, under a transaction-scoped
// advisory lock so concurrent first users do not race, and checks the
// schema version.
func (b *Backend) migrate(ctx context.Context) error {
	t := b.table
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return b.fail(ctx, "set up", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	stmts := []string{
		`SELECT pg_advisory_xact_lock(hashtext('agentvault:' || $1))`,
		`CREATE SEQUENCE IF NOT EXISTS ` + t + `_rev`,
		`CREATE TABLE IF NOT EXISTS ` + t + ` (key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL, rev bigint NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS ` + t + `_schema (version integer NOT NULL)`,
	}
	for i, s := range stmts {
		var args []any
		if i == 0 {
			args = []any{t}
		}
		if _, err := tx.Exec(ctx, s, args...); err != nil {
			return b.fail(ctx, "set up", err)
		}
	}
	var version int
	err = tx.QueryRow(ctx, `SELECT version FROM `+t+`_schema`).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, `INSERT INTO `+t+`_schema (version) VALUES ($1)`, SchemaVersion); err != nil {
			return b.fail(ctx, "set up", err)
		}
	case err != nil:
		return b.fail(ctx, "set up", err)
	case version > SchemaVersion:
		return fmt.Errorf("pgbackend: table %s has schema version %d, newer than this build's %d: upgrade agentvault", t, version, SchemaVersion)
	case version < 1:
		return fmt.Errorf("pgbackend: table %s has an invalid schema version %d", t, version)
	}
	if err := tx.Commit(ctx); err != nil {
		return b.fail(ctx, "set up", err)
	}
	return nil
}

func (b *Backend) check(ctx context.Context) error {
	if b.closed.Load() {
		return backend.ErrClosed
	}
	return ctx.Err()
}

// Get returns the value and revision stored at key.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, int64, error) {
	if err := backend.ValidateKey(key); err != nil {
		return nil, 0, fmt.Errorf("pgbackend: get: %w", err)
	}
	if err := b.check(ctx); err != nil {
		return nil, 0, fmt.Errorf("pgbackend: get: %w", err)
	}
	var val []byte
	var rev int64
	err := b.pool.QueryRow(ctx, b.q.get, key).Scan(&val, &rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, fmt.Errorf("pgbackend: get: %w", backend.ErrNotFound)
	}
	if err != nil {
		return nil, 0, b.fail(ctx, "get", err)
	}
	if val == nil {
		val = []byte{}
	}
	return val, rev, nil
}

// Put stores value at key if its revision is expectedRev (0: create only).
func (b *Backend) Put(ctx context.Context, key string, value []byte, expectedRev int64) (int64, error) {
	if err := backend.ValidateKey(key); err != nil {
		return 0, fmt.Errorf("pgbackend: put: %w", err)
	}
	if expectedRev < 0 {
		return 0, fmt.Errorf("pgbackend: put: negative revision %d: %w", expectedRev, backend.ErrConflict)
	}
	if err := b.check(ctx); err != nil {
		return 0, fmt.Errorf("pgbackend: put: %w", err)
	}
	if value == nil {
		value = []byte{} // NOT NULL: an empty value is still a value
	}
	var rev int64
	var err error
	if expectedRev == 0 {
		err = b.pool.QueryRow(ctx, b.q.insert, key, value).Scan(&rev)
	} else {
		err = b.pool.QueryRow(ctx, b.q.update, key, value, expectedRev).Scan(&rev)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("pgbackend: put: %w", backend.ErrConflict)
	}
	if err != nil {
		return 0, b.fail(ctx, "put", err)
	}
	return rev, nil
}

// Delete removes key if its revision is expectedRev (0: any revision).
func (b *Backend) Delete(ctx context.Context, key string, expectedRev int64) error {
	if err := backend.ValidateKey(key); err != nil {
		return fmt.Errorf("pgbackend: delete: %w", err)
	}
	if expectedRev < 0 {
		return fmt.Errorf("pgbackend: delete: negative revision %d: %w", expectedRev, backend.ErrConflict)
	}
	if err := b.check(ctx); err != nil {
		return fmt.Errorf("pgbackend: delete: %w", err)
	}
	if expectedRev == 0 {
		var rev int64
		err := b.pool.QueryRow(ctx, b.q.del, key).Scan(&rev)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pgbackend: delete: %w", backend.ErrNotFound)
		}
		if err != nil {
			return b.fail(ctx, "delete", err)
		}
		return nil
	}
	var deleted int64
	var current *int64
	if err := b.pool.QueryRow(ctx, b.q.delRev, key, expectedRev).Scan(&deleted, &current); err != nil {
		return b.fail(ctx, "delete", err)
	}
	switch {
	case deleted == 1:
		return nil
	case current == nil:
		return fmt.Errorf("pgbackend: delete: %w", backend.ErrNotFound)
	default:
		return fmt.Errorf("pgbackend: delete: %w", backend.ErrConflict)
	}
}

// List returns the keys starting with prefix, in byte order, by a range
// scan on the primary key.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	if err := b.check(ctx); err != nil {
		return nil, fmt.Errorf("pgbackend: list: %w", err)
	}
	// A prefix may be any string; keys are valid UTF-8 without NUL of at
	// most MaxKeyLen bytes. Scan the range of the prefix's longest valid
	// UTF-8 start (a trailing partial rune is dropped) and filter exactly.
	lo, ok := scanPrefix(prefix)
	if !ok {
		return []string{}, nil // no key can start with it
	}
	var rows pgx.Rows
	var err error
	if next, ok := nextPrefix(lo); ok {
		rows, err = b.pool.Query(ctx, b.q.list, lo, next)
	} else {
		rows, err = b.pool.Query(ctx, b.q.listAll, lo)
	}
	if err != nil {
		return nil, b.fail(ctx, "list", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, b.fail(ctx, "list", err)
	}
	out := keys[:0]
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) { // the range is exact; this is a guard
			out = append(out, k)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// GetMany reads many keys in one round trip (backend.Batcher).
func (b *Backend) GetMany(ctx context.Context, keys []string) ([]backend.Item, error) {
	for _, k := range keys {
		if err := backend.ValidateKey(k); err != nil {
			return nil, fmt.Errorf("pgbackend: get many: %w", err)
		}
	}
	if err := b.check(ctx); err != nil {
		return nil, fmt.Errorf("pgbackend: get many: %w", err)
	}
	items := make([]backend.Item, len(keys))
	for i, k := range keys {
		items[i].Key = k
	}
	if len(keys) == 0 {
		return items, nil
	}
	rows, err := b.pool.Query(ctx, b.q.getMany, keys)
	if err != nil {
		return nil, b.fail(ctx, "get many", err)
	}
	found := make(map[string]backend.Item, len(keys))
	for rows.Next() {
		var it backend.Item
		if err := rows.Scan(&it.Key, &it.Value, &it.Rev); err != nil {
			rows.Close()
			return nil, b.fail(ctx, "get many", err)
		}
		if it.Value == nil {
			it.Value = []byte{}
		}
		found[it.Key] = it
	}
	if err := rows.Err(); err != nil {
		return nil, b.fail(ctx, "get many", err)
	}
	for i, k := range keys {
		if it, ok := found[k]; ok {
			// A key asked for twice gets its own copy each time.
			items[i] = backend.Item{Key: k, Value: append([]byte{}, it.Value...), Rev: it.Rev}
		}
	}
	return items, nil
}

// scanPrefix returns the part of prefix a range scan can use: prefix
// without a trailing incomplete UTF-8 sequence. ok is false when no valid
// key can start with prefix.
func scanPrefix(prefix string) (string, bool) {
	if len(prefix) > backend.MaxKeyLen || strings.IndexByte(prefix, 0) >= 0 {
		return "", false
	}
	if utf8.ValidString(prefix) {
		return prefix, true
	}
	// Drop a trailing incomplete rune (a lead byte and fewer continuation
	// bytes than it announces) that a longer key may complete.
	for cut := 1; cut <= 3 && cut <= len(prefix); cut++ {
		head, tail := prefix[:len(prefix)-cut], prefix[len(prefix)-cut:]
		if utf8.ValidString(head) && incompleteRune(tail) {
			return head, true
		}
	}
	return "", false
}

// incompleteRune reports whether t is the start of a UTF-8 sequence cut
// short: a lead byte followed by fewer continuation bytes than it needs.
func incompleteRune(t string) bool {
	var need int
	switch c := t[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 2
	case c >= 0xE0 && c <= 0xEF:
		need = 3
	case c >= 0xF0 && c <= 0xF4:
		need = 4
	default:
		return false
	}
	if len(t) >= need {
		return false
	}
	for i := 1; i < len(t); i++ {
		if t[i] < 0x80 || t[i] > 0xBF {
			return false
		}
	}
	return true
}

// nextPrefix returns the smallest string greater than every string that
// starts with p, in byte (and so code point) order: p with its last rune
// that is below U+10FFFF incremented and what follows it dropped. ok is
// false when there is none (p empty or all U+10FFFF).
func nextPrefix(p string) (string, bool) {
	for end := len(p); end > 0; {
		r, size := utf8.DecodeLastRuneInString(p[:end])
		start := end - size
		if r < utf8.MaxRune {
			r++
			if r == 0xD800 { // skip the surrogates, which UTF-8 cannot encode
				r = 0xE000
			}
			return p[:start] + string(r), true
		}
		end = start
	}
	return "", false
}

// fail wraps a driver error: the caller's context error when the statement
// was cancelled, a message naming host:port (never the password) when the
// server cannot be reached.
func (b *Backend) fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		// A cancelled statement reports 57014 (query_canceled) or a
		// network error; the caller's context is the cause.
		if !errors.Is(err, cerr) {
			return fmt.Errorf("pgbackend: %s: %w (%s)", op, cerr, safeText(err))
		}
		return fmt.Errorf("pgbackend: %s: %w", op, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("pgbackend: %s: cannot connect to %s: %w", op, target(b.pool.Config().ConnConfig), err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("pgbackend: %s: server error %s: %s", op, pe.Code, pe.Message)
	}
	return fmt.Errorf("pgbackend: %s: %w", op, err)
}

// safeText is err's text for a wrapped message: a server error's code and
// message only.
func safeText(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return "server error " + pe.Code + ": " + pe.Message
	}
	return err.Error()
}

// target names the server as host:port/database, without user or password.
func target(c *pgx.ConnConfig) string {
	if c == nil {
		return "the database"
	}
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)
}

// redactErr replaces any occurrence of the connection string's password in
// err's text. pgx already redacts it; this is a second guard for the
// messages of its dependencies.
func redactErr(err error, url string) error {
	cfg, perr := pgconn.ParseConfig(url)
	if perr != nil || cfg.Password == "" || !strings.Contains(err.Error(), cfg.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), cfg.Password, "xxxxx"))
}
