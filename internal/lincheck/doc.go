// Package lincheck holds agentvault's linearizability tests: concurrent
// histories of GetSecret, UpdateSecret and Rollback on one secret, from
// many goroutines (with injected timeouts, whose outcome is unknown),
// checked with github.com/anishathalye/porcupine against a sequential model
// of a versioned register. It is its own module so that the root module
// does not depend on porcupine; it has no non-test code.
package lincheck
