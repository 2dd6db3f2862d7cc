package agentvault

import (
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// appendEvent appends e's JSON encoding, without its hash, to dst: the same
// bytes json.Marshal gives for e with Hash empty (field order, omitempty,
// escaping), without reflection or a new buffer per event. The test
// TestAuditEncodingMatchesJSON holds it to json.Marshal.
func appendEvent(dst []byte, e *AuditEvent) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, e.ID)
	dst = appendEventFields(dst, e, nil)
	dst = appendEventChain(dst, e)
	dst = appendOptional(dst, `,"hash":`, e.Hash)
	return append(dst, '}')
}

// appendEventFields appends the fields from time to reason. tc, when set,
// caches the encoding of the time's second from one event to the next.
func appendEventFields(dst []byte, e *AuditEvent, tc *timeCache) []byte {
	dst = append(dst, `,"time":"`...)
	dst = tc.appendTime(dst, e.Time)
	return appendEventRest(dst, e)
}

// appendEventRest appends the fields after the time, from the time's
// closing quote to reason.
func appendEventRest(dst []byte, e *AuditEvent) []byte {
	dst = append(dst, `","event":`...)
	dst = appendJSONString(dst, e.Event)
	dst = append(dst, `,"actor":{"kind":`...)
	dst = appendJSONString(dst, string(e.Actor.Kind))
	dst = append(dst, `,"id":`...)
	dst = appendJSONString(dst, e.Actor.ID)
	dst = append(dst, '}')
	dst = appendOptional(dst, `,"path":`, e.Path)
	dst = appendOptional(dst, `,"version":`, e.Version)
	dst = appendOptional(dst, `,"type":`, string(e.Type))
	dst = appendOptional(dst, `,"tier":`, string(e.Tier))
	dst = appendOptional(dst, `,"token_accessor":`, e.TokenAccessor)
	dst = appendOptional(dst, `,"approval_id":`, e.ApprovalID)
	dst = appendOptional(dst, `,"agent_id":`, e.AgentID)
	dst = appendOptional(dst, `,"approver":`, e.Approver)
	dst = appendOptional(dst, `,"fingerprint":`, e.Fingerprint)
	dst = appendOptional(dst, `,"import_id":`, e.ImportID)
	dst = appendOptional(dst, `,"via":`, e.Via)
	dst = append(dst, `,"outcome":`...)
	dst = appendJSONString(dst, string(e.Outcome))
	return appendOptional(dst, `,"reason":`, e.Reason)
}

// restFields are the fields appendEventRest encodes, in its order.
type restFields [16]string

// sameRest reports whether e's fields after the time are f.
func (f *restFields) sameRest(e *AuditEvent) bool {
	return eq(e.Event, f[0]) && eq(string(e.Actor.Kind), f[1]) && eq(e.Actor.ID, f[2]) && eq(e.Path, f[3]) &&
		eq(e.Version, f[4]) && eq(string(e.Type), f[5]) && eq(string(e.Tier), f[6]) && eq(e.TokenAccessor, f[7]) &&
		eq(e.ApprovalID, f[8]) && eq(e.AgentID, f[9]) && eq(e.Approver, f[10]) && eq(e.Fingerprint, f[11]) &&
		eq(e.ImportID, f[12]) && eq(e.Via, f[13]) && eq(string(e.Outcome), f[14]) && eq(e.Reason, f[15])
}

func (f *restFields) setRest(e *AuditEvent) {
	*f = restFields{e.Event, string(e.Actor.Kind), e.Actor.ID, e.Path, e.Version, string(e.Type),
		string(e.Tier), e.TokenAccessor, e.ApprovalID, e.AgentID, e.Approver, e.Fingerprint,
		e.ImportID, e.Via, string(e.Outcome), e.Reason}
}

// eq is a == b, without comparing bytes when both are the same string.
func eq(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

// sealMemo keeps the encodings that repeat from one sealed event to the
// next (see auditWriterState.appendSealed): the parts naming the writer,
// and the fields after the time of the last event, with those fields. A
// field is compared by value (strings are immutable; equal strings encode
// alike), so a memo is used only for an event it encodes exactly.
type sealMemo struct {
	writer string // the writer id the prefixes below are for
	id     []byte // {"id":"<writer>:   (the writer escaped, no closing quote)
	chain  []byte // ,"writer":"<writer>","seq":
	fields restFields
	rest   []byte // appendEventRest of an event with fields; nil: none yet
	hash   string // the hash of the last event sealed: 64 hex digits, plain JSON
}

// appendRest is appendEventRest through the memo.
func (m *sealMemo) appendRest(dst []byte, e *AuditEvent) []byte {
	if m.rest != nil && m.fields.sameRest(e) {
		return append(dst, m.rest...)
	}
	start := len(dst)
	dst = appendEventRest(dst, e)
	m.fields.setRest(e)
	m.rest = append(m.rest[:0], dst[start:]...)
	return dst
}

// forWriter sets the memo's prefixes for writer.
func (m *sealMemo) forWriter(writer string) {
	if m.id != nil && m.writer == writer {
		return
	}
	m.writer = writer
	m.id = appendJSONString(append(m.id[:0], `{"id":`...), writer)
	m.id = append(m.id[:len(m.id)-1], ':') // writer:seq, one string
	m.chain = appendJSONString(append(m.chain[:0], `,"writer":`...), writer)
	m.chain = append(m.chain, `,"seq":`...)
	m.hash = ""
}

// appendPrev appends the prev field's value: a hash this memo made is hex,
// appended as it is.
func (m *sealMemo) appendPrev(dst []byte, prev string) []byte {
	if len(prev) == auditHashLen && prev == m.hash {
		dst = append(dst, '"')
		dst = append(dst, prev...)
		return append(dst, '"')
	}
	return appendJSONString(dst, prev)
}

// appendEventChain appends the chain fields but the hash.
func appendEventChain(dst []byte, e *AuditEvent) []byte {
	dst = append(dst, `,"writer":`...)
	dst = appendJSONString(dst, e.Writer)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"prev":`...)
	return appendJSONString(dst, e.Prev)
}

// timeCache holds the RFC 3339 encoding of one UTC second
// ("2006-01-02T15:04:05"): events written within the same second encode
// only their fraction.
type timeCache struct {
	sec int64
	ok  bool
	buf [len("2006-01-02T15:04:05")]byte
}

// appendTime appends t as time.RFC3339Nano formats it (as json.Marshal
// does). A nil cache, or a time not in UTC or outside years 1000–9999,
// takes time.Time.AppendFormat.
func (c *timeCache) appendTime(dst []byte, t time.Time) []byte {
	if c == nil || t.Location() != time.UTC {
		return t.AppendFormat(dst, time.RFC3339Nano)
	}
	sec := t.Unix()
	if !c.ok || sec != c.sec {
		if y := t.Year(); y < 1000 || y > 9999 {
			return t.AppendFormat(dst, time.RFC3339Nano)
		}
		if len(t.AppendFormat(c.buf[:0], "2006-01-02T15:04:05")) != len(c.buf) {
			c.ok = false
			return t.AppendFormat(dst, time.RFC3339Nano)
		}
		c.sec, c.ok = sec, true
	}
	dst = append(dst, c.buf[:]...)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 1; i -= 2 { // two digits at a time
			q := ns / 100
			r := (ns - q*100) * 2
			frac[i-1], frac[i] = digitPairs[r], digitPairs[r+1]
			ns = q
		}
		frac[1] = byte('0' + ns)
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}

const digitPairs = "00010203040506070809" + "10111213141516171819" + "20212223242526272829" +
	"30313233343536373839" + "40414243444546474849" + "50515253545556575859" + "60616263646566676869" +
	"70717273747576777879" + "80818283848586878889" + "90919293949596979899"

func appendOptional(dst []byte, name, s string) []byte {
	if s == "" {
		return dst
	}
	return appendJSONString(append(dst, name...), s)
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it: HTML-safe, invalid UTF-8 replaced by U+FFFD, U+2028 and
// U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	i := 0
	for i < len(s) && jsonPlain[s[i]] {
		i++
	}
	if i == len(s) { // nothing to escape: the common case
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonPlain[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonPlain marks the bytes appendJSONString copies as they are: ASCII
// but control characters, '"', '\\' and the HTML-sensitive '<', '>', '&'.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()
