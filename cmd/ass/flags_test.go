package main

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"90d", 90 * day},
		{"1d", day},
		{"007d", 7 * day},
		{"36h", 36 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"15m", 15 * time.Minute},
		{"1s", time.Second},
		{"1.5h", 90 * time.Minute},
		{"106751d", 106751 * day},
	} {
		got, err := parseDuration(tc.in)
		require.NoError(t, err, "parseDuration(%q)", tc.in)
		assert.Equal(t, tc.want, got, "parseDuration(%q)", tc.in)
	}
	for _, in := range []string{"", "d", "-1d", "+1d", "1.5d", "1 d", "0d", "0", "0s", "-5m", "90", "abc", "1w", "1d12h", "106752d", "99999999999999999999d"} {
		_, err := parseDuration(in)
		assert.Error(t, err, "parseDuration(%q)", in)
	}
}

func TestParseTag(t *testing.T) {
	for _, tc := range []struct{ in, k, v string }{
		{"team=ml", "team", "ml"},
		{"k=", "k", ""},
		{"url=https://x?a=b", "url", "https://x?a=b"},
		{"with space=and value", "with space", "and value"},
	} {
		k, v, err := parseTag(tc.in)
		require.NoError(t, err, "parseTag(%q)", tc.in)
		assert.Equal(t, [2]string{tc.k, tc.v}, [2]string{k, v}, "parseTag(%q)", tc.in)
	}
	for _, in := range []string{"", "team", "=v", " =v"} {
		_, _, err := parseTag(in)
		assert.Error(t, err, "parseTag(%q)", in)
	}

	tags := tagsFlag{}
	require.NoError(t, tags.Set("a=1"))
	require.NoError(t, tags.Set("b=2"))
	require.NoError(t, tags.Set("a=3"))
	assert.Equal(t, tagsFlag{"a": "3", "b": "2"}, tags)
	assert.Equal(t, "a=3,b=2", tags.String())
}

func TestTimeTierTypeFlags(t *testing.T) {
	var tf timeFlag
	require.NoError(t, tf.Set("2027-01-31T00:00:00+02:00"))
	assert.Equal(t, "2027-01-30T22:00:00Z", tf.t.UTC().Format(time.RFC3339))
	require.NoError(t, tf.Set("2027-01-31T00:00:00.5Z"))
	for _, in := range []string{"2027-01-31", "tomorrow", "2027-01-31 00:00:00Z", ""} {
		assert.Error(t, tf.Set(in), "timeFlag.Set(%q)", in)
	}

	var tier tierFlag
	require.NoError(t, tier.Set("critical"))
	assert.Equal(t, "critical", tier.String())
	err := tier.Set("Critical")
	require.Error(t, err)
	assert.Equal(t, `unknown tier "Critical" (want standard, sensitive or critical)`, err.Error())

	var typ typeFlag
	require.NoError(t, typ.Set("db_credential"))
	assert.Error(t, typ.Set("password"))
}

func TestParseArgs(t *testing.T) {
	newFS := func() (*flag.FlagSet, *string, *bool, tagsFlag) {
		fs := newFlagSet("t")
		s := fs.String("tier", "", "")
		b := fs.Bool("raw", false, "")
		tags := tagsFlag{}
		fs.Var(tags, "tag", "(repeatable)")
		return fs, s, b, tags
	}
	for _, tc := range []struct {
		args []string
		pos  []string
		tier string
		raw  bool
		tags tagsFlag
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, "", false, tagsFlag{}},
		{[]string{"a", "--tier", "x", "b"}, []string{"a", "b"}, "x", false, tagsFlag{}},
		{[]string{"--tier=x", "a", "-raw", "b"}, []string{"a", "b"}, "x", true, tagsFlag{}},
		{[]string{"a", "-tier", "x", "--raw=false"}, []string{"a"}, "x", false, tagsFlag{}},
		{[]string{"a", "--tag", "k=v", "--tag=l=w"}, []string{"a"}, "", false, tagsFlag{"k": "v", "l": "w"}},
		{[]string{"a", "--", "--tier", "-x"}, []string{"a", "--tier", "-x"}, "", false, tagsFlag{}},
		{[]string{"a", "-", "--raw"}, []string{"a", "-"}, "", true, tagsFlag{}},
		{[]string{"--tier", "--raw"}, nil, "--raw", false, tagsFlag{}}, // a value may start with "-"
	} {
		fs, tier, raw, tags := newFS()
		pos, err := parseArgs(fs, tc.args, false, 2)
		require.NoError(t, err, "parseArgs(%q)", tc.args)
		assert.Equal(t, tc.pos, pos, "parseArgs(%q) positional", tc.args)
		assert.Equal(t, tc.tier, *tier, "parseArgs(%q) --tier", tc.args)
		assert.Equal(t, tc.raw, *raw, "parseArgs(%q) --raw", tc.args)
		assert.Equal(t, tc.tags, tags, "parseArgs(%q) --tag", tc.args)
	}
	for _, tc := range []struct {
		args   []string
		secret bool
		want   string
	}{
		{[]string{"--nope"}, false, "unknown flag --nope"},
		{[]string{"a", "-sk-secret"}, true, "argument 2 is an unknown flag (not shown"},
		{[]string{"-sk-secret", "a"}, true, "argument 1 is an unknown flag (not shown"},
		// Both positional arguments given: it cannot be the value, so it is named.
		{[]string{"a", "b", "--tga", "x"}, true, "unknown flag --tga"},
		{[]string{"--tier", "x", "--tier", "y"}, false, "flag --tier given more than once"},
		{[]string{"--raw", "a", "--raw=false"}, false, "flag --raw given more than once"},
		{[]string{"--tier=x", "a", "-tier", "x"}, true, "flag --tier given more than once"},
		{[]string{"---tier", "x"}, false, "unknown flag ---tier"},
		{[]string{"--=x"}, false, "unknown flag --=x"},
		{[]string{"--tier"}, false, "flag --tier needs a value"},
		{[]string{"--raw=maybe"}, false, "flag --raw takes no value"},
		{[]string{"--tag", "novalue"}, false, `invalid --tag: "novalue" is not KEY=VALUE`},
	} {
		fs, _, _, _ := newFS()
		_, err := parseArgs(fs, tc.args, tc.secret, 2)
		require.Error(t, err, "parseArgs(%q)", tc.args)
		assert.Contains(t, err.Error(), tc.want, "parseArgs(%q)", tc.args)
		if tc.secret {
			assert.NotContains(t, err.Error(), "secret", "parseArgs(%q) echoed the argument", tc.args)
		}
	}
	assert.True(t, wantsHelp([]string{"a", "--help"}))
	assert.True(t, wantsHelp([]string{"-h"}))
	assert.False(t, wantsHelp([]string{"a", "--", "-h"}))
	assert.False(t, wantsHelp([]string{"--helpme"}))
}

func TestCheckExpiry(t *testing.T) {
	assert.NoError(t, checkExpiry(map[string]bool{"expires-in": true}, "expires-in", "expires-at"))
	assert.NoError(t, checkExpiry(map[string]bool{}, "expires-in", "expires-at"))
	err := checkExpiry(map[string]bool{"expires-in": true, "no-expiry": true}, "expires-in", "expires-at", "no-expiry")
	require.Error(t, err)
	assert.Equal(t, "--expires-in and --no-expiry cannot be combined", err.Error())
}
