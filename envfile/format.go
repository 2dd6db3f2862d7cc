package envfile

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Format writes entries as a .env file, one definition per line (a value
// with newlines spans several lines), in order, duplicates included.
//
// Each value is quoted so that Parse reads back exactly the same key and
// value. An entry's Quote is honoured when that style can represent the
// value; otherwise, and for QuoteAuto, Format picks:
//
//   - no quotes when the value is empty or made only of ASCII letters,
//     digits and _ - . / : @ + , % ^ =;
//   - single quotes when the value has no single quote, CR or LF and does
//     not end in a backslash;
//   - double quotes otherwise, escaping \ " $ as \\ \" \$ and CR as \r.
//     Newlines are written as they are, so a multi-line value keeps its
//     short lines and stays within the line limit; tabs and other
//     characters are written as they are.
//
// The automatic choices are also read identically by POSIX shells and, with
// the exceptions listed in DIFFERENCES.md, by github.com/joho/godotenv.
// Output is read back by Parse as long as no line of a value exceeds the
// line limit.
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
		buf = append(buf, '\'')
		buf = append(buf, e.Value...)
		buf = append(buf, '\'')
	default:
		buf = appendDoubleQuoted(buf, e.Value)
	}
	return append(buf, '\n')
}

// quoteFor returns the style Format uses for v: want if it represents v
// exactly, else the automatic choice.
func quoteFor(v string, want QuoteStyle) QuoteStyle {
	switch want {
	case QuoteNone:
		if unquotedOK(v) {
			return QuoteNone
		}
	case QuoteSingle:
		if !strings.ContainsAny(v, "'\r") {
			return QuoteSingle
		}
	case QuoteDouble:
		return QuoteDouble
	}
	switch {
	case plain(v):
		return QuoteNone
	case !strings.ContainsAny(v, "'\r\n") && !strings.HasSuffix(v, `\`):
		return QuoteSingle
	}
	return QuoteDouble
}

// plain reports whether v is made only of characters that no .env or shell
// dialect treats specially.
func plain(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isKeyChar(c) && !strings.ContainsRune("/:@+,%^=", rune(c)) {
			return false
		}
	}
	return true
}

// unquotedOK reports whether Parse reads v back exactly when written
// unquoted.
func unquotedOK(v string) bool {
	if v == "" {
		return true
	}
	if strings.ContainsAny(v, "\r\n") || isBlank(v[0]) || isBlank(v[len(v)-1]) || v[0] == '\'' || v[0] == '"' {
		return false
	}
	return !strings.Contains(v, " #") && !strings.Contains(v, "\t#")
}

func appendDoubleQuoted(buf []byte, v string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '"', '$':
			buf = append(buf, '\\', c)
		case '\r':
			buf = append(buf, '\\', 'r')
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}
