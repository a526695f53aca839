// Package certstore keeps the device identity on disk: the device
// certificate, its private key and the root CA of the AWS endpoints. It
// parses and checks them ([Parse]), loads them with permission checks
// ([Load]) and installs a new set atomically ([Install]).
//
// On disk the identity folder looks like this:
//
//	identity/                  0700
//	  .current -> .set-<id>    symlink, swapped with rename(2)
//	  .set-<id>/               0700, one complete set
//	    device.pem.crt         0644
//	    private.pem.key        0600
//	    AmazonRootCA1.pem      0644
//	  device.pem.crt    -> .current/device.pem.crt
//	  private.pem.key   -> .current/private.pem.key
//	  AmazonRootCA1.pem -> .current/AmazonRootCA1.pem
//
// A crash at any instant of [Install] leaves either the whole old set or the
// whole new set behind .current. [Load] resolves .current once, so it never
// mixes files of two sets. Known limit: a program that opens the public
// names one by one (say, curl --cert ... --key ...) while a swap happens can
// still read a certificate and a key from different sets; it should retry.
//
// [InstallAs] installs for a service that runs as another user than the
// installer (root during imaging): the new set gets that owner before
// .current is swapped to it. [Chown] gives an installed identity to the
// service afterwards.
package certstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"
)

// File names of the identity, as in the AWS IoT console downloads.
const (
	CertFile = "device.pem.crt"
	KeyFile  = "private.pem.key"
	CAFile   = "AmazonRootCA1.pem"
)

// Modes of the files and folder that [Install] writes. [Load] accepts modes
// no broader than these.
const (
	DirMode  = 0o700
	KeyMode  = 0o600
	CertMode = 0o644
)

// MaxFileSize caps each identity file; real ones are a few kilobytes.
const MaxFileSize = 1 << 20

// Sentinel errors that callers branch on. Errors wrap them with the file
// name and the dates.
var (
	// ErrExpired says the device certificate's NotAfter has passed.
	ErrExpired = errors.New("certificate has expired")
	// ErrNotYetValid says the device certificate's NotBefore is ahead of the
	// device clock.
	ErrNotYetValid = errors.New("certificate is not valid yet")
	// ErrKeyMismatch says the private key does not belong to the certificate.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	// ErrEncryptedKey says the private key is protected by a passphrase.
	ErrEncryptedKey = errors.New("private key is encrypted")
)

// Files holds the raw PEM of an identity as fetched.
type Files struct {
	Cert, Key, CA []byte
}

// Identity is a parsed, checked device identity.
type Identity struct {
	// Leaf is the device certificate.
	Leaf *x509.Certificate
	// TLS is the certificate chain with its private key, ready for
	// tls.Config.Certificates.
	TLS tls.Certificate
	// Roots holds the certificates of the CA file, to verify AWS servers.
	Roots *x509.CertPool
	// NotBefore and NotAfter are the device certificate's validity window.
	NotBefore, NotAfter time.Time
	// Fingerprint is the lowercase hex SHA-256 of the leaf's DER, as the
	// AWS IoT console shows certificate ids.
	Fingerprint string
}
