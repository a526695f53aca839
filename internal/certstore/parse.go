package certstore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// names are how errors refer to the three files: bare file names for
// [Parse], paths for [Load].
type names struct{ cert, key, ca string }

var bareNames = names{CertFile, KeyFile, CAFile}

// Parse checks an identity: the certificate PEM parses (CRLF line ends, a
// UTF-8 BOM, a missing final newline and a chain after the leaf are
// accepted), the key is RSA (2048 bits or more) or EC (P-256, P-384 or
// P-521) in PKCS#1, SEC 1 or PKCS#8 form, as AWS IoT requires, and matches
// the certificate, the certificate is valid at now, and the CA file
// holds one or more CA certificates valid at now. Every error names the
// file and says what to fix; none contains key material.
func Parse(f Files, now time.Time) (*Identity, error) {
	return parseNamed(f, bareNames, now)
}

func parseNamed(f Files, n names, now time.Time) (*Identity, error) {
	chain, err := parseCerts(f.Cert, n.cert, "the device certificate")
	if err != nil {
		return nil, err
	}
	leaf := chain[0]

	key, err := parseKey(f.Key, n.key)
	if err != nil {
		return nil, err
	}
	if err := checkMatch(leaf, key, n); err != nil {
		return nil, err
	}
	if err := checkValidity(leaf, n.cert, now); err != nil {
		return nil, err
	}
	roots, err := parseCA(f.CA, n.ca, now)
	if err != nil {
		return nil, err
	}
	return newIdentity(chain, key, roots), nil
}

func newIdentity(chain []*x509.Certificate, key crypto.Signer, roots *x509.CertPool) *Identity {
	leaf := chain[0]
	tc := tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	sum := sha256.Sum256(leaf.Raw)
	return &Identity{
		Leaf:        leaf,
		TLS:         tc,
		Roots:       roots,
		NotBefore:   leaf.NotBefore,
		NotAfter:    leaf.NotAfter,
		Fingerprint: hex.EncodeToString(sum[:]),
	}
}

// normalize drops a UTF-8 BOM, turns CRLF and CR into LF and adds a final
// newline, so that pem.Decode sees the PEM that Windows tools write.
func normalize(data []byte) []byte {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	return data
}

// blocks returns the PEM blocks of data, or an error that says why there
// are none.
func blocks(data []byte, name, what string) ([]*pem.Block, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: file is empty; it should hold %s in PEM form", name, what)
	}
	data = normalize(data)
	var out []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		out = append(out, b)
	}
	if len(out) > 0 {
		return out, nil
	}
	if data[0] == 0x30 {
		return nil, fmt.Errorf("%s: file looks like binary DER, not PEM; convert it with openssl (x509 or pkey) -inform der -outform pem", name)
	}
	return nil, fmt.Errorf("%s: no PEM block found; it should hold %s between -----BEGIN and -----END lines (is the file truncated or the wrong one?)", name, what)
}

func isKeyBlock(t string) bool {
	return strings.HasSuffix(t, "PRIVATE KEY")
}

// parseCerts returns the certificates of a PEM file, in order.
func parseCerts(data []byte, name, what string) ([]*x509.Certificate, error) {
	bs, err := blocks(data, name, what)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for i, b := range bs {
		switch {
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: PEM block %d is not a valid certificate (%v); the file is damaged, fetch it again", name, i+1, err)
			}
			certs = append(certs, c)
		case isKeyBlock(b.Type):
			return nil, fmt.Errorf("%s: holds a private key, not a certificate; were the files swapped?", name)
		default:
			return nil, fmt.Errorf("%s: PEM block %d is %q; expected CERTIFICATE", name, i+1, b.Type)
		}
	}
	return certs, nil
}

// parseKey returns the first private key of a PEM file. It never puts key
// bytes or parser output about them into an error.
func parseKey(data []byte, name string) (crypto.Signer, error) {
	bs, err := blocks(data, name, "the device private key")
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		switch {
		case b.Type == "EC PARAMETERS":
			continue
		case b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED"):
			return nil, fmt.Errorf("%s: %w with a passphrase; the agent needs it unencrypted: openssl pkey -in %s -out %s.plain, then replace the file", name, ErrEncryptedKey, name, name)
		case isKeyBlock(b.Type):
			key, err := decodeKey(b, name)
			if err != nil {
				return nil, err
			}
			return key, checkKeyStrength(key, name)
		case b.Type == "CERTIFICATE":
			return nil, fmt.Errorf("%s: holds a certificate, not a private key; were the files swapped?", name)
		case b.Type == "PUBLIC KEY" || b.Type == "RSA PUBLIC KEY":
			return nil, fmt.Errorf("%s: holds a public key; the private key of the device certificate is needed", name)
		default:
			return nil, fmt.Errorf("%s: PEM block %q is not a private key", name, b.Type)
		}
	}
	return nil, fmt.Errorf("%s: no private key found, only EC PARAMETERS", name)
}

// decodeKey parses a key block by its label, falling back to the other
// forms since some tools label keys loosely.
func decodeKey(b *pem.Block, name string) (crypto.Signer, error) {
	parsers := []func([]byte) (any, error){
		func(d []byte) (any, error) { return x509.ParsePKCS8PrivateKey(d) },
		func(d []byte) (any, error) { return x509.ParsePKCS1PrivateKey(d) },
		func(d []byte) (any, error) { return x509.ParseECPrivateKey(d) },
	}
	for _, parse := range parsers {
		k, err := parse(b.Bytes)
		if err != nil {
			continue
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("%s: key type %T is not supported; AWS IoT device keys are RSA or EC (RSA of 2048 bits or more, EC on P-256, P-384 or P-521)", name, k)
		}
	}
	return nil, fmt.Errorf("%s: %s block is not a valid RSA or EC key in PKCS#1, SEC 1 or PKCS#8 form; the file is damaged, fetch it again", name, b.Type)
}

// minRSABits is the smallest RSA key AWS IoT accepts.
const minRSABits = 2048

// checkKeyStrength refuses keys that AWS IoT does not accept: RSA under
// 2048 bits, and EC keys on curves other than P-256, P-384 and P-521.
func checkKeyStrength(key crypto.Signer, name string) error {
	const fix = "issue a new key and certificate for this device"
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return fmt.Errorf("%s: RSA key has %d bits; AWS IoT requires at least %d: %s", name, bits, minRSABits, fix)
		}
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return fmt.Errorf("%s: EC key on curve %s (%d bits); AWS IoT accepts only P-256, P-384 and P-521: %s",
				name, k.Curve.Params().Name, k.Curve.Params().BitSize, fix)
		}
	}
	return nil
}

func checkMatch(leaf *x509.Certificate, key crypto.Signer, n names) error {
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return fmt.Errorf("%s: %w in %s (their public keys differ); install the key that was created with this certificate", n.key, ErrKeyMismatch, n.cert)
	}
	return nil
}

func checkValidity(c *x509.Certificate, name string, now time.Time) error {
	const layout = time.RFC3339
	window := fmt.Sprintf("valid from %s until %s, device clock is %s",
		c.NotBefore.UTC().Format(layout), c.NotAfter.UTC().Format(layout), now.UTC().Format(layout))
	switch {
	case now.Before(c.NotBefore):
		return fmt.Errorf("%s: %w: %s; set the device clock (NTP, timedatectl) or issue a certificate valid now", name, ErrNotYetValid, window)
	case now.After(c.NotAfter):
		return fmt.Errorf("%s: %w: %s; issue a new certificate for this device (or set the device clock if it is wrong)", name, ErrExpired, window)
	}
	return nil
}

// parseCA checks the CA file: one or more CA certificates valid at now.
func parseCA(data []byte, name string, now time.Time) (*x509.CertPool, error) {
	certs, err := parseCerts(data, name, "the root CA of the AWS endpoints (Amazon Root CA 1)")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for i, c := range certs {
		if !c.IsCA {
			return nil, fmt.Errorf("%s: certificate %d (%s) is not a CA certificate; this file must hold the root CA of the AWS endpoints, e.g. https://www.amazontrust.com/repository/AmazonRootCA1.pem", name, i+1, c.Subject)
		}
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return nil, fmt.Errorf("%s: CA certificate %d (%s) is valid from %s until %s but the device clock is %s; use a current root CA or set the clock",
				name, i+1, c.Subject, c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		pool.AddCert(c)
	}
	return pool, nil
}
