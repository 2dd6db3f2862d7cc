package envfile

// Default limits applied by Parse and ParseString.
const (
	// DefaultMaxBytes is the default limit on the total input size: 16 MiB.
	DefaultMaxBytes = 16 << 20
	// DefaultMaxLineBytes is the default limit on the length of one
	// physical line, not counting its line ending: 64 KiB.
	DefaultMaxLineBytes = 64 << 10
	// DefaultMaxEntries is the default limit on the number of distinct
	// variables: 100,000. Each costs an Entry and a map slot (about 100
	// bytes), far more than its shortest line, so this bounds memory.
	DefaultMaxEntries = 100_000
)

// An Option changes how Parse and ParseString read their input. Options are
// the only configuration this package has; each states its default.
type Option func(*options)

type options struct {
	maxBytes     int64
	maxLineBytes int
	maxEntries   int
}

func newOptions(opts []Option) options {
	o := options{maxBytes: DefaultMaxBytes, maxLineBytes: DefaultMaxLineBytes, maxEntries: DefaultMaxEntries}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// WithMaxBytes limits the total input size to n bytes (default
// DefaultMaxBytes). Parse reads at most n+1 bytes from its reader and fails
// with ErrTooLarge if there are more. n <= 0 removes the limit, which is
// only safe for trusted input.
func WithMaxBytes(n int64) Option {
	return func(o *options) { o.maxBytes = n }
}

// WithMaxLineBytes limits each physical line to n bytes, not counting the
// line ending (default DefaultMaxLineBytes). Lines inside a multi-line quoted
// value count one by one. A longer line fails with ErrTooLarge. n <= 0
// removes the limit.
func WithMaxLineBytes(n int) Option {
	return func(o *options) { o.maxLineBytes = n }
}

// WithMaxEntries limits the number of distinct variables to n (default
// DefaultMaxEntries); redefinitions do not count. One more fails with
// ErrTooLarge. n <= 0 removes the limit, which is only safe for trusted
// input.
func WithMaxEntries(n int) Option {
	return func(o *options) { o.maxEntries = n }
}
