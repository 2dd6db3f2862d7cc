package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/kms"
	"github.com/agentvault/agentvault/kms/awskms"
	"github.com/agentvault/agentvault/kms/gcpkms"
	"github.com/agentvault/agentvault/kms/localkms"
)

// Storage and key providers are chosen by URL scheme. Adding one is one
// entry in backendSchemes or kmsSchemes, and one open function.
var (
	backendSchemes = []scheme[backend.Backend]{
		{name: "file", form: "file://DIR", open: openFileBackend},
		{name: "mem", form: "mem://", open: openMemBackend},
		{name: "redis", form: "redis://[user:pass@]host:port/db", open: openRedisBackend},
		{name: "rediss", form: "rediss://… (TLS)", open: openRedisBackend},
		{name: "redis+cluster", form: "redis+cluster://host:port?addr=host2:port…", open: openRedisBackend},
		{name: "rediss+cluster", form: "rediss+cluster://…", open: openRedisBackend},
		{name: "redis+sentinel", form: "redis+sentinel://host:port?master=NAME…", open: openRedisBackend},
		{name: "rediss+sentinel", form: "rediss+sentinel://…", open: openRedisBackend},
		{name: "postgres", form: "postgres://user@host:port/db?sslmode=… (password: PGPASSWORD)", open: openPostgresBackend},
		{name: "postgresql", form: "postgresql://…", open: openPostgresBackend},
	}
	kmsSchemes = []scheme[kms.KeyProvider]{
		{name: "local", form: "local://FILE", open: openLocalKMS},
		{name: "env", form: "env://VAR", open: openEnvKMS},
		{name: "awskms", form: "awskms://KEY-ID-OR-ARN?region=…&endpoint=…", open: openAWSKMS},
		{name: "gcpkms", form: "gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K", open: openGCPKMS},
	}
)

// scheme opens the storage or key provider that URLs of one scheme name.
type scheme[T any] struct {
	name string // "file": the part before "://"
	form string // "file://DIR": shown in help and errors
	open func(o *opener, t target) (T, error)
}

// target is a URL being opened.
type target struct {
	URL  string // as given; may hold credentials: print only redactURL(URL)
	Rest string // the part after "scheme://"
}

// opener carries what the scheme functions need. In create mode (ass init)
// they make what is missing (directories, key file) and record how to undo
// it; otherwise they fail, creating nothing, when it does not exist.
type opener struct {
	ctx    context.Context
	cfg    *config
	create bool
	undo   []func() // removes what this run created, run newest first on failure

	// Set by openOption values (see openVault).
	previous   []string            // --from-kms URLs: opened as WithPreviousKeyProvider
	createKey  bool                // create the --kms local:// key file if missing, even without create
	keyCreated string              // the key file this run generated, if any
	vaultOpts  []agentvault.Option // withVaultOptions
}

// openOption asks openVault for more than the vault cfg names.
type openOption func(*opener)

// withPreviousKMS opens url (a --kms style URL, through kmsSchemes) as a
// previous key provider (agentvault.WithPreviousKeyProvider): data keys
// and the vault's own key wrapped under it still open, until a rewrap
// moves them to the --kms key.
func withPreviousKMS(url string) openOption {
	return func(o *opener) { o.previous = append(o.previous, url) }
}

// withNewLocalKey creates the --kms local:// key file when it does not
// exist (a new random key), for a migration to a new key file. The file is
// removed again if the vault does not open.
func withNewLocalKey() openOption {
	return func(o *opener) { o.createKey = true }
}

// withVaultOptions passes more options to agentvault.New or Open (the
// scheduler's interval and error function, for ass lifecycle run).
func withVaultOptions(opts ...agentvault.Option) openOption {
	return func(o *opener) { o.vaultOpts = append(o.vaultOpts, opts...) }
}

// rollback removes what this run created.
func (o *opener) rollback() {
	for i := len(o.undo) - 1; i >= 0; i-- {
		o.undo[i]()
	}
	o.undo = nil
}

func openBackend(o *opener, url string) (backend.Backend, error) {
	return openURL(o, "--backend", url, backendSchemes)
}

func openKMS(o *opener, url string) (kms.KeyProvider, error) {
	return openURL(o, "--kms", url, kmsSchemes)
}

func openURL[T any](o *opener, flagName, url string, schemes []scheme[T]) (T, error) {
	var zero T
	name, rest, ok := strings.Cut(url, "://")
	if !ok {
		return zero, &usageError{msg: fmt.Sprintf("invalid %s %q: want one of %s", flagName, redactURL(url), schemeForms(schemes))}
	}
	for _, s := range schemes {
		if s.name == name {
			return s.open(o, target{URL: url, Rest: rest})
		}
	}
	return zero, &usageError{msg: fmt.Sprintf("unknown %s scheme in %q (supported: %s)", flagName, redactURL(url), schemeForms(schemes))}
}

func schemeForms[T any](schemes []scheme[T]) string {
	forms := make([]string, len(schemes))
	for i, s := range schemes {
		forms[i] = s.form
	}
	return strings.Join(forms, ", ")
}

// noVaultError is returned, before anything is created, when a command
// other than init finds no store or key.
type noVaultError struct {
	what string // "vault", "key file"
	at   string
	hint string
}

func (e *noVaultError) Error() string {
	return fmt.Sprintf("no %s at %s (run %s first)", e.what, e.at, e.hint)
}

// missing reports storage or a key that does not exist: at the default
// location it names $ASS_HOME, elsewhere the path itself.
func (o *opener) missing(isDefault bool, what, at string) error {
	if isDefault {
		return &noVaultError{what: "vault", at: o.cfg.home, hint: `"ass init"`}
	}
	return &noVaultError{what: what, at: at, hint: `"ass init" with the same --backend and --kms`}
}

// mkdirAll creates dir (mode 0700) and any missing parents, and records how
// to remove what it created.
func (o *opener) mkdirAll(dir string) error {
	first := ""
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		first = d
		if filepath.Dir(d) == d {
			break
		}
	}
	if first == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	o.undo = append(o.undo, func() { _ = os.RemoveAll(first) })
	return nil
}

func openFileBackend(o *opener, t target) (backend.Backend, error) {
	dir := t.Rest
	if dir == "" {
		return nil, &usageError{msg: "file:// needs a directory, e.g. file:///var/lib/agentvault"}
	}
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return nil, fmt.Errorf("store %s is not a directory", dir)
	case errors.Is(err, fs.ErrNotExist):
		if !o.create {
			return nil, o.missing(t.URL == o.cfg.defaultBackend, "vault", dir)
		}
		if err := o.mkdirAll(dir); err != nil {
			return nil, fmt.Errorf("create store: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("store: %w", err)
	}
	return filebackend.Open(dir)
}

func openMemBackend(_ *opener, t target) (backend.Backend, error) {
	if t.Rest != "" {
		return nil, &usageError{msg: "mem:// takes nothing after the scheme"}
	}
	return membackend.New(), nil
}

func openLocalKMS(o *opener, t target) (kms.KeyProvider, error) {
	file := t.Rest
	if file == "" {
		return nil, &usageError{msg: "local:// needs a key file, e.g. local:///etc/agentvault/key"}
	}
	_, err := os.Stat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !o.create && !o.createKey {
			return nil, o.missing(t.URL == o.cfg.defaultKMS, "key file", file)
		}
		if err := o.mkdirAll(filepath.Dir(file)); err != nil {
			return nil, fmt.Errorf("create key directory: %w", err)
		}
		_, err := localkms.GenerateKeyFile(file)
		switch {
		case err == nil:
			o.undo = append(o.undo, func() { _ = os.Remove(file) })
			o.keyCreated = file
		case errors.Is(err, fs.ErrExist):
			// Another init made it first: use theirs.
		default:
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("key file: %w", err)
	}
	return localkms.LoadFile(file)
}

// openRedisBackend opens any of the Redis URL forms (single node, TLS,
// Cluster, Sentinel); see redisbackend.Open. Errors never hold the password.
func openRedisBackend(_ *opener, t target) (backend.Backend, error) {
	return redisbackend.Open(t.URL)
}

// openAWSKMS uses the AWS default credential chain (environment, shared
// config, instance role); see awskms.OpenURL.
func openAWSKMS(o *opener, t target) (kms.KeyProvider, error) {
	return awskms.OpenURL(o.ctx, t.URL)
}

// openGCPKMS uses Google application default credentials; see gcpkms.OpenURL.
func openGCPKMS(o *opener, t target) (kms.KeyProvider, error) {
	return gcpkms.OpenURL(o.ctx, t.URL)
}

func openEnvKMS(_ *opener, t target) (kms.KeyProvider, error) {
	if t.Rest == "" {
		return nil, &usageError{msg: "env:// needs a variable name, e.g. env://AGENTVAULT_KEY"}
	}
	return localkms.FromEnv(t.Rest)
}

// session is an open vault and what it was opened from.
type session struct {
	vault      *agentvault.AgentVault
	p          principal // what secret commands act as: the token's Session, or vault
	backend    backend.Backend
	keys       kms.KeyProvider
	previous   []kms.KeyProvider // withPreviousKMS
	existed    bool              // create mode: the storage already held data before this run
	keyCreated string            // the local key file this run generated, if any
}

// Close closes the vault and the backend, and the key providers that have
// a Close method.
func (s *session) Close() {
	_ = s.vault.Close()
	_ = s.backend.Close()
	closeKeys(append([]kms.KeyProvider{s.keys}, s.previous...)...)
}

func closeKeys(ps ...kms.KeyProvider) {
	for _, p := range ps {
		if c, ok := p.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

// openVault opens the vault cfg names. With create (ass init) it makes the
// store and key when missing and undoes that if the vault does not open;
// without, it fails with a *noVaultError, creating nothing, when they are
// missing. opts add previous key providers or allow a new key file.
func openVault(ctx context.Context, cfg *config, create bool, opts ...openOption) (_ *session, err error) {
	o := &opener{ctx: ctx, cfg: cfg, create: create}
	for _, opt := range opts {
		opt(o)
	}
	var opened []kms.KeyProvider // closed again on failure
	defer func() {
		if err != nil {
			closeKeys(opened...)
			o.rollback()
		}
	}()
	var previous []kms.KeyProvider
	// The actor is also on ctx (ContextWithActor, see cli.config), which
	// records it as a person (actor kind human) in the audit trail; the
	// vault default covers calls made with a context without it.
	vopts := []agentvault.Option{agentvault.WithActor(cfg.actor), agentvault.WithAuditWriterID(auditWriterID())}
	for _, url := range o.previous {
		ps, err := openPreviousKMS(o, url)
		opened = append(opened, ps...)
		if err != nil {
			return nil, err
		}
		previous = append(previous, ps...)
		for _, p := range ps {
			vopts = append(vopts, agentvault.WithPreviousKeyProvider(p))
		}
	}
	vopts = append(vopts, o.vaultOpts...)
	if err := checkKeyFile(o); err != nil {
		return nil, err
	}
	keys, err := openKMS(o, cfg.kms)
	if err != nil {
		return nil, err
	}
	opened = append(opened, keys)
	b, err := openBackend(o, cfg.backend)
	if err != nil {
		return nil, err
	}
	s := &session{backend: b, keys: keys, previous: previous}
	// Open, never New, first: only init on an empty store may create a
	// vault. A store that holds records but no configuration has lost it;
	// a new one would split the vault (its secrets could never be read
	// again, and new ones would go under the new configuration).
	v, err := agentvault.Open(b, keys, vopts...)
	if errors.Is(err, agentvault.ErrNoVault) {
		names, lerr := b.List(ctx, "")
		switch {
		case lerr != nil:
			err = lerr
		case len(names) > 0:
			err = &orphanedStoreError{url: redactURL(cfg.backend), records: len(names)}
		case create || strings.HasPrefix(cfg.backend, "mem://"): // mem:// is new every time
			v, err = agentvault.New(b, keys, vopts...)
		default:
			err = o.missing(cfg.backend == cfg.defaultBackend && cfg.kms == cfg.defaultKMS, "vault", redactURL(cfg.backend))
		}
	} else if err == nil {
		s.existed = true
	}
	if err != nil {
		_ = b.Close()
		if v != nil {
			_ = v.Close()
		}
		return nil, err
	}
	s.vault = v
	s.keyCreated = o.keyCreated
	return s, nil
}

// orphanedStoreError is a store that holds records but no vault
// configuration: it was moved away or lost, and must be restored.
type orphanedStoreError struct {
	url     string
	records int
}

func (e *orphanedStoreError) Error() string {
	return fmt.Sprintf("store %s holds %d records but no vault config: restore it (from a backup of the store), or init an empty directory; ass init will not create a new vault over it, which could never read them",
		e.url, e.records)
}

// keyMissingError is a local key file that is missing beside a store
// that holds records: it was lost, and must be restored.
type keyMissingError struct{ file, url string }

func (e *keyMissingError) Error() string {
	return fmt.Sprintf("key file %s is missing: restore it; without it nothing in %s can be decrypted (a new key would open none of it)", e.file, e.url)
}

// checkKeyFile refuses, before anything is created, a --kms local:// key
// file that does not exist while the --backend store holds records: the
// key is lost, not yet to be made. (With withNewLocalKey, a rewrap to a
// new key file, a missing file is expected.)
func checkKeyFile(o *opener) error {
	file, ok := strings.CutPrefix(o.cfg.kms, "local://")
	if !ok || file == "" || o.createKey {
		return nil
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	dir, ok := strings.CutPrefix(o.cfg.backend, "file://")
	if !ok {
		// Other stores are not opened just to look (a database may create
		// its table): a key that cannot open their vault fails later,
		// with nothing created (see openVault).
		return nil
	}
	// Look without opening: opening a file store makes its lock file.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != ".lock" {
			return &keyMissingError{file: file, url: redactURL(o.cfg.backend)}
		}
	}
	return nil
}

// openPreviousKMS opens a --from-kms URL. It never creates anything: a
// missing key file is an error naming it.
//
// The library picks a previous provider by its KeyID, the primary key's.
// A local key file rotated without a complete rewrap still has data keys
// wrapped under its earlier keys, so it is opened once per key id, each
// copy with that key as primary.
func openPreviousKMS(o *opener, url string) ([]kms.KeyProvider, error) {
	prev := &opener{ctx: o.ctx, cfg: o.cfg}
	p, err := openURL(prev, "--from-kms", url, kmsSchemes)
	var nv *noVaultError
	if errors.As(err, &nv) {
		_, file, _ := strings.Cut(url, "://")
		return nil, fmt.Errorf("--from-kms: no key file at %s", file)
	}
	if err != nil {
		return nil, err
	}
	ps := []kms.KeyProvider{p}
	kr, ok := p.(*localkms.Keyring)
	if !ok {
		return ps, nil
	}
	for _, id := range kr.KeyIDs() {
		if id == kr.KeyID() {
			continue
		}
		c, err := openURL(prev, "--from-kms", url, kmsSchemes)
		if err != nil {
			return ps, err
		}
		ps = append(ps, c)
		ck, ok := c.(*localkms.Keyring)
		if !ok {
			continue
		}
		if err := ck.SetPrimary(id); err != nil {
			return ps, err
		}
	}
	return ps, nil
}

// redactURL returns url with its userinfo and query values replaced by
// "REDACTED", for messages: redis://:pw@host/0?password=x becomes
// redis://REDACTED@host/0?password=REDACTED.
func redactURL(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		scheme, rest = "", url
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		rest = "REDACTED" + rest[at:]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		query, frag, hasFrag := strings.Cut(rest[q+1:], "#")
		params := strings.Split(query, "&")
		for i, p := range params {
			if k, _, ok := strings.Cut(p, "="); ok {
				params[i] = k + "=REDACTED"
			}
		}
		rest = rest[:q+1] + strings.Join(params, "&")
		if hasFrag {
			rest += "#" + frag
		}
	}
	if ok {
		return scheme + "://" + rest
	}
	return rest
}

// auditWriterID names the audit chain of ass runs on this machine, so that
// each run appends to one chain (where deleting an earlier run's events is
// detected) rather than starting a chain of its own.
func auditWriterID() string {
	host, _ := os.Hostname()
	var b strings.Builder
	b.WriteString("ass-")
	for _, r := range host {
		if b.Len() >= 60 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
