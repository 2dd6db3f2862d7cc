package redisbackend

import (
	"crypto/tls"
	"fmt"
	"time"
)

// Defaults of the options.
const (
	// DefaultPrefix is the key prefix used without WithPrefix.
	DefaultPrefix = "agentvault"
	// DefaultIndexShards is the number of index shards used without
	// WithIndexShards.
	DefaultIndexShards = 16
	// MaxIndexShards is the largest number of index shards accepted.
	MaxIndexShards = 1024
	// DefaultDialTimeout is Open's dial timeout without WithDialTimeout.
	DefaultDialTimeout = 5 * time.Second
	// DefaultReadTimeout is Open's read timeout without WithReadTimeout.
	DefaultReadTimeout = 3 * time.Second
	// DefaultWriteTimeout is Open's write timeout without WithWriteTimeout.
	DefaultWriteTimeout = 3 * time.Second
	// DefaultWaitTimeout is how long a write waits for its replicas without
	// WithWaitTimeout.
	DefaultWaitTimeout = time.Second
	// MaxWaitReplicas is the largest replica count WithWait accepts.
	MaxWaitReplicas = 16
)

// WaitAuto is the default replica count of WithWait: wait for one replica
// on every master that has, or was once seen by this Backend to have, a
// connected replica, and for none on a master that never had one. See the
// package documentation, "Replication and failover".
const WaitAuto = -1

// maxPrefixLen bounds the key prefix, in bytes.
const maxPrefixLen = 128

// An Option configures New and Open. Options are the only configuration
// this package has; each states its default.
type Option func(*options)

type options struct {
	prefix       string
	shards       int
	dialTimeout  time.Duration
	readTimeout  time.Duration
	writeTimeout time.Duration
	tlsConfig    *tls.Config
	wait         int           // replicas each write waits for; WaitAuto; 0 off
	waitTimeout  time.Duration // how long a write waits for them
	noMarks      bool          // tests: no lost-write detection (the old behaviour)
}

func newOptions(opts []Option) (options, error) {
	o := options{
		prefix:       DefaultPrefix,
		shards:       DefaultIndexShards,
		dialTimeout:  DefaultDialTimeout,
		readTimeout:  DefaultReadTimeout,
		writeTimeout: DefaultWriteTimeout,
		wait:         WaitAuto,
		waitTimeout:  DefaultWaitTimeout,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := validPrefix(o.prefix); err != nil {
		return o, err
	}
	if o.shards < 1 || o.shards > MaxIndexShards {
		return o, fmt.Errorf("redisbackend: index shards %d out of range 1..%d", o.shards, MaxIndexShards)
	}
	if o.dialTimeout <= 0 || o.readTimeout <= 0 || o.writeTimeout <= 0 {
		return o, fmt.Errorf("redisbackend: timeouts must be positive (dial %v, read %v, write %v)",
			o.dialTimeout, o.readTimeout, o.writeTimeout)
	}
	if o.wait < WaitAuto || o.wait > MaxWaitReplicas {
		return o, fmt.Errorf("redisbackend: wait for %d replicas: want 0 to %d, or WaitAuto", o.wait, MaxWaitReplicas)
	}
	if o.waitTimeout <= 0 {
		return o, fmt.Errorf("redisbackend: wait timeout must be positive, got %v", o.waitTimeout)
	}
	return o, nil
}

// validPrefix accepts 1 to 128 bytes of printable ASCII other than space,
// '{' and '}' (braces would change the Cluster hash tag).
func validPrefix(p string) error {
	if p == "" || len(p) > maxPrefixLen {
		return fmt.Errorf("redisbackend: key prefix must be 1 to %d bytes, got %d", maxPrefixLen, len(p))
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c > '~' || c == '{' || c == '}' {
			return fmt.Errorf("redisbackend: key prefix %q: byte %q not allowed (printable ASCII without space, '{' or '}')", p, c)
		}
	}
	return nil
}

// WithPrefix sets the prefix of every Redis key the Backend uses, so that
// several vaults can share one Redis (or one Redis Cluster). All processes
// sharing a vault must use the same prefix. It must be 1 to 128 bytes of
// printable ASCII without space, '{' or '}'. Default DefaultPrefix
// ("agentvault").
func WithPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithIndexShards sets into how many shards the key index is split; each
// shard and the data keys it indexes live in one Cluster hash slot, so more
// shards spread a vault over more Cluster nodes, at the price of one more
// ZRANGEBYLEX per List (all sent in one pipeline). The number is part of the
// stored layout: every process of a vault must use the same value, and
// writes through a Backend configured with another value fail. 1 to
// MaxIndexShards; default DefaultIndexShards (16).
func WithIndexShards(n int) Option { return func(o *options) { o.shards = n } }

// WithDialTimeout sets the timeout for establishing a connection, for
// clients that Open creates (New uses the caller's client as it is). A
// dial_timeout parameter in the URL takes precedence. It also bounds how
// long Open waits for the server's first reply. Default DefaultDialTimeout
// (5s).
func WithDialTimeout(d time.Duration) Option { return func(o *options) { o.dialTimeout = d } }

// WithReadTimeout sets the socket read timeout for clients that Open
// creates. A read_timeout parameter in the URL takes precedence. Default
// DefaultReadTimeout (3s).
func WithReadTimeout(d time.Duration) Option { return func(o *options) { o.readTimeout = d } }

// WithWriteTimeout sets the socket write timeout for clients that Open
// creates. A write_timeout parameter in the URL takes precedence. Default
// DefaultWriteTimeout (3s).
func WithWriteTimeout(d time.Duration) Option { return func(o *options) { o.writeTimeout = d } }

// WithTLSConfig sets the TLS configuration of clients that Open creates for
// rediss URLs, for instance to trust a private CA (RootCAs) or present a
// client certificate. Open uses a clone; its ServerName defaults to the
// URL's host, and skip_verify=true in the URL still disables verification.
// Open fails if it is given with a URL that does not use TLS. Default: the
// system's roots, TLS 1.2 or later.
func WithTLSConfig(cfg *tls.Config) Option { return func(o *options) { o.tlsConfig = cfg } }

// WithWait sets how many replicas must confirm a Put or Delete before it
// returns success: the write and a WAIT replicas timeout go to the key's
// master in one round trip, and if fewer replicas confirm within the wait
// timeout (WithWaitTimeout) the call returns an error wrapping
// ErrNotReplicated, never success (the write may or may not have been
// applied, and may or may not survive a failover). 0 turns waiting off:
// a write is acknowledged as soon as the master applied it, and a failover
// can lose it. WaitAuto waits for one replica on masters that have (or had)
// replicas and for none on masters that never had one. A wait parameter in
// Open's URL takes precedence. 0 to MaxWaitReplicas, or WaitAuto; default
// WaitAuto.
func WithWait(replicas int) Option { return func(o *options) { o.wait = replicas } }

// WithWaitTimeout sets how long a write waits for its replicas (see
// WithWait). Keep it below the client's read timeout, or the socket read
// gives up first (also an error, never a success). A wait_timeout parameter
// in Open's URL takes precedence. Default DefaultWaitTimeout (1s).
func WithWaitTimeout(d time.Duration) Option { return func(o *options) { o.waitTimeout = d } }
