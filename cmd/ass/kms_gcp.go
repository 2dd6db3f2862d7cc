//go:build gcpkms || cloudkms

package main

import (
	"github.com/agentvault/agentvault/kms"
	"github.com/agentvault/agentvault/kms/gcpkms"
)

// gcpKMSLinked reports whether this build includes GCP Cloud KMS (build
// tag gcpkms or cloudkms).
const gcpKMSLinked = true

// openGCPKMS uses Google application default credentials; see gcpkms.OpenURL.
func openGCPKMS(o *opener, t target) (kms.KeyProvider, error) {
	return gcpkms.OpenURL(o.ctx, t.URL)
}
