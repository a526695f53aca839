package sandbox

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// KeyType selects the algorithm of a key that the [CA] generates.
type KeyType string

// The key types a device certificate can have. AWS IoT accepts both.
const (
	KeyECDSA KeyType = "ecdsa" // P-256
	KeyRSA   KeyType = "rsa"   // 2048 bits
)

// CA is the sandbox's certificate authority. It stands in for Amazon's: its
// root certificate is what devices receive as AmazonRootCA1.pem, it signs the
// credentials provider's server certificate, and it signs device
// certificates, so a device pins it exactly as it pins Amazon Root CA 1.
type CA struct {
	// Cert is the self-signed root certificate.
	Cert *x509.Certificate
	// PEM is Cert in PEM form.
	PEM []byte

	key  crypto.Signer
	pool *x509.CertPool
}

// NewCA returns a new ECDSA P-256 root valid from a day before now for ten
// years.
func NewCA(now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ca key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"edge-agent sandbox"}, CommonName: "edge-agent sandbox root CA"},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	cert, der, err := create(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create ca certificate: %w", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, PEM: pemBlock("CERTIFICATE", der), key: key, pool: pool}, nil
}

// Pool returns a pool that holds only the root.
func (c *CA) Pool() *x509.CertPool { return c.pool }

// ServerCertificate issues a TLS server certificate for hosts (DNS names or
// IP addresses), valid for validity from a day before now.
func (c *CA) ServerCertificate(hosts []string, now time.Time, validity time.Duration) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("create server certificate: no host names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate server key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		NotBefore:   now.Add(-24 * time.Hour),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	_, der, err := create(tmpl, c.Cert, key.Public(), c.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// DeviceCertificate generates a key of type kt and a client certificate for
// it with common name cn, valid from notBefore to notAfter. It returns both
// in PEM form (the key as PKCS#8).
func (c *CA) DeviceCertificate(cn string, kt KeyType, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := generateKey(kt)
	if err != nil {
		return nil, nil, err
	}
	certPEM, err = c.sign(cn, key.Public(), notBefore, notAfter)
	if err != nil {
		return nil, nil, err
	}

	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal device key: %w", err)
	}
	return certPEM, pemBlock("PRIVATE KEY", der), nil
}

// SignCSR issues a client certificate for the public key of a PEM
// certificate signing request, as IoT's CreateCertificateFromCsr does. The
// CSR's subject common name is kept.
func (c *CA) SignCSR(csrPEM []byte, notBefore, notAfter time.Time) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("parse csr: no CERTIFICATE REQUEST block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("check csr signature: %w", err)
	}
	return c.sign(csr.Subject.CommonName, csr.PublicKey, notBefore, notAfter)
}

func (c *CA) sign(cn string, pub crypto.PublicKey, notBefore, notAfter time.Time) ([]byte, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	_, der, err := create(tmpl, c.Cert, pub, c.key)
	if err != nil {
		return nil, fmt.Errorf("create device certificate %s: %w", cn, err)
	}
	return pemBlock("CERTIFICATE", der), nil
}

// CertificateID returns the IoT certificate ID of the first certificate in
// certPEM: the lower-case hex SHA-256 of its DER bytes.
func CertificateID(certPEM []byte) (string, error) {
	for rest := certPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return "", errors.New("certificate id: no CERTIFICATE block")
		}
		if block.Type == "CERTIFICATE" {
			return certificateIDOf(block.Bytes), nil
		}
	}
}

func certificateIDOf(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func generateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case KeyECDSA, "":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate ecdsa key: %w", err)
		}
		return k, nil
	case KeyRSA:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generate rsa key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("generate key: unknown key type %q (want ecdsa or rsa)", kt)
}

func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, []byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial

	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, der, err
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
