package admin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"go.uber.org/zap"
)

// requestClockSkew is how long before a request's recorded time admin looks
// for the certificate it made: IoT dates certificates by its own clock.
const requestClockSkew = 5 * time.Minute

// certRequest is one CreateCertificateFromCsr request.
type certRequest struct {
	csr []byte // PEM
	key []byte // PEM private key; nil when the device holds the key
	pub []byte // PKIX DER of the requested public key
}

// foundCertificate is a certificate found by its public key.
type foundCertificate struct {
	id, arn string
	pem     []byte
}

// requestCertificate records a request in the local state, then sends it.
// A request an earlier run recorded without its answer is resumed first:
// the certificate it made, if IoT made one, is taken (see resumeRequest).
func (p *provisioner) requestCertificate(ctx context.Context, st *deviceState, deviceCSR []byte) (string, error) {
	req, action, err := p.resumeRequest(ctx, st, deviceCSR)
	if err != nil || action != "" {
		return action, err
	}

	if req == nil {
		if req, err = newCertRequest(st.Thing, deviceCSR); err != nil {
			return "", err
		}
		if err := p.recordRequest(st, req); err != nil {
			return "", err
		}
	}

	out, err := p.a.iot.CreateCertificateFromCsr(ctx, &iot.CreateCertificateFromCsrInput{
		CertificateSigningRequest: aws.String(string(req.csr)), SetAsActive: true})
	if err != nil {
		return "", fmt.Errorf("create certificate from csr: %w", err)
	}
	id := aws.ToString(out.CertificateId)
	if hook := p.a.afterCreateCertificate; hook != nil {
		if err := hook(id); err != nil {
			return "", err
		}
	}
	return p.keep(st, id, aws.ToString(out.CertificateArn), []byte(aws.ToString(out.CertificatePem)), nil)
}

// resumeRequest handles a request an earlier run recorded but whose answer
// it did not: the certificates IoT made for its key since then are looked
// for. When this run asks for the same key, the newest is adopted; the
// others (and all of them when the key changed, the device having sent a
// new CSR) are attached to nothing, so they are deleted. It returns the
// recorded request to send again when IoT made nothing for it, or nil.
func (p *provisioner) resumeRequest(ctx context.Context, st *deviceState, deviceCSR []byte) (*certRequest, string, error) {
	if st.Request == nil {
		return nil, "", nil
	}
	saved, err := p.loadRequest(st)
	if err != nil {
		return nil, "", err
	}
	found, err := p.requestedCertificates(ctx, st.Request.At, saved.pub)
	if err != nil {
		return nil, "", err
	}

	same, err := sameRequest(st.Request, saved, deviceCSR)
	if err != nil {
		return nil, "", err
	}
	if !same {
		return nil, "", p.discard(ctx, st, found)
	}
	if len(found) == 0 {
		return saved, "", nil
	}
	if err := p.discard(ctx, st, found[1:]); err != nil {
		return nil, "", err
	}
	c := found[0]
	if _, err := p.keep(st, c.id, c.arn, c.pem, nil); err != nil {
		return nil, "", err
	}
	p.a.log.Info("certificate of an interrupted request recovered", zap.String("device", st.Device),
		zap.String("certificate_id", c.id))
	return nil, "recovered certificate " + c.id + " requested by an interrupted run", nil
}

// sameRequest reports whether this run asks for the key of the recorded
// request: admin's key again, or a device CSR for the same public key.
func sameRequest(rec *certRequestState, saved *certRequest, deviceCSR []byte) (bool, error) {
	if rec.DeviceCSR != (len(deviceCSR) > 0) {
		return false, nil
	}
	if !rec.DeviceCSR {
		return true, nil
	}
	pub, err := csrPublicKey(deviceCSR)
	if err != nil {
		return false, err
	}
	return bytes.Equal(pub, saved.pub), nil
}

// discard deletes certificates made for a request that was never recorded.
func (p *provisioner) discard(ctx context.Context, st *deviceState, certs []foundCertificate) error {
	for _, c := range certs {
		var res TeardownResult
		if err := p.a.removeCertificate(ctx, st.Thing, c.arn, &res); err != nil {
			return err
		}
		p.a.log.Info("unrecorded certificate deleted", zap.String("device", st.Device), zap.String("certificate_id", c.id))
	}
	return nil
}

// newCertRequest returns the device's CSR as a request, or makes a key and
// a CSR for thing.
func newCertRequest(thing string, deviceCSR []byte) (*certRequest, error) {
	if len(deviceCSR) > 0 {
		pub, err := csrPublicKey(deviceCSR)
		if err != nil {
			return nil, err
		}
		return &certRequest{csr: deviceCSR, pub: pub}, nil
	}

	// ECDSA P-256, which IoT and the agent take: an RSA 2048 key (what
	// CreateKeysAndCertificate makes) costs a CPU-bound 50-100 ms each,
	// enough to bunch the calls of a large fleet provision past its rate.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key of thing %s: %w", thing, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: thing}}, key)
	if err != nil {
		return nil, fmt.Errorf("create csr of thing %s: %w", thing, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key of thing %s: %w", thing, err)
	}
	pub, err := marshalPublicKey(key.Public(), "thing "+thing)
	if err != nil {
		return nil, err
	}
	return &certRequest{
		csr: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
		key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pub: pub,
	}, nil
}

// recordRequest writes the request's key and CSR, then the state that
// names them, before the request is sent.
func (p *provisioner) recordRequest(st *deviceState, req *certRequest) error {
	if req.key != nil {
		if err := p.a.state.write(st.Fleet, st.Device, keyFile, req.key); err != nil {
			return err
		}
	}
	if err := p.a.state.write(st.Fleet, st.Device, csrFile, req.csr); err != nil {
		return err
	}
	st.Request = &certRequestState{At: time.Now().UTC(), DeviceCSR: req.key == nil}
	return p.a.state.saveDevice(st)
}

// loadRequest reads back the request the state records.
func (p *provisioner) loadRequest(st *deviceState) (*certRequest, error) {
	csr, err := p.a.state.read(st.Fleet, st.Device, csrFile)
	if err != nil {
		return nil, fmt.Errorf("read recorded csr of %s: %w", st.Device, err)
	}
	pub, err := csrPublicKey(csr)
	if err != nil {
		return nil, fmt.Errorf("recorded csr of %s: %w", st.Device, err)
	}
	req := &certRequest{csr: csr, pub: pub}
	if !st.Request.DeviceCSR {
		if req.key, err = p.a.state.read(st.Fleet, st.Device, keyFile); err != nil {
			return nil, fmt.Errorf("read recorded key of %s: %w", st.Device, err)
		}
	}
	return req, nil
}

// requestedCertificates returns, newest first, the certificates with the
// public key pub created since at (less the clock skew). IoT lists
// certificates newest first, so the paging stops at the first older one.
func (p *provisioner) requestedCertificates(ctx context.Context, at time.Time, pub []byte) ([]foundCertificate, error) {
	since := at.Add(-requestClockSkew)
	var found []foundCertificate
	pg := iot.NewListCertificatesPaginator(p.a.iot, &iot.ListCertificatesInput{PageSize: aws.Int32(250), AscendingOrder: false})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list certificates: %w", err)
		}
		for _, c := range page.Certificates {
			if c.CreationDate != nil && c.CreationDate.Before(since) {
				return found, nil
			}
			f, ok, err := p.certificateWithKey(ctx, aws.ToString(c.CertificateId), pub)
			if err != nil {
				return nil, err
			}
			if ok {
				found = append(found, f)
			}
		}
	}
	return found, nil
}

// certificateWithKey reports whether certificate id has the public key
// pub. A certificate deleted meanwhile is no match. The certificates seen
// are kept for the run, so that the devices of a fleet interrupted
// together describe each certificate once.
func (p *provisioner) certificateWithKey(ctx context.Context, id string, pub []byte) (foundCertificate, bool, error) {
	p.mu.Lock()
	seen, ok := p.seenCerts[id]
	p.mu.Unlock()
	if !ok {
		out, err := p.a.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(id)})
		if isNotFound(err) {
			return foundCertificate{}, false, nil
		}
		if err != nil {
			return foundCertificate{}, false, fmt.Errorf("describe certificate %s: %w", id, err)
		}
		d := out.CertificateDescription
		seen.found = foundCertificate{id: id, arn: aws.ToString(d.CertificateArn), pem: []byte(aws.ToString(d.CertificatePem))}
		seen.pub, _ = certPublicKey(seen.found.pem)
		p.mu.Lock()
		if p.seenCerts == nil {
			p.seenCerts = map[string]seenCertificate{}
		}
		p.seenCerts[id] = seen
		p.mu.Unlock()
	}
	return seen.found, seen.pub != nil && bytes.Equal(seen.pub, pub), nil
}

// seenCertificate is a described certificate and its public key (nil when
// it does not parse).
type seenCertificate struct {
	found foundCertificate
	pub   []byte
}

// csrPublicKey returns the PKIX DER of a PEM CSR's public key.
func csrPublicKey(csrPEM []byte) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("parse csr: no CERTIFICATE REQUEST block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse csr: %w", err)
	}
	return marshalPublicKey(csr.PublicKey, "csr")
}

// certPublicKey returns the PKIX DER of a PEM certificate's public key.
func certPublicKey(certPEM []byte) ([]byte, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("parse certificate: no CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return marshalPublicKey(cert.PublicKey, "certificate")
}

func marshalPublicKey(pub any, of string) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key of %s: %w", of, err)
	}
	return der, nil
}
