package agentvault

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendEvent appends e's JSON encoding, without its hash, to dst: the same
// bytes json.Marshal gives for e with Hash empty (field order, omitempty,
// escaping), without reflection or a new buffer per event. The test
// TestAuditEncodingMatchesJSON holds it to json.Marshal.
func appendEvent(dst []byte, e *AuditEvent) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, e.ID)
	dst = append(dst, `,"time":"`...)
	dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
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
	dst = appendOptional(dst, `,"reason":`, e.Reason)
	dst = append(dst, `,"writer":`...)
	dst = appendJSONString(dst, e.Writer)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"prev":`...)
	dst = appendJSONString(dst, e.Prev)
	dst = appendOptional(dst, `,"hash":`, e.Hash)
	return append(dst, '}')
}

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
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
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
