package redisbackend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Open creates a client for the Redis named by rawURL, checks that the
// server answers PING within the dial timeout, and returns a Backend that
// closes the client on Close. The URL forms are:
//
//	redis://[user:password@]host:port[/db][?param=value...]
//	rediss://...                      the same, over TLS
//	redis+cluster://[user:password@]host:port[?addr=host2:port&addr=host3:port...]
//	rediss+cluster://...              the same, over TLS
//	redis+sentinel://[user:password@]sentinelhost:port[/db]?master=NAME[&addr=sentinel2:port...]
//	rediss+sentinel://...             the same, over TLS
//
// For a Cluster, host:port and every addr are seed nodes; the client finds
// the others. For Sentinel, host:port and every addr are sentinels, master
// names the monitored master, and the user and password are those of the
// master and its replicas (sentinels that require a password of their own
// need a client built by the caller and New). Query parameters are
// go-redis's: dial_timeout, read_timeout, write_timeout (a number of seconds
// or a Go duration such as 500ms), max_retries, pool_size, skip_verify and
// the others that redis.ParseURL, redis.ParseClusterURL and
// redis.ParseFailoverURL accept; unknown parameters are an error. Two
// parameters are this package's: wait (a replica count, or "auto") and
// wait_timeout (a Go duration such as 500ms), which override WithWait and
// WithWaitTimeout; wait=0 turns waiting for replicas off. Timeouts
// the URL does not set come from WithDialTimeout, WithReadTimeout and
// WithWriteTimeout; TLS settings beyond the system roots (a private CA, a
// client certificate) from WithTLSConfig. The client honours context
// deadlines (ContextTimeoutEnabled). A refused connection fails at once, a
// server that does not answer after the dial timeout.
//
// Errors never contain the password: they name the servers as
// "redis HOST:PORT db N", "redis cluster HOST:PORT,..." or
// "redis sentinel NAME via HOST:PORT,...".
func Open(rawURL string, opts ...Option) (*Backend, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	secrets := urlPasswords(rawURL)
	rawURL, err = waitParams(rawURL, &o)
	if err != nil {
		return nil, scrub(fmt.Errorf("redisbackend: open: %w", err), secrets)
	}
	ep, err := parseURL(rawURL, o)
	if err != nil {
		return nil, scrub(fmt.Errorf("redisbackend: open: %w", err), secrets)
	}
	// Check the server with a client that neither retries nor re-dials, so
	// that a refused connection fails at once and a hung one within the
	// dial timeout; the Backend's own client keeps go-redis's retries.
	probe := ep.client(true)
	err = ping(probe, ep.pingTimeout)
	_ = probe.Close()
	if err != nil {
		return nil, scrub(fmt.Errorf("redisbackend: open %s: %w", ep.desc, err), secrets)
	}
	return newBackend(ep.client(false), true, ep.desc, o), nil
}

// ping sends PING through c and waits at most timeout for the reply, even
// if the client does not honour the context (Sentinel look-ups may not).
func ping(c redis.UniversalClient, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Ping(ctx).Err() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no reply within %v: %w", timeout, ctx.Err())
	}
}

// schemeList names the URL schemes Open accepts, for its error message.
const schemeList = "redis, rediss, redis+cluster, rediss+cluster, redis+sentinel or rediss+sentinel"

// endpoint is a parsed URL: exactly one of the go-redis option structs is
// set.
type endpoint struct {
	single      *redis.Options
	cluster     *redis.ClusterOptions
	failover    *redis.FailoverOptions
	desc        string        // the servers, without credentials
	pingTimeout time.Duration // the dial timeout in effect
}

// client creates the go-redis client the endpoint describes; a probe
// client makes one attempt per command and one dial per connection.
func (e *endpoint) client(probe bool) redis.UniversalClient {
	switch {
	case e.cluster != nil:
		o := *e.cluster
		o.Addrs = slices.Clone(o.Addrs)
		if probe {
			o.MaxRetries, o.DialerRetries = -1, 1
		}
		return redis.NewClusterClient(&o)
	case e.failover != nil:
		o := *e.failover
		o.SentinelAddrs = slices.Clone(o.SentinelAddrs) // go-redis reorders it
		if probe {
			o.MaxRetries, o.DialerRetries = -1, 1
		}
		return redis.NewFailoverClient(&o)
	default:
		o := *e.single
		if probe {
			o.MaxRetries, o.DialerRetries, o.PoolSize = -1, 1, 1
		}
		return redis.NewClient(&o)
	}
}

// parseURL parses one of Open's URL forms and applies the timeout options
// the URL does not set.
func parseURL(rawURL string, o options) (*endpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// *url.Error repeats the whole URL, password included: keep only
		// the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme == "" || u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("invalid URL: want SCHEME://[user:password@]host:port... with SCHEME one of %s", schemeList)
	}
	ep := &endpoint{}
	if o.tlsConfig != nil && !strings.HasPrefix(u.Scheme, "rediss") {
		return nil, fmt.Errorf("WithTLSConfig needs a TLS URL (rediss, rediss+cluster or rediss+sentinel), not %s", u.Scheme)
	}
	// withTLS applies WithTLSConfig to the TLS configuration go-redis
	// derived from the URL.
	withTLS := func(parsed *tls.Config) *tls.Config {
		if o.tlsConfig == nil || parsed == nil {
			return parsed
		}
		c := o.tlsConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = parsed.ServerName
		}
		if parsed.InsecureSkipVerify {
			c.InsecureSkipVerify = true
		}
		return c
	}
	timeouts := func(dial, read, write *time.Duration) {
		if *dial == 0 {
			*dial = o.dialTimeout
		}
		if *read == 0 {
			*read = o.readTimeout
		}
		if *write == 0 {
			*write = o.writeTimeout
		}
		ep.pingTimeout = *dial
		if ep.pingTimeout <= 0 { // dial_timeout=0 in the URL: no dial timeout
			ep.pingTimeout = o.dialTimeout
		}
	}

	switch u.Scheme {
	case "redis", "rediss":
		ro, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		timeouts(&ro.DialTimeout, &ro.ReadTimeout, &ro.WriteTimeout)
		ro.ContextTimeoutEnabled = true
		ro.TLSConfig = withTLS(ro.TLSConfig)
		ep.single = ro
		ep.desc = fmt.Sprintf("%s %s db %d", u.Scheme, ro.Addr, ro.DB)
		return ep, nil

	case "redis+cluster", "rediss+cluster":
		if u.Path != "" && u.Path != "/" && u.Path != "/0" {
			return nil, errors.New("a cluster URL has no database path (Redis Cluster has only db 0)")
		}
		scheme := strings.TrimSuffix(u.Scheme, "+cluster")
		v := *u
		v.Scheme, v.Path, v.RawPath = scheme, "", ""
		co, err := redis.ParseClusterURL(v.String())
		if err != nil {
			return nil, err
		}
		timeouts(&co.DialTimeout, &co.ReadTimeout, &co.WriteTimeout)
		co.ContextTimeoutEnabled = true
		co.TLSConfig = withTLS(co.TLSConfig)
		ep.cluster = co
		ep.desc = fmt.Sprintf("%s cluster %s", scheme, strings.Join(co.Addrs, ","))
		return ep, nil

	case "redis+sentinel", "rediss+sentinel":
		scheme := strings.TrimSuffix(u.Scheme, "+sentinel")
		q := u.Query()
		master := q.Get("master")
		if q.Has("master_name") {
			if q.Has("master") {
				return nil, errors.New("give the master name once: master= or master_name=")
			}
			master = q.Get("master_name")
		}
		if master == "" {
			return nil, errors.New("a sentinel URL needs master=NAME")
		}
		for _, p := range []string{"password", "username", "sentinel_password", "sentinel_username"} {
			if q.Has(p) {
				return nil, fmt.Errorf("parameter %s not allowed: put the master's credentials in the URL as user:password@", p)
			}
		}
		q.Del("master")
		q.Set("master_name", master)
		v := *u
		v.Scheme, v.User, v.RawQuery = scheme, nil, q.Encode()
		fo, err := redis.ParseFailoverURL(v.String())
		if err != nil {
			return nil, err
		}
		if u.User != nil {
			fo.Username = u.User.Username()
			fo.Password, _ = u.User.Password()
		}
		timeouts(&fo.DialTimeout, &fo.ReadTimeout, &fo.WriteTimeout)
		fo.ContextTimeoutEnabled = true
		fo.TLSConfig = withTLS(fo.TLSConfig)
		ep.failover = fo
		ep.desc = fmt.Sprintf("%s sentinel %s via %s db %d", scheme, master, strings.Join(fo.SentinelAddrs, ","), fo.DB)
		return ep, nil
	}
	return nil, fmt.Errorf("unsupported URL scheme %q: want %s", u.Scheme, schemeList)
}

// urlPasswords returns the password of rawURL's userinfo, as written and
// percent-decoded, found without a full parse so that even a URL that does
// not parse cannot leak it.
func urlPasswords(rawURL string) []string {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return nil
	}
	_, pw, ok := strings.Cut(rest[:at], ":")
	if !ok || pw == "" {
		return nil
	}
	out := []string{pw}
	if dec, err := url.PathUnescape(pw); err == nil && dec != pw {
		out = append(out, dec)
	}
	return out
}

// scrub replaces any password that made it into err's message. It is a
// second line of defence: no message is built from a password.
func scrub(err error, secrets []string) error {
	msg := err.Error()
	leaked := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
			leaked = true
		}
	}
	if !leaked {
		return err
	}
	return errors.New(msg)
}

// waitParams removes the wait and wait_timeout parameters from rawURL's
// query, textually (the userinfo is not re-encoded), and applies them to o.
func waitParams(rawURL string, o *options) (string, error) {
	base, query, ok := strings.Cut(rawURL, "?")
	if !ok {
		return rawURL, nil
	}
	var kept []string
	for _, kv := range strings.Split(query, "&") {
		name, val, _ := strings.Cut(kv, "=")
		switch name {
		case "wait":
			if val == "auto" {
				o.wait = WaitAuto
				continue
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > MaxWaitReplicas {
				return "", fmt.Errorf("parameter wait=%q: want a replica count 0 to %d, or auto", val, MaxWaitReplicas)
			}
			o.wait = n
		case "wait_timeout":
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return "", fmt.Errorf("parameter wait_timeout=%q: want a positive duration such as 500ms", val)
			}
			o.waitTimeout = d
		default:
			kept = append(kept, kv)
		}
	}
	if len(kept) == 0 {
		return base, nil
	}
	return base + "?" + strings.Join(kept, "&"), nil
}
