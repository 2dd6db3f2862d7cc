package pgbackend

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestNextPrefix(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"s/prod/", "s/prod0", true},
		{"a\u00ff", "a\u0100", true},
		{"a\U0010FFFF", "b", true},
		{"\U0010FFFF\U0010FFFF", "", false},
		{"x\uD7FF", "x\uE000", true},
	}
	for _, c := range cases {
		got, ok := nextPrefix(c.in)
		assert.Equal(t, c.ok, ok, "nextPrefix(%q) ok", c.in)
		assert.Equal(t, c.want, got, "nextPrefix(%q)", c.in)
		if ok {
			assert.True(t, utf8.ValidString(got), "nextPrefix(%q) is valid UTF-8", c.in)
			assert.Greater(t, got, c.in+"\U0010FFFF\U0010FFFF", "next is above every extension of %q", c.in)
		}
	}
}

func TestScanPrefix(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"abc", "abc", true},
		{"a\xc3", "a", true},     // first byte of a 2-byte rune
		{"a\xf0\x9f", "a", true}, // 2 of 4 bytes
		{"a\xff", "", false},     // never starts a rune
		{"\xc3(", "", false},     // invalid in the middle
		{"a\x00", "", false},
		{strings.Repeat("a", 1025), "", false},
	}
	for _, c := range cases {
		got, ok := scanPrefix(c.in)
		assert.Equal(t, c.ok, ok, "scanPrefix(%q) ok", c.in)
		assert.Equal(t, c.want, got, "scanPrefix(%q)", c.in)
	}
}
