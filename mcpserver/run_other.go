//go:build !unix

package mcpserver

import "os/exec"

// killGroupOnCancel leaves exec's default: the command itself is killed
// at the timeout (processes it started may outlive it).
func killGroupOnCancel(*exec.Cmd) {}
