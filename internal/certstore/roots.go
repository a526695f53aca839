package certstore

import (
	"crypto/x509"
	_ "embed"
)

var (
	//go:embed roots/AmazonRootCA1.pem
	amazonRootCA1 []byte
	//go:embed roots/AmazonRootCA3.pem
	amazonRootCA3 []byte
)

// DefaultRoots returns a new pool with Amazon Root CA 1 (RSA) and Amazon
// Root CA 3 (EC), the trust anchors of the AWS IoT endpoints.
func DefaultRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(amazonRootCA1) || !pool.AppendCertsFromPEM(amazonRootCA3) {
		panic("certstore: embedded Amazon root CAs do not parse")
	}
	return pool
}

// DefaultRootsPEM returns the PEM of Amazon Root CA 1 and 3, suitable as the
// content of AmazonRootCA1.pem when no CA file was supplied.
func DefaultRootsPEM() []byte {
	out := append([]byte(nil), amazonRootCA1...)
	return append(out, amazonRootCA3...)
}
