package envfile

import (
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

const bom = "\uFEFF"

// Parse reads a .env file from r. It reads at most the total size limit plus
// one byte (see WithMaxBytes), so r may be untrusted.
//
// On success every definition is returned in file order with its line
// number. A malformed input returns a *ParseError wrapping ErrSyntax or
// ErrTooLarge; an error from r is returned wrapped with %w. Parse never
// expands variables and never touches the process environment.
func Parse(r io.Reader, opts ...Option) (*File, error) {
	o := newOptions(opts)
	if o.maxBytes > 0 && o.maxBytes < math.MaxInt64 {
		r = io.LimitReader(r, o.maxBytes+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("envfile: read: %w", err)
	}
	return parse(string(data), o)
}

// ParseString is Parse for input already in memory.
func ParseString(s string, opts ...Option) (*File, error) {
	return parse(s, newOptions(opts))
}

func parse(src string, o options) (*File, error) {
	if o.maxBytes > 0 && int64(len(src)) > o.maxBytes {
		return nil, tooLargeErr(0, "input larger than %d bytes", o.maxBytes)
	}
	src = strings.TrimPrefix(src, bom)
	if err := validate(src, o.maxLineBytes); err != nil {
		return nil, err
	}
	if strings.IndexByte(src, '\r') >= 0 {
		// validate has rejected every CR that is not part of a CRLF.
		src = strings.ReplaceAll(src, "\r\n", "\n")
	}
	// Every definition has an '=' and all but the last a newline; the cap
	// keeps a file of "#=" lines from allocating far more than its size.
	n := min(strings.Count(src, "="), strings.Count(src, "\n")+1, 1<<14)
	p := parser{
		src:  src,
		line: 1,
		file: &File{Entries: make([]Entry, 0, n)},
		seen: make(map[string]int, n),
	}
	if err := p.run(); err != nil {
		return nil, err
	}
	return p.file, nil
}

// validate checks the properties of the raw input that do not depend on the
// grammar, line by line: length, no bare CR, no NUL, valid UTF-8.
func validate(src string, maxLine int) error {
	for line, rest := 1, src; ; line++ {
		l, next, found := strings.Cut(rest, "\n")
		if found {
			l = strings.TrimSuffix(l, "\r")
		}
		switch {
		case maxLine > 0 && len(l) > maxLine:
			return tooLargeErr(line, "line longer than %d bytes", maxLine)
		case strings.IndexByte(l, '\r') >= 0:
			return syntaxErr(line, "", "carriage return not followed by a line feed")
		case strings.IndexByte(l, 0) >= 0:
			return syntaxErr(line, "", "NUL byte")
		case !utf8.ValidString(l):
			return syntaxErr(line, "", "invalid UTF-8")
		}
		if !found {
			return nil
		}
		rest = next
	}
}

// parser walks validated, LF-only input. pos always stays on the line
// numbered line.
type parser struct {
	src  string
	pos  int
	line int
	file *File
	seen map[string]int // key -> line of its latest definition
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func (p *parser) skipBlanks() {
	for p.pos < len(p.src) && isBlank(p.src[p.pos]) {
		p.pos++
	}
}

// toEOL moves pos to the end of the current line (its '\n' or the end of
// input) and returns that position.
func (p *parser) toEOL() int {
	if i := strings.IndexByte(p.src[p.pos:], '\n'); i >= 0 {
		p.pos += i
	} else {
		p.pos = len(p.src)
	}
	return p.pos
}

func (p *parser) atEOL() bool { return p.pos == len(p.src) || p.src[p.pos] == '\n' }

func (p *parser) run() error {
	for p.pos < len(p.src) {
		p.skipBlanks()
		switch {
		case p.pos == len(p.src):
		case p.src[p.pos] == '\n':
			p.pos++
			p.line++
		case p.src[p.pos] == '#':
			p.toEOL()
		default:
			if err := p.entry(); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry parses one definition starting at a non-blank character and leaves
// pos at the end of its last line.
func (p *parser) entry() error {
	e := Entry{Line: p.line}
	if rest := p.src[p.pos:]; strings.HasPrefix(rest, "export") && len(rest) > 6 && isBlank(rest[6]) {
		// "export NAME=...", unless "export" is itself the name ("export =1").
		save := p.pos
		p.pos += 6
		p.skipBlanks()
		if p.atEOL() || p.src[p.pos] == '=' {
			p.pos = save
		} else {
			e.Export = true
		}
	}

	start := p.pos
	if !isKeyStart(p.src[p.pos]) {
		return syntaxErr(p.line, "", "invalid variable name")
	}
	for p.pos++; p.pos < len(p.src) && isKeyChar(p.src[p.pos]); p.pos++ {
	}
	if !p.atEOL() && !isBlank(p.src[p.pos]) && p.src[p.pos] != '=' {
		return syntaxErr(p.line, "", "invalid variable name")
	}
	keyEnd := p.pos
	p.skipBlanks()
	if p.atEOL() || p.src[p.pos] != '=' {
		// The "name" is not quoted: a lone word may be a pasted secret.
		return syntaxErr(p.line, "", "missing '=' after variable name")
	}
	e.Key = p.src[start:keyEnd]
	p.pos++ // '='
	afterEq := p.pos
	p.skipBlanks()

	var err error
	switch {
	case p.atEOL():
		e.Quote = QuoteNone
	case p.src[p.pos] == '\'':
		e.Quote = QuoteSingle
		e.Value, err = p.singleQuoted(e.Key, e.Line)
	case p.src[p.pos] == '"':
		e.Quote = QuoteDouble
		e.Value, err = p.doubleQuoted(e.Key, e.Line)
	default:
		e.Quote = QuoteNone
		e.Value = p.unquoted(afterEq)
	}
	if err != nil {
		return err
	}
	if e.Quote != QuoteNone {
		if err := p.afterQuote(e.Key); err != nil {
			return err
		}
	}
	p.add(e)
	return nil
}

// unquoted returns the rest of the line from afterEq (just past '='),
// stopping at an inline comment (blank then '#'), trimmed of blanks.
func (p *parser) unquoted(afterEq int) string {
	seg := p.src[afterEq:p.toEOL()]
	for i := 1; i < len(seg); i++ {
		if seg[i] == '#' && isBlank(seg[i-1]) {
			seg = seg[:i]
			break
		}
	}
	return strings.Trim(seg, " \t")
}

// singleQuoted reads a literal value from the opening quote at pos to the
// next single quote, across lines. As in a shell, a closing quote directly
// followed by an escaped quote (\') and an opening quote continues the value
// with a single quote:
//
//	'it'\''s'
func (p *parser) singleQuoted(key string, opened int) (string, error) {
	var b strings.Builder // used only when the value continues after '\''
	for {
		body := p.src[p.pos+1:]
		end := strings.IndexByte(body, '\'')
		if end < 0 {
			return "", p.unterminated("single", key, opened)
		}
		v := body[:end]
		p.line += strings.Count(v, "\n")
		p.pos += end + 2
		if !strings.HasPrefix(p.src[p.pos:], `\''`) {
			if b.Len() == 0 {
				return v, nil
			}
			b.WriteString(v)
			return b.String(), nil
		}
		b.WriteString(v)
		b.WriteByte('\'')
		p.pos += 2 // to the quote that opens the next part
	}
}

// doubleQuoted reads a value from the opening quote at pos to the next
// unescaped double quote, across lines, decoding \n \r \t \" \\ \$ \` and
// keeping any other backslash literally.
func (p *parser) doubleQuoted(key string, opened int) (string, error) {
	var b strings.Builder
	i := p.pos + 1
	seg := i // start of the not yet copied run
	line := p.line
	for i < len(p.src) {
		c := p.src[i]
		switch c {
		case '"':
			v := p.src[seg:i]
			if b.Len() > 0 {
				b.WriteString(v)
				v = b.String()
			}
			p.pos, p.line = i+1, line
			return v, nil
		case '\n':
			line++
		case '\\':
			if i+1 == len(p.src) {
				i++
				continue
			}
			var r byte
			switch p.src[i+1] {
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			case '"', '\\', '$', '`':
				r = p.src[i+1]
			default:
				i++ // keep the backslash; the next character is ordinary
				continue
			}
			b.WriteString(p.src[seg:i])
			b.WriteByte(r)
			i += 2
			seg = i
			continue
		}
		i++
	}
	return "", p.unterminated("double", key, opened)
}

// unterminated reports a quote still open at the end of input, on the last
// line of the input (a final newline does not start another line).
func (p *parser) unterminated(kind, key string, opened int) error {
	last := p.line + strings.Count(strings.TrimSuffix(p.src[p.pos:], "\n"), "\n")
	msg := fmt.Sprintf("unterminated %s quote in value of %s", kind, key)
	if last != opened {
		msg += fmt.Sprintf(" (opened at line %d)", opened)
	}
	return &ParseError{Line: last, Key: key, Msg: msg, Err: ErrSyntax}
}

// afterQuote accepts only blanks and an optional comment after a closing
// quote.
func (p *parser) afterQuote(key string) error {
	p.skipBlanks()
	switch {
	case p.atEOL():
	case p.src[p.pos] == '#':
		p.toEOL()
	default:
		return syntaxErr(p.line, key, "unexpected text after the closing quote of %s", key)
	}
	return nil
}

func (p *parser) add(e Entry) {
	if prev, ok := p.seen[e.Key]; ok {
		p.file.Warnings = append(p.file.Warnings, Warning{
			Line: e.Line,
			Key:  e.Key,
			Msg:  fmt.Sprintf("duplicate variable %s overrides the definition at line %d", e.Key, prev),
		})
	}
	p.seen[e.Key] = e.Line
	p.file.Entries = append(p.file.Entries, e)
}
