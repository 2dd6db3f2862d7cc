package filebackend

import (
	"strings"

	"github.com/agentvault/agentvault/backend"
)

// Keys map onto relative paths below the store directory (see the package
// documentation for the rules and the reasons):
//
//	"s/prod/API_KEY" → "s/prod/%41%50%49%5f%4b%45%59,v"
//	"a//b"           → "a/%/b,v"
//	"x/<600 x 'A'>"  → "x/%41%41…~/%41%41…~/…%41,v" (components of at most chunkMax+2 bytes)
//
// The mapping is injective, uses only the bytes [a-z0-9-%~,/], and is
// frozen: changing it orphans every stored file.
const (
	// chunkMax is the longest escaped text in one path component, before its
	// '~' or ",v" suffix: 200+2 bytes stays well within NAME_MAX (255).
	chunkMax = 200
	// contMark ends a component whose segment continues in the next one.
	contMark = '~'
	// leafSuffix ends the file name holding a key's value.
	leafSuffix = ",v"
	// emptySegment is the component for an empty key segment.
	emptySegment = "%"
	// maxEncodedLen bounds len(encodeKey(k)) for every valid key k: every
	// byte escaped (3 bytes), a "~/" per chunk of at least chunkMax-2 bytes,
	// and the suffix.
	maxEncodedLen = 3*backend.MaxKeyLen + 2*(3*backend.MaxKeyLen/(chunkMax-2)+1) + len(leafSuffix)
)

const hexDigits = "0123456789abcdef"

// literal reports whether c stands for itself in an encoded name. Only
// lowercase letters, digits and '-' do, so that names never differ only in
// case, never start with '.', and never contain '%', '~' or ',' unescaped.
func literal(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
}

// escape appends the escaped form of seg to dst: literal bytes as they are,
// every other byte as '%' and two lowercase hex digits. The result is empty
// only for an empty seg.
func escape(dst []byte, seg string) []byte {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if literal(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	return dst
}

// appendSegment appends the path components for one key segment to dst,
// separated by '/': the escaped segment cut into chunks of at most chunkMax
// bytes (never inside a "%xx"), every chunk but the last followed by '~'.
func appendSegment(dst []byte, seg string) []byte {
	if seg == "" {
		return append(dst, emptySegment...)
	}
	e := escape(nil, seg)
	for len(e) > chunkMax {
		n := chunkMax
		switch {
		case e[n-1] == '%':
			n--
		case e[n-2] == '%':
			n -= 2
		}
		dst = append(dst, e[:n]...)
		dst = append(dst, contMark, '/')
		e = e[n:]
	}
	return append(dst, e...)
}

// encodeKey returns the path of key's file relative to the store directory.
func encodeKey(key string) string {
	dst := make([]byte, 0, 3*len(key)+len(leafSuffix))
	for i, seg := range strings.Split(key, "/") {
		if i > 0 {
			dst = append(dst, '/')
		}
		dst = appendSegment(dst, seg)
	}
	return string(append(dst, leafSuffix...))
}

// encodeDir returns the relative path of the directory holding the keys
// whose first segments are segs ("" for no segments).
func encodeDir(segs []string) string {
	var dst []byte
	for i, seg := range segs {
		if i > 0 {
			dst = append(dst, '/')
		}
		dst = appendSegment(dst, seg)
	}
	return string(dst)
}

// decodeKey returns the key whose file is at rel (relative to the store
// directory, '/'-separated). It reports false for any name encodeKey does
// not produce for a valid key, such as foreign files or non-canonical
// spellings, so that List never reports a key Get cannot find.
func decodeKey(rel string) (string, bool) {
	name, ok := strings.CutSuffix(rel, leafSuffix)
	if !ok {
		return "", false
	}
	key := make([]byte, 0, len(name))
	seg := make([]byte, 0, len(name))
	comps := strings.Split(name, "/")
	segs := 0
	for i, comp := range comps {
		if c, ok := strings.CutSuffix(comp, string(contMark)); ok {
			if i == len(comps)-1 {
				return "", false
			}
			seg = append(seg, c...)
			continue
		}
		seg = append(seg, comp...)
		if segs > 0 {
			key = append(key, '/')
		}
		segs++
		var ok bool
		if key, ok = unescape(key, string(seg)); !ok {
			return "", false
		}
		seg = seg[:0]
	}
	k := string(key)
	if backend.ValidateKey(k) != nil || encodeKey(k) != rel {
		return "", false
	}
	return k, true
}

// unescape appends the segment whose escaped form is s to dst.
func unescape(dst []byte, s string) ([]byte, bool) {
	if s == emptySegment {
		return dst, true
	}
	if s == "" {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case literal(c):
			dst = append(dst, c)
		case c == '%' && i+2 < len(s):
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return nil, false
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		default:
			return nil, false
		}
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// mayHold reports whether the entry called name, in the directory of a
// List prefix's complete segments, can hold keys whose next segment starts
// with the segment whose escaped form is esc (the prefix's last, possibly
// partial, segment). It only prunes the walk; List still filters every key
// it decodes.
func mayHold(name, esc string) bool {
	if esc == "" {
		return true
	}
	if chunk, ok := strings.CutSuffix(name, string(contMark)); ok {
		return strings.HasPrefix(chunk, esc) || strings.HasPrefix(esc, chunk)
	}
	return strings.HasPrefix(strings.TrimSuffix(name, leafSuffix), esc)
}
