package agentvault

import "strings"

// A scope pattern is compiled to a Thompson NFA with one position per
// pattern atom, and the path is run through it one byte at a time carrying
// the set of live positions as a bit set (at most maxWords words). Nothing
// backtracks: a match costs O(len(path) × (len(pattern)/64 + splits))
// whatever the pattern, so "(*[!Z]?)×24*Z*" against a 512-byte path is
// about as cheap as "production/*". BenchmarkScopeMatch measures it.

// maxWords bounds the bit sets: a validated pattern has at most MaxPathLen
// bytes, each making at most one position, plus the accepting position.
const maxWords = (MaxPathLen + 1 + 63) / 64

type bitset [maxWords]uint64

func (b *bitset) set(i int32)      { b[i>>6] |= 1 << (i & 63) }
func (b *bitset) has(i int32) bool { return b[i>>6]&(1<<(i&63)) != 0 }

// epsilon is a position left without consuming a byte: a '*' (which may
// match nothing) to the next position, or a brace group's start to each
// alternative and each alternative's end to the position after the group.
// Every such edge goes forward.
type epsilon struct {
	from int32
	to   []int32
}

// matcher is a compiled pattern: literal prefix and suffix around a
// middle part run through the NFA. It is immutable and safe for
// concurrent use.
type matcher struct {
	literal        bool // the whole pattern is prefix: no NFA
	prefix, suffix string
	words          int    // words of the bit sets in use
	accept         int32  // the accepting position
	sink           bool   // the middle part ends in '*': once live, it matches anything
	start          bitset // live positions before the first byte
	stars          bitset // '*' positions, which stay live on any byte
	eps            []epsilon
	rows           []uint64 // words per path byte: the positions that consume it and go on
}

// pathByteIndex numbers, from 1, the bytes a valid path can hold (0: none).
var pathByteIndex, pathByteCount = func() (t [256]uint8, n int) {
	for c := 0; c < 256; c++ {
		if segmentByte(byte(c)) || c == '/' {
			n++
			t[c] = uint8(n)
		}
	}
	return t, n
}()

// compileMatcher compiles a pattern that validatePattern accepted.
func compileMatcher(p string) *matcher {
	if isLiteral(p) {
		return &matcher{literal: true, prefix: p}
	}
	m := &matcher{}
	i := strings.IndexAny(p, "*?[{")
	j := strings.LastIndexAny(p, "*?]}") + 1
	m.prefix, m.suffix, p = p[:i], p[j:], p[i:j]

	// Positions, in order: one per literal, '?', class or run of '*', one
	// per '{', ',' and '}', then accept.
	var consume []byteSet // consume[k]: the bytes position k consumes (none for '*' and braces)
	open := int32(-1)     // the open brace group's start position
	var ends []int32      // the open group's alternative ends
	for k := 0; k < len(p); k++ {
		pos := int32(len(consume))
		var set byteSet
		switch c := p[k]; {
		case c == '*':
			if k > 0 && p[k-1] == '*' {
				continue
			}
			m.stars.set(pos)
			m.eps = append(m.eps, epsilon{from: pos, to: []int32{pos + 1}})
		case c == '?':
			set.invert()
		case c == '[':
			end := k + strings.IndexByte(p[k:], ']')
			set = classSet(p[k+1 : end])
			k = end
		case c == '{':
			open = pos
			m.eps = append(m.eps, epsilon{from: pos, to: []int32{pos + 1}})
		case c == ',' || c == '}':
			ends = append(ends, pos)
			m.eps = append(m.eps, epsilon{from: pos})
			if c == ',' {
				g := &m.eps[epsIndex(m.eps, open)]
				g.to = append(g.to, pos+1)
				break
			}
			for _, e := range ends {
				m.eps[epsIndex(m.eps, e)].to = []int32{pos + 1}
			}
			open, ends = -1, nil
		default:
			set.add(c)
		}
		consume = append(consume, set)
	}
	m.accept = int32(len(consume))
	m.words = int(m.accept)/64 + 1
	m.sink = p[len(p)-1] == '*'
	m.rows = make([]uint64, pathByteCount*m.words)
	for c := 0; c < 256; c++ {
		if r := int(pathByteIndex[c]); r != 0 {
			row := m.rows[(r-1)*m.words:]
			for k, set := range consume {
				if set.has(byte(c)) {
					row[k>>6] |= 1 << (k & 63)
				}
			}
		}
	}
	m.start.set(0)
	m.closure(&m.start)
	return m
}

func epsIndex(eps []epsilon, from int32) int {
	for i := len(eps) - 1; ; i-- {
		if eps[i].from == from {
			return i
		}
	}
}

// closure adds to b every position reachable from it without consuming a
// byte. Edges go forward and eps is in position order, so one pass does.
func (m *matcher) closure(b *bitset) {
	for i := range m.eps {
		if e := &m.eps[i]; b.has(e.from) {
			for _, t := range e.to {
				b.set(t)
			}
		}
	}
}

// match reports whether the pattern matches all of s, a valid path.
func (m *matcher) match(s string) bool {
	if m.literal {
		return s == m.prefix
	}
	if len(s) < len(m.prefix)+len(m.suffix) || !strings.HasPrefix(s, m.prefix) || !strings.HasSuffix(s, m.suffix) {
		return false
	}
	s = s[len(m.prefix) : len(s)-len(m.suffix)]
	live := m.start
	w := m.words
	for i := 0; i < len(s); i++ {
		if m.sink && live.has(m.accept-1) {
			return true // the final '*' matches the rest
		}
		r := pathByteIndex[s[i]]
		if r == 0 {
			return false
		}
		row := m.rows[(int(r)-1)*w : int(r)*w]
		var next bitset
		carry := uint64(0)
		any := uint64(0)
		for k := 0; k < w; k++ {
			t := live[k] & row[k]
			next[k] = t<<1 | carry | live[k]&m.stars[k]
			carry = t >> 63
			any |= next[k]
		}
		if any == 0 {
			return false
		}
		m.closure(&next)
		live = next
	}
	return live.has(m.accept)
}

// byteSet is a set of bytes, one bit each.
type byteSet [4]uint64

func (b *byteSet) add(c byte)      { b[c>>6] |= 1 << (c & 63) }
func (b *byteSet) has(c byte) bool { return b[c>>6]&(1<<(c&63)) != 0 }

func (b *byteSet) invert() {
	for i := range b {
		b[i] = ^b[i]
	}
}

// classSet returns the bytes a validated class body ("abc", "a-z", "!abc",
// "!a-z") matches.
func classSet(body string) byteSet {
	var s byteSet
	neg := body[0] == '!'
	if neg {
		body = body[1:]
	}
	if len(body) == 3 && body[1] == '-' {
		for c := int(body[0]); c <= int(body[2]); c++ {
			s.add(byte(c))
		}
	} else {
		for i := 0; i < len(body); i++ {
			s.add(body[i])
		}
	}
	if neg {
		s.invert()
	}
	return s
}
