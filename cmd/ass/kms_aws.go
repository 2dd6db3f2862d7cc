//go:build awskms || cloudkms

package main

import (
	"github.com/agentvault/agentvault/kms"
	"github.com/agentvault/agentvault/kms/awskms"
)

// awsKMSLinked reports whether this build includes AWS KMS (build tag
// awskms or cloudkms).
const awsKMSLinked = true

// openAWSKMS uses the AWS default credential chain (environment, shared
// config, instance role); see awskms.OpenURL.
func openAWSKMS(o *opener, t target) (kms.KeyProvider, error) {
	return awskms.OpenURL(o.ctx, t.URL)
}
