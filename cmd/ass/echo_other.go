//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "errors"

// echoOff is not supported here: reading a value from a terminal fails
// rather than echo it (pipe the value in instead).
func echoOff(int) (func(), error) {
	return nil, errors.New("cannot turn off the terminal's echo on this system: pipe the value in instead")
}
