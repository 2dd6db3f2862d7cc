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
)

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
}

func newOptions(opts []Option) (options, error) {
	o := options{
		prefix:       DefaultPrefix,
		shards:       DefaultIndexShards,
		dialTimeout:  DefaultDialTimeout,
		readTimeout:  DefaultReadTimeout,
		writeTimeout: DefaultWriteTimeout,
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
