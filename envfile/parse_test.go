package envfile_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/envfile"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden is what testdata/NAME.golden holds for testdata/NAME.env. Values are
// written in clear: the corpus holds no real secrets.
type golden struct {
	Entries  []goldenEntry   `json:"entries"`
	Warnings []goldenWarning `json:"warnings,omitempty"`
	Error    string          `json:"error,omitempty"`
	// Format is Format(Entries) split into lines: it pins the formatter's
	// quoting choices.
	Format []string `json:"format,omitempty"`
}

type goldenEntry struct {
	Line   int    `json:"line"`
	Key    string `json:"key"`
	Value  string `json:"value"`
	Export bool   `json:"export,omitempty"`
	Quote  string `json:"quote"`
}

type goldenWarning struct {
	Line int    `json:"line"`
	Key  string `json:"key"`
	Msg  string `json:"msg"`
}

func corpus(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.env"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

func toGolden(t *testing.T, f *envfile.File, err error) golden {
	t.Helper()
	g := golden{Entries: []goldenEntry{}}
	if err != nil {
		g.Error = err.Error()
		return g
	}
	for _, e := range f.Entries {
		g.Entries = append(g.Entries, goldenEntry{e.Line, e.Key, e.Value, e.Export, e.Quote.String()})
	}
	for _, w := range f.Warnings {
		g.Warnings = append(g.Warnings, goldenWarning(w))
	}
	out, ferr := envfile.Format(f.Entries)
	require.NoError(t, ferr, "Format(entries of a parsed file)")
	if len(out) > 0 {
		g.Format = strings.SplitAfter(string(out), "\n")
		g.Format = g.Format[:len(g.Format)-1] // the empty string after the final newline
	}
	return g
}

// TestCorpus parses every testdata/*.env file and compares the entries,
// warnings, error and formatted output with testdata/*.golden (go test
// -run TestCorpus -update rewrites them). For files that parse, it also
// checks that the formatted output parses back to the same entries.
func TestCorpus(t *testing.T) {
	for _, path := range corpus(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			f, perr := envfile.Parse(strings.NewReader(string(data)))
			got := toGolden(t, f, perr)

			goldenPath := strings.TrimSuffix(path, ".env") + ".golden"
			if *update {
				b, err := json.MarshalIndent(got, "", "  ")
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(goldenPath, append(b, '\n'), 0o644))
			}
			b, err := os.ReadFile(goldenPath)
			require.NoError(t, err, "missing golden file; run go test -run TestCorpus -update")
			var want golden
			require.NoError(t, json.Unmarshal(b, &want))
			assert.Equal(t, want, got, "Parse(%s) differs from %s", path, goldenPath)

			if perr != nil {
				return
			}
			f2, err := envfile.ParseString(strings.Join(got.Format, ""))
			require.NoError(t, err, "Parse(Format(entries))")
			assert.Equal(t, stripLines(f.Entries), stripLines(f2.Entries), "Parse(Format(entries)) != entries")
		})
	}
}

// stripLines zeroes line numbers, which formatting changes (comments and
// blank lines are not written), and counts unquoted values as
// single-quoted: Format quotes every value that is not plain, so that a
// shell sourcing the file expands nothing.
func stripLines(es []envfile.Entry) []envfile.Entry {
	out := make([]envfile.Entry, len(es))
	for i, e := range es {
		e.Line = 0
		if e.Quote == envfile.QuoteNone {
			e.Quote = envfile.QuoteSingle
		}
		out[i] = e
	}
	return out
}

func TestParseGrammar(t *testing.T) {
	type kv = [2]string
	tests := []struct {
		name string
		in   string
		want []kv
	}{
		{"empty input", "", nil},
		{"bom only", "\uFEFF", nil},
		{"bom then entry", "\uFEFFA=1", []kv{{"A", "1"}}},
		{"blank lines", "\n\n  \n\t\nA=1\n\n", []kv{{"A", "1"}}},
		{"export prefix", "export A=1", []kv{{"A", "1"}}},
		{"export name", "export=1", []kv{{"export", "1"}}},
		{"export name spaced", "export = 1", []kv{{"export", "1"}}},
		{"exported name", "exported=1", []kv{{"exported", "1"}}},
		{"spaces around =", "A \t=\t 1 ", []kv{{"A", "1"}}},
		{"inline comment", "A=1 # c", []kv{{"A", "1"}}},
		{"hash without blank", "A=1#c", []kv{{"A", "1#c"}}},
		{"hash first", "A=#c", []kv{{"A", "#c"}}},
		{"blank hash first", "A= #c", []kv{{"A", ""}}},
		{"first comment wins", "A=a #b #c", []kv{{"A", "a"}}},
		{"unquoted keeps inner quotes", `A=a"b'c`, []kv{{"A", `a"b'c`}}},
		{"unquoted keeps backslashes", `A=a\nb\\`, []kv{{"A", `a\nb\\`}}},
		{"single literal", `A='a\n"$B'`, []kv{{"A", `a\n"$B`}}},
		{"single multiline", "A='a\nb'\nB=2", []kv{{"A", "a\nb"}, {"B", "2"}}},
		{"double escapes", `A="\n\r\t\"\\\$"`, []kv{{"A", "\n\r\t\"\\$"}}},
		{"double unknown escape kept", `A="\a\x\'\#"`, []kv{{"A", `\a\x\'\#`}}},
		{"double backslash newline kept", "A=\"a\\\nb\"", []kv{{"A", "a\\\nb"}}},
		{"double escaped backslash before quote", `A="a\\"`, []kv{{"A", `a\`}}},
		{"double multiline", "A=\"a\nb\"\nB=2", []kv{{"A", "a\nb"}, {"B", "2"}}},
		{"no expansion", "A=1\nB=$A ${A} \"$A\"", []kv{{"A", "1"}, {"B", `$A ${A} "$A"`}}},
		{"no expansion in double", `B="${A}"`, []kv{{"B", "${A}"}}},
		{"empty forms", "A=\nB=''\nC=\"\"\nD= \t", []kv{{"A", ""}, {"B", ""}, {"C", ""}, {"D", ""}}},
		{"comment after quote", `A="x" # c`, []kv{{"A", "x"}}},
		{"comment right after quote", `A='x'#c`, []kv{{"A", "x"}}},
		{"crlf", "A=1\r\nB=\"x\r\ny\"\r\n", []kv{{"A", "1"}, {"B", "x\ny"}}},
		{"crlf escaped cr kept", "A=\"x\\r\"\r\n", []kv{{"A", "x\r"}}},
		{"dotted and dashed names", "a.b-c_D=1", []kv{{"a.b-c_D", "1"}}},
		{"utf8 value", "A=ключ 🔑", []kv{{"A", "ключ 🔑"}}},
		{"control chars kept", "A=a\x01b\vc", []kv{{"A", "a\x01b\vc"}}},
		{"no final newline", "A=1\nB=2", []kv{{"A", "1"}, {"B", "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := envfile.ParseString(tt.in)
			require.NoError(t, err, "ParseString(%q)", tt.in)
			var got []kv
			for _, e := range f.Entries {
				got = append(got, kv{e.Key, e.Value})
			}
			assert.Equal(t, tt.want, got, "ParseString(%q)", tt.in)
		})
	}
}

func TestParseLinesAndMetadata(t *testing.T) {
	in := "# c\n\nA=1\nexport B='x\ny'\nC=\"p\nq\nr\" # c\n  D=4\nA=5\n"
	f, err := envfile.ParseString(in)
	require.NoError(t, err)
	want := []envfile.Entry{
		{Key: "B", Value: "x\ny", Line: 4, Export: true, Quote: envfile.QuoteSingle},
		{Key: "C", Value: "p\nq\nr", Line: 6, Quote: envfile.QuoteDouble},
		{Key: "D", Value: "4", Line: 9, Quote: envfile.QuoteNone},
		{Key: "A", Value: "5", Line: 10, Quote: envfile.QuoteNone},
	}
	assert.Equal(t, want, f.Entries)
	assert.Equal(t, []envfile.Warning{{Line: 10, Key: "A", Msg: "duplicate variable A overrides the definition at line 3"}}, f.Warnings)
}

// secret appears in every value of TestParseErrors; no error may show it.
const secret = "s3cr3t"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts []envfile.Option
		line int
		key  string
		is   error
		msg  string // exact Error()
	}{
		{"name starts with digit", "A=1\n1A=" + secret, nil, 2, "", envfile.ErrSyntax,
			"envfile: line 2: invalid variable name"},
		{"name with bad char", "A$B=" + secret, nil, 1, "", envfile.ErrSyntax,
			"envfile: line 1: invalid variable name"},
		{"yaml style", "A: " + secret, nil, 1, "", envfile.ErrSyntax,
			"envfile: line 1: invalid variable name"},
		{"empty name", "=" + secret, nil, 1, "", envfile.ErrSyntax,
			"envfile: line 1: invalid variable name"},
		{"export then comment", "export #" + secret, nil, 1, "", envfile.ErrSyntax,
			"envfile: line 1: invalid variable name"},
		{"bom in the middle", "A=1\n\uFEFFB=" + secret, nil, 2, "", envfile.ErrSyntax,
			"envfile: line 2: invalid variable name"},
		{"missing equals", "A=1\n\n" + secret, nil, 3, "", envfile.ErrSyntax,
			"envfile: line 3: missing '=' after variable name"},
		{"missing equals after blank", "KEY " + secret, nil, 1, "", envfile.ErrSyntax,
			"envfile: line 1: missing '=' after variable name"},
		{"export without value", "export " + secret, nil, 1, "", envfile.ErrSyntax,
			"envfile: line 1: missing '=' after variable name"},
		{"unterminated double", "A=1\nPW=\"" + secret + "\nmore\n\n", nil, 4, "PW", envfile.ErrSyntax,
			"envfile: line 4: unterminated double quote in value of PW (opened at line 2)"},
		{"unterminated double same line", `PW="` + secret, nil, 1, "PW", envfile.ErrSyntax,
			"envfile: line 1: unterminated double quote in value of PW"},
		{"unterminated double escaped quote", `PW="` + secret + `\"`, nil, 1, "PW", envfile.ErrSyntax,
			"envfile: line 1: unterminated double quote in value of PW"},
		{"unterminated double trailing backslash", `PW="` + secret + `\`, nil, 1, "PW", envfile.ErrSyntax,
			"envfile: line 1: unterminated double quote in value of PW"},
		{"unterminated single", "PW='" + secret + "\nx\n", nil, 2, "PW", envfile.ErrSyntax,
			"envfile: line 2: unterminated single quote in value of PW (opened at line 1)"},
		{"text after double", `PW="` + secret + `"x`, nil, 1, "PW", envfile.ErrSyntax,
			"envfile: line 1: unexpected text after the closing quote of PW"},
		{"text after single multiline", "A=1\nPW='" + secret + "\n' x # c", nil, 3, "PW", envfile.ErrSyntax,
			"envfile: line 3: unexpected text after the closing quote of PW"},
		{"second quoted part", `PW="a" "` + secret + `"`, nil, 1, "PW", envfile.ErrSyntax,
			"envfile: line 1: unexpected text after the closing quote of PW"},
		{"invalid utf8", "A=1\nPW=" + secret + "\xff", nil, 2, "", envfile.ErrSyntax,
			"envfile: line 2: invalid UTF-8"},
		{"invalid utf8 in comment", "# \xc3\n", nil, 1, "", envfile.ErrSyntax,
			"envfile: line 1: invalid UTF-8"},
		{"nul", "A=1\n\nPW=" + secret + "\x00", nil, 3, "", envfile.ErrSyntax,
			"envfile: line 3: NUL byte"},
		{"bare cr", "PW=" + secret + "\rB=2", nil, 1, "", envfile.ErrSyntax,
			"envfile: line 1: carriage return not followed by a line feed"},
		{"bare cr in quotes", "A=1\nPW='" + secret + "\r'", nil, 2, "", envfile.ErrSyntax,
			"envfile: line 2: carriage return not followed by a line feed"},
		{"cr at end", "PW=" + secret + "\r", nil, 1, "", envfile.ErrSyntax,
			"envfile: line 1: carriage return not followed by a line feed"},
		{"line too long", "A=1\nPW=" + secret + strings.Repeat("x", 100) + "\n", []envfile.Option{envfile.WithMaxLineBytes(100)},
			2, "", envfile.ErrTooLarge, "envfile: line 2: line longer than 100 bytes"},
		{"last line too long", "A=1\r\nPW=" + strings.Repeat("x", 98), []envfile.Option{envfile.WithMaxLineBytes(100)},
			2, "", envfile.ErrTooLarge, "envfile: line 2: line longer than 100 bytes"},
		{"line too long by default", "PW=" + strings.Repeat("x", envfile.DefaultMaxLineBytes), nil,
			1, "", envfile.ErrTooLarge, "envfile: line 1: line longer than 65536 bytes"},
		{"input too large", "PW=" + secret, []envfile.Option{envfile.WithMaxBytes(5)},
			0, "", envfile.ErrTooLarge, "envfile: input larger than 5 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, parse := range []struct {
				name string
				fn   func(string, ...envfile.Option) (*envfile.File, error)
			}{
				{"ParseString", envfile.ParseString},
				{"Parse", func(s string, o ...envfile.Option) (*envfile.File, error) {
					return envfile.Parse(iotest.OneByteReader(strings.NewReader(s)), o...)
				}},
			} {
				f, err := parse.fn(tt.in, tt.opts...)
				require.Error(t, err, "%s(%q) err = nil, want an error", parse.name, tt.in)
				assert.Nil(t, f)
				var pe *envfile.ParseError
				require.ErrorAs(t, err, &pe, "%s(%q) err = %v, want a *ParseError", parse.name, tt.in, err)
				assert.Equal(t, tt.line, pe.Line, "%s(%q) line", parse.name, tt.in)
				assert.Equal(t, tt.key, pe.Key, "%s(%q) key", parse.name, tt.in)
				assert.ErrorIs(t, err, tt.is)
				assert.Equal(t, tt.msg, err.Error())
				assert.NotContains(t, err.Error(), secret, "error message leaks the value")
			}
		})
	}
}

func TestParseLimitsOK(t *testing.T) {
	in := "A=" + strings.Repeat("x", 98) + "\r\n" // 100 bytes without CRLF
	_, err := envfile.ParseString(in, envfile.WithMaxLineBytes(100), envfile.WithMaxBytes(int64(len(in))))
	assert.NoError(t, err, "a line and an input exactly at their limits")

	long := "A=" + strings.Repeat("x", 1<<20)
	_, err = envfile.ParseString(long, envfile.WithMaxLineBytes(0))
	assert.NoError(t, err, "WithMaxLineBytes(0) removes the limit")
	_, err = envfile.ParseString(long, envfile.WithMaxBytes(0), envfile.WithMaxLineBytes(-1))
	assert.NoError(t, err, "WithMaxBytes(0) removes the limit")
}

// countingReader yields 'A' forever and counts what it handed out.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'A'
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestParseReadsAtMostLimitPlusOne(t *testing.T) {
	r := &countingReader{}
	_, err := envfile.Parse(r, envfile.WithMaxBytes(1000))
	require.ErrorIs(t, err, envfile.ErrTooLarge)
	assert.LessOrEqual(t, r.n, int64(1001), "Parse read %d bytes from an endless reader", r.n)
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := envfile.Parse(io.MultiReader(strings.NewReader("A=1\n"), iotest.ErrReader(boom)))
	require.ErrorIs(t, err, boom)
	var pe *envfile.ParseError
	assert.False(t, errors.As(err, &pe), "a read error is not a *ParseError")
	assert.Equal(t, "envfile: read: boom", err.Error())
}

func TestParseNilOption(t *testing.T) {
	f, err := envfile.ParseString("A=1", nil)
	require.NoError(t, err)
	assert.Len(t, f.Entries, 1)
}

// genFile returns a .env file with n variables in a realistic mix of forms.
func genFile(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		switch i % 8 {
		case 0:
			fmt.Fprintf(&b, "# section %d\n", i)
			fmt.Fprintf(&b, "SERVICE_%d_HOST=host-%d.internal.example.com\n", i, i)
		case 1:
			fmt.Fprintf(&b, "export SERVICE_%d_PORT=%d\n", i, 1000+i)
		case 2:
			fmt.Fprintf(&b, "SERVICE_%d_TOKEN='tok_%032d'\n", i, i)
		case 3:
			fmt.Fprintf(&b, "SERVICE_%d_PASSWORD=\"p@ss\\\"w0rd\\n$%d\" # rotated\n", i, i)
		case 4:
			fmt.Fprintf(&b, "SERVICE_%d_URL = postgres://u:p@db:5432/app?x=%d # inline\n", i, i)
		case 5:
			fmt.Fprintf(&b, "SERVICE_%d_KEY=\"-----BEGIN KEY-----\nMIIB%060d\n-----END KEY-----\"\n", i, i)
		case 6:
			fmt.Fprintf(&b, "SERVICE_%d_EMPTY=\n\n", i)
		default:
			fmt.Fprintf(&b, "SERVICE_%d_NAME=value-with-#hash-%d\n", i, i)
		}
	}
	return b.String()
}

func BenchmarkParse(b *testing.B) {
	src := genFile(10_000)
	f, err := envfile.ParseString(src)
	require.NoError(b, err)
	require.Len(b, f.Entries, 10_000)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envfile.Parse(strings.NewReader(src)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseMaxInt64Limit(t *testing.T) {
	f, err := envfile.Parse(strings.NewReader("A=1"), envfile.WithMaxBytes(1<<63-1))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"A": "1"}, f.Map(), "WithMaxBytes(MaxInt64) must not overflow the read limit")
}

// TestParseShellQuoting: what Format writes for shells reads back exactly:
// close-quote, \', reopen-quote continues a single-quoted value with a quote, \` in double quotes is
// a backtick.
func TestParseShellQuoting(t *testing.T) {
	for in, want := range map[string]string{
		`K='it'\''s'`:           "it's",
		`K=''\'''`:              "'",
		`K=''\'''\'''`:          "''",
		"K='a\nb'\\''c\nd'":     "a\nb'c\nd",
		`K='a'\''b' # comment`:  "a'b",
		"K=\"\\`id\\`\"":        "`id`",
		`K="it's \$x \\ \"q\""`: `it's $x \ "q"`,
		`K='C:\dir\'`:           `C:\dir\`,
	} {
		f, err := envfile.ParseString(in + "\nNEXT=1\n")
		require.NoError(t, err, "Parse(%q)", in)
		require.Len(t, f.Entries, 2, "Parse(%q)", in)
		assert.Equal(t, want, f.Entries[0].Value, "Parse(%q)", in)
		assert.Equal(t, 1, f.Entries[0].Line)
		assert.Equal(t, strings.Count(in, "\n")+2, f.Entries[1].Line, "Parse(%q): line of the next entry", in)
	}
	for _, in := range []string{`K='a'\''`, `K='a'\'`, `K='a'\'b`, `K='a'\\''b'`} {
		_, err := envfile.ParseString(in + "\n")
		assert.ErrorIs(t, err, envfile.ErrSyntax, "Parse(%q)", in)
	}
}

// TestParseManyDuplicates: redefinitions are counted, not kept: the first
// ten are reported with their lines, then one warning gives the total.
func TestParseManyDuplicates(t *testing.T) {
	const n = 100_000
	var b strings.Builder
	b.WriteString("B=1\n")
	for i := range n {
		fmt.Fprintf(&b, "A='%d'\n", i)
	}
	b.WriteString("B=2\n")
	f, err := envfile.ParseString(b.String())
	require.NoError(t, err)
	require.Len(t, f.Entries, 2)
	assert.Equal(t, envfile.Entry{Key: "A", Value: strconv.Itoa(n - 1), Line: n + 1, Quote: envfile.QuoteSingle}, f.Entries[0])
	assert.Equal(t, envfile.Entry{Key: "B", Value: "2", Line: n + 2, Quote: envfile.QuoteNone}, f.Entries[1])
	assert.LessOrEqual(t, cap(f.Entries), 1<<14, "Entries kept room for the duplicates")
	assert.Equal(t, n, f.Duplicates, "A redefined n-1 times, B once")
	require.Len(t, f.Warnings, 11)
	assert.Equal(t, envfile.Warning{Line: 3, Key: "A", Msg: "duplicate variable A overrides the definition at line 2"}, f.Warnings[0])
	assert.Equal(t, envfile.Warning{Line: 12, Key: "A", Msg: "duplicate variable A overrides the definition at line 11"}, f.Warnings[9])
	assert.Equal(t, envfile.Warning{Line: 13, Msg: fmt.Sprintf("%d more duplicate definitions not listed (%d in all)", n-10, n)}, f.Warnings[10])
}

// BenchmarkParseDuplicates16MiB parses a 16 MiB file of one variable
// defined over and over (the input of issue 18), from an io.Reader as
// "ass import" does. B/op is everything allocated; see BENCHMARKS.md for
// the peak resident size.
func BenchmarkParseDuplicates16MiB(b *testing.B) {
	in := strings.Repeat("A='x'\n", envfile.DefaultMaxBytes/6)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := envfile.Parse(strings.NewReader(in))
		if err != nil || len(f.Entries) != 1 {
			b.Fatalf("Parse: %v, %d entries", err, len(f.Entries))
		}
	}
}

// BenchmarkParseDistinct16MiB is the worst case for memory at the default
// limits: DefaultMaxEntries distinct variables, each kept as an Entry, and
// comment lines up to 16 MiB.
func BenchmarkParseDistinct16MiB(b *testing.B) {
	var sb strings.Builder
	for i := range envfile.DefaultMaxEntries {
		fmt.Fprintf(&sb, "K%d=v\n", i)
	}
	sb.WriteString(strings.Repeat("#\n", (envfile.DefaultMaxBytes-sb.Len())/2))
	in := sb.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envfile.Parse(strings.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseMaxEntries(t *testing.T) {
	in := "A=1\nB=2\nA=3\nB=4\nC=5\n"
	f, err := envfile.ParseString(in, envfile.WithMaxEntries(3))
	require.NoError(t, err, "3 variables, redefinitions do not count")
	assert.Len(t, f.Entries, 3)
	_, err = envfile.ParseString(in+"D=6\n", envfile.WithMaxEntries(3))
	require.ErrorIs(t, err, envfile.ErrTooLarge)
	assert.EqualError(t, err, "envfile: line 6: more than 3 variables")
	_, err = envfile.ParseString(in+"D=6\n", envfile.WithMaxEntries(0))
	require.NoError(t, err, "no limit")

	var sb strings.Builder
	for i := range envfile.DefaultMaxEntries + 1 {
		fmt.Fprintf(&sb, "K%d=\n", i)
	}
	_, err = envfile.ParseString(sb.String())
	require.ErrorIs(t, err, envfile.ErrTooLarge, "default limit")
}
