package redisbackend

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testPassword appears in URLs; no error may contain it.
const testPassword = "hunter2-Secret"

func TestParseURL(t *testing.T) {
	type want struct {
		kind     string // single, cluster, failover
		addrs    []string
		db       int
		user     string
		password string
		tls      bool
		master   string
		dial     time.Duration
		read     time.Duration
		write    time.Duration
		desc     string
	}
	def := func(w want) want {
		if w.dial == 0 {
			w.dial = DefaultDialTimeout
		}
		if w.read == 0 {
			w.read = DefaultReadTimeout
		}
		if w.write == 0 {
			w.write = DefaultWriteTimeout
		}
		return w
	}
	tests := []struct {
		url  string
		opts []Option
		want want
	}{
		{url: "redis://127.0.0.1:6390", want: want{kind: "single", addrs: []string{"127.0.0.1:6390"}, desc: "redis 127.0.0.1:6390 db 0"}},
		{url: "redis://127.0.0.1:6390/", want: want{kind: "single", addrs: []string{"127.0.0.1:6390"}, desc: "redis 127.0.0.1:6390 db 0"}},
		{url: "redis://127.0.0.1:6390/3", want: want{kind: "single", addrs: []string{"127.0.0.1:6390"}, db: 3, desc: "redis 127.0.0.1:6390 db 3"}},
		{url: "redis://db.example.com", want: want{kind: "single", addrs: []string{"db.example.com:6379"}, desc: "redis db.example.com:6379 db 0"}},
		{url: "redis://[::1]:6390/1", want: want{kind: "single", addrs: []string{"[::1]:6390"}, db: 1, desc: "redis [::1]:6390 db 1"}},
		{url: "redis://:" + testPassword + "@h:1/2", want: want{kind: "single", addrs: []string{"h:1"}, db: 2, password: testPassword, desc: "redis h:1 db 2"}},
		{url: "redis://vault:p%40ss%2Fw%3Ard@h:1", want: want{kind: "single", addrs: []string{"h:1"}, user: "vault", password: "p@ss/w:rd", desc: "redis h:1 db 0"}},
		{url: "redis://vault@h:1", want: want{kind: "single", addrs: []string{"h:1"}, user: "vault", desc: "redis h:1 db 0"}},
		{url: "rediss://vault:" + testPassword + "@redis.example.com:6380/4", want: want{kind: "single", addrs: []string{"redis.example.com:6380"}, db: 4, user: "vault", password: testPassword, tls: true, desc: "rediss redis.example.com:6380 db 4"}},
		{url: "redis://h:1?dial_timeout=2s&read_timeout=1&write_timeout=250ms", want: want{kind: "single", addrs: []string{"h:1"}, dial: 2 * time.Second, read: time.Second, write: 250 * time.Millisecond, desc: "redis h:1 db 0"}},
		{url: "redis://h:1", opts: []Option{WithDialTimeout(time.Second), WithReadTimeout(2 * time.Second), WithWriteTimeout(time.Minute)},
			want: want{kind: "single", addrs: []string{"h:1"}, dial: time.Second, read: 2 * time.Second, write: time.Minute, desc: "redis h:1 db 0"}},
		{url: "redis://h:1?read_timeout=4s", opts: []Option{WithReadTimeout(2 * time.Second)},
			want: want{kind: "single", addrs: []string{"h:1"}, read: 4 * time.Second, desc: "redis h:1 db 0"}},

		{url: "redis+cluster://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000",
			want: want{kind: "cluster", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}, desc: "redis cluster 10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000"}},
		{url: "redis+cluster://10.0.0.1:7000/", want: want{kind: "cluster", addrs: []string{"10.0.0.1:7000"}, desc: "redis cluster 10.0.0.1:7000"}},
		{url: "rediss+cluster://u:" + testPassword + "@10.0.0.1:7000/0?addr=10.0.0.2:7000&read_timeout=2s",
			want: want{kind: "cluster", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}, user: "u", password: testPassword, tls: true, read: 2 * time.Second, desc: "rediss cluster 10.0.0.1:7000,10.0.0.2:7000"}},

		{url: "redis+sentinel://10.0.0.1:26379?master=mymaster",
			want: want{kind: "failover", addrs: []string{"10.0.0.1:26379"}, master: "mymaster", desc: "redis sentinel mymaster via 10.0.0.1:26379 db 0"}},
		{url: "redis+sentinel://:" + testPassword + "@10.0.0.1:26379/2?master_name=m&addr=10.0.0.2:26379",
			want: want{kind: "failover", addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}, db: 2, password: testPassword, master: "m", desc: "redis sentinel m via 10.0.0.1:26379,10.0.0.2:26379 db 2"}},
		{url: "rediss+sentinel://u:pw@10.0.0.1:26379?master=m&dial_timeout=1s",
			want: want{kind: "failover", addrs: []string{"10.0.0.1:26379"}, user: "u", password: "pw", tls: true, master: "m", dial: time.Second, desc: "rediss sentinel m via 10.0.0.1:26379 db 0"}},
	}
	for _, tt := range tests {
		o, err := newOptions(tt.opts)
		require.NoError(t, err, "newOptions")
		ep, err := parseURL(tt.url, o)
		if !assert.NoError(t, err, "parseURL(%q)", tt.url) {
			continue
		}
		w := def(tt.want)
		var got want
		switch {
		case ep.single != nil:
			s := ep.single
			got = want{kind: "single", addrs: []string{s.Addr}, db: s.DB, user: s.Username, password: s.Password,
				tls: s.TLSConfig != nil, dial: s.DialTimeout, read: s.ReadTimeout, write: s.WriteTimeout}
			assert.True(t, s.ContextTimeoutEnabled, "parseURL(%q) ContextTimeoutEnabled", tt.url)
		case ep.cluster != nil:
			c := ep.cluster
			got = want{kind: "cluster", addrs: c.Addrs, user: c.Username, password: c.Password,
				tls: c.TLSConfig != nil, dial: c.DialTimeout, read: c.ReadTimeout, write: c.WriteTimeout}
			assert.True(t, c.ContextTimeoutEnabled, "parseURL(%q) ContextTimeoutEnabled", tt.url)
		case ep.failover != nil:
			f := ep.failover
			got = want{kind: "failover", addrs: f.SentinelAddrs, db: f.DB, user: f.Username, password: f.Password,
				tls: f.TLSConfig != nil, master: f.MasterName, dial: f.DialTimeout, read: f.ReadTimeout, write: f.WriteTimeout}
			assert.Empty(t, f.SentinelPassword, "parseURL(%q) SentinelPassword", tt.url)
			assert.True(t, f.ContextTimeoutEnabled, "parseURL(%q) ContextTimeoutEnabled", tt.url)
		}
		got.desc = ep.desc
		assert.Equal(t, w, got, "parseURL(%q)", tt.url)
		assert.Equal(t, w.dial, ep.pingTimeout, "parseURL(%q) ping timeout", tt.url)
		if w.password != "" {
			assert.NotContains(t, ep.desc, w.password, "parseURL(%q) description", tt.url)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	pw := testPassword
	tests := []struct {
		url  string
		want string // substring of the error
	}{
		{"", "invalid URL"},
		{"127.0.0.1:6379", "invalid URL"},
		{"localhost", "invalid URL"},
		{"redis://", "invalid URL"},
		{"redis://:" + pw + "@/0", "invalid URL"},
		{"http://:" + pw + "@h:1", `unsupported URL scheme "http"`},
		{"mem://", "invalid URL"},
		{"redis+ring://:" + pw + "@h:1", `unsupported URL scheme "redis+ring"`},
		{"redis://:" + pw + "@h:1/x", "invalid database number"},
		{"redis://:" + pw + "@h:1/1/2", "invalid URL path"},
		{"redis://:" + pw + "@h:1?foo=" + pw, "unexpected option: foo"},
		{"redis://:" + pw + "@h:1?dial_timeout=soon", "invalid dial_timeout duration"},
		{"redis://:" + pw + "@h:notaport", "invalid port"},
		{"redis://u:" + pw + "%zz@h:1", "invalid URL escape"},
		{"redis://u:" + pw + " x@h:1", "invalid"},
		{"redis://u:" + pw + "@h :1", "invalid"},
		{"redis+cluster://:" + pw + "@h:1/2", "no database path"},
		{"redis+cluster://:" + pw + "@h:1?addr=nohostport", "unable to parse addr param"},
		{"redis+cluster://:" + pw + "@h:1?password=" + pw, "unexpected option: password"},
		{"redis+sentinel://:" + pw + "@h:1", "needs master=NAME"},
		{"redis+sentinel://:" + pw + "@h:1?master=a&master_name=b", "master name once"},
		{"redis+sentinel://h:1?master=m&password=" + pw, "parameter password not allowed"},
		{"redis+sentinel://h:1?master=m&sentinel_password=" + pw, "parameter sentinel_password not allowed"},
		{"redis+sentinel://:" + pw + "@h:1?master=m&bogus=1", "unexpected option: bogus"},
	}
	for _, tt := range tests {
		_, err := parseURL(tt.url, mustOptions(t))
		if !assert.Error(t, err, "parseURL(%q)", tt.url) {
			continue
		}
		assert.Contains(t, err.Error(), tt.want, "parseURL(%q) error", tt.url)

		// Through Open, which fails before any I/O: the error is prefixed
		// and never holds the password.
		start := time.Now()
		_, err = Open(tt.url)
		require.Error(t, err, "Open(%q)", tt.url)
		assert.Less(t, time.Since(start), time.Second, "Open(%q) on a bad URL must fail at once", tt.url)
		msg := err.Error()
		assert.True(t, strings.HasPrefix(msg, "redisbackend: open: "), "Open(%q) error = %q, want prefix %q", tt.url, msg, "redisbackend: open: ")
		assert.NotContains(t, msg, pw, "Open(%q) error leaks the password", tt.url)
		assert.NotContains(t, msg, "hunter2", "Open(%q) error leaks part of the password", tt.url)
	}
}

func TestOpenOptionErrors(t *testing.T) {
	for _, opts := range [][]Option{
		{WithPrefix("")},
		{WithPrefix("has space")},
		{WithPrefix("{tag}")},
		{WithPrefix("a}b")},
		{WithPrefix("é")},
		{WithPrefix(strings.Repeat("p", 129))},
		{WithIndexShards(0)},
		{WithIndexShards(MaxIndexShards + 1)},
		{WithDialTimeout(0)},
		{WithReadTimeout(-time.Second)},
		{WithWriteTimeout(0)},
	} {
		_, err := Open("redis://127.0.0.1:1", opts...)
		assert.ErrorContains(t, err, "redisbackend: ", "Open with bad option")
		_, err = New(nil)
		assert.ErrorContains(t, err, "nil client", "New(nil)")
	}
}

func TestURLPasswords(t *testing.T) {
	tests := []struct {
		url  string
		want []string
	}{
		{"redis://h:1", nil},
		{"redis://user@h:1", nil},
		{"redis://:pw@h:1/0", []string{"pw"}},
		{"redis://u:p%40w@h:1", []string{"p%40w", "p@w"}},
		{"redis://u:a@b@h:1?x=y@z", []string{"a@b"}},
		{"not a url", nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, urlPasswords(tt.url), "urlPasswords(%q)", tt.url)
	}
}

func mustOptions(t *testing.T, opts ...Option) options {
	t.Helper()
	o, err := newOptions(opts)
	require.NoError(t, err, "newOptions")
	return o
}
