package envfile

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Format writes entries as a .env file, one definition per line (a value
// with newlines spans several lines), in order, duplicates included.
//
// The output is safe to source in a POSIX shell (sh, dash, bash, zsh:
// "set -a; . ./file"): no value is ever subject to expansion or command
// substitution, and the shell reads back exactly the same value, except
// that a carriage return (only writable as \r) reads as a backslash and an
// r. Parse reads back exactly the same key and value.
//
// An entry's Quote is honoured when that style can represent the value
// safely; otherwise, and for QuoteAuto, Format picks:
//
//   - no quotes when the value is empty or made only of ASCII letters,
//     digits and _ - . / : @ + , % ^ = (not starting with '=' and without
//     ":=", which zsh expands);
//   - single quotes when the value holds no CR; each single quote in it is
//     written the way a shell needs it, closing the quotes, an escaped
//     quote (\'), and reopening; newlines, backslashes and everything else
//     are written as they are;
//   - double quotes otherwise (a CR), escaping \ " $ ` as \\ \" \$ \` and CR
//     as \r. Newlines are written as they are, so a multi-line value keeps
//     its short lines and stays within the line limit.
//
// github.com/joho/godotenv reads the automatic choices identically except
// as listed in DIFFERENCES.md (it cannot read an escaped quote between
// single-quoted parts). Output is read back
// by Parse as long as no line of a value exceeds the line limit.
//
// Format fails with ErrInvalidEntry, writing nothing, if a key is not
// ValidKey or a value is not valid UTF-8 or contains a NUL byte.
func Format(entries []Entry) ([]byte, error) {
	n := 0
	for i, e := range entries {
		if !ValidKey(e.Key) {
			return nil, invalidEntryErr(i, "", "invalid variable name")
		}
		if !utf8.ValidString(e.Value) {
			return nil, invalidEntryErr(i, e.Key, "value is not valid UTF-8")
		}
		if strings.IndexByte(e.Value, 0) >= 0 {
			return nil, invalidEntryErr(i, e.Key, "value contains a NUL byte")
		}
		n += len("export ") + len(e.Key) + len(e.Value) + 4
	}
	buf := make([]byte, 0, n)
	for _, e := range entries {
		buf = appendEntry(buf, e)
	}
	return buf, nil
}

// WriteTo writes f.Entries to w as Format does; it implements io.WriterTo.
// Nothing is written if an entry is invalid.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	b, err := Format(f.Entries)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

func appendEntry(buf []byte, e Entry) []byte {
	if e.Export {
		buf = append(buf, "export "...)
	}
	buf = append(buf, e.Key...)
	buf = append(buf, '=')
	switch quoteFor(e.Value, e.Quote) {
	case QuoteNone:
		buf = append(buf, e.Value...)
	case QuoteSingle:
		buf = appendSingleQuoted(buf, e.Value)
	default:
		buf = appendDoubleQuoted(buf, e.Value)
	}
	return append(buf, '\n')
}

// quoteFor returns the style Format uses for v: want if it represents v
// exactly and safely, else the automatic choice.
func quoteFor(v string, want QuoteStyle) QuoteStyle {
	if want > QuoteDouble {
		want = QuoteAuto
	}
	switch {
	case plain(v) && (want == QuoteNone || want == QuoteAuto):
		return QuoteNone
	case want == QuoteDouble:
		return QuoteDouble
	case strings.IndexByte(v, '\r') < 0:
		return QuoteSingle
	}
	return QuoteDouble
}

// plain reports whether v is made only of characters that no .env or shell
// dialect treats specially where they stand: zsh expands =cmd at the start
// of a value and after a ':'.
func plain(v string) bool {
	if strings.HasPrefix(v, "=") || strings.Contains(v, ":=") {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isKeyChar(c) && !strings.ContainsRune("/:@+,%^=", rune(c)) {
			return false
		}
	}
	return true
}

// appendSingleQuoted writes v in single quotes, each single quote in v as
// a shell needs it: close the quotes, an escaped quote, reopen.
func appendSingleQuoted(buf []byte, v string) []byte {
	buf = append(buf, '\'')
	for {
		i := strings.IndexByte(v, '\'')
		if i < 0 {
			break
		}
		buf = append(buf, v[:i]...)
		buf = append(buf, `'\''`...)
		v = v[i+1:]
	}
	buf = append(buf, v...)
	return append(buf, '\'')
}

func appendDoubleQuoted(buf []byte, v string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '"', '$', '`':
			buf = append(buf, '\\', c)
		case '\r':
			buf = append(buf, '\\', 'r')
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}
