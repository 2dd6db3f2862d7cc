package envfile_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/envfile"
)

// noLimits lets round trips through Format be checked on any input size.
var noLimits = []envfile.Option{envfile.WithMaxBytes(0), envfile.WithMaxLineBytes(0)}

// FuzzParse checks that Parse never panics, that its errors are
// *ParseErrors with a plausible line, and that whatever parses survives
// Format and Parse again unchanged (keys, values, export, quote style).
func FuzzParse(f *testing.F) {
	for _, path := range corpus(f) {
		f.Add(readFile(f, path))
	}
	for _, s := range []string{
		"", "A", "A=", "=", "A='", `A="\`, "A=\"\\\n", "export", "export A", "export =1",
		"A=1\r", "A=\r\n", "\uFEFF\uFEFF", "A= #", "A='x'y", "A=\"x\"#", "A.b-c=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		file, err := envfile.ParseString(in)
		if err != nil {
			var pe *envfile.ParseError
			require.ErrorAs(t, err, &pe)
			assert.True(t, errors.Is(err, envfile.ErrSyntax) || errors.Is(err, envfile.ErrTooLarge), "error %v wraps no sentinel", err)
			assert.LessOrEqual(t, pe.Line, strings.Count(in, "\n")+1, "error line past the end: %v", err)
			if pe.Line == 0 {
				assert.ErrorIs(t, err, envfile.ErrTooLarge, "only the total size error has no line")
			}
			return
		}
		prev := 0
		for _, e := range file.Entries {
			require.True(t, envfile.ValidKey(e.Key), "Parse returned invalid key %q", e.Key)
			require.True(t, utf8.ValidString(e.Value))
			require.Greater(t, e.Line, prev, "entries out of order")
			prev = e.Line
		}
		out, err := envfile.Format(file.Entries)
		require.NoError(t, err, "Format(parsed entries)")
		again, err := envfile.ParseString(string(out), noLimits...)
		require.NoError(t, err, "Parse(Format(entries)) of\n%s", out)
		require.Equal(t, stripLines(file.Entries), stripLines(again.Entries), "Parse(Format(entries)) != entries; formatted:\n%s", out)
		assert.Empty(t, again.Warnings, "Parse keeps one definition per variable")
		assert.Zero(t, again.Duplicates)
		out2, err := envfile.Format(again.Entries)
		require.NoError(t, err)
		assert.Equal(t, string(out), string(out2), "Format is not stable")
	})
}

// FuzzFormatRoundTrip checks that any key and value either is rejected by
// Format with ErrInvalidEntry, or parses back exactly, whatever quote style
// is asked for.
func FuzzFormatRoundTrip(f *testing.F) {
	seeds := []string{"", "v", "a b", " lead", "trail ", "it's", `"q"`, "a\nb", "a\r\nb", "\r", `\`, `a\`,
		"#", "a #b", "$HOME", "${X}", `\$`, "'", `'"`, "\t", "ключ 🔑", "\x01\x7f", "\xff", "a\x00b", "\uFEFF"}
	for i, v := range seeds {
		f.Add("KEY", v, uint8(i), i%2 == 0)
	}
	f.Add("", "x", uint8(0), false)
	f.Add("a.b-c", "x", uint8(1), true)
	f.Add("1A", "x", uint8(2), false)
	f.Fuzz(func(t *testing.T, key, value string, quote uint8, export bool) {
		e := envfile.Entry{Key: key, Value: value, Quote: envfile.QuoteStyle(quote % 5), Export: export}
		in := []envfile.Entry{e, {Key: "NEXT", Value: "n"}}
		out, err := envfile.Format(in)
		if !envfile.ValidKey(key) || !utf8.ValidString(value) || strings.IndexByte(value, 0) >= 0 {
			require.ErrorIs(t, err, envfile.ErrInvalidEntry, "Format(%q=%q)", key, value)
			return
		}
		require.NoError(t, err, "Format(%q=%q)", key, value)
		file, err := envfile.ParseString(string(out), noLimits...)
		require.NoError(t, err, "Parse(Format(%q=%q)) of\n%s", key, value, out)
		require.Len(t, file.Entries, 2, "Parse(Format(%q=%q)) of\n%s", key, value, out)
		got := file.Entries[0]
		assert.Equal(t, key, got.Key)
		assert.Equal(t, value, got.Value, "formatted as\n%s", out)
		assert.Equal(t, export, got.Export)
		if e.Quote == envfile.QuoteDouble {
			assert.Equal(t, envfile.QuoteDouble, got.Quote)
		}
		assert.Equal(t, "n", file.Entries[1].Value)
	})
}
