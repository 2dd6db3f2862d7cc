package envfile_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/envfile"
)

func TestFormatAutoQuoting(t *testing.T) {
	tests := []struct {
		value, want string
	}{
		{"", `K=`},
		{"abc", `K=abc`},
		{"a-b_c.d/e:f@g+h,i%j^k=l", `K=a-b_c.d/e:f@g+h,i%j^k=l`},
		{"a b", `K='a b'`},
		{" lead", `K=' lead'`},
		{"trail\t", "K='trail\t'"},
		{"#x", `K='#x'`},
		{"a #b", `K='a #b'`},
		{`$HOME ${X}`, `K='$HOME ${X}'`},
		{`say "hi"`, `K='say "hi"'`},
		{`C:\dir`, `K='C:\dir'`},
		{"ключ", `K='ключ'`},
		{"it's", `K='it'\''s'`},
		{"'", `K=''\'''`},
		{`a\`, `K='a\'`},
		{"a\nb", "K='a\nb'"},
		{"a`id`b", "K='a`id`b'"},
		{"=ls", `K='=ls'`},     // zsh expands =cmd
		{"a:=ls", `K='a:=ls'`}, // and :=cmd
		{"abc==", `K=abc==`},
		{"a\r\nb", "K=\"a\\r\nb\""},
		{"it's `id` $(id)\r", "K=\"it's \\`id\\` \\$(id)\\r\""},
		{`x's $y \ "z"`, `K='x'\''s $y \ "z"'`},
	}
	for _, tt := range tests {
		out, err := envfile.Format([]envfile.Entry{{Key: "K", Value: tt.value}})
		require.NoError(t, err, "Format(%q)", tt.value)
		assert.Equal(t, tt.want+"\n", string(out), "Format(%q)", tt.value)
		assertRoundTrip(t, envfile.Entry{Key: "K", Value: tt.value})
	}
}

func TestFormatHonoursQuote(t *testing.T) {
	tests := []struct {
		value string
		quote envfile.QuoteStyle
		want  string
	}{
		{"a b", envfile.QuoteNone, `K='a b'`}, // only plain values go unquoted
		{"$HOME", envfile.QuoteNone, `K='$HOME'`},
		{"a#b", envfile.QuoteNone, `K='a#b'`},
		{"abc", envfile.QuoteNone, `K=abc`},
		{"", envfile.QuoteNone, `K=`},
		{"a #b", envfile.QuoteNone, `K='a #b'`},
		{"'x", envfile.QuoteNone, `K=''\''x'`},
		{"a\nb", envfile.QuoteNone, "K='a\nb'"},
		{"abc", envfile.QuoteSingle, `K='abc'`},
		{"a\nb", envfile.QuoteSingle, "K='a\nb'"},
		{`a\`, envfile.QuoteSingle, `K='a\'`},
		{"it's", envfile.QuoteSingle, `K='it'\''s'`},
		{"a\rb", envfile.QuoteSingle, `K="a\rb"`},
		{"abc", envfile.QuoteDouble, `K="abc"`},
		{"`id` $x \\ \"", envfile.QuoteDouble, "K=\"\\`id\\` \\$x \\\\ \\\"\""},
		{"", envfile.QuoteDouble, `K=""`},
		{"abc", envfile.QuoteStyle(42), `K=abc`},
	}
	for _, tt := range tests {
		e := envfile.Entry{Key: "K", Value: tt.value, Quote: tt.quote}
		out, err := envfile.Format([]envfile.Entry{e})
		require.NoError(t, err, "Format(%q, %v)", tt.value, tt.quote)
		assert.Equal(t, tt.want+"\n", string(out), "Format(%q, %v)", tt.value, tt.quote)
		assertRoundTrip(t, e)
	}
}

// assertRoundTrip checks that e, formatted between two other entries,
// parses back with the same key and value.
func assertRoundTrip(t *testing.T, e envfile.Entry) {
	t.Helper()
	in := []envfile.Entry{{Key: "BEFORE", Value: "1"}, e, {Key: "AFTER", Value: "2"}}
	out, err := envfile.Format(in)
	require.NoError(t, err)
	f, err := envfile.ParseString(string(out))
	require.NoError(t, err, "Parse(Format(%q)) of\n%s", e.Value, out)
	require.Len(t, f.Entries, 3, "Parse(Format(%q)) of\n%s", e.Value, out)
	assert.Equal(t, e.Key, f.Entries[1].Key)
	assert.Equal(t, e.Value, f.Entries[1].Value, "Parse(Format(%q)) of\n%s", e.Value, out)
	assert.Equal(t, e.Export, f.Entries[1].Export)
	assert.Equal(t, "2", f.Entries[2].Value)
}

func TestFormatExportAndOrder(t *testing.T) {
	out, err := envfile.Format([]envfile.Entry{
		{Key: "B", Value: "1", Export: true},
		{Key: "A", Value: "2"},
		{Key: "B", Value: "3"},
	})
	require.NoError(t, err)
	assert.Equal(t, "export B=1\nA=2\nB=3\n", string(out))

	out, err = envfile.Format(nil)
	require.NoError(t, err)
	assert.Empty(t, out)
}

func TestFormatErrors(t *testing.T) {
	tests := []struct {
		name  string
		entry envfile.Entry
		msg   string
	}{
		{"empty key", envfile.Entry{Value: secret}, "envfile: invalid entry: entries[1]: invalid variable name"},
		{"digit key", envfile.Entry{Key: "1A", Value: secret}, "envfile: invalid entry: entries[1]: invalid variable name"},
		{"space in key", envfile.Entry{Key: "A B", Value: secret}, "envfile: invalid entry: entries[1]: invalid variable name"},
		{"slash in key", envfile.Entry{Key: "a/b", Value: secret}, "envfile: invalid entry: entries[1]: invalid variable name"},
		{"invalid utf8", envfile.Entry{Key: "PW", Value: secret + "\xff"}, "envfile: invalid entry: entries[1] (PW): value is not valid UTF-8"},
		{"nul", envfile.Entry{Key: "PW", Value: secret + "\x00"}, "envfile: invalid entry: entries[1] (PW): value contains a NUL byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := []envfile.Entry{{Key: "OK", Value: "1"}, tt.entry}
			out, err := envfile.Format(entries)
			require.ErrorIs(t, err, envfile.ErrInvalidEntry, "Format(%v) err = %v, want ErrInvalidEntry", tt.entry, err)
			assert.Nil(t, out)
			assert.Equal(t, tt.msg, err.Error())
			assert.NotContains(t, err.Error(), secret, "error message leaks the value")

			var buf bytes.Buffer
			f := &envfile.File{Entries: entries}
			n, err := f.WriteTo(&buf)
			require.ErrorIs(t, err, envfile.ErrInvalidEntry)
			assert.Zero(t, n)
			assert.Zero(t, buf.Len(), "WriteTo wrote part of an invalid file")
		})
	}
}

type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTo(t *testing.T) {
	f, err := envfile.ParseString("export A='x y'\n# c\nB=\"m\nl\"\n")
	require.NoError(t, err)
	var buf strings.Builder
	n, err := f.WriteTo(&buf)
	require.NoError(t, err)
	assert.Equal(t, "export A='x y'\nB=\"m\nl\"\n", buf.String())
	assert.Equal(t, int64(buf.Len()), n)

	_, err = f.WriteTo(failWriter{})
	assert.EqualError(t, err, "disk full")
}

func BenchmarkFormat(b *testing.B) {
	f, err := envfile.ParseString(genFile(10_000))
	require.NoError(b, err)
	out, err := envfile.Format(f.Entries)
	require.NoError(b, err)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envfile.Format(f.Entries); err != nil {
			b.Fatal(err)
		}
	}
}
